//! Password hashing with Argon2id at OWASP's recommended parameters
//! (19 MiB, 2 iterations, 1 lane). Hashing runs on the blocking pool, and a
//! semaphore bounds how many run at once, so a burst of sign-ins can neither
//! stall the async workers nor balloon memory.

use std::sync::{Arc, OnceLock};

use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use emporium_domain::{Error, Result};
use tokio::sync::Semaphore;

fn argon2() -> Argon2<'static> {
    let params = Params::new(19 * 1024, 2, 1, None).expect("valid Argon2 parameters");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

#[derive(Clone)]
pub struct PasswordHasher {
    permits: Arc<Semaphore>,
}

impl Default for PasswordHasher {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
        Self { permits: Arc::new(Semaphore::new(cores * 2)) }
    }
}

impl PasswordHasher {
    pub async fn hash(&self, password: &str) -> Result<String> {
        let password = password.to_owned();
        self.run(move || {
            let salt = SaltString::generate(&mut rand::rngs::OsRng);
            argon2()
                .hash_password(password.as_bytes(), &salt)
                .map(|h| h.to_string())
                .map_err(|e| Error::internal(format!("hashing failed: {e}")))
        })
        .await
    }

    /// Checks `password` against `hash`. With no hash (unknown account) it
    /// checks against a fixed dummy, so both cases take the same time and a
    /// caller cannot tell which accounts exist.
    pub async fn verify(&self, password: &str, hash: Option<&str>) -> Result<bool> {
        let password = password.to_owned();
        let known = hash.is_some();
        let hash = hash.map(str::to_owned).unwrap_or_else(|| dummy_hash().to_owned());
        self.run(move || {
            let parsed =
                PasswordHash::new(&hash).map_err(|e| Error::internal(format!("stored hash unreadable: {e}")))?;
            Ok(argon2().verify_password(password.as_bytes(), &parsed).is_ok() && known)
        })
        .await
    }

    async fn run<T: Send + 'static>(&self, work: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
        let _permit = self.permits.acquire().await.map_err(Error::internal)?;
        tokio::task::spawn_blocking(work).await.map_err(|e| Error::internal(format!("hashing task failed: {e}")))?
    }
}

fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| {
        let salt = SaltString::generate(&mut rand::rngs::OsRng);
        argon2().hash_password(b"not a real password", &salt).expect("hashing a constant").to_string()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_are_argon2id_and_verify() {
        let hasher = PasswordHasher::default();
        let hash = hasher.hash("SecurePass123!").await.unwrap();
        assert!(hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{hash}");
        assert!(hasher.verify("SecurePass123!", Some(&hash)).await.unwrap());
        assert!(!hasher.verify("WrongPass123!", Some(&hash)).await.unwrap());
        assert!(!hasher.verify("not a real password", None).await.unwrap());
    }
}
