//! What both adapters do the same way on the wire: one `reqwest` client per
//! provider with the configured timeout on every call, URLs built by path
//! segment (a reference can never change the path it is put in), and the
//! mapping of transport failures and status codes onto [`ProviderError`].

use std::time::Duration;

use reqwest::{RequestBuilder, StatusCode, Url};

use crate::{ConfigError, ProviderError};

pub(crate) fn client(timeout: Duration) -> Result<reqwest::Client, ConfigError> {
    if timeout.is_zero() {
        return Err(ConfigError("the provider timeout must be more than zero".into()));
    }
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout)
        .user_agent(concat!("emporium/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| ConfigError(format!("cannot build the HTTP client: {e}")))
}

pub(crate) fn base_url(api_base: &str, setting: &str) -> Result<Url, ConfigError> {
    let url = Url::parse(api_base).map_err(|e| ConfigError(format!("{setting} is not a URL ({e}): {api_base}")))?;
    if !matches!(url.scheme(), "http" | "https") || url.cannot_be_a_base() {
        return Err(ConfigError(format!("{setting} must be an http(s) URL: {api_base}")));
    }
    Ok(url)
}

/// `base` + the given path segments, each percent-encoded as one segment.
pub(crate) fn endpoint(base: &Url, segments: &[&str]) -> Url {
    let mut url = base.clone();
    url.path_segments_mut()
        .expect("checked at construction: the base URL can be a base")
        .pop_if_empty()
        .extend(segments);
    url
}

/// Sends `request` and reads the whole answer. Anything that keeps us from
/// getting an answer (connection refused, timeout, a body cut short) is
/// [`ProviderError::Unavailable`]: the caller changes nothing and may retry.
pub(crate) async fn send(request: RequestBuilder, what: &str) -> Result<(StatusCode, Vec<u8>), ProviderError> {
    let response = request.send().await.map_err(|e| transport(e, what))?;
    let status = response.status();
    let body = response.bytes().await.map_err(|e| transport(e, what))?;
    tracing::debug!(target: "emporium_payments", %status, what, "provider answered");
    Ok((status, body.to_vec()))
}

fn transport(error: reqwest::Error, what: &str) -> ProviderError {
    // reqwest's message names the URL, never a header, so no secret is in it.
    if error.is_timeout() {
        ProviderError::Unavailable(format!("{what}: the provider did not answer in time"))
    } else {
        ProviderError::Unavailable(format!("{what}: {error}"))
    }
}

/// The mapping every non-2xx answer goes through once the provider's own
/// message has been read: 5xx and 429 (slow down) are Unavailable — retrying
/// later is safe and nothing was done; 404 is NotFound; the rest of 4xx is the
/// provider refusing what we asked, in its words.
pub(crate) fn status_error(status: StatusCode, message: String, what: &str) -> ProviderError {
    if status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS {
        ProviderError::Unavailable(format!("{what}: {status}: {message}"))
    } else if status == StatusCode::NOT_FOUND {
        ProviderError::NotFound(format!("{what}: {message}"))
    } else {
        ProviderError::Rejected(message)
    }
}

/// A 2xx answer whose body is not what the provider documents: treated like
/// an outage (nothing is concluded from it), with the reason for the log.
pub(crate) fn unexpected(what: &str, detail: impl std::fmt::Display) -> ProviderError {
    ProviderError::Unavailable(format!("{what}: unexpected answer from the provider: {detail}"))
}

/// Seconds since 1970; only the fakes (feature `fake`) read the clock this way.
#[cfg(feature = "fake")]
pub(crate) fn unix_now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}
