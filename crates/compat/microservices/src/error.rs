//! Django REST Framework's error shapes, produced here and nowhere else in
//! this dialect: `{"detail": "…"}` for 401, 403, 404, 405, 409, 413, 415,
//! 429 and 5xx, and `{"field": ["message"]}` for validation errors.

use axum::Json;
use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use emporium_api::error::ApiError;
use emporium_domain::{Error, FieldError};
use serde_json::{Map, Value, json};

/// What DRF answers without credentials.
pub const NOT_AUTHENTICATED: &str = "Authentication credentials were not provided.";
/// SimpleJWT's answer to a token that is not (or no longer) valid.
pub const TOKEN_NOT_VALID: &str = "Given token not valid for any token type";
/// DRF's answer to a caller without the permission.
pub const NO_PERMISSION: &str = "You do not have permission to perform this action.";

/// Every way a request to this dialect can fail.
#[derive(Debug)]
pub enum DrfError {
    /// `{"detail": message}` with this status.
    DrfDetail { status: StatusCode, detail: String, code: Option<&'static str> },
    /// `{"field": ["message", …], …}`, 400.
    Fields(Vec<FieldError>),
    /// A service error, mapped once in [`DrfError::into_response`].
    Domain(Error),
    /// A failure the native layer shaped (body too large, wrong media type).
    Api(ApiError),
}

pub type DrfResult<T> = Result<T, DrfError>;

impl DrfError {
    pub fn detail(status: StatusCode, detail: impl Into<String>) -> Self {
        DrfError::DrfDetail { status, detail: detail.into(), code: None }
    }
    pub fn not_found() -> Self {
        Self::detail(StatusCode::NOT_FOUND, "Not found.")
    }
    pub fn not_authenticated() -> Self {
        DrfError::DrfDetail {
            status: StatusCode::UNAUTHORIZED,
            detail: NOT_AUTHENTICATED.into(),
            code: Some("not_authenticated"),
        }
    }
    pub fn token_not_valid() -> Self {
        DrfError::DrfDetail {
            status: StatusCode::UNAUTHORIZED,
            detail: TOKEN_NOT_VALID.into(),
            code: Some("token_not_valid"),
        }
    }
    pub fn forbidden() -> Self {
        DrfError::DrfDetail {
            status: StatusCode::FORBIDDEN,
            detail: NO_PERMISSION.into(),
            code: Some("permission_denied"),
        }
    }
    pub fn field(field: &str, message: &str) -> Self {
        DrfError::Fields(vec![FieldError::new(field, message)])
    }
}

impl From<Error> for DrfError {
    fn from(e: Error) -> Self {
        DrfError::Domain(e)
    }
}

impl From<ApiError> for DrfError {
    fn from(e: ApiError) -> Self {
        match e {
            ApiError::Domain(e) => DrfError::Domain(e),
            other => DrfError::Api(other),
        }
    }
}

impl From<Vec<FieldError>> for DrfError {
    fn from(errors: Vec<FieldError>) -> Self {
        DrfError::Fields(errors)
    }
}

/// A native message (`is required`, `must be at most 10 characters`) as
/// DRF words its messages: a sentence with a full stop.
pub fn drf_message(message: &str) -> String {
    match message {
        "is required" => "This field is required.".into(),
        "is not allowed" => "This field is not allowed.".into(),
        _ => {
            let text = message.strip_prefix("is ").map(|rest| format!("Is {rest}")).unwrap_or_else(|| {
                let mut chars = message.chars();
                chars.next().map(|c| c.to_uppercase().chain(chars).collect()).unwrap_or_default()
            });
            if text.ends_with('.') { text } else { format!("{text}.") }
        }
    }
}

/// `{"field": ["message", …]}`: every field once, its messages in order. A
/// problem with the body as a whole is DRF's `non_field_errors`.
pub fn fields_body(errors: &[FieldError]) -> Value {
    let mut map = Map::new();
    for e in errors {
        let field = match e.field.as_str() {
            "" | "body" => "non_field_errors",
            other => other,
        };
        let entry = map.entry(field.to_string()).or_insert_with(|| Value::Array(Vec::new()));
        if let Value::Array(list) = entry {
            list.push(Value::String(drf_message(&e.message)));
        }
    }
    Value::Object(map)
}

fn detail(status: StatusCode, detail: &str, code: Option<&str>) -> Response {
    let body = match code {
        Some(code) => json!({ "detail": detail, "code": code }),
        None => json!({ "detail": detail }),
    };
    let mut response = (status, Json(body)).into_response();
    if status == StatusCode::UNAUTHORIZED {
        // SimpleJWT's authenticator names its scheme, as DRF sends it.
        response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer realm=\"api\""));
    }
    response
}

impl IntoResponse for DrfError {
    fn into_response(self) -> Response {
        match self {
            DrfError::DrfDetail { status, detail: text, code } => detail(status, &text, code),
            DrfError::Fields(errors) => (StatusCode::BAD_REQUEST, Json(fields_body(&errors))).into_response(),
            // The native response keeps its status and headers (Connection:
            // close on a 413, Retry-After); only the body takes DRF's shape.
            DrfError::Api(e) => {
                let message = match &e {
                    ApiError::Http { message, .. } => Some(message.clone()),
                    ApiError::Domain(_) => None,
                };
                let response = e.into_response();
                let (parts, _) = response.into_parts();
                let detail = status_detail(parts.status, message.as_deref());
                rebuild(parts, json!({ "detail": detail }))
            }
            DrfError::Domain(e) => match e {
                Error::Validation(fields) => DrfError::Fields(fields).into_response(),
                Error::Unauthenticated(_) => DrfError::token_not_valid().into_response(),
                Error::Forbidden(_) => DrfError::forbidden().into_response(),
                Error::NotFound(message) => detail(StatusCode::NOT_FOUND, &sentence(&message), None),
                Error::Conflict(message) => detail(StatusCode::CONFLICT, &sentence(&message), None),
                e @ Error::InsufficientStock { .. } => {
                    let Error::InsufficientStock { available, .. } = &e else { unreachable!() };
                    let message = format!("Only {available} in stock.");
                    (StatusCode::CONFLICT, Json(json!({ "detail": sentence(&e.to_string()), "quantity": [message] })))
                        .into_response()
                }
                Error::Upstream(message) => detail(StatusCode::BAD_GATEWAY, &sentence(&message), None),
                other => reshape_native(ApiError::Domain(other).into_response()),
            },
        }
    }
}

fn sentence(message: &str) -> String {
    if message.ends_with('.') { message.to_string() } else { format!("{message}.") }
}

/// The DRF wording of a native status without a more specific message.
fn status_detail(status: StatusCode, native: Option<&str>) -> String {
    match status {
        StatusCode::NOT_FOUND => "Not found.".into(),
        StatusCode::METHOD_NOT_ALLOWED => "Method not allowed.".into(),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "Unsupported media type in request; send application/json.".into(),
        StatusCode::PAYLOAD_TOO_LARGE => "Request body is too large.".into(),
        StatusCode::TOO_MANY_REQUESTS => "Request was throttled.".into(),
        StatusCode::INTERNAL_SERVER_ERROR => "A server error occurred.".into(),
        StatusCode::SERVICE_UNAVAILABLE => "Service temporarily unavailable, try again later.".into(),
        _ => native.map(sentence).unwrap_or_else(|| status.canonical_reason().unwrap_or("Error").to_string()),
    }
}

/// Turns a response in the native error envelope into DRF's shape, keeping
/// its status and headers. Applied to every response of this dialect, so an
/// error from a shared extractor (a control character in a path, a body
/// that is not JSON) never leaks the native envelope.
fn reshape_native(response: Response) -> Response {
    let (parts, _) = response.into_parts();
    // Only the native envelope's parts that DRF has are kept; the body of a
    // native error is small and already built, so it is rebuilt from status.
    let detail = status_detail(parts.status, None);
    rebuild(parts, json!({ "detail": detail }))
}

fn rebuild(mut parts: http::response::Parts, body: Value) -> Response {
    let bytes = serde_json::to_vec(&body).unwrap_or_default();
    parts.headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(bytes))
}

/// The layer's work: a native envelope (`{"success": false, "error": …}`)
/// or an empty error body becomes DRF's shape; anything else passes.
pub async fn drf_errors(response: Response) -> Response {
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let (parts, body) = response.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, 64 * 1024).await else {
        return rebuild(parts, json!({ "detail": status_detail(status, None) }));
    };
    let value: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    let native = value.get("success") == Some(&Value::Bool(false)) && value.get("error").is_some();
    if !bytes.is_empty() && !native {
        return Response::from_parts(parts, Body::from(bytes));
    }
    let error = &value["error"];
    if error["code"] == "VALIDATION_ERROR" {
        let fields: Vec<FieldError> = error["details"]
            .as_array()
            .map(|d| {
                d.iter()
                    .map(|f| {
                        FieldError::new(
                            f["field"].as_str().unwrap_or(""),
                            f["message"].as_str().unwrap_or("is invalid"),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        let body = if fields.is_empty() {
            json!({ "detail": sentence(error["message"].as_str().unwrap_or("Bad request")) })
        } else {
            fields_body(&fields)
        };
        return rebuild(parts, body);
    }
    let body = match status {
        StatusCode::UNAUTHORIZED => json!({ "detail": TOKEN_NOT_VALID, "code": "token_not_valid" }),
        StatusCode::FORBIDDEN => json!({ "detail": NO_PERMISSION }),
        _ => json!({ "detail": status_detail(status, error["message"].as_str()) }),
    };
    rebuild(parts, body)
}

/// The dialect's answer for a path under its base that names no route.
pub async fn not_found() -> Response {
    DrfError::not_found().into_response()
}

/// The dialect's answer for a known path with a method it does not take.
pub async fn method_not_allowed() -> Response {
    DrfError::detail(StatusCode::METHOD_NOT_ALLOWED, "Method not allowed.").into_response()
}

/// The OpenAPI schema of `{"detail": "…"}`.
#[derive(utoipa::ToSchema, serde::Serialize)]
pub struct DrfDetail {
    /// What went wrong (or, for some answers, what was done).
    pub detail: String,
}

/// The OpenAPI schema of a validation error: each field's messages,
/// e.g. `{"quantity": ["This field is required."]}`.
pub struct DrfFieldErrors;

impl utoipa::PartialSchema for DrfFieldErrors {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{AdditionalProperties, ArrayBuilder, ObjectBuilder, Type};
        let messages = ArrayBuilder::new().items(ObjectBuilder::new().schema_type(Type::String)).build();
        ObjectBuilder::new()
            .schema_type(Type::Object)
            .additional_properties(Some(AdditionalProperties::RefOr(messages.into())))
            .description(Some("Each bad field's messages; `non_field_errors` for the body as a whole"))
            .into()
    }
}

impl utoipa::ToSchema for DrfFieldErrors {}
