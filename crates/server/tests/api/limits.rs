//! Rate limits and the sign-in lock-out policy, each case run with counters
//! in the process and in Redis (`EMPORIUM_TEST_REDIS_URL`; without it, or
//! when Redis does not answer, the Redis cases print a notice and pass), on
//! SQLite and PostgreSQL. Client IPs are simulated with `X-Forwarded-For`
//! from a trusted proxy (the test client on loopback).

use std::time::Duration;

use emporium_api::rate_limit::Quota;
use emporium_server::config::{Config, RedisConfig};
use emporium_service::Secret;
use emporium_service::sign_in::{Lockout, SignInPolicy};
use reqwest::StatusCode;
use serde_json::json;

use crate::harness::{Backend, PASSWORD, Reply, TestApp};

const MINUTE: Duration = Duration::from_secs(60);
const WRONG: &str = "WrongPass123!";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counting {
    InProcess,
    Redis,
}

/// Where a case runs: its database and where its counters are kept.
#[derive(Debug, Clone, Copy)]
pub struct Mode {
    pub backend: Backend,
    pub counting: Counting,
}

impl Mode {
    /// Whether this mode's services are there (else a notice, and the case passes).
    pub async fn available(self) -> bool {
        (self.backend == Backend::Sqlite || crate::harness::postgres_available())
            && (self.counting == Counting::InProcess || crate::harness::redis_available().await)
    }

    /// A server in this mode, behind a trusted proxy, after `configure`.
    pub async fn spawn(self, configure: impl FnOnce(&mut Config)) -> TestApp {
        let redis = self.redis();
        TestApp::spawn(self.backend, |c| {
            c.api.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
            c.redis = redis;
            configure(c);
        })
        .await
    }

    /// Redis settings with a key prefix of this test's own.
    pub fn redis(self) -> Option<RedisConfig> {
        (self.counting == Counting::Redis).then(|| RedisConfig {
            url: Secret::new(crate::harness::redis_url().expect("checked by available()")),
            key_prefix: crate::harness::unique_redis_prefix(),
        })
    }
}

/// Runs each listed case (an `async fn(Mode)`) with both kinds of counters
/// on both backends.
macro_rules! in_both_modes {
    ($($case:ident),* $(,)?) => {
        in_both_modes!(@mode in_process_sqlite, Sqlite, InProcess, $($case),*);
        in_both_modes!(@mode in_process_postgres, Postgres, InProcess, $($case),*);
        in_both_modes!(@mode redis_sqlite, Sqlite, Redis, $($case),*);
        in_both_modes!(@mode redis_postgres, Postgres, Redis, $($case),*);
    };
    (@mode $module:ident, $backend:ident, $counting:ident, $($case:ident),*) => {
        mod $module {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let mode = super::Mode {
                        backend: $crate::harness::Backend::$backend,
                        counting: super::Counting::$counting,
                    };
                    if mode.available().await {
                        super::$case(mode).await;
                    }
                }
            )*
        }
    };
}

in_both_modes!(
    general_budget_counts_down_refuses_and_recovers,
    a_dialect_is_refused_in_its_own_shape,
    registration_has_a_per_ip_budget,
    attacker_does_not_lock_out_the_owner_from_a_known_ip,
    account_delay_doubles_per_failure_up_to_its_cap,
    many_customers_behind_one_ip_sign_in,
    an_ip_has_a_failure_budget_and_an_attempt_cap,
);

/// Signs in as `name` from `ip` with `password`.
pub async fn login_from(app: &TestApp, ip: &str, name: &str, password: &str) -> Reply {
    let body = json!({ "email": format!("{name}@example.com"), "password": password });
    let request = app.client.post(app.url("/api/v1/users/login")).header("x-forwarded-for", ip).json(&body);
    Reply::read(request.send().await.unwrap()).await
}

fn retry_after(reply: &Reply) -> u64 {
    reply.header("retry-after").expect("Retry-After").parse().unwrap()
}

/// A policy with only the account delay, so a case sees that part alone.
fn lockout_only(threshold: u32, first_delay: Duration, max_delay: Duration) -> SignInPolicy {
    SignInPolicy { lockout: Some(Lockout { threshold, first_delay, max_delay }), ..SignInPolicy::off() }
}

async fn general_budget_counts_down_refuses_and_recovers(mode: Mode) {
    let app = mode.spawn(|c| c.api.rate_limit = Some(Quota::per(3, Duration::from_secs(1)))).await;
    let mut remaining = Vec::new();
    for _ in 0..3 {
        let reply = app.get("/api/v1/users/current-user", None).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
        assert_eq!(reply.header("x-ratelimit-limit"), Some("3"));
        assert!(reply.header("x-ratelimit-reset").unwrap().parse::<u64>().unwrap() > 1_700_000_000);
        remaining.push(reply.header("x-ratelimit-remaining").unwrap().to_string());
    }
    assert_eq!(remaining, ["2", "1", "0"]);
    let limited = app.get("/api/v1/users/current-user", None).await;
    limited.assert_error(StatusCode::TOO_MANY_REQUESTS, "RATE_LIMITED");
    assert_eq!(limited.header("retry-after"), Some("1"));
    assert_eq!(limited.header("x-ratelimit-remaining"), Some("0"));
    // Health checks are never limited.
    assert_eq!(app.get("/health", None).await.status, StatusCode::OK);

    // The window is one second: once it is over, the budget is back.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    let recovered = loop {
        let reply = app.get("/api/v1/users/current-user", None).await;
        if reply.status != StatusCode::TOO_MANY_REQUESTS {
            break reply;
        }
        assert!(tokio::time::Instant::now() < deadline, "the budget never came back");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(recovered.status, StatusCode::UNAUTHORIZED);
    assert_eq!(recovered.header("x-ratelimit-remaining"), Some("2"));
    app.stop().await;
}

async fn registration_has_a_per_ip_budget(mode: Mode) {
    let app = mode.spawn(|c| c.api.register_rate_limit = Some(Quota::per(2, MINUTE))).await;
    app.register("ann").await;
    app.register("bob").await;
    let body = json!({ "fullName": "Cy Tester", "username": "cyan", "email": "cy@example.com", "password": PASSWORD });
    let refused = app.post("/api/v1/users/register", None, body).await;
    refused.assert_error(StatusCode::TOO_MANY_REQUESTS, "RATE_LIMITED");
    assert!(retry_after(&refused) >= 1);
    // Signing in is a budget of its own.
    app.login("ann").await;
    app.stop().await;
}

async fn attacker_does_not_lock_out_the_owner_from_a_known_ip(mode: Mode) {
    let app =
        mode.spawn(|c| c.sign_in = SignInPolicy { lockout: Some(Lockout::default()), ..SignInPolicy::off() }).await;
    let owner_ip = "203.0.113.7";
    app.register("john").await;
    assert_eq!(login_from(&app, owner_ip, "john", PASSWORD).await.status, StatusCode::OK);

    // The attacker guesses from elsewhere until the account is slowed down.
    let attacker_ip = "198.51.100.66";
    for _ in 0..5 {
        let guess = login_from(&app, attacker_ip, "john", WRONG).await;
        guess.assert_error(StatusCode::UNAUTHORIZED, "AUTHENTICATION_ERROR");
    }
    let refused = login_from(&app, attacker_ip, "john", WRONG).await;
    refused.assert_error(StatusCode::TOO_MANY_REQUESTS, "RATE_LIMITED");
    assert!((55..=60).contains(&retry_after(&refused)), "{:?}", refused.header("retry-after"));
    // Even the right password from a new address waits: it may be the attacker.
    let stranger = login_from(&app, "192.0.2.1", "john", PASSWORD).await;
    stranger.assert_error(StatusCode::TOO_MANY_REQUESTS, "RATE_LIMITED");

    // The owner, from where they signed in before, is not held back.
    let owner = login_from(&app, owner_ip, "john", PASSWORD).await;
    assert_eq!(owner.status, StatusCode::OK, "{}", owner.body);
    // That success ended the delay: the attacker is back to plain 401s.
    login_from(&app, attacker_ip, "john", WRONG).await.assert_error(StatusCode::UNAUTHORIZED, "AUTHENTICATION_ERROR");

    // The lock-out is in the audit log, naming the account and the address.
    let admin = app.admin_token("boss").await;
    let log = app.get("/api/v1/admin/audit-log?action=auth.lockout", Some(&admin)).await;
    assert_eq!(log.body["meta"]["total"], 1, "{}", log.body);
    let entry = &log.body["data"][0];
    let john = app.store.user_by_username_key("john").await.unwrap().unwrap();
    assert_eq!(entry["targetId"], json!(john.id.to_string()), "{entry}");
    assert_eq!(entry["ip"], json!(attacker_ip), "{entry}");
    assert_eq!(entry["details"]["scope"], "account");
    assert_eq!(entry["details"]["failures"], 5);
    app.stop().await;
}

async fn account_delay_doubles_per_failure_up_to_its_cap(mode: Mode) {
    let app = mode.spawn(|c| c.sign_in = lockout_only(3, MINUTE, 4 * MINUTE)).await;
    app.register("john").await;
    // A known address may keep trying (the owner mistyping); each failure
    // lengthens the delay everybody else sees.
    let known = "203.0.113.7";
    assert_eq!(login_from(&app, known, "john", PASSWORD).await.status, StatusCode::OK);
    for _ in 0..2 {
        login_from(&app, known, "john", WRONG).await.assert_error(StatusCode::UNAUTHORIZED, "AUTHENTICATION_ERROR");
    }
    login_from(&app, "192.0.2.1", "john", WRONG).await.assert_error(StatusCode::UNAUTHORIZED, "AUTHENTICATION_ERROR");
    let mut delays = Vec::new();
    for _ in 0..4 {
        let probe = login_from(&app, "192.0.2.2", "john", PASSWORD).await;
        probe.assert_error(StatusCode::TOO_MANY_REQUESTS, "RATE_LIMITED");
        delays.push(retry_after(&probe));
        login_from(&app, known, "john", WRONG).await.assert_error(StatusCode::UNAUTHORIZED, "AUTHENTICATION_ERROR");
    }
    let expected = [60, 120, 240, 240];
    for (seen, want) in delays.iter().zip(expected) {
        assert!(*seen <= want && *seen + 5 >= want, "delays {delays:?}, expected about {expected:?}");
    }

    // A delay passes: with a one-second delay, the account is tried again soon.
    let quick = mode.spawn(|c| c.sign_in = lockout_only(1, Duration::from_secs(1), Duration::from_secs(1))).await;
    quick.register("jane").await;
    login_from(&quick, "192.0.2.3", "jane", WRONG).await.assert_error(StatusCode::UNAUTHORIZED, "AUTHENTICATION_ERROR");
    let waiting = login_from(&quick, "192.0.2.3", "jane", PASSWORD).await;
    waiting.assert_error(StatusCode::TOO_MANY_REQUESTS, "RATE_LIMITED");
    assert_eq!(retry_after(&waiting), 1);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let reply = login_from(&quick, "192.0.2.3", "jane", PASSWORD).await;
        if reply.status == StatusCode::OK {
            break;
        }
        reply.assert_error(StatusCode::TOO_MANY_REQUESTS, "RATE_LIMITED");
        assert!(tokio::time::Instant::now() < deadline, "the delay never passed");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    quick.stop().await;
    app.stop().await;
}

async fn many_customers_behind_one_ip_sign_in(mode: Mode) {
    // The defaults, as a shop runs them; registration unlimited so the
    // customers can be made.
    let app = mode
        .spawn(|c| {
            c.sign_in = SignInPolicy::default();
            c.api.register_rate_limit = None;
        })
        .await;
    let office = "203.0.113.50";
    for i in 0..12 {
        let name = format!("customer{i}");
        app.register(&name).await;
        if i % 3 == 0 {
            // A typo now and then is not held against the office.
            login_from(&app, office, &name, WRONG).await.assert_error(StatusCode::UNAUTHORIZED, "AUTHENTICATION_ERROR");
        }
        let reply = login_from(&app, office, &name, PASSWORD).await;
        assert_eq!(reply.status, StatusCode::OK, "customer {i}: {}", reply.body);
    }
    app.stop().await;
}

async fn an_ip_has_a_failure_budget_and_an_attempt_cap(mode: Mode) {
    let app = mode
        .spawn(|c| {
            c.sign_in = SignInPolicy {
                ip_attempts: Some(Quota::per(6, MINUTE)),
                ip_failures: Some(Quota::per(3, MINUTE)),
                lockout: None,
            }
        })
        .await;
    for name in ["ann", "bob", "cyan", "dee"] {
        app.register(name).await;
    }
    // Three failures over three accounts spend the guesser's failure budget…
    let guesser = "198.51.100.66";
    for name in ["ann", "bob", "cyan"] {
        login_from(&app, guesser, name, WRONG).await.assert_error(StatusCode::UNAUTHORIZED, "AUTHENTICATION_ERROR");
    }
    let refused = login_from(&app, guesser, "dee", PASSWORD).await;
    refused.assert_error(StatusCode::TOO_MANY_REQUESTS, "RATE_LIMITED");
    assert!((55..=60).contains(&retry_after(&refused)));
    // …not anyone else's.
    assert_eq!(login_from(&app, "192.0.2.9", "dee", PASSWORD).await.status, StatusCode::OK);

    // Every attempt, successful or not, counts against the generous cap.
    let busy = "203.0.113.80";
    for _ in 0..6 {
        assert_eq!(login_from(&app, busy, "ann", PASSWORD).await.status, StatusCode::OK);
    }
    login_from(&app, busy, "ann", PASSWORD).await.assert_error(StatusCode::TOO_MANY_REQUESTS, "RATE_LIMITED");

    // Running out of failures is a lock-out of that address, audited once.
    let admin = app.admin_token("boss").await;
    let log = app.get("/api/v1/admin/audit-log?action=auth.lockout", Some(&admin)).await;
    assert_eq!(log.body["meta"]["total"], 1, "{}", log.body);
    assert_eq!(log.body["data"][0]["ip"], json!(guesser));
    assert_eq!(log.body["data"][0]["details"]["scope"], "ip");
    app.stop().await;
}

async fn get_from(app: &TestApp, ip: &str, path: &str) -> Reply {
    let request = app.client.get(app.url(path)).header("x-forwarded-for", ip);
    Reply::read(request.send().await.unwrap()).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_share_the_general_and_sign_in_budgets() {
    let mode = Mode { backend: Backend::Postgres, counting: Counting::Redis };
    if !mode.available().await {
        return;
    }
    let redis = mode.redis();
    let shared = move |c: &mut Config| {
        c.api.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
        c.redis = redis.clone();
        c.api.rate_limit = Some(Quota::per(6, MINUTE));
        c.sign_in = lockout_only(2, MINUTE, MINUTE);
    };
    let a = TestApp::spawn(Backend::Postgres, shared.clone()).await;
    let b = a.second_server(shared).await;

    // One client's requests, spread over both servers, draw on one budget.
    let client = "203.0.113.10";
    let mut remaining = Vec::new();
    for i in 0..6 {
        let server = if i % 2 == 0 { &a } else { &b };
        let reply = get_from(server, client, "/api/v1/products").await;
        assert_eq!(reply.status, StatusCode::OK);
        remaining.push(reply.header("x-ratelimit-remaining").unwrap().to_string());
    }
    assert_eq!(remaining, ["5", "4", "3", "2", "1", "0"]);
    get_from(&a, client, "/api/v1/products").await.assert_error(StatusCode::TOO_MANY_REQUESTS, "RATE_LIMITED");
    get_from(&b, client, "/api/v1/products").await.assert_error(StatusCode::TOO_MANY_REQUESTS, "RATE_LIMITED");

    // Failures on either server add up to one account's delay, seen by both.
    a.register("john").await;
    login_from(&a, "198.51.100.1", "john", WRONG).await.assert_error(StatusCode::UNAUTHORIZED, "AUTHENTICATION_ERROR");
    login_from(&b, "198.51.100.2", "john", WRONG).await.assert_error(StatusCode::UNAUTHORIZED, "AUTHENTICATION_ERROR");
    for server in [&a, &b] {
        let refused = login_from(server, "198.51.100.3", "john", PASSWORD).await;
        refused.assert_error(StatusCode::TOO_MANY_REQUESTS, "RATE_LIMITED");
        assert!((55..=60).contains(&retry_after(&refused)));
    }
    b.stop().await;
    a.stop().await;
}

/// A TCP proxy in front of the test Redis that can be cut, to play a Redis
/// outage without touching the Redis other tests use.
struct RedisProxy {
    url: String,
    up: tokio::sync::watch::Sender<bool>,
}

impl RedisProxy {
    async fn start(redis_url: &str, up: bool) -> Self {
        let (scheme, rest) = redis_url.split_once("://").expect("a redis:// URL");
        let (authority, path) =
            rest.split_once('/').map(|(a, p)| (a, format!("/{p}"))).unwrap_or((rest, String::new()));
        let (credentials, upstream) = authority
            .rsplit_once('@')
            .map(|(c, h)| (format!("{c}@"), h.to_string()))
            .unwrap_or((String::new(), authority.to_string()));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("{scheme}://{credentials}{}{path}", listener.local_addr().unwrap());
        let (tx, rx) = tokio::sync::watch::channel(up);
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                if !*rx.borrow() {
                    continue; // dropped: the connection is refused
                }
                let mut rx = rx.clone();
                let upstream = upstream.clone();
                tokio::spawn(async move {
                    let Ok(mut server) = tokio::net::TcpStream::connect(&upstream).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                        _ = rx.wait_for(|up| !*up) => {} // cut: both ends are dropped
                    }
                });
            }
        });
        Self { url, up: tx }
    }

    fn set_up(&self, up: bool) {
        self.up.send_replace(up);
    }
}

/// Polls `attempt` until it answers `status` (the counters reconnect on
/// their own, so "back" is a matter of a few tries).
async fn until_status(status: StatusCode, mut attempt: impl AsyncFnMut() -> Reply) -> Reply {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let reply = attempt().await;
        if reply.status == status {
            return reply;
        }
        assert!(tokio::time::Instant::now() < deadline, "still {} after 15s: {}", reply.status, reply.body);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_outage_serves_the_shop_refuses_sign_in_and_recovers() {
    let mode = Mode { backend: Backend::Sqlite, counting: Counting::Redis };
    if !mode.available().await {
        return;
    }
    // Redis is down from the start: the server starts all the same.
    let proxy = RedisProxy::start(&crate::harness::redis_url().unwrap(), false).await;
    let prefix = crate::harness::unique_redis_prefix();
    let redis = RedisConfig { url: Secret::new(proxy.url.clone()), key_prefix: prefix.clone() };
    let app = TestApp::spawn(Backend::Sqlite, |c| {
        c.redis = Some(redis);
        c.api.rate_limit = Some(Quota::per(50, MINUTE));
        c.api.register_rate_limit = Some(Quota::per(10, MINUTE));
        c.sign_in = SignInPolicy::default();
    })
    .await;
    let register =
        json!({ "fullName": "John Tester", "username": "john", "email": "john@example.com", "password": PASSWORD });

    // The general budget fails open, counted by this server alone, headers and all.
    let browse = app.get("/api/v1/products", None).await;
    assert_eq!(browse.status, StatusCode::OK);
    assert_eq!(browse.header("x-ratelimit-limit"), Some("50"));
    assert_eq!(browse.header("x-ratelimit-remaining"), Some("49"));
    assert_eq!(app.get("/api/v1/products", None).await.header("x-ratelimit-remaining"), Some("48"));
    // Sign-in and registration fail closed.
    let refused =
        app.post("/api/v1/users/login", None, json!({ "email": "john@example.com", "password": PASSWORD })).await;
    refused.assert_error(StatusCode::SERVICE_UNAVAILABLE, "SERVICE_UNAVAILABLE");
    assert_eq!(refused.header("retry-after"), Some("5"));
    app.post("/api/v1/users/register", None, register.clone())
        .await
        .assert_error(StatusCode::SERVICE_UNAVAILABLE, "SERVICE_UNAVAILABLE");

    // Redis comes up: the server finds it by itself.
    proxy.set_up(true);
    until_status(StatusCode::CREATED, async || app.post("/api/v1/users/register", None, register.clone()).await).await;
    app.login("john").await;
    // The general budget is counted in Redis again, and the headers say what Redis holds.
    let shared = app.get("/api/v1/products", None).await;
    let direct = emporium_limits::RedisCounters::new(&crate::harness::redis_url().unwrap(), &prefix).unwrap();
    let held =
        emporium_limits::Counters::run(&direct, &[emporium_limits::Op::Get { key: "ip:127.0.0.1" }]).await.unwrap()[0]
            .value;
    assert!(held >= 3, "register, login and this request at least: {held}");
    assert_eq!(shared.header("x-ratelimit-remaining"), Some((50 - held).to_string().as_str()));

    // And goes away again, and comes back again.
    proxy.set_up(false);
    let login = json!({ "email": "john@example.com", "password": PASSWORD });
    until_status(StatusCode::SERVICE_UNAVAILABLE, async || app.post("/api/v1/users/login", None, login.clone()).await)
        .await;
    assert_eq!(app.get("/api/v1/products", None).await.status, StatusCode::OK);
    proxy.set_up(true);
    until_status(StatusCode::OK, async || app.post("/api/v1/users/login", None, login.clone()).await).await;
    app.stop().await;
}

/// The shared budget covers the dialects too, and its refusal (made before
/// any dialect route runs) comes in each dialect's own error shape, with the
/// same `Retry-After`.
async fn a_dialect_is_refused_in_its_own_shape(mode: Mode) {
    let app = mode.spawn(|c| c.api.rate_limit = Some(Quota::per(1, MINUTE))).await;
    assert_eq!(app.get("/compat/promarket/products", None).await.status, StatusCode::OK);
    let shapes = [
        ("/compat/promarket/products", json!({ "statusCode": 429, "error": "Too Many Requests" })),
        ("/compat/flask-orders/order", json!({})),
        ("/compat/geekmobile/api/products", json!({ "ok": false })),
        ("/compat/microservices/product/", json!({ "detail": "Request was throttled." })),
    ];
    for (path, expected) in shapes {
        let reply = app.get(path, None).await;
        assert_eq!(reply.status, StatusCode::TOO_MANY_REQUESTS, "{path}: {}", reply.body);
        assert!(reply.header("retry-after").is_some(), "{path}");
        assert!(reply.body.get("success").is_none(), "{path} answered in the native envelope: {}", reply.body);
        for (key, value) in expected.as_object().unwrap() {
            assert_eq!(&reply.body[key], value, "{path}: {}", reply.body);
        }
        let message = ["message", "msg", "detail"].iter().find_map(|k| reply.body[*k].as_str());
        assert!(message.is_some_and(|m| !m.is_empty()), "{path} says why: {}", reply.body);
    }
    // The native API keeps its envelope.
    app.get("/api/v1/products", None).await.assert_error(StatusCode::TOO_MANY_REQUESTS, "RATE_LIMITED");
}
