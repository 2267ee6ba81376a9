//! The one error type every service returns; the API maps it to the envelope once.

use std::fmt;

/// A problem with one named input field.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self { field: field.into(), message: message.into() }
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.field, self.message)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// One or more inputs are malformed; each is named.
    #[error("validation failed")]
    Validation(Vec<FieldError>),
    /// The caller is not signed in, or its credentials are not valid.
    #[error("{0}")]
    Unauthenticated(String),
    /// The caller is signed in but may not do this.
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    /// A quantity asked for is more than the shop has.
    #[error("insufficient stock for {product_name}: requested {requested}, available {available}")]
    InsufficientStock { product_id: String, product_name: String, requested: i64, available: i64 },
    /// An outside service (a payment provider) is down or refused the call;
    /// nothing was changed, and asking again later is safe.
    #[error("{0}")]
    Upstream(String),
    #[error("too many requests")]
    RateLimited { retry_after_secs: u64 },
    /// Something this needs is down for now (e.g. the shared rate-limit
    /// counters); the caller may retry after a while.
    #[error("temporarily unavailable: {message}")]
    Unavailable { message: String, retry_after_secs: u64 },
    /// Anything unexpected. Its details go to the log, never to the client.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn field(field: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Validation(vec![FieldError::new(field, message)])
    }

    pub fn internal(message: impl fmt::Display) -> Self {
        Error::Internal(anyhow::anyhow!("{message}"))
    }
}

/// Collects field errors while parsing a whole input, so one response names
/// every bad field instead of only the first.
#[derive(Debug, Default)]
pub struct FieldErrors(Vec<FieldError>);

impl FieldErrors {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn push(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.0.push(FieldError::new(field, message));
    }

    /// Keeps the value of a parse, or records its error under `field`.
    pub fn check<T>(&mut self, field: &str, parsed: Result<T, String>) -> Option<T> {
        match parsed {
            Ok(v) => Some(v),
            Err(message) => {
                self.push(field, message);
                None
            }
        }
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn into_vec(self) -> Vec<FieldError> {
        self.0
    }

    pub fn into_result(self) -> Result<()> {
        if self.0.is_empty() { Ok(()) } else { Err(Error::Validation(self.0)) }
    }
}
