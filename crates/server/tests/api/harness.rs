use std::sync::atomic::{AtomicUsize, Ordering};

use std::sync::Arc;

use emporium_domain::account::Role;
use emporium_domain::time::Timestamp;
use emporium_server::Application;
use emporium_server::config::{Config, Database};
use emporium_store::{NewAuditEntry, Store};
use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sqlx::Connection;

pub const PASSWORD: &str = "SecurePass123!";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A running application with its own database.
pub struct TestApp {
    pub base: String,
    /// The separate `/metrics` address, when the configuration asks for one.
    pub metrics_base: Option<String>,
    pub client: reqwest::Client,
    pub backend: Backend,
    _dir: tempfile::TempDir,
    pub store: Arc<dyn Store>,
    pg_database: Option<(String, String)>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

/// Runs each listed case as `sqlite::case` and `postgres::case`.
#[macro_export]
macro_rules! on_both_backends {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let app = $crate::harness::TestApp::spawn($crate::harness::Backend::Sqlite, |_| {}).await;
                    super::$case(&app).await;
                    app.stop().await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    if !$crate::harness::postgres_available() {
                        return;
                    }
                    let app = $crate::harness::TestApp::spawn($crate::harness::Backend::Postgres, |_| {}).await;
                    super::$case(&app).await;
                    app.stop().await;
                }
            )*
        }
    };
}

pub fn postgres_url() -> Option<String> {
    std::env::var("EMPORIUM_TEST_POSTGRES_URL").ok().filter(|u| !u.is_empty())
}

pub fn postgres_available() -> bool {
    if postgres_url().is_some() {
        return true;
    }
    eprintln!("EMPORIUM_TEST_POSTGRES_URL is not set: skipping this PostgreSQL case");
    false
}

/// The Redis the shared rate-limit cases use (`EMPORIUM_TEST_REDIS_URL`).
pub fn redis_url() -> Option<String> {
    std::env::var("EMPORIUM_TEST_REDIS_URL").ok().filter(|u| !u.is_empty())
}

/// Whether the Redis cases can run: the URL is set and Redis answers.
pub async fn redis_available() -> bool {
    let Some(url) = redis_url() else {
        eprintln!("EMPORIUM_TEST_REDIS_URL is not set: skipping this Redis case");
        return false;
    };
    let counters = emporium_limits::RedisCounters::new(&url, "emporium-test:probe:").expect("a Redis URL");
    if emporium_limits::Counters::run(&counters, &[emporium_limits::Op::Get { key: "probe" }]).await.is_err() {
        eprintln!("Redis at EMPORIUM_TEST_REDIS_URL does not answer: skipping this Redis case");
        return false;
    }
    true
}

/// A key prefix no other test uses, so tests sharing one Redis never see
/// each other's counters.
pub fn unique_redis_prefix() -> String {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    format!("emporium-test:{}:{}:{}:", std::process::id(), COUNTER.fetch_add(1, Ordering::SeqCst), rand_suffix())
}

/// Replaces the database name at the end of a PostgreSQL URL.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = url.split_once('?').map(|(b, q)| (b, format!("?{q}"))).unwrap_or((url, String::new()));
    let scheme_end = base.find("://").map(|i| i + 3).unwrap_or(0);
    let path_start = base[scheme_end..].find('/').map(|i| i + scheme_end).unwrap_or(base.len());
    format!("{}/{}{}", &base[..path_start], name, query)
}

async fn create_postgres_database() -> (String, String) {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let admin_url = postgres_url().expect("postgres url");
    let name =
        format!("emporium_t_{}_{}_{}", std::process::id(), COUNTER.fetch_add(1, Ordering::SeqCst), rand_suffix());
    let mut conn = sqlx::PgConnection::connect(&admin_url).await.expect("connect to EMPORIUM_TEST_POSTGRES_URL");
    // Concurrent CREATE DATABASE can collide on the template; retry briefly.
    let mut attempt = 0;
    loop {
        match sqlx::query(&format!("CREATE DATABASE \"{name}\"")).execute(&mut conn).await {
            Ok(_) => break,
            Err(_) if attempt < 20 => {
                attempt += 1;
                tokio::time::sleep(std::time::Duration::from_millis(50 * attempt)).await;
            }
            Err(e) => panic!("cannot create test database: {e}"),
        }
    }
    let _ = conn.close().await;
    (admin_url.clone(), name)
}

fn rand_suffix() -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
    format!("{nanos:x}")
}

impl TestApp {
    /// Starts an application on `backend`, after `configure` adjusts the
    /// test configuration (rate limits off, fixed secret, port 0).
    pub async fn spawn(backend: Backend, configure: impl FnOnce(&mut Config)) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let (database, pg_database) = match backend {
            Backend::Sqlite => (Database::Sqlite(dir.path().join("test.db").display().to_string()), None),
            Backend::Postgres => {
                let (admin, name) = create_postgres_database().await;
                (Database::Postgres(with_database(&admin, &name)), Some((admin, name)))
            }
        };
        let mut config = Config::for_database(database, dir.path().to_path_buf());
        configure(&mut config);
        let app = Application::build(config).await.expect("application builds");
        let base = format!("http://127.0.0.1:{}", app.port());
        let metrics_base = app.metrics_port().map(|port| format!("http://127.0.0.1:{port}"));
        let store = app.store();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(app.run_until(async move {
            let _ = rx.await;
        }));
        let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        Self {
            base,
            metrics_base,
            client,
            backend,
            _dir: dir,
            store,
            pg_database,
            shutdown: Some(tx),
            server: Some(server),
        }
    }

    /// A second server on this app's PostgreSQL database, as a load balancer
    /// would run it: same database, same signing secret, its own process state.
    pub async fn second_server(&self, configure: impl FnOnce(&mut Config)) -> TestApp {
        let (admin, name) = self.pg_database.clone().expect("a second server needs PostgreSQL");
        let dir = tempfile::tempdir().expect("temp dir");
        let mut config =
            Config::for_database(Database::Postgres(with_database(&admin, &name)), dir.path().to_path_buf());
        configure(&mut config);
        let app = Application::build(config).await.expect("application builds");
        let base = format!("http://127.0.0.1:{}", app.port());
        let store = app.store();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(app.run_until(async move {
            let _ = rx.await;
        }));
        let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        // The first app owns (and drops) the database.
        Self {
            base,
            metrics_base: None,
            client,
            backend: Backend::Postgres,
            _dir: dir,
            store,
            pg_database: None,
            shutdown: Some(tx),
            server: Some(server),
        }
    }

    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(server) = self.server.take() {
            server.await.expect("server task").expect("server stops cleanly");
        }
        if let Some((admin, name)) = self.pg_database.take()
            && let Ok(mut conn) = sqlx::PgConnection::connect(&admin).await
        {
            let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)")).execute(&mut conn).await;
        }
    }

    /// The application's data directory (where `.eml` mail lands without SMTP).
    pub fn data_dir(&self) -> &std::path::Path {
        self._dir.path()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Sends a request and returns status, JSON body (or `Null`) and headers.
    pub async fn call(&self, method: Method, path: &str, token: Option<&str>, body: Option<Value>) -> Reply {
        let mut request = self.client.request(method, self.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        Reply::read(request.send().await.expect("request is answered")).await
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Reply {
        self.call(Method::GET, path, token, None).await
    }
    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> Reply {
        self.call(Method::POST, path, token, Some(body)).await
    }
    pub async fn put(&self, path: &str, token: Option<&str>, body: Value) -> Reply {
        self.call(Method::PUT, path, token, Some(body)).await
    }
    pub async fn patch(&self, path: &str, token: Option<&str>, body: Value) -> Reply {
        self.call(Method::PATCH, path, token, Some(body)).await
    }
    pub async fn delete(&self, path: &str, token: Option<&str>, body: Option<Value>) -> Reply {
        self.call(Method::DELETE, path, token, body).await
    }

    /// Registers `name` (as `name@example.com`) and returns the user's data.
    pub async fn register(&self, name: &str) -> Value {
        let reply = self
            .post("/api/v1/users/register", None, json!({ "fullName": format!("{name} Tester"), "username": name, "email": format!("{name}@example.com"), "password": PASSWORD }))
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
        reply.body["data"].clone()
    }

    /// Signs `name` in and returns (access token, refresh token).
    pub async fn login(&self, name: &str) -> (String, String) {
        let reply = self
            .post("/api/v1/users/login", None, json!({ "email": format!("{name}@example.com"), "password": PASSWORD }))
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        (
            reply.body["data"]["accessToken"].as_str().unwrap().to_string(),
            reply.body["data"]["refreshToken"].as_str().unwrap().to_string(),
        )
    }

    pub async fn user_token(&self, name: &str) -> String {
        self.register(name).await;
        self.login(name).await.0
    }

    /// Registers `name`, makes it an admin as `emporium admin create` does
    /// (through the store, not the HTTP API), and signs it in.
    pub async fn admin_token(&self, name: &str) -> String {
        self.register(name).await;
        self.promote(name).await;
        self.login(name).await.0
    }

    pub async fn promote(&self, name: &str) {
        let user = self.store.user_by_username_key(&name.to_lowercase()).await.unwrap().expect("user exists");
        let audit = NewAuditEntry {
            at: Timestamp::now(),
            actor_id: None,
            action: "user.role_changed".into(),
            target_type: None,
            target_id: None,
            ip: None,
            details: json!({ "by": "test" }),
        };
        self.store.change_role(user.id, Role::Admin, Timestamp::now(), &audit).await.unwrap();
    }
}

pub struct Reply {
    pub status: StatusCode,
    pub body: Value,
    pub headers: HeaderMap,
}

impl Reply {
    pub async fn read(response: reqwest::Response) -> Self {
        let status = response.status();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap_or_default();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Self { status, body, headers }
    }

    /// Asserts the error envelope with this status and code.
    pub fn assert_error(&self, status: StatusCode, code: &str) {
        assert_eq!(self.status, status, "{}", self.body);
        assert_eq!(self.body["success"], json!(false), "{}", self.body);
        assert_eq!(self.body["error"]["code"], json!(code), "{}", self.body);
        assert!(self.body["error"]["message"].is_string(), "{}", self.body);
    }

    /// The fields named in a validation error's details.
    pub fn error_fields(&self) -> Vec<String> {
        self.body["error"]["details"]
            .as_array()
            .map(|d| d.iter().filter_map(|e| e["field"].as_str().map(String::from)).collect())
            .unwrap_or_default()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}
