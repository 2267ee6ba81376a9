//! Access tokens (short-lived HS256 JWTs naming a session) and refresh tokens
//! (opaque random strings, stored only as SHA-256 hashes).

use std::time::Duration;

use emporium_domain::account::Role;
use emporium_domain::ids::UserId;
use emporium_domain::time::Timestamp;
use emporium_domain::{Error, Result};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::Rng;
use rand::distributions::Alphanumeric;
use sha2::{Digest, Sha256};

use crate::Secret;

const ISSUER: &str = "emporium";

#[derive(Debug, Clone)]
pub struct AuthSettings {
    pub jwt_secret: Secret,
    pub access_token_ttl: Duration,
    pub refresh_token_ttl: Duration,
    /// How long a password-reset link works.
    pub reset_token_ttl: Duration,
}

/// What an access token says. `role` is informational: authorization uses
/// the role the database holds now, read with the session.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Claims {
    pub sub: String,
    pub role: String,
    pub sid: String,
    pub iat: i64,
    pub exp: i64,
    pub iss: String,
}

impl Claims {
    pub fn user_id(&self) -> Option<UserId> {
        self.sub.parse().ok()
    }
}

#[derive(Clone)]
pub struct TokenIssuer {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    pub(crate) access_ttl: Duration,
    pub(crate) refresh_ttl: Duration,
}

impl TokenIssuer {
    pub fn new(settings: &AuthSettings) -> Self {
        let secret = settings.jwt_secret.expose().as_bytes();
        // Only HS256 is accepted, so `alg: none` and algorithm-swap tokens fail.
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[ISSUER]);
        validation.set_required_spec_claims(&["exp", "iss", "sub"]);
        validation.leeway = 5;
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            access_ttl: settings.access_token_ttl,
            refresh_ttl: settings.refresh_token_ttl,
        }
    }

    pub fn issue_access(&self, user_id: UserId, role: Role, session_id: &str, now: Timestamp) -> Result<String> {
        let claims = Claims {
            sub: user_id.to_string(),
            role: role.as_str().to_string(),
            sid: session_id.to_string(),
            iat: now.unix_secs(),
            exp: now.unix_secs() + self.access_ttl.as_secs() as i64,
            iss: ISSUER.to_string(),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|e| Error::internal(format!("signing token: {e}")))
    }

    /// Checks signature, algorithm, issuer and expiry. Says nothing about
    /// whether the session is still live; see `Accounts::authenticate`.
    pub fn decode_access(&self, token: &str) -> Result<Claims> {
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map(|data| data.claims)
            .map_err(|_| Error::Unauthenticated("Invalid or expired token".into()))
    }

    pub fn access_ttl_secs(&self) -> u64 {
        self.access_ttl.as_secs()
    }
    pub fn refresh_ttl_secs(&self) -> u64 {
        self.refresh_ttl.as_secs()
    }
}

/// A fresh opaque token: 48 alphanumeric characters (~285 bits).
pub fn random_token(len: usize) -> String {
    rand::thread_rng().sample_iter(&Alphanumeric).take(len).map(char::from).collect()
}

/// A password-reset token: 32 bytes from the operating system's generator,
/// hex-encoded (URL-safe as it is).
pub fn reset_token() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether a presented reset token has the shape `reset_token` makes.
pub fn is_reset_token_shaped(token: &str) -> bool {
    token.len() == 64 && token.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// What the database keeps of a refresh token.
pub fn hash_token(token: &str) -> String {
    format!("{:x}", Sha256::digest(token.as_bytes()))
}

/// A guest order's access token: 43 alphanumeric characters (~256 bits)
/// drawn straight from the operating system's generator, URL-safe as it
/// stands. Only its [`hash_token`] is stored.
pub fn order_access_token() -> String {
    rand::rngs::OsRng.sample_iter(&Alphanumeric).take(43).map(char::from).collect()
}

/// The key guest order tokens of keyed requests are derived with: an HMAC
/// of a fixed label under the JWT signing secret, so the signing key itself
/// is never used for anything but JWTs.
#[derive(Clone)]
pub struct OrderTokenKey([u8; 32]);

impl OrderTokenKey {
    pub fn derive(jwt_secret: &Secret) -> Self {
        Self(hmac_sha256(jwt_secret.expose().as_bytes(), &[b"emporium guest order token v1"]))
    }

    /// The access token of the guest order placed by the request `scope`,
    /// `key` and `request_hash` name: the same for every retry of that
    /// request, and unguessable without the server's secret. 64 hex digits.
    pub fn order_token(&self, scope: &str, key: &str, request_hash: &str) -> String {
        hex::encode(hmac_sha256(&self.0, &[scope.as_bytes(), key.as_bytes(), request_hash.as_bytes()]))
    }
}

impl std::fmt::Debug for OrderTokenKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OrderTokenKey([redacted])")
    }
}

/// HMAC-SHA256 over `parts`, each prefixed with its length so that no two
/// different lists of parts give the same input.
fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    use hmac::{Hmac, Mac};
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes a key of any length");
    for part in parts {
        mac.update(&(part.len() as u64).to_be_bytes());
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

/// Whether two secrets are equal, in time that does not depend on where
/// they differ (or, as both are hashed first, on their lengths).
pub fn secrets_match(a: &str, b: &str) -> bool {
    use subtle::ConstantTimeEq;
    Sha256::digest(a.as_bytes()).ct_eq(&Sha256::digest(b.as_bytes())).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn issuer(secret: &str) -> TokenIssuer {
        TokenIssuer::new(&AuthSettings {
            jwt_secret: Secret::new(secret),
            access_token_ttl: Duration::from_secs(900),
            refresh_token_ttl: Duration::from_secs(3600),
            reset_token_ttl: Duration::from_secs(1800),
        })
    }

    #[test]
    fn a_keyed_order_token_is_the_same_for_the_same_request_and_differs_otherwise() {
        let key = OrderTokenKey::derive(&Secret::new("a-secret-of-at-least-32-bytes-long!!"));
        let token = key.order_token("guest:a@example.com", "k1", "h1");
        assert_eq!(token, key.order_token("guest:a@example.com", "k1", "h1"));
        assert_eq!(token.len(), 64);
        assert_ne!(token, key.order_token("guest:a@example.com", "k2", "h1"));
        assert_ne!(token, key.order_token("guest:a@example.com", "k1", "h2"));
        assert_ne!(key.order_token("ab", "c", "h"), key.order_token("a", "bc", "h"));
        let other = OrderTokenKey::derive(&Secret::new("another-secret-of-at-least-32-bytes"));
        assert_ne!(token, other.order_token("guest:a@example.com", "k1", "h1"));
    }

    #[test]
    fn round_trips_and_rejects_other_secrets() {
        let a = issuer("a-secret-of-some-length-0123456789");
        let token = a.issue_access(UserId::new(7), Role::User, "sid1", Timestamp::now()).unwrap();
        let claims = a.decode_access(&token).unwrap();
        assert_eq!((claims.sub.as_str(), claims.sid.as_str()), ("7", "sid1"));
        assert!(issuer("another-secret-entirely-0123456789").decode_access(&token).is_err());
    }

    #[test]
    fn order_tokens_are_long_url_safe_and_fresh() {
        let (a, b) = (order_access_token(), order_access_token());
        assert_eq!(a.len(), 43);
        assert!(a.bytes().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(a, b);
        assert!(secrets_match(&a, &a.clone()) && !secrets_match(&a, &b) && !secrets_match(&a, ""));
    }

    #[test]
    fn expired_tokens_fail() {
        let a = issuer("a-secret-of-some-length-0123456789");
        let token = a.issue_access(UserId::new(7), Role::User, "s", Timestamp::now().minus_secs(3600)).unwrap();
        assert!(a.decode_access(&token).is_err());
    }
}
