//! The mail sender: a background task that claims due outbox messages,
//! delivers each through the configured transport with a timeout, and
//! records the outcome: sent, retried later (exponential backoff with
//! jitter), or dead after too many failures.
//!
//! Several servers may run it against one database: a claim is a lease
//! (on PostgreSQL taken with `FOR UPDATE SKIP LOCKED`), so no two send the
//! same message, and a message whose sender died is taken again once its
//! lease ends.

use std::sync::Arc;
use std::time::Duration;

use emporium_domain::time::Timestamp;
use emporium_mail::{MailTransport, Mailer, QueuedMail, SendError};
use emporium_store::{ClaimedMail, Failure, Store};
use rand::Rng;
use tokio::sync::{Notify, watch};

use crate::config::MailConfig;

/// How many messages one claim takes; they are sent concurrently.
const BATCH: u32 = 16;
/// The longest wait between two retries of a message.
const MAX_BACKOFF: Duration = Duration::from_secs(6 * 3600);

pub struct MailWorker {
    store: Arc<dyn Store>,
    transport: Arc<dyn MailTransport>,
    mailer: Mailer,
    config: MailConfig,
    wake: Arc<Notify>,
}

impl MailWorker {
    pub fn new(
        store: Arc<dyn Store>,
        transport: Arc<dyn MailTransport>,
        mailer: Mailer,
        config: MailConfig,
        wake: Arc<Notify>,
    ) -> Self {
        Self { store, transport, mailer, config, wake }
    }

    /// A claim outlives every send it covers, so a slow but live sender
    /// never sees its messages taken by another.
    fn lease(&self) -> Duration {
        self.config.send_timeout * 2 + Duration::from_secs(30)
    }

    /// Runs until `stop` changes; a batch being sent is finished first.
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        let worker = Arc::new(self);
        loop {
            let claimed = match worker.send_due().await {
                Ok(n) => n,
                Err(error) => {
                    tracing::warn!(%error, "mail sender: claiming messages failed");
                    0
                }
            };
            worker.report_backlog().await;
            if claimed == BATCH as usize {
                // More may be due right now.
                if *stop.borrow() {
                    return;
                }
                continue;
            }
            tokio::select! {
                _ = worker.wake.notified() => {}
                _ = tokio::time::sleep(worker.config.poll_interval) => {}
                _ = stop.changed() => return,
            }
        }
    }

    /// Claims one batch and sends it; how many were claimed.
    async fn send_due(self: &Arc<Self>) -> anyhow::Result<usize> {
        let now = Timestamp::now();
        let lease_until = now.plus_secs(self.lease().as_secs() as i64);
        let token = emporium_service::tokens::random_token(32);
        let claimed = self.store.claim_mails(now, lease_until, &token, BATCH).await?;
        let count = claimed.len();
        let mut sends = tokio::task::JoinSet::new();
        for mail in claimed {
            let worker = self.clone();
            sends.spawn(async move { worker.deliver(mail).await });
        }
        while let Some(done) = sends.join_next().await {
            if let Err(error) = done {
                tracing::error!(%error, "mail sender: a delivery task failed");
            }
        }
        Ok(count)
    }

    async fn deliver(&self, claimed: ClaimedMail) {
        let record = &claimed.record;
        let outcome = match &record.content {
            None => Err(SendError::Permanent("the message has no content".into())),
            Some(content) => {
                let queued = QueuedMail {
                    id: record.id,
                    key: record.key.clone(),
                    created_at: record.created_at,
                    to_address: record.to_address.clone(),
                    to_name: record.to_name.clone(),
                    content: content.clone(),
                };
                match self.mailer.build(&queued) {
                    Err(e) => Err(SendError::Permanent(e.to_string())),
                    Ok(built) => {
                        match tokio::time::timeout(self.config.send_timeout, self.transport.send(&built)).await {
                            Ok(result) => result,
                            Err(_) => Err(SendError::Temporary(format!(
                                "no answer within {}",
                                humantime::format_duration(self.config.send_timeout)
                            ))),
                        }
                    }
                }
            }
        };
        let now = Timestamp::now();
        let recorded = match outcome {
            Ok(()) => {
                metrics::counter!("emporium_mail_sent_total").increment(1);
                self.store.mark_mail_sent(record.id, &claimed.lease_token, now).await
            }
            Err(error) => {
                let failure = match &error {
                    SendError::Permanent(_) => Failure::Dead,
                    SendError::Temporary(_) if record.attempts >= i64::from(self.config.max_attempts) => Failure::Dead,
                    SendError::Temporary(_) => Failure::RetryAt(now.plus_millis(self.backoff(record.attempts))),
                };
                let outcome = if failure == Failure::Dead { "dead" } else { "retry" };
                metrics::counter!("emporium_mail_failed_total", "outcome" => outcome).increment(1);
                tracing::warn!(mail = record.id, kind = %record.kind, attempts = record.attempts, %error, outcome, "mail not delivered");
                self.store.mark_mail_failed(record.id, &claimed.lease_token, failure, &error.to_string(), now).await
            }
        };
        match recorded {
            Ok(true) => {}
            Ok(false) => {
                tracing::warn!(mail = record.id, "mail sender: the lease ran out before the outcome was recorded")
            }
            Err(error) => tracing::warn!(mail = record.id, %error, "mail sender: recording the outcome failed"),
        }
    }

    /// Milliseconds before the next try after `attempts` tries: the base
    /// doubled per attempt, capped, then somewhere in its upper half, so a
    /// burst that failed together does not retry together.
    fn backoff(&self, attempts: i64) -> i64 {
        let exponent = attempts.clamp(1, 30) as u32 - 1;
        let full = self.config.retry_base.saturating_mul(2u32.saturating_pow(exponent)).min(MAX_BACKOFF);
        let full = full.as_millis() as i64;
        rand::thread_rng().gen_range(full / 2..=full.max(1))
    }

    async fn report_backlog(&self) {
        match self.store.outbox_stats().await {
            Ok(stats) => {
                metrics::gauge!("emporium_mail_pending").set(stats.pending as f64);
                metrics::gauge!("emporium_mail_dead").set(stats.dead as f64);
                let age = stats
                    .oldest_pending
                    .map(|t| (Timestamp::now().millis() - t.millis()).max(0) as f64 / 1000.0)
                    .unwrap_or(0.0);
                metrics::gauge!("emporium_mail_oldest_pending_age_seconds").set(age);
            }
            Err(error) => tracing::warn!(%error, "mail sender: reading the backlog failed"),
        }
    }
}

/// The transport the configuration asks for: SMTP, or `.eml` files under
/// the data directory when no SMTP server is configured.
pub fn transport(config: &crate::config::Config, mailer: &Mailer) -> anyhow::Result<Arc<dyn MailTransport>> {
    Ok(match &config.mail.smtp {
        Some(smtp) => {
            let hello = mailer.from_address().email.domain().to_string();
            Arc::new(emporium_mail::SmtpTransport::new(smtp, &hello, config.mail.send_timeout)?)
        }
        None => Arc::new(emporium_mail::FileTransport::new(config.common.data_dir.join("mail"))?),
    })
}
