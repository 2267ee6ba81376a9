//! The `emporium` server: configuration, wiring, and the application's life.

pub mod config;
pub mod dialects;
pub mod mail_worker;
pub mod seed;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use emporium_api::AppState;
use emporium_service::Services;
use emporium_service::tokens::AuthSettings;
use emporium_store::Store;
use tokio::net::TcpListener;

use crate::config::{CommonConfig, Config, Database, LogFormat};

/// Opens the configured database and applies its migrations.
pub async fn open_store(common: &CommonConfig) -> anyhow::Result<Arc<dyn Store>> {
    Ok(match &common.database {
        Database::Sqlite(path) => Arc::new(
            emporium_store_sqlite::SqliteStore::connect(path, common.db_max_connections)
                .await
                .with_context(|| format!("DATABASE_URL: cannot open SQLite database {path}"))?,
        ),
        Database::Postgres(url) => Arc::new(
            emporium_store_postgres::PostgresStore::connect(url, common.db_max_connections)
                .await
                .context("DATABASE_URL: cannot connect to PostgreSQL")?,
        ),
    })
}

/// The rate-limit counters: in Redis when configured (shared by every
/// server; connected lazily, so the server starts while Redis is down),
/// else in this process.
fn rate_limit_counters(config: &Config) -> anyhow::Result<emporium_limits::Limits> {
    let Some(redis) = &config.redis else {
        return Ok(emporium_limits::Limits::in_process());
    };
    let counters = emporium_limits::RedisCounters::new(redis.url.expose(), &redis.key_prefix)
        .map_err(|e| anyhow::anyhow!("EMPORIUM_REDIS_URL: {e}"))?;
    tracing::info!(prefix = %redis.key_prefix, "rate-limit counters are kept in Redis");
    Ok(emporium_limits::Limits::shared(Arc::new(counters)))
}

/// The payment providers the configuration enables.
pub fn payment_providers(
    config: &Config,
    store: &Arc<dyn Store>,
) -> anyhow::Result<Vec<Arc<dyn emporium_payments::PaymentProvider>>> {
    let payments = &config.payments;
    let mut providers: Vec<Arc<dyn emporium_payments::PaymentProvider>> = Vec::new();
    if payments.test_payments {
        tracing::warn!(
            page = %format!("{}/payments/test/…", payments.public_url),
            "EMPORIUM_TEST_PAYMENTS is on: anyone can pay for any order with the test payment page; never enable it in production"
        );
        providers.push(Arc::new(emporium_service::payments::test_provider::TestProvider::new(
            store.clone(),
            &payments.public_url,
        )));
    }
    if let Some(stripe) = &payments.stripe {
        let config = emporium_payments::StripeConfig {
            secret_key: stripe.secret_key.expose().to_string(),
            webhook_secret: Some(stripe.webhook_secret.expose().to_string()),
            api_base: stripe.api_base.clone(),
            timeout: PROVIDER_TIMEOUT,
        };
        let provider = emporium_payments::StripeProvider::new(config).context("EMPORIUM_STRIPE_SECRET_KEY")?;
        providers.push(Arc::new(provider));
    }
    if let Some(paypal) = &payments.paypal {
        let config = emporium_payments::PayPalConfig {
            client_id: paypal.client_id.clone(),
            client_secret: paypal.client_secret.expose().to_string(),
            api_base: paypal.api_base.clone(),
            timeout: PROVIDER_TIMEOUT,
        };
        let provider = emporium_payments::PayPalProvider::new(config).context("EMPORIUM_PAYPAL_CLIENT_ID")?;
        providers.push(Arc::new(provider));
    }
    Ok(providers)
}

/// Every call to a payment provider gives up after this long: the buyer gets
/// 502 and can try again, rather than a request that hangs.
const PROVIDER_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Every service, wired to the store and the configured payment providers.
pub fn services(config: &Config, store: Arc<dyn Store>, auth: AuthSettings) -> anyhow::Result<Services> {
    let providers = payment_providers(config, &store)?;
    let settings = emporium_service::payments::PaymentSettings {
        public_url: config.payments.public_url.clone(),
        frontend_url: config.payments.frontend_url.clone(),
        order_ttl: config.order_ttl,
        reconcile_after: config.payments.reconcile_after,
    };
    Ok(Services::new(store, auth, config.currency.clone(), config.catalog_cache_ttl).with_payments(providers, settings))
}

/// A built application, bound to its port and ready to serve.
pub struct Application {
    listener: TcpListener,
    /// The separate `/metrics` address, when one is configured.
    metrics_listener: Option<TcpListener>,
    /// What the router is made of; it is made in `run_until`, since what it
    /// is (every layer and route) has a type that cannot be named here.
    state: AppState,
    dashboard: axum::Router<AppState>,
    store: Arc<dyn Store>,
    services: Services,
    mail: mail_worker::MailWorker,
    config: Config,
}

impl Application {
    /// Opens storage, makes sure the configured admin exists, wires services
    /// and binds the listener (port 0 picks a free one).
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        let store = open_store(&config.common).await?;
        let auth = AuthSettings {
            jwt_secret: config::signing_secret(&config)?,
            access_token_ttl: config.access_token_ttl,
            refresh_token_ttl: config.refresh_token_ttl,
            reset_token_ttl: config.reset_token_ttl,
        };
        let limits = rate_limit_counters(&config)?;
        let services = services(&config, store.clone(), auth)?.with_sign_in(config.sign_in.clone(), limits.clone());
        if let Some((email, password)) = &config.admin {
            services
                .accounts
                .ensure_admin(email.clone(), password.clone(), None)
                .await
                .map_err(|e| anyhow::anyhow!("EMPORIUM_ADMIN_EMAIL: cannot create the admin: {e}"))?;
            tracing::info!(email = email.as_str(), "admin account is in place");
        }
        let mailer = emporium_mail::Mailer::new(emporium_mail::MailerSettings {
            from: config.mail.from.clone(),
            shop_name: config.mail.shop_name.clone(),
            frontend_url: config.link_base(),
        })?;
        let transport = mail_worker::transport(&config, &mailer)?;
        tracing::info!(transport = %transport.describe(), "mail is sent through {}", transport.describe());
        let mail = mail_worker::MailWorker::new(
            store.clone(),
            transport,
            mailer,
            config.mail.clone(),
            services.outbox.queued_signal(),
        );
        let state = AppState::new(services.clone(), config.api.clone()).with_limits(limits);
        let dashboard = emporium_admin::routes(state.clone(), config.admin_dashboard.clone());
        let addr = SocketAddr::new(config.bind, config.port);
        let listener =
            TcpListener::bind(addr).await.with_context(|| format!("EMPORIUM_PORT: cannot listen on {addr}"))?;
        let metrics_listener = match config.metrics_bind {
            Some(addr) => Some(
                TcpListener::bind(addr)
                    .await
                    .with_context(|| format!("EMPORIUM_METRICS_BIND: cannot listen on {addr}"))?,
            ),
            None => None,
        };
        Ok(Self { listener, metrics_listener, state, dashboard, store, services, mail, config })
    }

    pub fn port(&self) -> u16 {
        self.listener.local_addr().map(|a| a.port()).unwrap_or(0)
    }

    /// The port of the separate `/metrics` address, if there is one.
    pub fn metrics_port(&self) -> Option<u16> {
        self.metrics_listener.as_ref().and_then(|l| l.local_addr().ok()).map(|a| a.port())
    }

    pub fn store(&self) -> Arc<dyn Store> {
        self.store.clone()
    }

    /// Serves until `shutdown` completes, then lets requests in flight finish
    /// (up to the shutdown timeout) and closes the database.
    pub async fn run_until(self, shutdown: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
        let Self { listener, metrics_listener, state, dashboard, store, services, mail, config } = self;
        let app = emporium_api::router_with(state, dialects::all(), dashboard);
        // Each connection's peer address, for the rate limit's per-client
        // keys (what `Router::into_make_service_with_connect_info` does, for
        // a service that is not a `Router`).
        let make_app = tower::service_fn(move |incoming: axum::serve::IncomingStream<'_, TcpListener>| {
            let connected = axum::extract::ConnectInfo(*incoming.remote_addr());
            std::future::ready(Ok::<_, std::convert::Infallible>(tower::Layer::layer(
                &axum::Extension(connected),
                app.clone(),
            )))
        });
        let (sweep_stop, sweep_stopped) = tokio::sync::watch::channel(false);
        // Loads the catalog into memory (`/ready` waits for it), then follows
        // the other servers' changes.
        let catalog_follower = tokio::spawn(services.catalog.read_model().follow(sweep_stopped.clone()));
        let sweeper = tokio::spawn(sweep(services.clone(), config.clone(), sweep_stopped.clone()));
        let reconciler = tokio::spawn(reconcile(services, config.clone(), sweep_stopped.clone()));
        let metrics_upkeep = tokio::spawn(emporium_api::metrics::upkeep(sweep_stopped.clone()));
        let mailer = tokio::spawn(mail.run(sweep_stopped));
        tracing::info!(addr = %listener.local_addr()?, database = store.backend(), "emporium is serving");
        let (metrics_stop, metrics_stopped) = tokio::sync::watch::channel(false);
        let metrics_server = serve_metrics(metrics_listener, config.api.metrics_token.is_some(), metrics_stopped)?;
        let (stopping_tx, stopping_rx) = tokio::sync::oneshot::channel::<()>();
        let graceful = async move {
            shutdown.await;
            tracing::info!("shutting down: finishing requests in flight");
            let _ = metrics_stop.send(true);
            let _ = stopping_tx.send(());
        };
        let server = axum::serve(listener, make_app).with_graceful_shutdown(graceful);
        let server = tokio::spawn(async move { server.await });
        let mut server = server;
        tokio::select! {
            result = &mut server => result??,
            _ = async {
                let _ = stopping_rx.await;
                tokio::time::sleep(config.shutdown_timeout).await;
            } => {
                tracing::warn!("requests still in flight after the shutdown timeout; stopping anyway");
                server.abort();
            }
        }
        if let Some(metrics_server) = metrics_server {
            metrics_server.abort();
        }
        let _ = sweep_stop.send(true);
        let _ = sweeper.await;
        let _ = catalog_follower.await;
        let _ = reconciler.await;
        let _ = metrics_upkeep.await;
        // A batch being sent is finished, within the shutdown timeout; a send
        // cut short is retried (same Message-ID) once its lease ends.
        let mut mailer = mailer;
        if tokio::time::timeout(config.shutdown_timeout, &mut mailer).await.is_err() {
            tracing::warn!("mail still being sent after the shutdown timeout; stopping anyway");
            mailer.abort();
        }
        store.close().await;
        tracing::info!("stopped");
        Ok(())
    }

    /// Serves until SIGTERM or Ctrl-C.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        self.run_until(shutdown_signal()).await
    }
}

/// Serves `/metrics` on its own address, if one is configured, until `stop`;
/// says at start where (and whether) the metrics can be read.
fn serve_metrics(
    listener: Option<TcpListener>,
    public_with_token: bool,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> anyhow::Result<Option<tokio::task::JoinHandle<()>>> {
    if public_with_token {
        tracing::info!("/metrics is served on the public port to requests bearing EMPORIUM_METRICS_TOKEN");
    }
    let Some(listener) = listener else {
        if !public_with_token {
            tracing::info!(
                "/metrics is not served: set EMPORIUM_METRICS_BIND (e.g. 127.0.0.1:9100) to serve it on a separate \
                 address, or EMPORIUM_METRICS_TOKEN to serve it on the public port to holders of that bearer token"
            );
        }
        return Ok(None);
    };
    tracing::info!(addr = %listener.local_addr()?, "/metrics is served on a separate address, without a token");
    let server = axum::serve(listener, emporium_api::metrics_router()).with_graceful_shutdown(async move {
        let _ = stop.wait_for(|stopped| *stopped).await;
    });
    Ok(Some(tokio::spawn(async move {
        if let Err(error) = server.await {
            tracing::warn!(%error, "the metrics listener stopped");
        }
    })))
}

/// The background sweep: cancels (and restocks) unpaid orders past their
/// time, deletes guest carts nobody has touched, and forgets old
/// idempotency keys. Every step is a conditional write, so several servers
/// may sweep the same database at once.
async fn sweep(services: Services, config: Config, mut stop: tokio::sync::watch::Receiver<bool>) {
    let mut ticks = tokio::time::interval(config.sweep_interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            _ = stop.changed() => return,
        }
        match services.payments.expire_unpaid().await {
            Ok(0) => {}
            Ok(n) => tracing::info!(cancelled = n, "cancelled unpaid orders past their time"),
            Err(e) => tracing::warn!(error = %e, "order sweep failed"),
        }
        if let Err(e) = services.carts.purge_guest_carts(config.cart_ttl).await {
            tracing::warn!(error = %e, "cart sweep failed");
        }
        if let Err(e) = services.orders.purge_idempotency_keys().await {
            tracing::warn!(error = %e, "idempotency-key sweep failed");
        }
    }
}

/// Payment reconciliation: asks the providers about attempts nobody told
/// us the outcome of (a missed webhook, a buyer who never came back),
/// closes sessions past their time, and retries unanswered refunds. Every
/// change goes through the payment rule, so several servers may run it.
async fn reconcile(services: Services, config: Config, mut stop: tokio::sync::watch::Receiver<bool>) {
    let mut ticks = tokio::time::interval(config.payments.reconcile_interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            _ = stop.changed() => return,
        }
        match services.payments.reconcile().await {
            Ok(report) if report.checked == 0 && report.refunds_retried == 0 => {}
            Ok(report) => tracing::info!(?report, "payment reconciliation"),
            Err(e) => tracing::warn!(error = %e, "payment reconciliation failed"),
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
}

/// Sets up logging: human-readable text, or one JSON object per line.
/// Request ids appear through the request span on every line inside it.
pub fn init_logging(common: &CommonConfig) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_new(&common.log_filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_target(false);
    let _ = match common.log_format {
        LogFormat::Json => builder.json().flatten_event(true).with_current_span(true).with_span_list(false).try_init(),
        LogFormat::Text => builder.try_init(),
    };
}
