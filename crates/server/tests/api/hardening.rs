//! Regression tests for what a black-box probe of the API found (issue 13):
//! lost concurrent cart changes, carts longer than an order may be, guest
//! orders reachable by e-mail alone, and a public `/metrics`.

use futures::future::join_all;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::{Backend, Reply, TestApp};

crate::on_both_backends!(
    concurrent_relative_changes_all_count,
    a_change_past_stock_is_refused_and_changes_nothing,
    a_line_can_always_be_lowered,
    concurrent_adds_of_one_product_all_count,
    the_cart_refuses_its_101st_line,
    concurrent_adds_cannot_make_a_101st_line,
    a_guest_order_is_reached_only_with_its_token,
    a_replayed_guest_order_gives_the_same_token,
);

async fn product(app: &TestApp, admin: &str, name: &str, stock: i64) -> String {
    let reply = app.post("/api/v1/products", Some(admin), json!({ "name": name, "price": 3.5, "stock": stock })).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    reply.body["data"]["_id"].as_str().unwrap().to_string()
}

/// The quantity of `product`'s line in a cart answer, if it has one.
fn line_quantity(cart: &Value, product: &str) -> Option<i64> {
    cart["data"]["items"].as_array()?.iter().find(|l| l["productId"] == product).and_then(|l| l["quantity"].as_i64())
}

async fn cart_quantity(app: &TestApp, token: &str, product: &str) -> Option<i64> {
    line_quantity(&app.get("/api/v1/cart", Some(token)).await.body, product)
}

/// Twenty parallel `{change: 1}` on a line at 1 end at exactly 21, and each
/// answer shows the quantity its own change produced.
async fn concurrent_relative_changes_all_count(app: &TestApp) {
    let admin = app.admin_token("boss").await;
    let id = product(app, &admin, "Sock", 100).await;
    let user = app.user_token("john").await;
    let added = app.post("/api/v1/cart/items", Some(&user), json!({ "productId": id, "quantity": 1 })).await;
    assert_eq!(added.status, StatusCode::OK, "{}", added.body);
    let path = format!("/api/v1/cart/items/{id}");
    let replies = join_all((0..20).map(|_| app.patch(&path, Some(&user), json!({ "change": 1 })))).await;
    let mut produced: Vec<i64> = replies
        .iter()
        .map(|r| {
            assert_eq!(r.status, StatusCode::OK, "{}", r.body);
            line_quantity(&r.body, &id).expect("the line is in the answer")
        })
        .collect();
    produced.sort();
    assert_eq!(produced, (2..=21).collect::<Vec<_>>(), "each change answers with the quantity it made");
    assert_eq!(cart_quantity(app, &user, &id).await, Some(21));

    // Decrements count the same way; taking the line to 0 or below removes it.
    let replies = join_all((0..10).map(|_| app.patch(&path, Some(&user), json!({ "change": -2 })))).await;
    assert!(replies.iter().all(|r| r.status == StatusCode::OK));
    assert_eq!(cart_quantity(app, &user, &id).await, Some(1));
    let removed = app.patch(&path, Some(&user), json!({ "change": -5 })).await;
    assert_eq!((removed.status, removed.body["data"]["items"].clone()), (StatusCode::OK, json!([])));
    app.patch(&path, Some(&user), json!({ "change": 1 })).await.assert_error(StatusCode::NOT_FOUND, "NOT_FOUND");
}

/// Asking for less is never refused: not when the stock fell below the line,
/// nor when the product was made unavailable or deleted; down to removal.
async fn a_line_can_always_be_lowered(app: &TestApp) {
    let admin = app.admin_token("boss").await;
    let user = app.user_token("john").await;
    let (shrunk, hidden, gone) = (
        product(app, &admin, "Vase", 5).await,
        product(app, &admin, "Rug", 5).await,
        product(app, &admin, "Bowl", 5).await,
    );
    for id in [&shrunk, &hidden, &gone] {
        let added = app.post("/api/v1/cart/items", Some(&user), json!({ "productId": id, "quantity": 5 })).await;
        assert_eq!(added.status, StatusCode::OK, "{}", added.body);
    }
    let changed = app.patch(&format!("/api/v1/products/{shrunk}"), Some(&admin), json!({ "stock": 3 })).await;
    assert_eq!(changed.status, StatusCode::OK, "{}", changed.body);
    let changed = app.patch(&format!("/api/v1/products/{hidden}"), Some(&admin), json!({ "available": false })).await;
    assert_eq!(changed.status, StatusCode::OK, "{}", changed.body);
    let deleted = app.delete(&format!("/api/v1/products/{gone}"), Some(&admin), None).await;
    assert!(deleted.status.is_success(), "{}", deleted.body);
    for id in [&shrunk, &hidden, &gone] {
        let lowered = app.patch(&format!("/api/v1/cart/items/{id}"), Some(&user), json!({ "change": -1 })).await;
        assert_eq!(lowered.status, StatusCode::OK, "{}", lowered.body);
        assert_eq!(line_quantity(&lowered.body, id), Some(4));
        let removed = app.patch(&format!("/api/v1/cart/items/{id}"), Some(&user), json!({ "change": -4 })).await;
        assert_eq!(removed.status, StatusCode::OK, "{}", removed.body);
        assert_eq!(line_quantity(&removed.body, id), None);
    }
    // Growing stays checked.
    app.post("/api/v1/cart/items", Some(&user), json!({ "productId": shrunk, "quantity": 3 })).await;
    app.patch(&format!("/api/v1/cart/items/{shrunk}"), Some(&user), json!({ "change": 1 }))
        .await
        .assert_error(StatusCode::CONFLICT, "INSUFFICIENT_STOCK");
}

/// A change past the stock is refused with nothing changed, however many
/// race: the line never holds more than the stock.
async fn a_change_past_stock_is_refused_and_changes_nothing(app: &TestApp) {
    let admin = app.admin_token("boss").await;
    let id = product(app, &admin, "Lamp", 10).await;
    let user = app.user_token("john").await;
    app.post("/api/v1/cart/items", Some(&user), json!({ "productId": id, "quantity": 1 })).await;
    let path = format!("/api/v1/cart/items/{id}");
    let replies = join_all((0..20).map(|_| app.patch(&path, Some(&user), json!({ "change": 1 })))).await;
    let accepted = replies.iter().filter(|r| r.status == StatusCode::OK).count();
    for refused in replies.iter().filter(|r| r.status != StatusCode::OK) {
        refused.assert_error(StatusCode::CONFLICT, "INSUFFICIENT_STOCK");
    }
    assert_eq!(accepted, 9, "from 1 to the stock of 10");
    assert_eq!(cart_quantity(app, &user, &id).await, Some(10));

    let over = app.patch(&path, Some(&user), json!({ "change": 3 })).await;
    over.assert_error(StatusCode::CONFLICT, "INSUFFICIENT_STOCK");
    assert_eq!(
        (
            over.body["error"]["details"][0]["requested"].as_i64(),
            over.body["error"]["details"][0]["available"].as_i64()
        ),
        (Some(13), Some(10))
    );
    app.post("/api/v1/cart/items", Some(&user), json!({ "productId": id, "quantity": 1 }))
        .await
        .assert_error(StatusCode::CONFLICT, "INSUFFICIENT_STOCK");
    app.patch(&path, Some(&user), json!({ "quantity": 11 }))
        .await
        .assert_error(StatusCode::CONFLICT, "INSUFFICIENT_STOCK");
    assert_eq!(cart_quantity(app, &user, &id).await, Some(10), "refusals change nothing");

    // A product no longer for sale takes no increase (409: the product's
    // state is at fault, not the request), but may be lowered and removed.
    app.patch(&format!("/api/v1/products/{id}"), Some(&admin), json!({ "available": false })).await;
    app.patch(&path, Some(&user), json!({ "change": 1 })).await.assert_error(StatusCode::CONFLICT, "CONFLICT");
    assert_eq!(cart_quantity(app, &user, &id).await, Some(10));
    assert_eq!(app.patch(&path, Some(&user), json!({ "change": -1 })).await.status, StatusCode::OK);
    assert_eq!(cart_quantity(app, &user, &id).await, Some(9));
    assert_eq!(app.patch(&path, Some(&user), json!({ "change": -9 })).await.body["data"]["items"], json!([]));
}

/// `POST /cart/items` adds to what the line holds, and concurrent adds of
/// the same product all count, for a user's cart and a guest's.
async fn concurrent_adds_of_one_product_all_count(app: &TestApp) {
    let admin = app.admin_token("boss").await;
    let id = product(app, &admin, "Pencil", 1000).await;
    let user = app.user_token("john").await;
    let body = json!({ "productId": id, "quantity": 2 });
    let replies = join_all((0..20).map(|_| app.post("/api/v1/cart/items", Some(&user), body.clone()))).await;
    let mut produced: Vec<i64> = replies
        .iter()
        .map(|r| {
            assert_eq!(r.status, StatusCode::OK, "{}", r.body);
            line_quantity(&r.body, &id).unwrap()
        })
        .collect();
    produced.sort();
    assert_eq!(produced, (1..=20).map(|i| 2 * i).collect::<Vec<_>>());
    assert_eq!(cart_quantity(app, &user, &id).await, Some(40));

    let first = app.post("/api/v1/cart/items", None, body.clone()).await;
    let key = first.body["data"]["cartKey"].as_str().unwrap().to_string();
    let guest_add = || {
        let request = app.client.post(app.url("/api/v1/cart/items")).header("x-cart-key", &key).json(&body);
        async move { Reply::read(request.send().await.unwrap()).await }
    };
    let replies = join_all((0..10).map(|_| guest_add())).await;
    assert!(replies.iter().all(|r| r.status == StatusCode::OK));
    let cart = app.client.get(app.url("/api/v1/cart")).header("x-cart-key", &key).send().await.unwrap();
    let cart = Reply::read(cart).await;
    assert_eq!(line_quantity(&cart.body, &id), Some(22));
}

async fn products(app: &TestApp, admin: &str, n: usize) -> Vec<String> {
    let mut ids = Vec::with_capacity(n);
    for i in 0..n {
        ids.push(product(app, admin, &format!("Item {i}"), 10).await);
    }
    ids
}

async fn fill_cart(app: &TestApp, token: &str, ids: &[String]) {
    for id in ids {
        let reply = app.post("/api/v1/cart/items", Some(token), json!({ "productId": id, "quantity": 1 })).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    }
}

/// A cart holds at most as many lines as an order may have (100): the 101st
/// is refused at the cart with a 400 naming the limit, changing nothing,
/// while the lines it holds can still change.
async fn the_cart_refuses_its_101st_line(app: &TestApp) {
    let admin = app.admin_token("boss").await;
    let ids = products(app, &admin, 102).await;
    let user = app.user_token("john").await;
    fill_cart(app, &user, &ids[..100]).await;
    let refused = app.post("/api/v1/cart/items", Some(&user), json!({ "productId": ids[100], "quantity": 1 })).await;
    refused.assert_error(StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    assert_eq!(refused.error_fields(), ["productId"]);
    let message = refused.body["error"]["details"][0]["message"].as_str().unwrap();
    assert!(message.contains("100"), "{message}");
    let cart = app.get("/api/v1/cart", Some(&user)).await;
    assert_eq!(cart.body["data"]["items"].as_array().unwrap().len(), 100);
    assert_eq!(line_quantity(&cart.body, &ids[100]), None);

    let more = app.post("/api/v1/cart/items", Some(&user), json!({ "productId": ids[0], "quantity": 2 })).await;
    assert_eq!(line_quantity(&more.body, &ids[0]), Some(3), "a full cart's lines still grow");
    app.delete(&format!("/api/v1/cart/items/{}", ids[1]), Some(&user), None).await;
    let room = app.post("/api/v1/cart/items", Some(&user), json!({ "productId": ids[100], "quantity": 1 })).await;
    assert_eq!(room.status, StatusCode::OK, "{}", room.body);

    // A full cart takes none of a guest cart's new lines at sign-in, but
    // still merges the ones it holds.
    let guest = app.post("/api/v1/cart/items", None, json!({ "productId": ids[101], "quantity": 1 })).await;
    let key = guest.body["data"]["cartKey"].as_str().unwrap().to_string();
    let add = app.client.post(app.url("/api/v1/cart/items")).header("x-cart-key", &key);
    add.json(&json!({ "productId": ids[0], "quantity": 1 })).send().await.unwrap();
    let login = app
        .client
        .post(app.url("/api/v1/users/login"))
        .header("x-cart-key", &key)
        .json(&json!({ "email": "john@example.com", "password": crate::harness::PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), StatusCode::OK);
    let cart = app.get("/api/v1/cart", Some(&user)).await;
    assert_eq!(cart.body["data"]["items"].as_array().unwrap().len(), 100);
    assert_eq!((line_quantity(&cart.body, &ids[0]), line_quantity(&cart.body, &ids[101])), (Some(4), None));
}

/// Concurrent adds of different products to a cart one line short of full
/// make exactly one more line.
async fn concurrent_adds_cannot_make_a_101st_line(app: &TestApp) {
    let admin = app.admin_token("boss").await;
    let ids = products(app, &admin, 105).await;
    let user = app.user_token("john").await;
    fill_cart(app, &user, &ids[..99]).await;
    let replies = join_all(
        ids[99..]
            .iter()
            .map(|id| app.post("/api/v1/cart/items", Some(&user), json!({ "productId": id, "quantity": 1 }))),
    )
    .await;
    assert_eq!(replies.iter().filter(|r| r.status == StatusCode::OK).count(), 1);
    for refused in replies.iter().filter(|r| r.status != StatusCode::OK) {
        refused.assert_error(StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    }
    let cart = app.get("/api/v1/cart", Some(&user)).await;
    assert_eq!(cart.body["data"]["items"].as_array().unwrap().len(), 100);
}

fn address() -> Value {
    json!({ "firstName": "Ada", "lastName": "Lovelace", "address1": "12 Analytical St", "city": "London", "postcode": "N1 9GU", "country": "GB", "phone": "+44 20 7946 0000" })
}

fn guest_order_body(product: &str, email: &str) -> Value {
    json!({ "items": [{ "productId": product, "quantity": 1 }], "email": email, "shippingAddress": address() })
}

/// A GET as a guest, with the token (if any) in `X-Order-Token`.
async fn get_with_header(app: &TestApp, path: &str, token: &str) -> Reply {
    Reply::read(app.client.get(app.url(path)).header("x-order-token", token).send().await.unwrap()).await
}

/// The e-mail a guest order was placed with proves nothing: reads and
/// cancels need the order's token, returned once when it was placed, and
/// anything less gets the same 404 as an order that does not exist.
async fn a_guest_order_is_reached_only_with_its_token(app: &TestApp) {
    let admin = app.admin_token("boss").await;
    let id = product(app, &admin, "Kettle", 10).await;
    let placed = app.post("/api/v1/orders", None, guest_order_body(&id, "victim@example.com")).await;
    assert_eq!(placed.status, StatusCode::CREATED, "{}", placed.body);
    let order = placed.body["data"]["_id"].as_str().unwrap().to_string();
    let token = placed.body["data"]["orderToken"].as_str().unwrap().to_string();
    assert!(token.len() >= 43 && token.bytes().all(|b| b.is_ascii_alphanumeric()), "{token}");
    let other = app.post("/api/v1/orders", None, guest_order_body(&id, "victim@example.com")).await;
    let other_token = other.body["data"]["orderToken"].as_str().unwrap().to_string();
    assert_ne!(token, other_token);

    // The token is kept only as its hash.
    let stored = app.store.order(order.parse().unwrap()).await.unwrap().unwrap();
    assert_eq!(stored.access_token_hash, Some(emporium_service::tokens::hash_token(&token)));

    let path = format!("/api/v1/orders/{order}");
    let missing = app.get("/api/v1/orders/999999?email=victim@example.com", None).await;
    missing.assert_error(StatusCode::NOT_FOUND, "NOT_FOUND");
    for attempt in [
        app.get(&format!("{path}?email=victim@example.com"), None).await,
        app.get(&path, None).await,
        app.get(&format!("{path}?token=wrong"), None).await,
        app.get(&format!("{path}?token={other_token}"), None).await,
        get_with_header(app, &path, &other_token).await,
        app.get(&format!("{path}?token={}", &token[..token.len() - 1]), None).await,
    ] {
        assert_eq!((attempt.status, &attempt.body), (missing.status, &missing.body), "indistinguishable from absent");
    }
    let read = app.get(&format!("{path}?token={token}"), None).await;
    assert_eq!((read.status, read.body["data"]["_id"].as_str()), (StatusCode::OK, Some(order.as_str())));
    assert!(read.body["data"].get("orderToken").is_none(), "the token is shown only when placed");
    assert_eq!(get_with_header(app, &path, &token).await.status, StatusCode::OK);
    // The token proves one guest order, not a signed-in user's.
    let user = app.user_token("john").await;
    let johns = app
        .post(
            "/api/v1/orders",
            Some(&user),
            json!({ "items": [{ "productId": id, "quantity": 1 }], "shippingAddress": address() }),
        )
        .await;
    assert!(johns.body["data"].get("orderToken").is_none(), "{}", johns.body);
    let johns = johns.body["data"]["_id"].as_str().unwrap().to_string();
    app.get(&format!("/api/v1/orders/{johns}?token={token}"), None)
        .await
        .assert_error(StatusCode::NOT_FOUND, "NOT_FOUND");

    let cancel = format!("{path}/cancel");
    for attempt in [
        app.post(&cancel, None, json!({ "email": "victim@example.com" })).await,
        app.post(&cancel, None, json!({})).await,
        app.post(&cancel, None, json!({ "token": other_token })).await,
        app.post(&format!("{cancel}?token=wrong"), None, json!({})).await,
    ] {
        attempt.assert_error(StatusCode::NOT_FOUND, "NOT_FOUND");
    }
    let still = app.get(&format!("{path}?token={token}"), None).await;
    assert_eq!(still.body["data"]["status"], "pending", "nothing was cancelled");
    let cancelled = app.post(&cancel, None, json!({ "token": token })).await;
    assert_eq!((cancelled.status, cancelled.body["data"]["status"].as_str()), (StatusCode::OK, Some("cancelled")));
    // The header and the query parameter serve for cancelling too.
    let second = other.body["data"]["_id"].as_str().unwrap();
    let by_header = app
        .client
        .post(app.url(&format!("/api/v1/orders/{second}/cancel")))
        .header("x-order-token", &other_token)
        .send()
        .await
        .unwrap();
    assert_eq!(by_header.status(), StatusCode::OK);
    let third = app.post("/api/v1/orders", None, guest_order_body(&id, "victim@example.com")).await;
    let (third, third_token) =
        (third.body["data"]["_id"].as_str().unwrap(), third.body["data"]["orderToken"].as_str().unwrap());
    let by_query = app.post(&format!("/api/v1/orders/{third}/cancel?token={third_token}"), None, json!({})).await;
    assert_eq!(by_query.status, StatusCode::OK, "{}", by_query.body);
}

/// A guest's retry (same `Idempotency-Key` and body) gives the buyer the
/// same token as the first answer, so a double-click leaves nothing dead: the
/// first token keeps working, and concurrent duplicates all carry it too.
async fn a_replayed_guest_order_gives_the_same_token(app: &TestApp) {
    let admin = app.admin_token("boss").await;
    let id = product(app, &admin, "Teapot", 10).await;
    let body = guest_order_body(&id, "guest@example.com");
    let send = |key: &'static str| {
        let request = app.client.post(app.url("/api/v1/orders")).header("idempotency-key", key).json(&body);
        async move { Reply::read(request.send().await.unwrap()).await }
    };
    let first = send("order-7f3a").await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.body);
    let retry = send("order-7f3a").await;
    assert_eq!((retry.status, retry.header("idempotent-replayed")), (StatusCode::CREATED, Some("true")));
    assert_eq!(retry.body["data"]["_id"], first.body["data"]["_id"]);
    let token = first.body["data"]["orderToken"].as_str().unwrap();
    assert_eq!(retry.body["data"]["orderToken"].as_str(), Some(token));
    let path = format!("/api/v1/orders/{}", first.body["data"]["_id"].as_str().unwrap());
    assert_eq!(app.get(&format!("{path}?token={token}"), None).await.status, StatusCode::OK, "the first token works");
    assert_eq!(
        app.get(&format!("/api/v1/products/{id}"), None).await.body["data"]["stock"],
        9,
        "the retry placed nothing"
    );

    // Concurrent duplicates of another keyed request: one order, one token.
    let replies = join_all((0..5).map(|_| send("order-9c1e"))).await;
    let tokens: Vec<&str> = replies
        .iter()
        .map(|r| {
            assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
            r.body["data"]["orderToken"].as_str().expect("each answer carries the token")
        })
        .collect();
    assert!(tokens.iter().all(|t| *t == tokens[0]), "{tokens:?}");
    assert_ne!(tokens[0], token, "another key, another token");
    let path = format!("/api/v1/orders/{}", replies[0].body["data"]["_id"].as_str().unwrap());
    assert_eq!(app.get(&format!("{path}?token={}", tokens[0]), None).await.status, StatusCode::OK);
    assert_eq!(app.get(&format!("/api/v1/products/{id}"), None).await.body["data"]["stock"], 8);
}

const METRICS_TOKEN: &str = "scrape-me-0123456789abcdef";

async fn scrape(app: &TestApp, base: &str, token: Option<&str>) -> reqwest::Response {
    let mut request = app.client.get(format!("{base}/metrics"));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.unwrap()
}

/// Without a token or a separate address, `/metrics` is not on the public
/// port at all: 404, as for any unknown route.
async fn metrics_are_not_public_by_default(backend: Backend) {
    let app = TestApp::spawn(backend, |_| {}).await;
    let reply = Reply::read(scrape(&app, &app.base, None).await).await;
    reply.assert_error(StatusCode::NOT_FOUND, "NOT_FOUND");
    let reply = Reply::read(scrape(&app, &app.base, Some(METRICS_TOKEN)).await).await;
    reply.assert_error(StatusCode::NOT_FOUND, "NOT_FOUND");
    assert!(app.metrics_base.is_none());
    app.stop().await;
}

/// With `EMPORIUM_METRICS_TOKEN`, the public port serves the Prometheus text
/// to that bearer token only; a missing or wrong one gets 401 in the envelope.
async fn metrics_on_the_public_port_need_the_token(backend: Backend) {
    let app =
        TestApp::spawn(backend, |c| c.api.metrics_token = Some(emporium_service::Secret::new(METRICS_TOKEN))).await;
    app.get("/api/v1/users/current-user", None).await;
    for token in [None, Some("wrong-token-0123456789abcdef"), Some(&METRICS_TOKEN[..METRICS_TOKEN.len() - 1])] {
        let reply = Reply::read(scrape(&app, &app.base, token).await).await;
        reply.assert_error(StatusCode::UNAUTHORIZED, "AUTHENTICATION_ERROR");
    }
    let cookie = app.client.get(app.url("/metrics")).header("cookie", format!("accessToken={METRICS_TOKEN}"));
    assert_eq!(cookie.send().await.unwrap().status(), StatusCode::UNAUTHORIZED, "only the bearer header serves");
    let response = scrape(&app, &app.base, Some(METRICS_TOKEN)).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/plain"));
    let metrics = response.text().await.unwrap();
    assert!(metrics.contains("http_requests_total{"), "{metrics}");
    assert!(
        metrics.contains(r#"route="/api/v1/users/current-user""#) && metrics.contains(r#"status="401""#),
        "{metrics}"
    );
    assert!(metrics.contains("http_request_duration_seconds_bucket{"), "{metrics}");
    app.stop().await;
}

/// With `EMPORIUM_METRICS_BIND`, a separate address serves `/metrics`
/// without a token (and nothing else), while the public port still does not.
async fn metrics_on_a_separate_address_need_no_token(backend: Backend) {
    let app = TestApp::spawn(backend, |c| c.metrics_bind = Some(([127, 0, 0, 1], 0).into())).await;
    let metrics_base = app.metrics_base.clone().expect("a separate metrics address");
    app.get("/health", None).await;
    let response = scrape(&app, &metrics_base, None).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.text().await.unwrap().contains("http_requests_total{"));
    let elsewhere = app.client.get(format!("{metrics_base}/api/v1/products")).send().await.unwrap();
    Reply::read(elsewhere).await.assert_error(StatusCode::NOT_FOUND, "NOT_FOUND");
    Reply::read(scrape(&app, &app.base, None).await).await.assert_error(StatusCode::NOT_FOUND, "NOT_FOUND");
    app.stop().await;
}

/// The metrics cases configure their own server, so each backend is spelled out.
macro_rules! on_both_backends_configured {
    ($($case:ident),* $(,)?) => {
        mod configured {
            $(
                pub mod $case {
                    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                    async fn sqlite() {
                        super::super::$case(crate::harness::Backend::Sqlite).await;
                    }
                    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                    async fn postgres() {
                        if crate::harness::postgres_available() {
                            super::super::$case(crate::harness::Backend::Postgres).await;
                        }
                    }
                }
            )*
        }
    };
}

on_both_backends_configured!(
    metrics_are_not_public_by_default,
    metrics_on_the_public_port_need_the_token,
    metrics_on_a_separate_address_need_no_token,
);
