use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRef, FromRequestParts};
use axum::http::request::Parts;

use crate::AppState;

/// The client's IP: the peer address, or — only when the peer is a
/// configured trusted proxy — the nearest untrusted address in
/// `X-Forwarded-For`. Anyone else could forge that header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientIp(pub IpAddr);

impl ClientIp {
    /// What the audit log records of this request.
    pub fn context(self) -> emporium_service::RequestContext {
        emporium_service::RequestContext { ip: Some(self.0.to_string()) }
    }

    pub fn resolve(parts: &Parts, trusted: &[ipnet::IpNet]) -> Self {
        let peer =
            parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip()).unwrap_or(IpAddr::from([127, 0, 0, 1]));
        let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
        if !is_trusted(&peer) {
            return ClientIp(peer);
        }
        let forwarded = parts
            .headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect::<Vec<_>>()
            .join(",");
        let hops: Vec<IpAddr> = forwarded.split(',').filter_map(|s| s.trim().parse().ok()).collect();
        ClientIp(hops.into_iter().rev().find(|ip| !is_trusted(ip)).unwrap_or(peer))
    }
}

impl<S> FromRequestParts<S> for ClientIp
where
    AppState: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        if let Some(ip) = parts.extensions.get::<ClientIp>() {
            return Ok(*ip);
        }
        let state = AppState::from_ref(state);
        Ok(ClientIp::resolve(parts, &state.settings.trusted_proxies))
    }
}
