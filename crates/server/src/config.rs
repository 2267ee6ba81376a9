//! Configuration: defaults, then an optional `emporium.toml`, then the
//! environment, then the command line — later wins. Everything is checked
//! once at start; a bad value stops the start with one line naming it.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Args;
use emporium_api::ApiSettings;
use emporium_api::rate_limit::Quota;
use emporium_domain::account::{Email, Password};
use emporium_service::Secret;
use emporium_service::sign_in::{Lockout, SignInPolicy};
use serde::Deserialize;

/// Settings every command shares: where the data lives and how to log.
#[derive(Debug, Clone, Default, Args)]
pub struct CommonArgs {
    /// Configuration file [default: ./emporium.toml, if present]
    #[arg(long, env = "EMPORIUM_CONFIG", global = true)]
    pub config: Option<PathBuf>,
    /// Database URL: postgres://… for PostgreSQL, sqlite://path for SQLite [default: SQLite in the data directory]
    #[arg(long, env = "DATABASE_URL", global = true)]
    pub database_url: Option<String>,
    /// Directory for the SQLite database and the generated signing secret [default: ./data]
    #[arg(long, env = "EMPORIUM_DATA_DIR", global = true)]
    pub data_dir: Option<PathBuf>,
    /// Most database connections this server opens [default: 10]
    #[arg(long, env = "EMPORIUM_DB_MAX_CONNECTIONS", global = true)]
    pub db_max_connections: Option<u32>,
    /// Log format: text or json [default: text]
    #[arg(long, env = "EMPORIUM_LOG_FORMAT", global = true)]
    pub log_format: Option<String>,
    /// Log filter, e.g. info or emporium=debug,sqlx=warn [default: info]
    #[arg(long, env = "EMPORIUM_LOG", global = true)]
    pub log: Option<String>,
}

/// Settings of `emporium serve`.
#[derive(Debug, Clone, Default, Args)]
pub struct ServeArgs {
    /// Port to listen on [default: 3000]
    #[arg(long, env = "EMPORIUM_PORT")]
    pub port: Option<u16>,
    /// Address to listen on [default: 0.0.0.0]
    #[arg(long, env = "EMPORIUM_BIND")]
    pub bind: Option<IpAddr>,
    /// Secret that signs access tokens, at least 32 characters [default: generated once and kept in the data directory]
    #[arg(long, env = "EMPORIUM_JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<String>,
    /// Access-token lifetime, e.g. 15m [default: 15m]
    #[arg(long, env = "EMPORIUM_ACCESS_TOKEN_TTL")]
    pub access_token_ttl: Option<String>,
    /// Refresh-token lifetime, e.g. 7d [default: 7d]
    #[arg(long, env = "EMPORIUM_REFRESH_TOKEN_TTL")]
    pub refresh_token_ttl: Option<String>,
    /// Requests per client IP per window, e.g. 100/15m, or off [default: 100/15m]
    #[arg(long, env = "EMPORIUM_RATE_LIMIT")]
    pub rate_limit: Option<String>,
    /// Sign-in attempts per client IP, successful or not, e.g. 100/15m, or off [default: 100/15m]
    #[arg(long, env = "EMPORIUM_AUTH_RATE_LIMIT")]
    pub auth_rate_limit: Option<String>,
    /// Failed sign-ins per client IP, e.g. 20/15m, or off [default: 20/15m]
    #[arg(long, env = "EMPORIUM_AUTH_FAILURE_LIMIT")]
    pub auth_failure_limit: Option<String>,
    /// Failed sign-ins in a row after which an account is slowed down, or off [default: 5]
    #[arg(long, env = "EMPORIUM_LOCKOUT_THRESHOLD")]
    pub lockout_threshold: Option<String>,
    /// The first delay of a slowed-down account, doubling per further failure [default: 1m]
    #[arg(long, env = "EMPORIUM_LOCKOUT_DELAY")]
    pub lockout_delay: Option<String>,
    /// The longest delay of a slowed-down account [default: 15m]
    #[arg(long, env = "EMPORIUM_LOCKOUT_MAX_DELAY")]
    pub lockout_max_delay: Option<String>,
    /// Registrations per client IP, e.g. 10/15m, or off [default: 10/15m]
    #[arg(long, env = "EMPORIUM_REGISTER_RATE_LIMIT")]
    pub register_rate_limit: Option<String>,
    /// Redis that keeps the rate-limit counters, shared by every server, e.g. redis://127.0.0.1:6379 [default: none, counted in each process]
    #[arg(long, env = "EMPORIUM_REDIS_URL", hide_env_values = true)]
    pub redis_url: Option<String>,
    /// Prefix of every key written to that Redis [default: emporium:]
    #[arg(long, env = "EMPORIUM_REDIS_KEY_PREFIX")]
    pub redis_key_prefix: Option<String>,
    /// Proxies whose X-Forwarded-For is trusted: comma-separated IPs or CIDRs [default: none]
    #[arg(long, env = "EMPORIUM_TRUSTED_PROXIES")]
    pub trusted_proxies: Option<String>,
    /// Origins allowed by CORS: comma-separated, or * [default: none]
    #[arg(long, env = "EMPORIUM_CORS_ORIGINS")]
    pub cors_origins: Option<String>,
    /// Largest request body, e.g. 1MiB or 262144 [default: 1MiB]
    #[arg(long, env = "EMPORIUM_BODY_LIMIT")]
    pub body_limit: Option<String>,
    /// Mark auth cookies Secure (serve behind HTTPS) [default: false]
    #[arg(long, env = "EMPORIUM_COOKIE_SECURE")]
    pub cookie_secure: Option<bool>,
    /// E-mail of an admin that serve makes sure exists (with EMPORIUM_ADMIN_PASSWORD)
    #[arg(long, env = "EMPORIUM_ADMIN_EMAIL")]
    pub admin_email: Option<String>,
    /// Password of that admin
    #[arg(long, env = "EMPORIUM_ADMIN_PASSWORD", hide_env_values = true)]
    pub admin_password: Option<String>,
    /// How long shutdown waits for requests in flight [default: 30s]
    #[arg(long, env = "EMPORIUM_SHUTDOWN_TIMEOUT")]
    pub shutdown_timeout: Option<String>,
    /// The store's currency, an ISO 4217 code [default: USD]
    #[arg(long, env = "EMPORIUM_CURRENCY")]
    pub currency: Option<String>,
    /// Unpaid pending orders older than this are cancelled and restocked [default: 30m]
    #[arg(long, env = "EMPORIUM_ORDER_TTL")]
    pub order_ttl: Option<String>,
    /// Guest carts untouched for this long are deleted [default: 30d]
    #[arg(long, env = "EMPORIUM_CART_TTL")]
    pub cart_ttl: Option<String>,
    /// How long catalog reads may be served from memory; 0s turns it off [default: 1s]
    #[arg(long, env = "EMPORIUM_CATALOG_CACHE_TTL")]
    pub catalog_cache_ttl: Option<String>,
    /// The admin dashboard lists products with at most this many in stock as low [default: 5]
    #[arg(long, env = "EMPORIUM_LOW_STOCK_THRESHOLD")]
    pub low_stock_threshold: Option<i64>,
    /// How often the background sweep runs (expired orders, old carts) [default: 30s]
    #[arg(long, env = "EMPORIUM_SWEEP_INTERVAL")]
    pub sweep_interval: Option<String>,
    /// Serve /metrics on the public port to requests with this bearer token, at least 16 characters [default: not served there]
    #[arg(long, env = "EMPORIUM_METRICS_TOKEN", hide_env_values = true)]
    pub metrics_token: Option<String>,
    /// The static secret the geekmobile dialect's admin sign-in and admin creation (POST /compat/geekmobile/api/admin/auth) ask for in Authorization, at least 16 characters [default: none: those calls answer 401]
    #[arg(long, env = "EMPORIUM_GEEKMOBILE_ADMIN_SECRET", hide_env_values = true)]
    pub geekmobile_admin_secret: Option<String>,
    /// Also serve /metrics, without a token, on this address, e.g. 127.0.0.1:9100 [default: none]
    #[arg(long, env = "EMPORIUM_METRICS_BIND")]
    pub metrics_bind: Option<SocketAddr>,
    /// SMTP server: smtp://host:port, smtp://user:pass@host?tls=required (STARTTLS), smtps://host (TLS); add ca_file=/path.pem to trust a self-signed certificate [default: none: mails are written as .eml files under the data directory]
    #[arg(long, env = "EMPORIUM_SMTP_URL", hide_env_values = true)]
    pub smtp_url: Option<String>,
    /// Sender of the shop's mails, e.g. "Shop <shop@example.com>" [default: <shop name> <no-reply@localhost>]
    #[arg(long, env = "EMPORIUM_MAIL_FROM")]
    pub mail_from: Option<String>,
    /// The shop's name, as mails show it [default: Emporium]
    #[arg(long, env = "EMPORIUM_SHOP_NAME")]
    pub shop_name: Option<String>,
    /// How long a password-reset link works [default: 30m]
    #[arg(long, env = "EMPORIUM_RESET_TOKEN_TTL")]
    pub reset_token_ttl: Option<String>,
    /// Longest one SMTP delivery may take before it is retried later [default: 30s]
    #[arg(long, env = "EMPORIUM_SMTP_TIMEOUT")]
    pub smtp_timeout: Option<String>,
    /// How often the mail sender looks for due messages queued by other servers or retries [default: 5s]
    #[arg(long, env = "EMPORIUM_MAIL_POLL_INTERVAL")]
    pub mail_poll_interval: Option<String>,
    #[command(flatten)]
    pub payments: PaymentArgs,
}

/// Payment settings of `emporium serve` (and `emporium payments reconcile`).
#[derive(Debug, Clone, Default, Args)]
pub struct PaymentArgs {
    /// The server's public base URL, the root of every URL sent to a payment provider [default: http://localhost:PORT]
    #[arg(long, env = "EMPORIUM_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// The shop's front end, where buyers are sent back after paying; unset answers JSON [default: none]
    #[arg(long, env = "EMPORIUM_FRONTEND_URL")]
    pub frontend_url: Option<String>,
    /// Stripe secret API key (sk_…); setting it enables Stripe Checkout
    #[arg(long, env = "EMPORIUM_STRIPE_SECRET_KEY", hide_env_values = true)]
    pub stripe_secret_key: Option<String>,
    /// Stripe webhook endpoint signing secret (whsec_…), required with the key
    #[arg(long, env = "EMPORIUM_STRIPE_WEBHOOK_SECRET", hide_env_values = true)]
    pub stripe_webhook_secret: Option<String>,
    /// Stripe API base URL [default: https://api.stripe.com]
    #[arg(long, env = "EMPORIUM_STRIPE_API_BASE")]
    pub stripe_api_base: Option<String>,
    /// PayPal REST app client id; with the secret it enables PayPal
    #[arg(long, env = "EMPORIUM_PAYPAL_CLIENT_ID")]
    pub paypal_client_id: Option<String>,
    /// PayPal REST app client secret
    #[arg(long, env = "EMPORIUM_PAYPAL_CLIENT_SECRET", hide_env_values = true)]
    pub paypal_client_secret: Option<String>,
    /// PayPal API base URL [default: https://api-m.sandbox.paypal.com]
    #[arg(long, env = "EMPORIUM_PAYPAL_API_BASE")]
    pub paypal_api_base: Option<String>,
    /// Emporium's own test payment page: on or off. Anyone can pay with it [default: off]
    #[arg(long, env = "EMPORIUM_TEST_PAYMENTS")]
    pub test_payments: Option<String>,
    /// How often reconciliation asks providers about unsettled payments [default: 5m]
    #[arg(long, env = "EMPORIUM_PAYMENTS_RECONCILE_INTERVAL")]
    pub payments_reconcile_interval: Option<String>,
    /// Reconciliation asks about attempts pending at least this long [default: 2m]
    #[arg(long, env = "EMPORIUM_PAYMENTS_RECONCILE_AFTER")]
    pub payments_reconcile_after: Option<String>,
}

/// The same settings as they may appear in `emporium.toml` (snake_case keys).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    database_url: Option<String>,
    data_dir: Option<PathBuf>,
    db_max_connections: Option<u32>,
    log_format: Option<String>,
    log: Option<String>,
    port: Option<u16>,
    bind: Option<IpAddr>,
    jwt_secret: Option<String>,
    access_token_ttl: Option<String>,
    refresh_token_ttl: Option<String>,
    rate_limit: Option<String>,
    auth_rate_limit: Option<String>,
    auth_failure_limit: Option<String>,
    lockout_threshold: Option<String>,
    lockout_delay: Option<String>,
    lockout_max_delay: Option<String>,
    register_rate_limit: Option<String>,
    redis_url: Option<String>,
    redis_key_prefix: Option<String>,
    trusted_proxies: Option<String>,
    cors_origins: Option<String>,
    body_limit: Option<String>,
    cookie_secure: Option<bool>,
    admin_email: Option<String>,
    admin_password: Option<String>,
    shutdown_timeout: Option<String>,
    currency: Option<String>,
    order_ttl: Option<String>,
    cart_ttl: Option<String>,
    sweep_interval: Option<String>,
    catalog_cache_ttl: Option<String>,
    low_stock_threshold: Option<i64>,
    metrics_token: Option<String>,
    geekmobile_admin_secret: Option<String>,
    metrics_bind: Option<SocketAddr>,
    smtp_url: Option<String>,
    mail_from: Option<String>,
    shop_name: Option<String>,
    reset_token_ttl: Option<String>,
    smtp_timeout: Option<String>,
    mail_poll_interval: Option<String>,
    public_url: Option<String>,
    frontend_url: Option<String>,
    stripe_secret_key: Option<String>,
    stripe_webhook_secret: Option<String>,
    stripe_api_base: Option<String>,
    paypal_client_id: Option<String>,
    paypal_client_secret: Option<String>,
    paypal_api_base: Option<String>,
    test_payments: Option<String>,
    payments_reconcile_interval: Option<String>,
    payments_reconcile_after: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

/// Which database, decided once from the URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Database {
    Sqlite(String),
    Postgres(String),
}

impl Database {
    /// No URL means the embedded SQLite file; an unknown scheme is an error,
    /// never a new SQLite file.
    pub fn from_url(url: Option<&str>, data_dir: &Path) -> anyhow::Result<Self> {
        let Some(url) = url.map(str::trim).filter(|u| !u.is_empty()) else {
            return Ok(Database::Sqlite(data_dir.join("emporium.db").display().to_string()));
        };
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Database::Postgres(url.to_string()))
        } else if let Some(path) = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:")) {
            if path.is_empty() {
                bail!("DATABASE_URL: sqlite URL has no file path (e.g. sqlite://data/emporium.db)");
            }
            Ok(Database::Sqlite(path.to_string()))
        } else {
            bail!("DATABASE_URL: unsupported scheme in {:?}; use postgres://… or sqlite://…", redact_url(url))
        }
    }

    pub fn backend(&self) -> &'static str {
        match self {
            Database::Sqlite(_) => "sqlite",
            Database::Postgres(_) => "postgres",
        }
    }
}

fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => format!("{}://[redacted]{}", &url[..s], &url[at..]),
        _ => url.to_string(),
    }
}

/// Storage and logging settings, needed by every command.
#[derive(Debug, Clone)]
pub struct CommonConfig {
    pub database: Database,
    pub data_dir: PathBuf,
    pub db_max_connections: u32,
    pub log_format: LogFormat,
    pub log_filter: String,
}

/// Stripe Checkout's credentials.
#[derive(Debug, Clone)]
pub struct StripeSettings {
    pub secret_key: Secret,
    pub webhook_secret: Secret,
    pub api_base: String,
}

/// PayPal Orders v2's credentials.
#[derive(Debug, Clone)]
pub struct PayPalSettings {
    pub client_id: String,
    pub client_secret: Secret,
    pub api_base: String,
}

/// Which payment providers run, and how payments behave.
#[derive(Debug, Clone)]
pub struct PaymentsConfig {
    pub public_url: String,
    pub frontend_url: Option<String>,
    pub stripe: Option<StripeSettings>,
    pub paypal: Option<PayPalSettings>,
    pub test_payments: bool,
    pub reconcile_interval: Duration,
    pub reconcile_after: Duration,
}

fn http_url(setting: &str, value: String) -> anyhow::Result<String> {
    let url = value.trim().trim_end_matches('/').to_string();
    let rest = url.strip_prefix("https://").or_else(|| url.strip_prefix("http://"));
    if rest.is_none_or(|r| r.is_empty() || r.contains(char::is_whitespace)) {
        bail!("{setting}: {url:?} is not an http(s) URL like https://shop.example.com");
    }
    Ok(url)
}

impl PaymentsConfig {
    fn resolve(args: PaymentArgs, file: &mut FileConfig, port: u16) -> anyhow::Result<Self> {
        let public_url = match pick(args.public_url, file.public_url.take()) {
            Some(url) => http_url("EMPORIUM_PUBLIC_URL", url)?,
            None => format!("http://localhost:{port}"),
        };
        let frontend_url = pick(args.frontend_url, file.frontend_url.take())
            .map(|u| http_url("EMPORIUM_FRONTEND_URL", u))
            .transpose()?;
        let stripe = match (
            pick(args.stripe_secret_key, file.stripe_secret_key.take()),
            pick(args.stripe_webhook_secret, file.stripe_webhook_secret.take()),
        ) {
            (None, None) => None,
            (Some(key), Some(webhook)) => Some(StripeSettings {
                secret_key: Secret::new(key.trim()),
                webhook_secret: Secret::new(webhook.trim()),
                api_base: http_url(
                    "EMPORIUM_STRIPE_API_BASE",
                    pick(args.stripe_api_base, file.stripe_api_base.take())
                        .unwrap_or_else(|| "https://api.stripe.com".into()),
                )?,
            }),
            (Some(_), None) => {
                bail!("EMPORIUM_STRIPE_WEBHOOK_SECRET: must be set together with EMPORIUM_STRIPE_SECRET_KEY")
            }
            (None, Some(_)) => {
                bail!("EMPORIUM_STRIPE_SECRET_KEY: must be set together with EMPORIUM_STRIPE_WEBHOOK_SECRET")
            }
        };
        let paypal = match (
            pick(args.paypal_client_id, file.paypal_client_id.take()),
            pick(args.paypal_client_secret, file.paypal_client_secret.take()),
        ) {
            (None, None) => None,
            (Some(id), Some(secret)) => Some(PayPalSettings {
                client_id: id.trim().to_string(),
                client_secret: Secret::new(secret.trim()),
                api_base: http_url(
                    "EMPORIUM_PAYPAL_API_BASE",
                    pick(args.paypal_api_base, file.paypal_api_base.take())
                        .unwrap_or_else(|| "https://api-m.sandbox.paypal.com".into()),
                )?,
            }),
            (Some(_), None) => {
                bail!("EMPORIUM_PAYPAL_CLIENT_SECRET: must be set together with EMPORIUM_PAYPAL_CLIENT_ID")
            }
            (None, Some(_)) => {
                bail!("EMPORIUM_PAYPAL_CLIENT_ID: must be set together with EMPORIUM_PAYPAL_CLIENT_SECRET")
            }
        };
        let test_payments = match pick(args.test_payments, file.test_payments.take()).as_deref().map(str::trim) {
            None | Some("off" | "false" | "0") => false,
            Some("on" | "true" | "1") => true,
            Some(other) => bail!("EMPORIUM_TEST_PAYMENTS: {other:?} is not on or off"),
        };
        Ok(Self {
            public_url,
            frontend_url,
            stripe,
            paypal,
            test_payments,
            reconcile_interval: duration(
                "EMPORIUM_PAYMENTS_RECONCILE_INTERVAL",
                pick(args.payments_reconcile_interval, file.payments_reconcile_interval.take()),
                Duration::from_secs(5 * 60),
            )?,
            reconcile_after: duration(
                "EMPORIUM_PAYMENTS_RECONCILE_AFTER",
                pick(args.payments_reconcile_after, file.payments_reconcile_after.take()),
                Duration::from_secs(2 * 60),
            )?,
        })
    }

    /// No provider but manual payment, for tests and embedding.
    pub fn manual_only(port: u16) -> Self {
        Self {
            public_url: format!("http://localhost:{port}"),
            frontend_url: None,
            stripe: None,
            paypal: None,
            test_payments: false,
            reconcile_interval: Duration::from_secs(5 * 60),
            reconcile_after: Duration::from_secs(2 * 60),
        }
    }
}

/// Everything `serve` needs.
#[derive(Debug, Clone)]
pub struct Config {
    pub common: CommonConfig,
    pub bind: IpAddr,
    pub port: u16,
    /// `None`: use (or create) the secret kept in the data directory.
    pub jwt_secret: Option<Secret>,
    pub access_token_ttl: Duration,
    pub refresh_token_ttl: Duration,
    pub api: ApiSettings,
    /// The sign-in lock-out policy.
    pub sign_in: SignInPolicy,
    /// Where rate-limit counters are shared; `None`: each process counts alone.
    pub redis: Option<RedisConfig>,
    pub admin: Option<(Email, Password)>,
    pub shutdown_timeout: Duration,
    pub currency: String,
    pub order_ttl: Duration,
    pub cart_ttl: Duration,
    pub sweep_interval: Duration,
    pub catalog_cache_ttl: Duration,
    /// The dashboard's settings (the low-stock threshold).
    pub admin_dashboard: emporium_admin::AdminSettings,
    /// A separate address serving only `/metrics`, without a token.
    pub metrics_bind: Option<SocketAddr>,
    pub reset_token_ttl: Duration,
    pub mail: MailConfig,
    pub payments: PaymentsConfig,
}

/// The Redis that keeps the rate-limit counters.
#[derive(Debug, Clone)]
pub struct RedisConfig {
    /// May carry a password, hence a secret.
    pub url: Secret,
    pub key_prefix: String,
}

/// The sign-in policy from its settings (see `emporium_service::sign_in`).
fn sign_in_policy(
    quota: impl Fn(&str, Option<String>, &str) -> anyhow::Result<Option<Quota>>,
    attempts: Option<String>,
    failures: Option<String>,
    threshold: Option<String>,
    delay: Option<String>,
    max_delay: Option<String>,
) -> anyhow::Result<SignInPolicy> {
    let ip_attempts = quota("EMPORIUM_AUTH_RATE_LIMIT", attempts, "100/15m")?;
    let ip_failures = quota("EMPORIUM_AUTH_FAILURE_LIMIT", failures, "20/15m")?;
    let defaults = Lockout::default();
    let threshold = match threshold.as_deref().map(str::trim) {
        None => Some(defaults.threshold),
        Some(off) if off.eq_ignore_ascii_case("off") => None,
        Some(n) => match n.parse::<u32>() {
            Ok(n) if n > 0 => Some(n),
            _ => bail!("EMPORIUM_LOCKOUT_THRESHOLD: {n:?} is not a whole number of failures above zero, or off"),
        },
    };
    let first_delay = duration("EMPORIUM_LOCKOUT_DELAY", delay, defaults.first_delay)?;
    let max_delay = duration("EMPORIUM_LOCKOUT_MAX_DELAY", max_delay, defaults.max_delay)?;
    if first_delay.is_zero() || max_delay < first_delay {
        bail!("EMPORIUM_LOCKOUT_MAX_DELAY: must be at least EMPORIUM_LOCKOUT_DELAY, and both above zero");
    }
    let lockout = threshold.map(|threshold| Lockout { threshold, first_delay, max_delay });
    Ok(SignInPolicy { ip_attempts, ip_failures, lockout })
}

/// How the shop's mail is sent.
#[derive(Debug, Clone)]
pub struct MailConfig {
    /// `None`: write `.eml` files under the data directory.
    pub smtp: Option<emporium_mail::SmtpSettings>,
    pub from: String,
    pub shop_name: String,
    /// Bounds one delivery; a message past it is retried later.
    pub send_timeout: Duration,
    /// How often the sender looks for due messages without being woken.
    pub poll_interval: Duration,
    /// The first retry's delay; each next one doubles it (with jitter).
    pub retry_base: Duration,
    /// After this many failed attempts a message is `dead`.
    pub max_attempts: u32,
}

impl MailConfig {
    fn defaults() -> Self {
        Self {
            smtp: None,
            from: "Emporium <no-reply@localhost>".into(),
            shop_name: "Emporium".into(),
            send_timeout: Duration::from_secs(30),
            poll_interval: Duration::from_secs(5),
            retry_base: Duration::from_secs(30),
            max_attempts: 10,
        }
    }
}

impl Config {
    /// The base of every link in a mail: the front end, else this server.
    pub fn link_base(&self) -> String {
        self.payments.frontend_url.clone().unwrap_or_else(|| self.payments.public_url.clone())
    }
}

fn pick<T>(flag_or_env: Option<T>, file: Option<T>) -> Option<T> {
    flag_or_env.or(file)
}

fn duration(setting: &str, value: Option<String>, default: Duration) -> anyhow::Result<Duration> {
    match value {
        None => Ok(default),
        Some(v) => {
            let d = humantime::parse_duration(v.trim())
                .with_context(|| format!("{setting}: {v:?} is not a duration (e.g. 15m, 7d)"))?;
            if d.is_zero() {
                bail!("{setting}: must be longer than zero");
            }
            Ok(d)
        }
    }
}

fn byte_size(setting: &str, value: &str) -> anyhow::Result<usize> {
    let v = value.trim();
    let split = v.find(|c: char| !c.is_ascii_digit()).unwrap_or(v.len());
    let (number, unit) = v.split_at(split);
    let number: usize = number.parse().with_context(|| format!("{setting}: {value:?} is not a size (e.g. 1MiB)"))?;
    let factor = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1024,
        "m" | "mb" | "mib" => 1024 * 1024,
        _ => bail!("{setting}: unknown unit in {value:?}; use B, KiB or MiB"),
    };
    let bytes = number.checked_mul(factor).filter(|b| *b > 0 && *b <= 64 * 1024 * 1024);
    bytes.with_context(|| format!("{setting}: must be between 1 byte and 64MiB"))
}

/// An ISO 4217 code: three letters, upper-cased.
fn currency(value: Option<String>) -> anyhow::Result<String> {
    let code = value.unwrap_or_else(|| "USD".into()).trim().to_ascii_uppercase();
    if code.len() != 3 || !code.bytes().all(|b| b.is_ascii_uppercase()) {
        bail!("EMPORIUM_CURRENCY: {code:?} is not a three-letter ISO 4217 code");
    }
    Ok(code)
}

fn list(value: Option<String>) -> Vec<String> {
    value.map(|v| v.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect()).unwrap_or_default()
}

fn read_file_config(path: Option<&Path>) -> anyhow::Result<FileConfig> {
    let (path, required) = match path {
        Some(p) => (p.to_path_buf(), true),
        None => (PathBuf::from("emporium.toml"), false),
    };
    match std::fs::read_to_string(&path) {
        Ok(text) => toml::from_str(&text).with_context(|| format!("EMPORIUM_CONFIG: {} is not valid", path.display())),
        Err(e) if !required && e.kind() == std::io::ErrorKind::NotFound => Ok(FileConfig::default()),
        Err(e) => Err(e).with_context(|| format!("EMPORIUM_CONFIG: cannot read {}", path.display())),
    }
}

impl CommonConfig {
    fn resolve(args: CommonArgs, file: &mut FileConfig) -> anyhow::Result<Self> {
        let data_dir = pick(args.data_dir, file.data_dir.take()).unwrap_or_else(|| PathBuf::from("data"));
        let url = pick(args.database_url, file.database_url.take());
        let database = Database::from_url(url.as_deref(), &data_dir)?;
        let db_max_connections = pick(args.db_max_connections, file.db_max_connections).unwrap_or(10);
        if !(1..=1000).contains(&db_max_connections) {
            bail!("EMPORIUM_DB_MAX_CONNECTIONS: must be between 1 and 1000");
        }
        let log_format = match pick(args.log_format, file.log_format.take()).as_deref().map(str::trim) {
            None | Some("text") => LogFormat::Text,
            Some("json") => LogFormat::Json,
            Some(other) => bail!("EMPORIUM_LOG_FORMAT: {other:?} is not text or json"),
        };
        let log_filter = pick(args.log, file.log.take()).unwrap_or_else(|| "info".into());
        Ok(Self { database, data_dir, db_max_connections, log_format, log_filter })
    }

    /// Resolves only the shared settings (for `migrate`, `admin`, `seed`).
    pub fn load(args: CommonArgs) -> anyhow::Result<Self> {
        let mut file = read_file_config(args.config.as_deref())?;
        Self::resolve(args, &mut file)
    }
}

impl Config {
    /// Resolves every setting; the error names the setting at fault.
    pub fn load(common: CommonArgs, serve: ServeArgs) -> anyhow::Result<Self> {
        let mut file = read_file_config(common.config.as_deref())?;
        let common = CommonConfig::resolve(common, &mut file)?;

        let jwt_secret = pick(serve.jwt_secret, file.jwt_secret.take()).map(Secret::new);
        if jwt_secret.as_ref().is_some_and(|s| s.expose().len() < 32) {
            bail!("EMPORIUM_JWT_SECRET: must be at least 32 characters");
        }
        let quota = |setting: &str, value: Option<String>, default: &str| -> anyhow::Result<Option<Quota>> {
            let value = value.unwrap_or_else(|| default.to_string());
            Quota::parse(&value).map_err(|e| anyhow::anyhow!("{setting}: {e}"))
        };
        let trusted_proxies = list(pick(serve.trusted_proxies, file.trusted_proxies.take()))
            .into_iter()
            .map(|p| {
                p.parse::<emporium_api::IpNet>()
                    .or_else(|_| p.parse::<IpAddr>().map(emporium_api::IpNet::from))
                    .map_err(|_| anyhow::anyhow!("EMPORIUM_TRUSTED_PROXIES: {p:?} is not an IP address or CIDR"))
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        let cors_origins = list(pick(serve.cors_origins, file.cors_origins.take()));
        for origin in &cors_origins {
            if origin != "*" && !(origin.starts_with("http://") || origin.starts_with("https://")) {
                bail!("EMPORIUM_CORS_ORIGINS: {origin:?} is not an origin like https://shop.example.com");
            }
        }
        let metrics_token = pick(serve.metrics_token, file.metrics_token.take()).map(Secret::new);
        if metrics_token.as_ref().is_some_and(|t| t.expose().trim().len() < 16 || t.expose().trim() != t.expose()) {
            bail!("EMPORIUM_METRICS_TOKEN: must be at least 16 characters, without surrounding spaces");
        }
        let geekmobile_admin_secret =
            pick(serve.geekmobile_admin_secret, file.geekmobile_admin_secret.take()).map(Secret::new);
        if geekmobile_admin_secret
            .as_ref()
            .is_some_and(|t| t.expose().trim().len() < 16 || t.expose().trim() != t.expose())
        {
            bail!("EMPORIUM_GEEKMOBILE_ADMIN_SECRET: must be at least 16 characters, without surrounding spaces");
        }
        let api = ApiSettings {
            body_limit: match pick(serve.body_limit, file.body_limit.take()) {
                Some(v) => byte_size("EMPORIUM_BODY_LIMIT", &v)?,
                None => 1024 * 1024,
            },
            rate_limit: quota("EMPORIUM_RATE_LIMIT", pick(serve.rate_limit, file.rate_limit.take()), "100/15m")?,
            register_rate_limit: quota(
                "EMPORIUM_REGISTER_RATE_LIMIT",
                pick(serve.register_rate_limit, file.register_rate_limit.take()),
                "10/15m",
            )?,
            trusted_proxies,
            cors_origins,
            cookie_secure: pick(serve.cookie_secure, file.cookie_secure).unwrap_or(false),
            metrics_token,
            geekmobile_admin_secret,
        };
        let sign_in = sign_in_policy(
            quota,
            pick(serve.auth_rate_limit, file.auth_rate_limit.take()),
            pick(serve.auth_failure_limit, file.auth_failure_limit.take()),
            pick(serve.lockout_threshold, file.lockout_threshold.take()),
            pick(serve.lockout_delay, file.lockout_delay.take()),
            pick(serve.lockout_max_delay, file.lockout_max_delay.take()),
        )?;
        let redis = match pick(serve.redis_url, file.redis_url.take()).filter(|u| !u.trim().is_empty()) {
            None => None,
            Some(url) => {
                let url = url.trim().to_string();
                if !(url.starts_with("redis://") || url.starts_with("rediss://") || url.starts_with("unix://")) {
                    bail!("EMPORIUM_REDIS_URL: {:?} is not a Redis URL (redis://host:port)", redact_url(&url));
                }
                let key_prefix = pick(serve.redis_key_prefix, file.redis_key_prefix.take())
                    .unwrap_or_else(|| "emporium:".to_string());
                Some(RedisConfig { url: Secret::new(url), key_prefix })
            }
        };
        let admin = match (
            pick(serve.admin_email, file.admin_email.take()),
            pick(serve.admin_password, file.admin_password.take()),
        ) {
            (None, None) => None,
            (Some(email), Some(password)) => Some((
                Email::parse(&email).map_err(|e| anyhow::anyhow!("EMPORIUM_ADMIN_EMAIL: {e}"))?,
                Password::parse(&password).map_err(|e| anyhow::anyhow!("EMPORIUM_ADMIN_PASSWORD: {e}"))?,
            )),
            (Some(_), None) => {
                bail!("EMPORIUM_ADMIN_PASSWORD: must be set together with EMPORIUM_ADMIN_EMAIL")
            }
            (None, Some(_)) => {
                bail!("EMPORIUM_ADMIN_EMAIL: must be set together with EMPORIUM_ADMIN_PASSWORD")
            }
        };
        let port = pick(serve.port, file.port).unwrap_or(3000);
        let payments = PaymentsConfig::resolve(serve.payments, &mut file, port)?;
        Ok(Self {
            common,
            bind: pick(serve.bind, file.bind).unwrap_or(IpAddr::from([0, 0, 0, 0])),
            port,
            jwt_secret,
            access_token_ttl: duration(
                "EMPORIUM_ACCESS_TOKEN_TTL",
                pick(serve.access_token_ttl, file.access_token_ttl.take()),
                Duration::from_secs(15 * 60),
            )?,
            refresh_token_ttl: duration(
                "EMPORIUM_REFRESH_TOKEN_TTL",
                pick(serve.refresh_token_ttl, file.refresh_token_ttl.take()),
                Duration::from_secs(7 * 24 * 3600),
            )?,
            api,
            sign_in,
            redis,
            admin,
            shutdown_timeout: duration(
                "EMPORIUM_SHUTDOWN_TIMEOUT",
                pick(serve.shutdown_timeout, file.shutdown_timeout.take()),
                Duration::from_secs(30),
            )?,
            currency: currency(pick(serve.currency, file.currency.take()))?,
            order_ttl: duration(
                "EMPORIUM_ORDER_TTL",
                pick(serve.order_ttl, file.order_ttl.take()),
                Duration::from_secs(30 * 60),
            )?,
            cart_ttl: duration(
                "EMPORIUM_CART_TTL",
                pick(serve.cart_ttl, file.cart_ttl.take()),
                Duration::from_secs(30 * 24 * 3600),
            )?,
            sweep_interval: duration(
                "EMPORIUM_SWEEP_INTERVAL",
                pick(serve.sweep_interval, file.sweep_interval.take()),
                Duration::from_secs(30),
            )?,
            catalog_cache_ttl: match pick(serve.catalog_cache_ttl, file.catalog_cache_ttl.take()) {
                Some(v) if matches!(v.trim(), "0" | "0s" | "off") => Duration::ZERO,
                other => duration("EMPORIUM_CATALOG_CACHE_TTL", other, Duration::from_secs(1))?,
            },
            admin_dashboard: emporium_admin::AdminSettings {
                low_stock_threshold: match pick(serve.low_stock_threshold, file.low_stock_threshold) {
                    Some(n) if n < 0 => anyhow::bail!("EMPORIUM_LOW_STOCK_THRESHOLD: must be 0 or more, got {n}"),
                    Some(n) => n,
                    None => emporium_admin::AdminSettings::default().low_stock_threshold,
                },
            },
            metrics_bind: pick(serve.metrics_bind, file.metrics_bind),
            reset_token_ttl: duration(
                "EMPORIUM_RESET_TOKEN_TTL",
                pick(serve.reset_token_ttl, file.reset_token_ttl.take()),
                Duration::from_secs(30 * 60),
            )?,
            mail: {
                let defaults = MailConfig::defaults();
                let smtp = pick(serve.smtp_url, file.smtp_url.take())
                    .filter(|u| !u.trim().is_empty())
                    .map(|u| emporium_mail::SmtpSettings::parse(&u))
                    .transpose()?;
                let shop_name = pick(serve.shop_name, file.shop_name.take())
                    .map(|n| n.trim().to_string())
                    .unwrap_or(defaults.shop_name.clone());
                if shop_name.is_empty() || shop_name.chars().count() > 100 || shop_name.chars().any(char::is_control) {
                    bail!("EMPORIUM_SHOP_NAME: must be 1 to 100 characters, without control characters");
                }
                let from = pick(serve.mail_from, file.mail_from.take())
                    .unwrap_or_else(|| format!("{shop_name} <no-reply@localhost>"));
                if from.parse::<lettre::message::Mailbox>().is_err() {
                    bail!("EMPORIUM_MAIL_FROM: {from:?} is not an address like \"Shop <shop@example.com>\"");
                }
                MailConfig {
                    smtp,
                    from,
                    shop_name,
                    send_timeout: duration(
                        "EMPORIUM_SMTP_TIMEOUT",
                        pick(serve.smtp_timeout, file.smtp_timeout.take()),
                        defaults.send_timeout,
                    )?,
                    poll_interval: duration(
                        "EMPORIUM_MAIL_POLL_INTERVAL",
                        pick(serve.mail_poll_interval, file.mail_poll_interval.take()),
                        defaults.poll_interval,
                    )?,
                    ..defaults
                }
            },
            payments,
        })
    }

    /// A configuration for tests and embedding: the given database, port 0
    /// on loopback, rate limits off, a fixed secret.
    pub fn for_database(database: Database, data_dir: PathBuf) -> Self {
        Self {
            common: CommonConfig {
                database,
                data_dir,
                db_max_connections: 5,
                log_format: LogFormat::Text,
                log_filter: "warn".into(),
            },
            bind: IpAddr::from([127, 0, 0, 1]),
            port: 0,
            jwt_secret: Some(Secret::new("test-secret-test-secret-test-secret-0123")),
            access_token_ttl: Duration::from_secs(15 * 60),
            refresh_token_ttl: Duration::from_secs(7 * 24 * 3600),
            api: ApiSettings { rate_limit: None, register_rate_limit: None, ..ApiSettings::default() },
            sign_in: SignInPolicy::off(),
            redis: None,
            admin: None,
            shutdown_timeout: Duration::from_secs(5),
            currency: "USD".into(),
            order_ttl: Duration::from_secs(30 * 60),
            cart_ttl: Duration::from_secs(30 * 24 * 3600),
            sweep_interval: Duration::from_secs(30),
            catalog_cache_ttl: Duration::from_secs(1),
            admin_dashboard: emporium_admin::AdminSettings::default(),
            metrics_bind: None,
            reset_token_ttl: Duration::from_secs(30 * 60),
            mail: MailConfig {
                send_timeout: Duration::from_secs(5),
                retry_base: Duration::from_millis(200),
                ..MailConfig::defaults()
            },
            payments: PaymentsConfig::manual_only(0),
        }
    }
}

/// The signing secret: the configured one, or one generated on first start
/// and kept (mode 0600) in the data directory so tokens survive restarts.
pub fn signing_secret(config: &Config) -> anyhow::Result<Secret> {
    if let Some(secret) = &config.jwt_secret {
        return Ok(secret.clone());
    }
    let path = config.common.data_dir.join("jwt-secret");
    if let Ok(existing) = std::fs::read_to_string(&path) {
        let existing = existing.trim().to_string();
        if existing.len() >= 32 {
            tracing::warn!(path = %path.display(), "EMPORIUM_JWT_SECRET is not set; using the secret kept in the data directory (set it in production, the same on every server)");
            return Ok(Secret::new(existing));
        }
    }
    std::fs::create_dir_all(&config.common.data_dir)
        .with_context(|| format!("EMPORIUM_DATA_DIR: cannot create {}", config.common.data_dir.display()))?;
    let secret = emporium_service::tokens::random_token(64);
    write_private(&path, &secret).with_context(|| format!("EMPORIUM_DATA_DIR: cannot write {}", path.display()))?;
    tracing::warn!(path = %path.display(), "EMPORIUM_JWT_SECRET is not set; generated a signing secret and kept it in the data directory (set it in production, the same on every server)");
    Ok(Secret::new(secret))
}

fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)?.write_all(contents.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_is_chosen_by_scheme() {
        let dir = Path::new("data");
        assert_eq!(Database::from_url(None, dir).unwrap(), Database::Sqlite("data/emporium.db".into()));
        assert_eq!(Database::from_url(Some("sqlite://x.db"), dir).unwrap(), Database::Sqlite("x.db".into()));
        assert_eq!(Database::from_url(Some("postgres://u@h/db"), dir).unwrap().backend(), "postgres");
        let err = Database::from_url(Some("mysql://root:hunter2@h/db"), dir).unwrap_err().to_string();
        assert!(err.starts_with("DATABASE_URL:") && !err.contains("hunter2"), "{err}");
    }

    #[test]
    fn bad_settings_name_themselves() {
        let serve = |f: fn(&mut ServeArgs)| {
            let mut args = ServeArgs::default();
            f(&mut args);
            Config::load(CommonArgs::default(), args).unwrap_err().to_string()
        };
        assert!(serve(|a| a.rate_limit = Some("lots".into())).starts_with("EMPORIUM_RATE_LIMIT:"));
        assert!(serve(|a| a.jwt_secret = Some("short".into())).starts_with("EMPORIUM_JWT_SECRET:"));
        assert!(serve(|a| a.access_token_ttl = Some("soon".into())).starts_with("EMPORIUM_ACCESS_TOKEN_TTL:"));
        assert!(serve(|a| a.body_limit = Some("1 GiB".into())).starts_with("EMPORIUM_BODY_LIMIT:"));
        assert!(serve(|a| a.admin_email = Some("a@b.co".into())).starts_with("EMPORIUM_ADMIN_PASSWORD:"));
        assert!(serve(|a| a.trusted_proxies = Some("nope".into())).starts_with("EMPORIUM_TRUSTED_PROXIES:"));
        assert!(serve(|a| a.auth_failure_limit = Some("9".into())).starts_with("EMPORIUM_AUTH_FAILURE_LIMIT:"));
        assert!(serve(|a| a.lockout_threshold = Some("0".into())).starts_with("EMPORIUM_LOCKOUT_THRESHOLD:"));
        assert!(serve(|a| a.lockout_max_delay = Some("1s".into())).starts_with("EMPORIUM_LOCKOUT_MAX_DELAY:"));
        assert!(serve(|a| a.register_rate_limit = Some("x".into())).starts_with("EMPORIUM_REGISTER_RATE_LIMIT:"));
        let redis = serve(|a| a.redis_url = Some("http://:hunter2@cache:6379".into()));
        assert!(redis.starts_with("EMPORIUM_REDIS_URL:") && !redis.contains("hunter2"), "{redis}");
        assert!(serve(|a| a.metrics_token = Some("short".into())).starts_with("EMPORIUM_METRICS_TOKEN:"));
        assert!(
            serve(|a| a.geekmobile_admin_secret = Some("short".into()))
                .starts_with("EMPORIUM_GEEKMOBILE_ADMIN_SECRET:")
        );
        assert!(serve(|a| a.smtp_url = Some("smtp://h?tls=sometimes".into())).starts_with("EMPORIUM_SMTP_URL:"));
        assert!(serve(|a| a.mail_from = Some("not an address".into())).starts_with("EMPORIUM_MAIL_FROM:"));
        assert!(
            serve(|a| a.payments.frontend_url = Some("shop.example.com".into())).starts_with("EMPORIUM_FRONTEND_URL:")
        );
        assert!(serve(|a| a.reset_token_ttl = Some("later".into())).starts_with("EMPORIUM_RESET_TOKEN_TTL:"));
        assert!(serve(|a| a.payments.public_url = Some("shop".into())).starts_with("EMPORIUM_PUBLIC_URL:"));
        assert!(serve(|a| a.payments.test_payments = Some("yes please".into())).starts_with("EMPORIUM_TEST_PAYMENTS:"));
        assert!(
            serve(|a| a.payments.stripe_secret_key = Some("sk_test_1".into()))
                .starts_with("EMPORIUM_STRIPE_WEBHOOK_SECRET:")
        );
        assert!(
            serve(|a| a.payments.paypal_client_id = Some("id".into())).starts_with("EMPORIUM_PAYPAL_CLIENT_SECRET:")
        );
    }

    #[test]
    fn sign_in_policy_and_redis_resolve() {
        let config = Config::load(CommonArgs::default(), ServeArgs::default()).unwrap();
        assert_eq!(config.sign_in, SignInPolicy::default());
        assert_eq!(config.api.register_rate_limit, Some(Quota::per(10, Duration::from_secs(900))));
        assert!(config.redis.is_none());

        let args = ServeArgs {
            auth_rate_limit: Some("off".into()),
            auth_failure_limit: Some("50/1h".into()),
            lockout_threshold: Some("3".into()),
            lockout_delay: Some("10s".into()),
            lockout_max_delay: Some("5m".into()),
            redis_url: Some("redis://cache:6379/2".into()),
            ..ServeArgs::default()
        };
        let config = Config::load(CommonArgs::default(), args).unwrap();
        let lockout =
            Lockout { threshold: 3, first_delay: Duration::from_secs(10), max_delay: Duration::from_secs(300) };
        let expected = SignInPolicy {
            ip_attempts: None,
            ip_failures: Some(Quota::per(50, Duration::from_secs(3600))),
            lockout: Some(lockout),
        };
        assert_eq!(config.sign_in, expected);
        let redis = config.redis.unwrap();
        assert_eq!((redis.url.expose(), redis.key_prefix.as_str()), ("redis://cache:6379/2", "emporium:"));

        let off = ServeArgs { lockout_threshold: Some("off".into()), ..ServeArgs::default() };
        assert_eq!(Config::load(CommonArgs::default(), off).unwrap().sign_in.lockout, None);
    }

    #[test]
    fn metrics_settings_come_from_the_file_and_the_flags() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("emporium.toml");
        std::fs::write(&path, "metrics_bind = \"127.0.0.1:9100\"\nmetrics_token = \"from-the-file-0123456789\"\n")
            .unwrap();
        let common = CommonArgs { config: Some(path), ..CommonArgs::default() };
        let from_file = Config::load(common.clone(), ServeArgs::default()).unwrap();
        assert_eq!(from_file.metrics_bind, Some(SocketAddr::from(([127, 0, 0, 1], 9100))));
        assert_eq!(from_file.api.metrics_token.as_ref().map(Secret::expose), Some("from-the-file-0123456789"));
        assert_eq!(format!("{:?}", from_file.api.metrics_token), "Some([redacted])");
        let flag = ServeArgs { metrics_token: Some("from-the-flag-0123456789".into()), ..ServeArgs::default() };
        let from_flag = Config::load(common, flag).unwrap();
        assert_eq!(from_flag.api.metrics_token.as_ref().map(Secret::expose), Some("from-the-flag-0123456789"));
        let defaults = Config::load(CommonArgs::default(), ServeArgs::default()).unwrap();
        assert_eq!((defaults.metrics_bind, defaults.api.metrics_token), (None, None));
    }

    #[test]
    fn sizes_parse() {
        assert_eq!(byte_size("X", "1MiB").unwrap(), 1 << 20);
        assert_eq!(byte_size("X", "512").unwrap(), 512);
        assert!(byte_size("X", "0").is_err());
    }
}
