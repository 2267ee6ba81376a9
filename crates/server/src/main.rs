//! `emporium`: serve the shop, migrate its database, manage admins.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use emporium_domain::account::{Email, Password, Username};
use emporium_server::config::{CommonArgs, CommonConfig, Config, PaymentArgs, ServeArgs};
use emporium_server::{Application, init_logging, open_store};

/// mimalloc rather than glibc's malloc: a request allocates and frees many
/// small buffers (headers, the request id, futures, the JSON it renders) on
/// whichever worker thread runs it, and glibc's arenas made that about a
/// sixth of `/health`'s time (issue 12's profile); mimalloc's thread-local
/// free lists make it a fraction of that.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Emporium: an e-commerce backend in one binary.
///
/// Settings come from, in rising precedence: defaults, emporium.toml, the
/// environment, the command line.
#[derive(Debug, Parser)]
#[command(name = "emporium", version, propagate_version = true)]
struct Cli {
    #[command(flatten)]
    common: CommonArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the HTTP server (applies pending migrations first).
    Serve(Box<ServeArgs>),
    /// Apply pending database migrations and exit.
    Migrate,
    /// Manage admin accounts.
    #[command(subcommand)]
    Admin(AdminCommand),
    /// Payments.
    #[command(subcommand)]
    Payments(PaymentsCommand),
    /// Fill the store with realistic, deterministic demo products.
    Seed {
        /// How many products
        #[arg(long, env = "EMPORIUM_SEED_PRODUCTS", default_value_t = 1000)]
        products: usize,
        /// How many categories
        #[arg(long, env = "EMPORIUM_SEED_CATEGORIES", default_value_t = 20)]
        categories: usize,
    },
}

#[derive(Debug, Subcommand)]
enum PaymentsCommand {
    /// Ask the providers about unsettled payments once and apply what they say
    /// (what the server's background job does every few minutes).
    Reconcile(Box<PaymentArgs>),
}

#[derive(Debug, Subcommand)]
enum AdminCommand {
    /// Create an admin, or promote an existing account (and set its password).
    Create {
        /// The admin's e-mail
        #[arg(long, env = "EMPORIUM_ADMIN_EMAIL")]
        email: String,
        /// The admin's password (the usual policy applies)
        #[arg(long, env = "EMPORIUM_ADMIN_PASSWORD", hide_env_values = true)]
        password: String,
        /// Username for a new account [default: from the e-mail]
        #[arg(long, env = "EMPORIUM_ADMIN_USERNAME")]
        username: Option<String>,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // One line, naming the setting at fault.
            eprintln!("emporium: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(serve) => {
            let config = Config::load(cli.common, *serve)?;
            init_logging(&config.common);
            Application::build(config).await?.run_until_stopped().await
        }
        Command::Payments(PaymentsCommand::Reconcile(payments)) => {
            let serve = ServeArgs { payments: *payments, ..ServeArgs::default() };
            let config = Config::load(cli.common, serve)?;
            init_logging(&config.common);
            let store = open_store(&config.common).await?;
            // No tokens are issued here, so the signing secret is irrelevant.
            let auth = emporium_service::tokens::AuthSettings {
                jwt_secret: emporium_service::Secret::new(emporium_service::tokens::random_token(48)),
                access_token_ttl: std::time::Duration::from_secs(60),
                refresh_token_ttl: std::time::Duration::from_secs(60),
                reset_token_ttl: config.reset_token_ttl,
            };
            let services = emporium_server::services(&config, store.clone(), auth)?;
            let report = services.payments.reconcile().await;
            store.close().await;
            let report = report.map_err(|e| anyhow::anyhow!("reconciliation failed: {e}"))?;
            println!(
                "reconciled {} pending payments: {} paid, {} closed; {} refunds retried; {} failures",
                report.checked, report.paid, report.closed, report.refunds_retried, report.failures
            );
            Ok(())
        }
        Command::Migrate => {
            let common = CommonConfig::load(cli.common)?;
            init_logging(&common);
            let store = open_store(&common).await?;
            store.close().await;
            println!("migrations applied ({})", common.database.backend());
            Ok(())
        }
        Command::Seed { products, categories } => {
            let common = CommonConfig::load(cli.common)?;
            init_logging(&common);
            if products > 1_000_000 || categories > 1000 {
                anyhow::bail!("--products: at most 1000000, --categories: at most 1000");
            }
            let store = open_store(&common).await?;
            let started = std::time::Instant::now();
            let report = emporium_server::seed::seed(store.as_ref(), products, categories).await;
            store.close().await;
            let report = report?;
            println!(
                "seeded {} products in {} categories ({}) in {:.2}s",
                report.products,
                report.categories,
                common.database.backend(),
                started.elapsed().as_secs_f64()
            );
            Ok(())
        }
        Command::Admin(AdminCommand::Create { email, password, username }) => {
            let common = CommonConfig::load(cli.common)?;
            init_logging(&common);
            let email = Email::parse(&email).map_err(|e| anyhow::anyhow!("--email: {e}"))?;
            let password = Password::parse(&password).map_err(|e| anyhow::anyhow!("--password: {e}"))?;
            let username =
                username.map(|u| Username::parse(&u).map_err(|e| anyhow::anyhow!("--username: {e}"))).transpose()?;
            let store = open_store(&common).await?;
            // Tokens are not issued here, so the signing secret is irrelevant.
            let auth = emporium_service::tokens::AuthSettings {
                jwt_secret: emporium_service::Secret::new(emporium_service::tokens::random_token(48)),
                access_token_ttl: std::time::Duration::from_secs(60),
                refresh_token_ttl: std::time::Duration::from_secs(60),
                reset_token_ttl: std::time::Duration::from_secs(60),
            };
            let services =
                emporium_service::Services::new(store.clone(), auth, "USD".into(), std::time::Duration::ZERO);
            let user = services.accounts.ensure_admin(email, password, username).await?;
            store.close().await;
            println!("admin {} ({}) is ready, id {}", user.username, user.email, user.id);
            Ok(())
        }
    }
}
