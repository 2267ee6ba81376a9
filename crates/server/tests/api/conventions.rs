//! What every route shares: envelopes for every failure, rate limits,
//! request ids, service endpoints and the OpenAPI document.

use std::time::Duration;

use emporium_api::rate_limit::Quota;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::{Backend, TestApp};

crate::on_both_backends!(malformed_requests_get_the_error_envelope, ready_reports_the_database);

async fn malformed_requests_get_the_error_envelope(app: &TestApp) {
    let register = app.url("/api/v1/users/register");
    let send = |request: reqwest::RequestBuilder| async move {
        crate::harness::Reply::read(request.send().await.unwrap()).await
    };

    let reply =
        send(app.client.post(&register).header("content-type", "application/json").body("{\"fullName\": ")).await;
    reply.assert_error(StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    assert!(reply.body["error"]["message"].as_str().unwrap().starts_with("Malformed JSON"));

    send(app.client.post(&register).header("content-type", "text/plain").body("{}"))
        .await
        .assert_error(StatusCode::UNSUPPORTED_MEDIA_TYPE, "UNSUPPORTED_MEDIA_TYPE");
    send(app.client.post(&register).body("{}"))
        .await
        .assert_error(StatusCode::UNSUPPORTED_MEDIA_TYPE, "UNSUPPORTED_MEDIA_TYPE");
    send(app.client.post(&register).json(&json!([1, 2])))
        .await
        .assert_error(StatusCode::BAD_REQUEST, "VALIDATION_ERROR");

    let huge = json!({ "fullName": "x".repeat(2 * 1024 * 1024) });
    send(app.client.post(&register).json(&huge)).await.assert_error(StatusCode::PAYLOAD_TOO_LARGE, "PAYLOAD_TOO_LARGE");

    app.get("/api/v1/no-such-thing", None).await.assert_error(StatusCode::NOT_FOUND, "NOT_FOUND");
    app.get("/nowhere", None).await.assert_error(StatusCode::NOT_FOUND, "NOT_FOUND");
    app.call(reqwest::Method::DELETE, "/api/v1/users/register", None, None)
        .await
        .assert_error(StatusCode::METHOD_NOT_ALLOWED, "METHOD_NOT_ALLOWED");
    app.get("/api/v1/users/login", None).await.assert_error(StatusCode::METHOD_NOT_ALLOWED, "METHOD_NOT_ALLOWED");

    // None of it created anything.
    let admin = app.admin_token("boss").await;
    assert_eq!(app.get("/api/v1/admin/users", Some(&admin)).await.body["meta"]["total"], 1);
}

async fn ready_reports_the_database(app: &TestApp) {
    // Not ready until the catalog is in memory: loading runs beside serving.
    let mut ready = app.get("/ready", None).await;
    for _ in 0..500 {
        if ready.status != StatusCode::SERVICE_UNAVAILABLE {
            break;
        }
        assert_eq!(ready.body["status"], "loading catalog", "{}", ready.body);
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        ready = app.get("/ready", None).await;
    }
    assert_eq!(ready.status, StatusCode::OK, "{}", ready.body);
    let expected = match app.backend {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
    };
    assert_eq!(ready.body["database"], expected);
}

async fn sqlite_app(configure: impl FnOnce(&mut emporium_server::config::Config)) -> TestApp {
    TestApp::spawn(Backend::Sqlite, configure).await
}

#[tokio::test]
async fn forwarded_for_is_believed_only_from_trusted_proxies() {
    let quota = Some(Quota::per(1, Duration::from_secs(60)));
    let untrusted = sqlite_app(|c| c.api.rate_limit = quota).await;
    let send = |app: &TestApp, ip: &str| {
        let request = app.client.get(app.url("/api/v1/users/current-user")).header("x-forwarded-for", ip);
        async move { request.send().await.unwrap().status() }
    };
    assert_eq!(send(&untrusted, "10.0.0.1").await, StatusCode::UNAUTHORIZED);
    assert_eq!(
        send(&untrusted, "10.0.0.2").await,
        StatusCode::TOO_MANY_REQUESTS,
        "a forged header does not buy a new budget"
    );
    untrusted.stop().await;

    let behind_proxy = sqlite_app(|c| {
        c.api.rate_limit = quota;
        c.api.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    })
    .await;
    assert_eq!(send(&behind_proxy, "10.0.0.1").await, StatusCode::UNAUTHORIZED);
    assert_eq!(
        send(&behind_proxy, "10.0.0.2").await,
        StatusCode::UNAUTHORIZED,
        "each client behind the proxy has its own budget"
    );
    assert_eq!(send(&behind_proxy, "10.0.0.1").await, StatusCode::TOO_MANY_REQUESTS);
    behind_proxy.stop().await;
}

#[tokio::test]
async fn request_id_is_kept_or_made() {
    let app = sqlite_app(|_| {}).await;
    let made = app.get("/health", None).await;
    assert_eq!(made.header("x-request-id").unwrap().len(), 36);
    let response = app.client.get(app.url("/api/v1/nowhere")).header("x-request-id", "abc-123").send().await.unwrap();
    assert_eq!(response.headers()["x-request-id"], "abc-123");
    app.stop().await;
}

#[tokio::test]
async fn service_endpoints_answer() {
    let app = sqlite_app(|_| {}).await;
    let health = app.get("/health", None).await;
    assert_eq!((health.status, health.body.clone()), (StatusCode::OK, json!({ "status": "ok" })));

    let docs = app.client.get(app.url("/docs/")).send().await.unwrap();
    assert_eq!(docs.status(), StatusCode::OK);
    let page = docs.text().await.unwrap();
    assert!(page.contains("swagger") && !page.contains("https://"), "the docs page loads nothing from the internet");
    app.stop().await;
}

#[tokio::test]
async fn cors_allows_configured_origins_only() {
    let app = sqlite_app(|c| c.api.cors_origins = vec!["https://shop.example".into()]).await;
    let preflight = |origin: &str| {
        app.client
            .request(reqwest::Method::OPTIONS, app.url("/api/v1/users/login"))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "content-type")
            .send()
    };
    let allowed = preflight("https://shop.example").await.unwrap();
    assert_eq!(allowed.headers()["access-control-allow-origin"], "https://shop.example");
    assert_eq!(allowed.headers()["access-control-allow-credentials"], "true");
    let refused = preflight("https://evil.example").await.unwrap();
    assert!(refused.headers().get("access-control-allow-origin").is_none());
    // Every answer says what it varies by, once, so a cache keeps one
    // origin's answer from another: preflights, routes and unknown paths.
    let routed = app.client.get(app.url("/health")).header("origin", "https://shop.example").send().await.unwrap();
    let unknown = app.client.get(app.url("/api/v1/nowhere")).send().await.unwrap();
    for response in [&allowed, &refused, &routed, &unknown] {
        let vary: Vec<_> = response.headers().get_all("vary").iter().collect();
        assert_eq!(vary, ["origin, access-control-request-method, access-control-request-headers"]);
    }
    assert_eq!(routed.headers()["access-control-allow-origin"], "https://shop.example");
    assert_eq!(
        routed.headers()["access-control-expose-headers"].to_str().unwrap().split(',').next(),
        Some("x-request-id")
    );
    // A request without an `Origin` is not a CORS request: no CORS headers.
    assert!(unknown.headers().get("access-control-allow-credentials").is_none());
    app.stop().await;
}

/// The OpenAPI document is generated from the code; this snapshot makes
/// every API change a reviewed diff. `UPDATE_SNAPSHOTS=1` rewrites it.
#[tokio::test]
async fn openapi_document_matches_snapshot() {
    let app = sqlite_app(|_| {}).await;
    let doc: Value = app.client.get(app.url("/openapi.json")).send().await.unwrap().json().await.unwrap();
    app.stop().await;
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    for path in [
        "/api/v1/users/register",
        "/api/v1/users/login",
        "/api/v1/users/current-user",
        "/api/v1/admin/users/{id}",
        "/api/v1/admin/audit-log",
    ] {
        assert!(doc["paths"].get(path).is_some(), "{path} is documented");
    }
    let rendered = serde_json::to_string_pretty(&doc).unwrap() + "\n";
    let snapshot = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/snapshots/openapi.json");
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        std::fs::create_dir_all(snapshot.parent().unwrap()).unwrap();
        std::fs::write(&snapshot, &rendered).unwrap();
    }
    let expected = std::fs::read_to_string(&snapshot)
        .expect("tests/snapshots/openapi.json exists (create it with UPDATE_SNAPSHOTS=1)");
    assert!(expected == rendered, "openapi.json changed; review and rerun with UPDATE_SNAPSHOTS=1 to accept");
}

#[tokio::test]
async fn body_limit_is_configurable() {
    let app = sqlite_app(|c| c.api.body_limit = 64).await;
    let reply = app.post("/api/v1/users/register", None, json!({ "fullName": "x".repeat(100) })).await;
    reply.assert_error(StatusCode::PAYLOAD_TOO_LARGE, "PAYLOAD_TOO_LARGE");
    app.stop().await;
}
