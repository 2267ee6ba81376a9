//! Who may try a password now: the sign-in lock-out policy.
//!
//! Modelled on django-axes, Devise's lockable and Spree: **failures** are
//! counted, per account and per client IP, not attempts, so a busy office
//! behind one address can sign in all day. After a few failures an account
//! is slowed down, with a delay that doubles per further failure up to a
//! cap; a success ends it. The owner is never held back by an attacker
//! elsewhere: an IP that has signed in to the account successfully before
//! (a known IP) skips the account's delay (its own per-IP budgets still
//! apply). Every IP also has a generous cap on all attempts and a budget of
//! failures.
//!
//! The rule is decided by [`SignInPolicy::admit`] and
//! [`Lockout::delay_after`], free of storage and HTTP; [`SignInGuard`]
//! feeds them the counters (in this process, or shared in Redis) and writes
//! the audit log.

use std::sync::Arc;
use std::time::Duration;

use emporium_domain::{Error, Result};
use emporium_limits::{Count, Limits, Op, Quota};
use emporium_store::Store;
use serde_json::json;

use crate::RequestContext;

/// How long an account's failures are remembered after the last one.
pub const FAILURE_MEMORY: Duration = Duration::from_secs(24 * 3600);
/// How long an IP stays known to an account after a successful sign-in from it.
pub const KNOWN_IP_MEMORY: Duration = Duration::from_secs(30 * 24 * 3600);
/// What a refused client is told to wait when the counters are unreachable.
const UNAVAILABLE_RETRY_SECS: u64 = 5;

/// The sign-in budgets; `None` turns that part off.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignInPolicy {
    /// Every attempt from one client IP, successful or not.
    pub ip_attempts: Option<Quota>,
    /// Failed attempts from one client IP, over every account.
    pub ip_failures: Option<Quota>,
    /// The progressive delay per account.
    pub lockout: Option<Lockout>,
}

impl Default for SignInPolicy {
    fn default() -> Self {
        Self {
            ip_attempts: Some(Quota::per(100, Duration::from_secs(15 * 60))),
            ip_failures: Some(Quota::per(20, Duration::from_secs(15 * 60))),
            lockout: Some(Lockout::default()),
        }
    }
}

impl SignInPolicy {
    /// No budgets at all.
    pub fn off() -> Self {
        Self { ip_attempts: None, ip_failures: None, lockout: None }
    }

    /// Whether an attempt may go ahead, given the counters as they stand
    /// (the IP's attempt counter already counting this one). On refusal,
    /// how long to wait and why.
    pub fn admit(&self, standing: &Standing) -> Result<(), Refusal> {
        if let (Some(quota), Some(attempts)) = (self.ip_attempts, standing.ip_attempts) {
            let verdict = quota.judge(attempts);
            if !verdict.allowed {
                return Err(Refusal { retry_after: verdict.resets_in, reason: RefusalReason::IpAttempts });
            }
        }
        if let Some(quota) = self.ip_failures
            && !quota.has_room(standing.ip_failures)
        {
            let retry_after = if standing.ip_failures.ttl.is_zero() { quota.window } else { standing.ip_failures.ttl };
            return Err(Refusal { retry_after, reason: RefusalReason::IpFailures });
        }
        if self.lockout.is_some() && standing.account_delay.value > 0 && !standing.known_ip {
            return Err(Refusal { retry_after: standing.account_delay.ttl, reason: RefusalReason::AccountDelayed });
        }
        Ok(())
    }
}

/// After `threshold` failures in a row an account waits `first_delay`
/// before its next attempt, twice as long after each further failure, at
/// most `max_delay`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lockout {
    pub threshold: u32,
    pub first_delay: Duration,
    pub max_delay: Duration,
}

impl Default for Lockout {
    fn default() -> Self {
        Self { threshold: 5, first_delay: Duration::from_secs(60), max_delay: Duration::from_secs(15 * 60) }
    }
}

impl Lockout {
    /// The delay an account gets after its `failures`th failure in a row.
    pub fn delay_after(&self, failures: u64) -> Option<Duration> {
        let beyond = failures.checked_sub(u64::from(self.threshold))?;
        let factor = 1u32.checked_shl(beyond.min(31) as u32).unwrap_or(u32::MAX);
        Some(self.first_delay.saturating_mul(factor).min(self.max_delay))
    }
}

/// The counters that decide an attempt, read in one round trip.
#[derive(Debug, Clone, Copy, Default)]
pub struct Standing {
    /// The IP's attempts in its window, this one included (`None`: not counted).
    pub ip_attempts: Option<Count>,
    /// The IP's failures in its window.
    pub ip_failures: Count,
    /// The account's delay: set while the account must wait.
    pub account_delay: Count,
    /// Whether this IP has signed in to this account successfully before.
    pub known_ip: bool,
}

/// Why an attempt was refused, and for how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refusal {
    pub retry_after: Duration,
    pub reason: RefusalReason,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefusalReason {
    IpAttempts,
    IpFailures,
    AccountDelayed,
}

impl Refusal {
    fn into_error(self) -> Error {
        Error::RateLimited { retry_after_secs: self.retry_after.as_secs_f64().ceil() as u64 }
    }
}

/// The account a sign-in attempt is counted against: the user when the
/// name is theirs (so an e-mail and a username share one count), else the
/// name itself, so unknown names are slowed down the same way and their
/// answers tell nothing.
#[derive(Debug, Clone)]
pub struct AccountKey(String);

impl AccountKey {
    pub fn user(id: impl std::fmt::Display) -> Self {
        Self(format!("user:{id}"))
    }
    pub fn name(name: &str) -> Self {
        Self(format!("name:{name}"))
    }
}

/// Applies a [`SignInPolicy`] with the counters and records lock-outs in
/// the audit log.
#[derive(Clone)]
pub struct SignInGuard {
    policy: Arc<SignInPolicy>,
    limits: Limits,
    store: Arc<dyn Store>,
}

struct Keys {
    ip_attempts: String,
    ip_failures: String,
    failures: String,
    delay: String,
    known_ip: String,
}

impl Keys {
    fn new(account: &AccountKey, ip: &str) -> Self {
        let account = &account.0;
        Self {
            ip_attempts: format!("signin:ip:{ip}"),
            ip_failures: format!("signin:ip-failures:{ip}"),
            failures: format!("signin:failures:{account}"),
            delay: format!("signin:delay:{account}"),
            known_ip: format!("signin:known:{account}:{ip}"),
        }
    }
}

fn client_ip(ctx: &RequestContext) -> &str {
    ctx.ip.as_deref().unwrap_or("unknown")
}

impl SignInGuard {
    pub fn new(store: Arc<dyn Store>, policy: SignInPolicy, limits: Limits) -> Self {
        Self { policy: Arc::new(policy), limits, store }
    }

    /// Counts an attempt and refuses it (429) while a budget is spent or
    /// the account must wait; refuses (503) when the counters cannot be
    /// reached, since an uncounted sign-in is a free guess.
    pub async fn admit(&self, account: &AccountKey, ctx: &RequestContext) -> Result<()> {
        let policy = &self.policy;
        if **policy == SignInPolicy::off() {
            return Ok(());
        }
        let keys = Keys::new(account, client_ip(ctx));
        let mut ops = Vec::with_capacity(4);
        if let Some(quota) = policy.ip_attempts {
            ops.push(Op::Hit { key: &keys.ip_attempts, window: quota.window });
        }
        ops.push(Op::Get { key: &keys.ip_failures });
        ops.push(Op::Get { key: &keys.delay });
        ops.push(Op::Get { key: &keys.known_ip });
        let counts = self
            .limits
            .run(&ops)
            .await
            .map_err(|e| Error::Unavailable { message: e.to_string(), retry_after_secs: UNAVAILABLE_RETRY_SECS })?;
        let mut counts = counts.into_iter();
        let mut next = || counts.next().unwrap_or_default();
        let standing = Standing {
            ip_attempts: policy.ip_attempts.map(|_| next()),
            ip_failures: next(),
            account_delay: next(),
            known_ip: next().value > 0,
        };
        policy.admit(&standing).map_err(|refusal| {
            tracing::debug!(ip = client_ip(ctx), reason = ?refusal.reason, "sign-in attempt refused");
            refusal.into_error()
        })
    }

    /// Counts a failed attempt; slows the account down once it has failed
    /// too often, and audits each lock-out. A failure that cannot be
    /// counted is still a failure for the caller.
    pub async fn failed(&self, account: &AccountKey, user: Option<String>, login: &str, ctx: &RequestContext) {
        let policy = &self.policy;
        let ip = client_ip(ctx);
        let keys = Keys::new(account, ip);
        let mut ops = Vec::with_capacity(2);
        if let Some(quota) = policy.ip_failures {
            ops.push(Op::Hit { key: &keys.ip_failures, window: quota.window });
        }
        if policy.lockout.is_some() {
            ops.push(Op::Slide { key: &keys.failures, window: FAILURE_MEMORY });
        }
        if ops.is_empty() {
            return;
        }
        let Ok(counts) = self.limits.run(&ops).await else {
            return;
        };
        let mut counts = counts.into_iter();
        if let Some(quota) = policy.ip_failures
            && counts.next().unwrap_or_default().value == u64::from(quota.max)
        {
            tracing::warn!(ip, failures = quota.max, window = ?quota.window, "sign-in locked out for an IP");
            let details = json!({ "scope": "ip", "failures": quota.max, "retryAfterSecs": quota.window.as_secs() });
            self.audit(ctx.audit(None, "auth.lockout", None, details)).await;
        }
        let Some(lockout) = policy.lockout else {
            return;
        };
        let failures = counts.next().unwrap_or_default().value;
        let Some(delay) = lockout.delay_after(failures) else {
            return;
        };
        if self.limits.run(&[Op::Set { key: &keys.delay, ttl: delay }]).await.is_err() {
            return;
        }
        tracing::warn!(ip, login, failures, delay = ?delay, "sign-in delayed for an account after repeated failures");
        let details =
            json!({ "scope": "account", "login": login, "failures": failures, "retryAfterSecs": delay.as_secs() });
        let target = user.map(|id| ("user", id));
        self.audit(ctx.audit(None, "auth.lockout", target, details)).await;
    }

    /// A success ends the account's delay, forgets its failures and makes
    /// this IP known to it.
    pub async fn succeeded(&self, account: &AccountKey, ctx: &RequestContext) {
        if self.policy.lockout.is_none() {
            return;
        }
        let keys = Keys::new(account, client_ip(ctx));
        let ops = [
            Op::Delete { key: &keys.failures },
            Op::Delete { key: &keys.delay },
            Op::Set { key: &keys.known_ip, ttl: KNOWN_IP_MEMORY },
        ];
        // Unreachable counters cost the owner the known-IP shortcut, not the sign-in.
        let _ = self.limits.run(&ops).await;
    }

    async fn audit(&self, entry: emporium_store::NewAuditEntry) {
        // The lock-out itself stands even if the log cannot be written; say so.
        if let Err(e) = self.store.append_audit(&entry).await {
            tracing::error!(error = %e, "cannot write the lock-out to the audit log");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE: Duration = Duration::from_secs(60);

    fn count(value: u64, secs: u64) -> Count {
        Count { value, ttl: Duration::from_secs(secs) }
    }

    #[test]
    fn delay_starts_at_the_threshold_and_doubles_to_the_cap() {
        let lockout = Lockout::default();
        for failures in 0..5 {
            assert_eq!(lockout.delay_after(failures), None, "{failures}");
        }
        let delays: Vec<u64> = (5..12).map(|f| lockout.delay_after(f).unwrap().as_secs()).collect();
        assert_eq!(delays, [60, 120, 240, 480, 900, 900, 900]);
        assert_eq!(lockout.delay_after(u64::MAX), Some(Duration::from_secs(900)));
    }

    #[test]
    fn a_delayed_account_is_refused_except_from_a_known_ip() {
        let policy = SignInPolicy::default();
        let delayed = Standing { ip_attempts: Some(count(1, 900)), account_delay: count(1, 42), ..Standing::default() };
        let refusal = policy.admit(&delayed).unwrap_err();
        assert_eq!(refusal, Refusal { retry_after: Duration::from_secs(42), reason: RefusalReason::AccountDelayed });
        assert!(policy.admit(&Standing { known_ip: true, ..delayed }).is_ok());
        assert!(policy.admit(&Standing { account_delay: Count::default(), ..delayed }).is_ok());
    }

    #[test]
    fn ip_budgets_apply_even_from_a_known_ip() {
        let policy = SignInPolicy::default();
        let busy = Standing { ip_attempts: Some(count(101, 30)), known_ip: true, ..Standing::default() };
        assert_eq!(policy.admit(&busy).unwrap_err().reason, RefusalReason::IpAttempts);
        assert!(policy.admit(&Standing { ip_attempts: Some(count(100, 30)), ..busy }).is_ok());
        let failing = Standing { ip_failures: count(20, 30), known_ip: true, ..Standing::default() };
        let refusal = policy.admit(&failing).unwrap_err();
        assert_eq!((refusal.reason, refusal.retry_after), (RefusalReason::IpFailures, Duration::from_secs(30)));
        assert!(policy.admit(&Standing { ip_failures: count(19, 30), ..failing }).is_ok());
    }

    #[test]
    fn parts_turned_off_refuse_nothing() {
        let policy = SignInPolicy { ip_attempts: None, ip_failures: Some(Quota::per(1, MINUTE)), lockout: None };
        let standing =
            Standing { ip_attempts: Some(count(1000, 1)), account_delay: count(1, 60), ..Standing::default() };
        assert!(policy.admit(&standing).is_ok());
        assert!(SignInPolicy::off().admit(&Standing { ip_failures: count(1000, 1), ..standing }).is_ok());
    }
}
