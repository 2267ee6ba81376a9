use emporium_domain::Error;

/// What storage can say went wrong, beyond "not found" (which is an `Option`).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A unique index refused the write. Detected by the database's error
    /// kind, never by constraint name (SQLite reports none).
    #[error("a unique constraint was violated")]
    UniqueViolation,
    /// A foreign key refused the write or the delete.
    #[error("a foreign key constraint was violated")]
    ForeignKeyViolation,
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

pub type StoreResult<T> = Result<T, StoreError>;

impl From<sqlx::Error> for StoreError {
    fn from(err: sqlx::Error) -> Self {
        if let sqlx::Error::Database(db) = &err {
            if db.is_unique_violation() {
                return StoreError::UniqueViolation;
            }
            if db.is_foreign_key_violation() {
                return StoreError::ForeignKeyViolation;
            }
        }
        StoreError::Other(anyhow::Error::new(err))
    }
}

impl From<serde_json::Error> for StoreError {
    fn from(err: serde_json::Error) -> Self {
        StoreError::Other(anyhow::Error::new(err))
    }
}

impl From<StoreError> for Error {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::UniqueViolation => Error::Conflict("resource already exists".into()),
            StoreError::ForeignKeyViolation => Error::Conflict("resource is still referenced".into()),
            StoreError::Other(e) => Error::Internal(e),
        }
    }
}
