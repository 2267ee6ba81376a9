//! Turning templates into responses, and errors into pages.

use askama::Template;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use emporium_domain::Error;

pub type PageResult = Result<Response, PageError>;

/// What every page's frame shows: its title, which menu entry is current,
/// and a message about the last action.
pub struct Layout {
    pub title: String,
    pub active: &'static str,
    pub signed_in: bool,
    pub notice: Option<String>,
    pub error: Option<String>,
    pub css: &'static str,
    pub htmx: &'static str,
}

impl Layout {
    pub fn new(title: impl Into<String>, active: &'static str) -> Self {
        Self {
            title: title.into(),
            active,
            signed_in: true,
            notice: None,
            error: None,
            css: crate::assets::CSS_PATH,
            htmx: crate::assets::HTMX_PATH,
        }
    }

    pub fn with_notice(mut self, notice: Option<&str>) -> Self {
        self.notice = notice.and_then(notice_text).map(String::from);
        self
    }

    pub fn with_error(mut self, error: Option<String>) -> Self {
        self.error = error;
        self
    }
}

/// The messages a redirect may ask a page to show, by code: a fixed list,
/// so no one can make the dashboard display words of their choosing.
fn notice_text(code: &str) -> Option<&'static str> {
    Some(match code {
        "created" => "Created.",
        "saved" => "Saved.",
        "deleted" => "Deleted.",
        "bulk" => "The selected products were updated.",
        "status" => "The order's status was changed.",
        "cancelled" => "The order was cancelled and its stock put back.",
        "paid" => "The order was marked paid.",
        "refunded" => "The refund was recorded.",
        "role" => "The role was changed.",
        "retried" => "The message will be sent again.",
        "imported" => "The import was applied.",
        _ => return None,
    })
}

pub fn html<T: Template>(status: StatusCode, template: &T) -> PageResult {
    let body = template.render().map_err(|e| Error::internal(format!("template: {e}")))?;
    Ok((status, Html(body)).into_response())
}

pub fn ok<T: Template>(template: &T) -> PageResult {
    html(StatusCode::OK, template)
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    layout: Layout,
    status: u16,
    message: &'a str,
}

/// A bare error page (no menu: the caller may not be signed in).
pub fn error_page(status: StatusCode, message: &str) -> Html<String> {
    let mut layout = Layout::new(status.canonical_reason().unwrap_or("Error"), "");
    layout.signed_in = false;
    let page = ErrorPage { layout, status: status.as_u16(), message };
    Html(page.render().unwrap_or_else(|_| message.to_string()))
}

#[derive(Template)]
#[template(path = "sign_in.html")]
struct SignInPage<'a> {
    layout: Layout,
    login: &'a str,
    next: &'a str,
    message: Option<&'a str>,
}

pub fn sign_in(status: StatusCode, login: &str, next: &str, message: Option<&str>) -> PageResult {
    let mut layout = Layout::new("Sign in", "");
    layout.signed_in = false;
    html(status, &SignInPage { layout, login, next, message })
}

/// A service's refusal, as a page. Details of a 5xx go to the log only.
#[derive(Debug)]
pub struct PageError {
    status: StatusCode,
    message: String,
}

impl PageError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self { status, message: message.into() }
    }
}

/// The HTTP status of a service's refusal, as the API maps it.
pub fn status_of(e: &Error) -> StatusCode {
    match e {
        Error::Validation(_) => StatusCode::BAD_REQUEST,
        Error::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
        Error::Forbidden(_) => StatusCode::FORBIDDEN,
        Error::NotFound(_) => StatusCode::NOT_FOUND,
        Error::Conflict(_) | Error::InsufficientStock { .. } => StatusCode::CONFLICT,
        Error::Upstream(_) => StatusCode::BAD_GATEWAY,
        Error::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
        Error::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
        Error::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// A service error as the one-line message a page shows.
pub fn message_of(e: &Error) -> String {
    match e {
        Error::Internal(inner) => {
            tracing::error!(error = %inner, "dashboard request failed");
            "Something went wrong on our side; it has been logged.".to_string()
        }
        Error::Validation(fields) => {
            fields.iter().map(|f| format!("{}: {}", f.field, f.message)).collect::<Vec<_>>().join("; ")
        }
        other => other.to_string(),
    }
}

impl From<Error> for PageError {
    fn from(e: Error) -> Self {
        Self { status: status_of(&e), message: message_of(&e) }
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        (self.status, error_page(self.status, &self.message)).into_response()
    }
}
