//! Outbox and password-reset SQL both backends share. Claiming differs only
//! in its lock clause (each backend's `CLAIM_LOCK`).

pub const INSERT_MAIL: &str = "INSERT INTO outbox (mail_key, kind, to_address, to_key, to_name, payload, sensitive, status, attempts, \
     next_attempt_at, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, 'pending', 0, $8, $8, $8) \
     ON CONFLICT (mail_key) DO NOTHING";
pub const MAIL_COLUMNS: &str = "id, mail_key, kind, to_address, to_name, payload, sensitive, status, attempts, next_attempt_at, \
     last_error, created_at, sent_at, updated_at";
/// `$1` now, `$2` lease end, `$3` lease token, `$4` how many; the caller
/// appends the lock clause and `)` and `RETURNING`. A claimed row is not due
/// again until its lease ends, so a worker that dies mid-send leaves it for
/// another.
pub const CLAIM_MAILS: &str = "UPDATE outbox SET next_attempt_at = $2, lease_token = $3, attempts = attempts + 1, updated_at = $1 \
     WHERE id IN (SELECT id FROM outbox WHERE status = 'pending' AND next_attempt_at <= $1 ORDER BY next_attempt_at, id LIMIT $4";
pub const MARK_SENT: &str = "UPDATE outbox SET status = 'sent', sent_at = $3, updated_at = $3, lease_token = NULL, last_error = NULL, \
     payload = CASE WHEN sensitive THEN NULL ELSE payload END WHERE id = $1 AND lease_token = $2";
pub const MARK_FAILED: &str = "UPDATE outbox SET status = $3, next_attempt_at = $4, last_error = $5, lease_token = NULL, updated_at = $6 \
     WHERE id = $1 AND lease_token = $2";
pub const RETRY_DEAD: &str = "UPDATE outbox SET status = 'pending', attempts = 0, next_attempt_at = $2, lease_token = NULL, updated_at = $2 \
     WHERE id = $1 AND status = 'dead'";
pub const SELECT_MAIL_STATUS: &str = "SELECT status FROM outbox WHERE id = $1";
/// `$1` status, `$2` lower-cased recipient; each NULL for any.
pub const MAIL_FILTER: &str = "($1 IS NULL OR status = $1) AND ($2 IS NULL OR to_key = $2)";
pub const PENDING_STATS: &str = "SELECT COUNT(*), MIN(created_at) FROM outbox WHERE status = 'pending'";
pub const DEAD_COUNT: &str = "SELECT COUNT(*) FROM outbox WHERE status = 'dead'";

pub const COUNT_RECENT_MAILS: &str = "SELECT COUNT(*) FROM outbox WHERE to_key = $1 AND kind = $2 AND created_at >= $3";
pub const INVALIDATE_RESETS: &str = "UPDATE password_resets SET used_at = $2 WHERE user_id = $1 AND used_at IS NULL";
pub const INSERT_RESET: &str =
    "INSERT INTO password_resets (token_hash, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4)";
pub const SPEND_RESET: &str = "UPDATE password_resets SET used_at = $2 \
     WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2 RETURNING user_id";
