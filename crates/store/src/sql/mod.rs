//! SQL that reads the same on SQLite and PostgreSQL. Both accept `$N`
//! placeholders; statements that differ live in each backend.

pub const USER_COLUMNS: &str =
    "id, username, full_name, email, role, phone, shipping_address, password_hash, created_at, updated_at, version";

pub const SELECT_USER_BY_ID: &str = "SELECT id, username, full_name, email, role, phone, shipping_address, password_hash, created_at, updated_at, version FROM users WHERE id = $1";
pub const SELECT_USER_BY_EMAIL_KEY: &str = "SELECT id, username, full_name, email, role, phone, shipping_address, password_hash, created_at, updated_at, version FROM users WHERE email_key = $1";
pub const SELECT_USER_BY_USERNAME_KEY: &str = "SELECT id, username, full_name, email, role, phone, shipping_address, password_hash, created_at, updated_at, version FROM users WHERE username_key = $1";

pub const INSERT_USER: &str = "INSERT INTO users (username, username_key, full_name, email, email_key, password_hash, role, created_at, updated_at, version) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8, 0) \
     RETURNING id, username, full_name, email, role, phone, shipping_address, password_hash, created_at, updated_at, version";

/// `$1` id, then each column's new value or NULL to keep it; `$9`/`$10` say
/// whether phone/address were sent (so they can be cleared to NULL).
pub const UPDATE_PROFILE: &str = "UPDATE users SET \
     full_name = COALESCE($2, full_name), \
     username = COALESCE($3, username), username_key = COALESCE($4, username_key), \
     email = COALESCE($5, email), email_key = COALESCE($6, email_key), \
     phone = CASE WHEN $9 THEN $7 ELSE phone END, \
     shipping_address = CASE WHEN $10 THEN $8 ELSE shipping_address END, \
     updated_at = $11, version = version + 1 \
     WHERE id = $1 \
     RETURNING id, username, full_name, email, role, phone, shipping_address, password_hash, created_at, updated_at, version";

pub const UPDATE_PASSWORD: &str =
    "UPDATE users SET password_hash = $2, updated_at = $3, version = version + 1 WHERE id = $1";
pub const REVOKE_OTHER_SESSIONS: &str =
    "UPDATE sessions SET revoked_at = $3 WHERE user_id = $1 AND revoked_at IS NULL AND ($2 IS NULL OR id <> $2)";

pub const COUNT_OTHER_ADMINS: &str = "SELECT COUNT(*) FROM users WHERE role = 'admin' AND id <> $1";
pub const UPDATE_ROLE: &str = "UPDATE users SET role = $2, updated_at = $3, version = version + 1 WHERE id = $1 \
     RETURNING id, username, full_name, email, role, phone, shipping_address, password_hash, created_at, updated_at, version";
pub const SELECT_ROLE: &str = "SELECT role FROM users WHERE id = $1";
pub const DELETE_USER: &str = "DELETE FROM users WHERE id = $1";

/// `$1` search pattern (already `like_pattern`ed) or NULL, `$2` role or NULL.
pub const USER_FILTER: &str = "($1 IS NULL OR lower(username) LIKE $1 ESCAPE '\\' OR lower(email) LIKE $1 ESCAPE '\\' OR lower(full_name) LIKE $1 ESCAPE '\\') \
     AND ($2 IS NULL OR role = $2)";

pub const INSERT_SESSION: &str = "INSERT INTO sessions (id, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4)";
pub const INSERT_REFRESH_TOKEN: &str = "INSERT INTO refresh_tokens (hash, session_id, issued_at) VALUES ($1, $2, $3)";
pub const SELECT_SESSION_PRINCIPAL: &str = "SELECT u.id AS user_id, u.role AS role FROM sessions s JOIN users u ON u.id = s.user_id \
     WHERE s.id = $1 AND s.revoked_at IS NULL AND s.expires_at > $2";
/// Spends a live token of a live session; returns its session and user.
pub const SPEND_REFRESH_TOKEN: &str = "UPDATE refresh_tokens SET spent_at = $2 \
     WHERE hash = $1 AND spent_at IS NULL \
     AND session_id IN (SELECT id FROM sessions WHERE revoked_at IS NULL AND expires_at > $2) \
     RETURNING session_id";
pub const SELECT_REFRESH_TOKEN: &str = "SELECT t.session_id, s.user_id, t.spent_at FROM refresh_tokens t JOIN sessions s ON s.id = t.session_id WHERE t.hash = $1";
pub const SELECT_SESSION_USER: &str = "SELECT user_id FROM sessions WHERE id = $1";
pub const EXTEND_SESSION: &str = "UPDATE sessions SET expires_at = $2 WHERE id = $1";
pub const REVOKE_SESSION: &str = "UPDATE sessions SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL";

pub const INSERT_AUDIT: &str = "INSERT INTO audit_log (at, actor_id, action, target_type, target_id, ip, details) VALUES ($1, $2, $3, $4, $5, $6, $7)";
pub const AUDIT_COLUMNS: &str = "id, at, actor_id, action, target_type, target_id, ip, details";
/// `$1` action, `$2` actor, `$3` target type, `$4` target id, `$5` since, `$6` until; each NULL for any.
pub const AUDIT_FILTER: &str = "($1 IS NULL OR action = $1) AND ($2 IS NULL OR actor_id = $2) \
     AND ($3 IS NULL OR target_type = $3) AND ($4 IS NULL OR target_id = $4) \
     AND ($5 IS NULL OR at >= $5) AND ($6 IS NULL OR at < $6)";

pub mod catalog;
pub mod orders;
pub mod outbox;
pub mod payments;
