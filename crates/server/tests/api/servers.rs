//! Several stateless servers on one PostgreSQL database, as behind a load
//! balancer: shared accounts and sessions, no overselling between them, and
//! background sweeps that never cancel or restock an order twice.

use std::time::Duration;

use futures::future::join_all;
use reqwest::StatusCode;
use serde_json::json;

use crate::harness::{Backend, TestApp};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_share_sessions_and_never_oversell() {
    if !crate::harness::postgres_available() {
        return;
    }
    let fast_sweep = |c: &mut emporium_server::config::Config| {
        // Long enough that no order expires (and restocks) while the 30
        // buyers are still buying, even on a loaded CI machine.
        c.order_ttl = Duration::from_secs(2);
        c.sweep_interval = Duration::from_millis(50);
    };
    let a = TestApp::spawn(Backend::Postgres, fast_sweep).await;
    let b = a.second_server(fast_sweep).await;

    // Signed in on one, known on the other; signed out on one, out on both.
    a.register("john").await;
    let (token, _) = b.login("john").await;
    assert_eq!(a.get("/api/v1/users/current-user", Some(&token)).await.status, StatusCode::OK);
    b.post("/api/v1/users/logout", Some(&token), json!({})).await;
    a.get("/api/v1/users/current-user", Some(&token))
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "AUTHENTICATION_ERROR");

    let admin = a.admin_token("boss").await;
    let created = a.post("/api/v1/products", Some(&admin), json!({ "name": "Scarce", "price": 5, "stock": 10 })).await;
    let id = created.body["data"]["_id"].as_str().unwrap().to_string();
    let address = json!({ "firstName": "A", "lastName": "B", "address1": "1 St", "city": "C", "postcode": "1", "country": "US", "phone": "+1 555 123 4567" });
    let buyers = (0..30).map(|i| {
        let server = if i % 2 == 0 { &a } else { &b };
        let body = json!({ "items": [{ "productId": id, "quantity": 1 }], "email": format!("b{i}@example.com"), "shippingAddress": address });
        async move { server.post("/api/v1/orders", None, body).await.status }
    });
    let statuses = join_all(buyers).await;
    assert_eq!(statuses.iter().filter(|s| **s == StatusCode::CREATED).count(), 10, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == StatusCode::CONFLICT).count(), 20);

    // Both servers sweep the same unpaid orders: each is cancelled, and its
    // stock returned, exactly once.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let cancelled =
            a.get("/api/v1/orders?status=cancelled", Some(&admin)).await.body["meta"]["total"].as_u64().unwrap();
        if cancelled == 10 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "only {cancelled} of 10 orders were swept");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Wait out any sweep still in flight, then read past both caches.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let stock: i64 = sqlx_stock(&a, &id).await;
    assert_eq!(stock, 10, "every unit came back once");
    let log = a.get("/api/v1/admin/audit-log?action=order.status_changed&limit=100", Some(&admin)).await;
    assert_eq!(log.body["meta"]["total"], 10, "one cancellation per order");
    b.stop().await;
    a.stop().await;
}

/// Stock as the database holds it (each server's read cache aside).
async fn sqlx_stock(app: &TestApp, id: &str) -> i64 {
    let product = app.store.product(id.parse().unwrap()).await.unwrap().unwrap();
    product.draft.stock
}

/// Polls `server` until `seen` holds for its answer to `path`; returns how
/// long that took. The deadline is generous (a loaded CI machine): the
/// change feed's own latency is printed, not asserted.
async fn until_seen(
    server: &TestApp,
    path: &str,
    what: &str,
    seen: impl Fn(&crate::harness::Reply) -> bool,
) -> Duration {
    let started = tokio::time::Instant::now();
    loop {
        let reply = server.get(path, None).await;
        if seen(&reply) {
            let took = started.elapsed();
            eprintln!("{what}: seen by the other server after {took:?}");
            return took;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "{what}: never seen on the other server: {}", reply.body);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn catalog_changes_on_one_server_show_on_the_other() {
    if !crate::harness::postgres_available() {
        return;
    }
    let a = TestApp::spawn(Backend::Postgres, |_| {}).await;
    let b = a.second_server(|_| {}).await;
    let admin = a.admin_token("boss").await;
    // Both catalogs loaded (and caching) before anything changes.
    assert_eq!(b.get("/api/v1/products", None).await.body["meta"]["total"], 0);

    let created =
        a.post("/api/v1/products", Some(&admin), json!({ "name": "Harbour Lantern", "price": 30, "stock": 2 })).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let id = created.body["data"]["_id"].as_str().unwrap().to_string();
    let path = format!("/api/v1/products/{id}");
    // The server that wrote shows it in the same response cycle.
    assert_eq!(a.get(&path, None).await.status, StatusCode::OK);
    until_seen(&b, "/api/v1/products?search=lantern", "a new product in search", |r| r.body["meta"]["total"] == 1)
        .await;

    let edited = a.patch(&path, Some(&admin), json!({ "price": 45, "name": "Harbour Lamp" })).await;
    assert_eq!(edited.status, StatusCode::OK, "{}", edited.body);
    assert_eq!(a.get(&path, None).await.body["data"]["price"], 45.0);
    until_seen(&b, &path, "an edit", |r| r.body["data"]["price"] == 45.0).await;
    until_seen(&b, "/api/v1/products?search=lantern", "a renamed product leaving search", |r| {
        r.body["meta"]["total"] == 0
    })
    .await;

    // Sold out by an order placed on the other server.
    let address = json!({ "firstName": "A", "lastName": "B", "address1": "1 St", "city": "C", "postcode": "1", "country": "US", "phone": "+1 555 123 4567" });
    let order = b
        .post(
            "/api/v1/orders",
            None,
            json!({ "items": [{ "productId": id, "quantity": 2 }], "email": "buyer@example.com", "shippingAddress": address }),
        )
        .await;
    assert_eq!(order.status, StatusCode::CREATED, "{}", order.body);
    assert_eq!(b.get(&path, None).await.body["data"]["stock"], 0, "the selling server shows it sold out at once");
    until_seen(&a, &path, "a sell-out", |r| r.body["data"]["stock"] == 0).await;
    until_seen(&a, "/api/v1/products?inStock=true", "a sold-out product leaving in-stock listings", |r| {
        r.body["meta"]["total"] == 0
    })
    .await;

    assert_eq!(a.delete(&path, Some(&admin), None).await.status, StatusCode::OK);
    assert_eq!(a.get(&path, None).await.status, StatusCode::NOT_FOUND);
    until_seen(&b, &path, "a deletion", |r| r.status == StatusCode::NOT_FOUND).await;
    b.stop().await;
    a.stop().await;
}
