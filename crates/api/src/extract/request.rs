//! One type per request: the struct a body or query string is parsed into is
//! the one its OpenAPI schema is generated from.
//!
//! A request type is declared with [`request_body!`] or [`request_query!`]:
//! each member names its JSON (or query) name and its type, a *slot*
//! ([`Required`], [`Optional`] or [`Patch`]) around an [`Input`] value. From
//! that one declaration come the parser, which reads every member and
//! collects every member's problem (so one 400 names them all, each by name),
//! and the schema: the members' schemas, which are required, and
//! `additionalProperties: false`, because a member nobody declared is refused
//! ("is not allowed"), never ignored.
//!
//! Rules between members that a schema can state go in an optional
//! `schema = fn(ObjectBuilder) -> RefOr<Schema>` (e.g. `anyOf` for "email or
//! username"), and their check in `check = fn(&Self, &mut FieldErrors)`,
//! side by side in the route's module.

use axum::extract::{FromRequest, FromRequestParts, RawPathParams, RawQuery, Request};
use axum::http::request::Parts;
use emporium_domain::error::FieldErrors;
use serde_json::{Map, Value};
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{ObjectBuilder, Schema};

use super::body::{JsonObject, OptionalJsonObject};
use super::input::{Input, has_control, non_empty, nullable};
use crate::error::ApiError;

/// How a member may be present: its reading and its place in the schema.
pub trait Slot: Sized {
    /// Listed under the object's `required`.
    const REQUIRED: bool;
    /// The member's schema in a body.
    fn schema() -> RefOr<Schema>;
    /// The member's schema as a query parameter (never `null`).
    fn param_schema() -> RefOr<Schema>;
    /// Reads the member's JSON value (`None` when absent).
    fn read(value: Option<Value>, field: &str, errors: &mut FieldErrors) -> Self;
    /// Reads a query parameter's value (`None` when absent; never empty).
    fn read_text(value: Option<String>, field: &str, errors: &mut FieldErrors) -> Self;
}

fn text<T: Input>(raw: String, field: &str, errors: &mut FieldErrors) -> Option<T> {
    T::from_text(&raw).map_err(|message| errors.push(field, message)).ok()
}

/// A member that must be given, and not `null`.
#[derive(Debug, Clone)]
pub struct Required<T>(Option<T>);

impl<T> Required<T> {
    /// The value. Only reachable once the request was read without errors,
    /// and reading fails when a required member is missing.
    pub fn get(self) -> T {
        self.0.expect("a request with a missing required member is refused before the handler runs")
    }
}

impl<T: Input> Slot for Required<T> {
    const REQUIRED: bool = true;
    fn schema() -> RefOr<Schema> {
        T::schema()
    }
    fn param_schema() -> RefOr<Schema> {
        non_empty(T::schema())
    }
    fn read(value: Option<Value>, field: &str, errors: &mut FieldErrors) -> Self {
        match value {
            None | Some(Value::Null) => {
                errors.push(field, "is required");
                Required(None)
            }
            Some(v) => Required(T::read(v, field, errors)),
        }
    }
    fn read_text(value: Option<String>, field: &str, errors: &mut FieldErrors) -> Self {
        match value {
            None => {
                errors.push(field, "is required");
                Required(None)
            }
            Some(v) => Required(text(v, field, errors)),
        }
    }
}

/// A member that may be left out; `null` counts as left out.
#[derive(Debug, Clone)]
pub struct Optional<T>(pub Option<T>);

impl<T> Optional<T> {
    pub fn get(self) -> Option<T> {
        self.0
    }
    pub fn is_some(&self) -> bool {
        self.0.is_some()
    }
}

impl<T: Input> Slot for Optional<T> {
    const REQUIRED: bool = false;
    fn schema() -> RefOr<Schema> {
        nullable(T::schema())
    }
    fn param_schema() -> RefOr<Schema> {
        non_empty(T::schema())
    }
    fn read(value: Option<Value>, field: &str, errors: &mut FieldErrors) -> Self {
        Optional(value.filter(|v| !v.is_null()).and_then(|v| T::read(v, field, errors)))
    }
    fn read_text(value: Option<String>, field: &str, errors: &mut FieldErrors) -> Self {
        Optional(value.and_then(|v| text(v, field, errors)))
    }
}

/// A member of a partial update: left out keeps the stored value, `null`
/// clears it, a value sets it.
#[derive(Debug, Clone, Default)]
pub enum Patch<T> {
    #[default]
    Keep,
    Clear,
    Set(T),
}

impl<T> Patch<T> {
    /// `None`: keep; `Some(None)`: clear; `Some(Some(v))`: set.
    pub fn get(self) -> Option<Option<T>> {
        match self {
            Patch::Keep => None,
            Patch::Clear => Some(None),
            Patch::Set(v) => Some(Some(v)),
        }
    }
}

impl<T: Input> Slot for Patch<T> {
    const REQUIRED: bool = false;
    fn schema() -> RefOr<Schema> {
        nullable(T::schema())
    }
    fn param_schema() -> RefOr<Schema> {
        non_empty(T::schema())
    }
    fn read(value: Option<Value>, field: &str, errors: &mut FieldErrors) -> Self {
        match value {
            None => Patch::Keep,
            Some(Value::Null) => Patch::Clear,
            Some(v) => T::read(v, field, errors).map_or(Patch::Keep, Patch::Set),
        }
    }
    fn read_text(value: Option<String>, field: &str, errors: &mut FieldErrors) -> Self {
        value.and_then(|v| text(v, field, errors)).map_or(Patch::Keep, Patch::Set)
    }
}

/// `prefix.name`, or `name` at the top.
pub fn member_name(prefix: &str, name: &str) -> String {
    if prefix.is_empty() { name.to_string() } else { format!("{prefix}.{name}") }
}

/// A JSON object request type, as [`request_body!`] declares it.
pub trait Body: Sized {
    /// Reads the members out of `map`; whatever is left over is not allowed.
    fn read_members(map: &mut Map<String, Value>, prefix: &str, errors: &mut FieldErrors) -> Self;
    /// The rules between members.
    fn check(&self, errors: &mut FieldErrors);
    /// The schema of the whole object.
    fn body_schema() -> RefOr<Schema>;

    /// Reads an object: every member, then the members nobody declared.
    fn read_object(mut map: Map<String, Value>, prefix: &str, errors: &mut FieldErrors) -> Self {
        let body = Self::read_members(&mut map, prefix, errors);
        for key in map.keys() {
            errors.push(member_name(prefix, key), "is not allowed");
        }
        body.check(errors);
        body
    }
}

/// A request body: a JSON object read into `T`; any problem with any member
/// is one 400 naming each. Besides: 415 for a content type other than JSON,
/// 413 for a body over the limit, 400 for malformed JSON or a non-object.
pub struct Json<T>(pub T);

/// Like [`Json`], for a body that may be left out: an empty body is `{}`.
pub struct OptionalJson<T>(pub T);

fn parse_body<T: Body>(map: Map<String, Value>) -> Result<T, ApiError> {
    let mut errors = FieldErrors::new();
    let body = T::read_object(map, "", &mut errors);
    errors.into_result()?;
    Ok(body)
}

impl<S: Send + Sync, T: Body> FromRequest<S> for Json<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let JsonObject(map) = JsonObject::from_request(req, state).await?;
        parse_body(map).map(Json)
    }
}

impl<S: Send + Sync, T: Body> FromRequest<S> for OptionalJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let OptionalJsonObject(map) = OptionalJsonObject::from_request(req, state).await?;
        parse_body(map).map(OptionalJson)
    }
}

/// A query-string request type, as [`request_query!`] declares it.
pub trait Params: Sized {
    /// Takes the declared parameters out of `pairs`.
    fn read_params(pairs: &mut Vec<(String, String)>, errors: &mut FieldErrors) -> Self;
    /// The rules between parameters.
    fn check(&self, errors: &mut FieldErrors);
}

/// Takes one parameter's value out of the query. A parameter given twice,
/// given empty (`?page=`) or holding a control character is refused: each
/// is malformed, not absent.
pub fn take_param(pairs: &mut Vec<(String, String)>, name: &str, errors: &mut FieldErrors) -> Option<String> {
    let mut found: Vec<String> = Vec::new();
    pairs.retain(|(k, v)| {
        if k == name {
            found.push(v.clone());
            false
        } else {
            true
        }
    });
    match found.len() {
        0 => None,
        1 => {
            let value = found.pop().expect("one value");
            if value.is_empty() {
                errors.push(name, "must not be empty");
                None
            } else if has_control(&value) {
                errors.push(name, "must not contain control characters");
                None
            } else {
                Some(value)
            }
        }
        _ => {
            errors.push(name, "must be given at most once");
            None
        }
    }
}

/// Query parameters read into `T`: each bad value and each unknown or
/// repeated parameter is named in one 400.
pub struct Query<T>(pub T);

impl<S: Send + Sync, T: Params> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let RawQuery(raw) = RawQuery::from_request_parts(parts, state).await.unwrap_or(RawQuery(None));
        let params = read_query::<T>(raw.as_deref()).map_err(|errors| ApiError::from(errors.into_vec()))?;
        Ok(Query(params))
    }
}

/// Reads a raw query string into `T`: each bad value and each unknown or
/// repeated parameter is one of the errors. For a dialect that renders the
/// errors in its own shape; [`Query`] renders them in the envelope.
pub fn read_query<T: Params>(raw: Option<&str>) -> Result<T, FieldErrors> {
    let mut pairs: Vec<(String, String)> = raw
        .map(|q| form_urlencoded::parse(q.as_bytes()).map(|(k, v)| (k.into_owned(), v.into_owned())).collect())
        .unwrap_or_default();
    let mut errors = FieldErrors::new();
    let params = T::read_params(&mut pairs, &mut errors);
    for (name, _) in pairs {
        errors.push(name, "is not a known parameter");
    }
    params.check(&mut errors);
    if errors.is_empty() { Ok(params) } else { Err(errors) }
}

/// The route's one path parameter (`{id}`), as sent. A control character in
/// it is a 400 naming the parameter: it can name nothing, and PostgreSQL
/// would refuse a NUL. Whether it names something is the handler's 404.
pub struct PathText(pub String);

impl<S: Send + Sync> FromRequestParts<S> for PathText {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let params = RawPathParams::from_request_parts(parts, state).await.map_err(|_| ApiError::not_found_route())?;
        let Some((name, value)) = params.iter().next() else {
            return Err(ApiError::not_found_route());
        };
        if has_control(value) {
            return Err(emporium_domain::Error::field(name, "must not contain control characters").into());
        }
        Ok(PathText(value.to_string()))
    }
}

/// The schema of a declared object, before any rule between members.
pub fn object_schema(members: &[(&str, RefOr<Schema>, bool, &str)]) -> ObjectBuilder {
    let mut object = ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::Object)
        .additional_properties(Some(utoipa::openapi::schema::AdditionalProperties::<Schema>::FreeForm(false)));
    for (name, schema, required, doc) in members {
        object = object.property(*name, super::input::describe(schema.clone(), doc.trim()));
        if *required {
            object = object.required(*name);
        }
    }
    object
}

/// Declares a JSON body type: its members, how each is read, and its schema.
///
/// ```ignore
/// request_body! {
///     /// Sign in with e-mail or username.
///     pub struct LoginRequest {
///         /// E-mail or username.
///         "email" => email: Optional<Line<254>>,
///         "password" => password: Required<Line<128>>,
///     }
///     check = check_login;    // optional: fn(&Self, &mut FieldErrors)
///     schema = login_schema;  // optional: fn(ObjectBuilder) -> RefOr<Schema>
/// }
/// ```
#[macro_export]
macro_rules! request_body {
    (
        $(#[$meta:meta])*
        $vis:vis struct $name:ident {
            $( $(#[doc = $doc:literal])* $json:literal => $field:ident : $ty:ty ),* $(,)?
        }
        $(check = $check:path;)?
        $(schema = $schema:path;)?
    ) => {
        $(#[$meta])*
        $vis struct $name { $( pub $field: $ty ),* }

        impl $crate::extract::Body for $name {
            #[allow(unused_variables)] // a body with no members reads nothing
            fn read_members(
                map: &mut serde_json::Map<String, serde_json::Value>,
                prefix: &str,
                errors: &mut emporium_domain::error::FieldErrors,
            ) -> Self {
                Self {
                    $( $field: <$ty as $crate::extract::Slot>::read(
                        map.remove($json), &$crate::extract::member_name(prefix, $json), errors) ),*
                }
            }
            #[allow(unused_variables)]
            fn check(&self, errors: &mut emporium_domain::error::FieldErrors) {
                $( $check(self, errors); )?
            }
            fn body_schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                let object = $crate::extract::object_schema(&[
                    $( ($json, <$ty as $crate::extract::Slot>::schema(),
                        <$ty as $crate::extract::Slot>::REQUIRED, concat!($($doc, "\n"),*)) ),*
                ]);
                $( return $schema(object); )?
                #[allow(unreachable_code)]
                object.into()
            }
        }

        impl $crate::extract::Input for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                <$name as $crate::extract::Body>::body_schema()
            }
            fn from_json(value: serde_json::Value) -> Result<Self, String> {
                let mut errors = emporium_domain::error::FieldErrors::new();
                match Self::read(value, "", &mut errors) {
                    Some(v) if errors.is_empty() => Ok(v),
                    _ => Err(errors.into_vec().into_iter().next().map(|e| e.to_string()).unwrap_or_default()),
                }
            }
            fn read(
                value: serde_json::Value,
                field: &str,
                errors: &mut emporium_domain::error::FieldErrors,
            ) -> Option<Self> {
                let serde_json::Value::Object(map) = value else {
                    errors.push(field, "must be an object");
                    return None;
                };
                let before = errors.len();
                let body = <$name as $crate::extract::Body>::read_object(map, field, errors);
                (errors.len() == before).then_some(body)
            }
        }

        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                <$name as $crate::extract::Body>::body_schema()
            }
        }

        impl utoipa::ToSchema for $name {}
    };
}

/// Declares a query-string type: its parameters, how each is read, and the
/// OpenAPI parameters (`params(Type)` in `#[utoipa::path]`).
#[macro_export]
macro_rules! request_query {
    (
        $(#[$meta:meta])*
        $vis:vis struct $name:ident {
            $( $(#[doc = $doc:literal])* $json:literal => $field:ident : $ty:ty ),* $(,)?
        }
        $(check = $check:path;)?
    ) => {
        $(#[$meta])*
        $vis struct $name { $( pub $field: $ty ),* }

        impl $crate::extract::Params for $name {
            fn read_params(
                pairs: &mut Vec<(String, String)>,
                errors: &mut emporium_domain::error::FieldErrors,
            ) -> Self {
                Self {
                    $( $field: <$ty as $crate::extract::Slot>::read_text(
                        $crate::extract::take_param(pairs, $json, errors), $json, errors) ),*
                }
            }
            #[allow(unused_variables)]
            fn check(&self, errors: &mut emporium_domain::error::FieldErrors) {
                $( $check(self, errors); )?
            }
        }

        impl utoipa::IntoParams for $name {
            fn into_params(
                _: impl Fn() -> Option<utoipa::openapi::path::ParameterIn>,
            ) -> Vec<utoipa::openapi::path::Parameter> {
                vec![ $(
                    {
                        let doc: &str = concat!($($doc, "\n"),*);
                        let doc = doc.trim();
                        utoipa::openapi::path::ParameterBuilder::new()
                            .name($json)
                            .parameter_in(utoipa::openapi::path::ParameterIn::Query)
                            .required(if <$ty as $crate::extract::Slot>::REQUIRED {
                                utoipa::openapi::Required::True
                            } else {
                                utoipa::openapi::Required::False
                            })
                            .description((!doc.is_empty()).then_some(doc))
                            .schema(Some(<$ty as $crate::extract::Slot>::param_schema()))
                            .build()
                    }
                ),* ]
            }
        }
    };
}

/// The `{id}` path parameter of a route, as the document states it.
pub struct IdPath;

/// The `{productId}` path parameter of the cart's line routes.
pub struct ProductIdPath;

fn path_parameter(name: &str, description: &str) -> utoipa::openapi::path::Parameter {
    use utoipa::openapi::path::{ParameterBuilder, ParameterIn};
    let schema = ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .min_length(Some(1))
        .pattern(Some(super::input::LINE_PATTERN));
    ParameterBuilder::new()
        .name(name)
        .parameter_in(ParameterIn::Path)
        .required(utoipa::openapi::Required::True)
        .description(Some(description))
        .schema(Some(schema))
        .build()
}

impl utoipa::IntoParams for IdPath {
    fn into_params(
        _: impl Fn() -> Option<utoipa::openapi::path::ParameterIn>,
    ) -> Vec<utoipa::openapi::path::Parameter> {
        vec![path_parameter("id", "The resource's `_id` (a category also by its slug); anything else is a 404")]
    }
}

impl utoipa::IntoParams for ProductIdPath {
    fn into_params(
        _: impl Fn() -> Option<utoipa::openapi::path::ParameterIn>,
    ) -> Vec<utoipa::openapi::path::Parameter> {
        vec![path_parameter("productId", "The product's `_id`; anything else is a 404")]
    }
}
