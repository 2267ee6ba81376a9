//! Payments through the test provider (Emporium's own payment page) and
//! manual payment: an order is paid exactly once, only when the provider's
//! own state says so, whoever brings the news.

use std::time::Duration;

use emporium_domain::ids::PaymentId;
use emporium_domain::money::Money;
use emporium_domain::time::Timestamp;
use emporium_server::config::Config;
use emporium_store::{Actor, ApplyPayment, Observed};
use futures::future::join_all;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::{Backend, Reply, TestApp};

/// Runs each case on SQLite and PostgreSQL with `configure` applied.
macro_rules! payment_cases {
    ($configure:ident: $($case:ident),* $(,)?) => {
        mod $configure {
            mod sqlite {
                $(
                    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                    async fn $case() {
                        let app = $crate::harness::TestApp::spawn($crate::harness::Backend::Sqlite, super::super::$configure).await;
                        super::super::$case(&app).await;
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
                        let app = $crate::harness::TestApp::spawn($crate::harness::Backend::Postgres, super::super::$configure).await;
                        super::super::$case(&app).await;
                        app.stop().await;
                    }
                )*
            }
        }
    };
}

payment_cases!(test_payments:
    test_page_pays_the_order_in_a_real_round_trip,
    checkout_again_returns_the_live_attempt_and_another_provider_replaces_it,
    checkout_is_for_the_orders_buyer_and_payable_orders_only,
    unconfigured_or_unknown_provider_is_400_naming_it,
    concurrent_pay_clicks_pay_the_order_once,
    cancel_on_the_test_page_leaves_the_order_unpaid,
    cancelling_the_order_closes_its_session,
    payment_found_after_cancellation_retakes_stock_and_pays,
    refunds_never_exceed_the_capture,
    amount_mismatch_leaves_the_order_unpaid_for_review,
);

payment_cases!(expiring_orders:
    expired_session_returns_the_stock,
    manual_order_is_processed_shipped_then_marked_paid_and_never_swept,
);

payment_cases!(reconciling:
    reconciliation_applies_a_payment_nobody_reported,
    payment_for_a_cancelled_order_whose_stock_is_gone_is_refunded,
);

payment_cases!(yen:
    zero_decimal_currency_is_paid_end_to_end,
);

fn test_payments(c: &mut Config) {
    c.payments.test_payments = true;
}

fn expiring_orders(c: &mut Config) {
    test_payments(c);
    c.order_ttl = Duration::from_secs(2);
    c.sweep_interval = Duration::from_millis(100);
}

fn reconciling(c: &mut Config) {
    test_payments(c);
    c.payments.reconcile_after = Duration::ZERO;
    c.payments.reconcile_interval = Duration::from_millis(100);
}

fn yen(c: &mut Config) {
    test_payments(c);
    c.currency = "JPY".into();
}

pub fn address() -> Value {
    json!({ "firstName": "Ada", "lastName": "Lovelace", "address1": "12 Analytical St", "city": "London", "postcode": "N1 9GU", "country": "GB", "phone": "+44 20 7946 0000" })
}

pub async fn product(app: &TestApp, admin: &str, price: f64, stock: i64) -> String {
    let reply = app
        .post("/api/v1/products", Some(admin), json!({ "name": "Widget <b>", "price": price, "stock": stock }))
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    reply.body["data"]["_id"].as_str().unwrap().to_string()
}

/// Stock as the database holds it (past the catalog cache).
pub async fn stock(app: &TestApp, id: &str) -> i64 {
    app.store.product(id.parse().unwrap()).await.unwrap().unwrap().draft.stock
}

pub async fn order(app: &TestApp, token: &str, product: &str, quantity: i64) -> String {
    let body = json!({ "items": [{ "productId": product, "quantity": quantity }], "shippingAddress": address() });
    let reply = app.post("/api/v1/orders", Some(token), body).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    reply.body["data"]["_id"].as_str().unwrap().to_string()
}

pub async fn checkout(app: &TestApp, token: Option<&str>, order: &str, provider: &str) -> Reply {
    app.post(&format!("/api/v1/orders/{order}/checkout"), token, json!({ "provider": provider })).await
}

/// The path of a checkout URL (the test server's public URL is not its bound port).
fn path_of(url: &str) -> String {
    let after_scheme = url.split_once("://").map(|(_, rest)| rest).unwrap_or(url);
    after_scheme.find('/').map(|i| after_scheme[i..].to_string()).unwrap_or_default()
}

async fn get_html(app: &TestApp, path: &str) -> (StatusCode, String) {
    let response = app.client.get(app.url(path)).send().await.unwrap();
    (response.status(), response.text().await.unwrap())
}

/// Submits a form the way a browser without JavaScript does.
async fn submit(app: &TestApp, action: &str) -> (StatusCode, String) {
    let response = app
        .client
        .post(app.url(action))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("")
        .send()
        .await
        .unwrap();
    (response.status(), response.text().await.unwrap())
}

/// The `action` of the form whose button says `label`.
fn form_action(html: &str, label: &str) -> String {
    let button =
        html.find(&format!("type=\"submit\">{label}")).unwrap_or_else(|| panic!("no {label} button in {html}"));
    let form = html[..button].rfind("<form").expect("button inside a form");
    let action = html[form..].split("action=\"").nth(1).unwrap();
    action[..action.find('"').unwrap()].to_string()
}

async fn order_json(app: &TestApp, token: &str, order: &str) -> Value {
    let reply = app.get(&format!("/api/v1/orders/{order}"), Some(token)).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    reply.body["data"].clone()
}

async fn payments_of(app: &TestApp, token: &str, order: &str) -> Value {
    let reply = app.get(&format!("/api/v1/orders/{order}/payments"), Some(token)).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    reply.body["data"].clone()
}

async fn audit_count(app: &TestApp, admin: &str, action: &str, order: &str) -> u64 {
    let reply = app
        .get(
            &format!("/api/v1/admin/audit-log?action={action}&targetType=order&targetId={order}&limit=100"),
            Some(admin),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    reply.body["meta"]["total"].as_u64().unwrap()
}

fn paid_events(order: &Value) -> usize {
    order["events"].as_array().unwrap().iter().filter(|e| e["to"] == "paid").count()
}

/// Polls until `check` holds, or fails after ten seconds.
async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !check().await {
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Opens a test checkout and returns (payment id, page path).
async fn test_checkout(app: &TestApp, token: &str, order: &str) -> (String, String) {
    let reply = checkout(app, Some(token), order, "test").await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    let data = &reply.body["data"];
    assert_eq!(data["provider"], "test");
    assert_eq!(data["status"], "pending");
    assert!(data["expiresAt"].is_string(), "{data}");
    (data["paymentId"].as_str().unwrap().to_string(), path_of(data["checkoutUrl"].as_str().unwrap()))
}

async fn test_page_pays_the_order_in_a_real_round_trip(app: &TestApp) {
    let admin = app.admin_token("boss").await;
    let buyer = app.user_token("buyer").await;
    let widget = product(app, &admin, 12.5, 5).await;
    let id = order(app, &buyer, &widget, 2).await;
    let (payment, page) = test_checkout(app, &buyer, &id).await;
    assert!(page.starts_with("/payments/test/tp_"), "{page}");

    let (status, html) = get_html(app, &page).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("25.00 USD") && html.contains("<form method=\"post\""), "{html}");
    assert!(!html.contains("<script"), "the page works without JavaScript");
    let (status, html) = submit(app, &form_action(&html, "Pay")).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(html.contains("paid"), "{html}");

    let paid = order_json(app, &buyer, &id).await;
    assert_eq!((paid["status"].as_str(), paid["paymentStatus"].as_str()), (Some("paid"), Some("paid")));
    assert_eq!(paid["paymentMethod"], "test");
    assert_eq!(paid_events(&paid), 1);
    let payments = payments_of(app, &buyer, &id).await;
    let attempt = &payments["payments"][0];
    assert_eq!((attempt["_id"].as_str(), attempt["status"].as_str()), (Some(payment.as_str()), Some("captured")));
    assert_eq!((attempt["amount"].as_f64(), attempt["captured"].as_f64()), (Some(25.0), Some(25.0)));
    assert_eq!(audit_count(app, &admin, "payment.captured", &id).await, 1);
    assert_eq!(stock(app, &widget).await, 3);

    // Paying again changes nothing; the page now says it is paid.
    let (status, _) = submit(app, &format!("{page}/pay")).await;
    assert_eq!(status, StatusCode::OK);
    let (_, html) = get_html(app, &page).await;
    assert!(html.contains("this payment is paid") && !html.contains("<form"), "{html}");
    assert_eq!(paid_events(&order_json(app, &buyer, &id).await), 1);
    assert_eq!(audit_count(app, &admin, "payment.captured", &id).await, 1);
    // A paid order cannot be checked out again.
    checkout(app, Some(&buyer), &id, "test").await.assert_error(StatusCode::CONFLICT, "CONFLICT");
    let (status, _) = get_html(app, "/payments/test/tp_nobody").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

async fn checkout_again_returns_the_live_attempt_and_another_provider_replaces_it(app: &TestApp) {
    let admin = app.admin_token("boss").await;
    let buyer = app.user_token("buyer").await;
    let widget = product(app, &admin, 10.0, 5).await;
    let id = order(app, &buyer, &widget, 1).await;
    let (first, page) = test_checkout(app, &buyer, &id).await;
    // Asking again (a double click, a reload) gets the same live attempt.
    let again = checkout(app, Some(&buyer), &id, "test").await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.body);
    assert_eq!(again.body["data"]["paymentId"], first.as_str());
    assert_eq!(path_of(again.body["data"]["checkoutUrl"].as_str().unwrap()), page);
    let racing = join_all((0..4).map(|_| checkout(app, Some(&buyer), &id, "test"))).await;
    assert!(racing.iter().all(|r| r.status == StatusCode::OK && r.body["data"]["paymentId"] == first.as_str()));

    // Another provider closes the live attempt (its page no longer pays) and opens a new one.
    let manual = checkout(app, Some(&buyer), &id, "manual").await;
    assert_eq!(manual.status, StatusCode::CREATED, "{}", manual.body);
    assert_ne!(manual.body["data"]["paymentId"], first.as_str());
    assert!(manual.body["data"].get("checkoutUrl").is_none(), "{}", manual.body);
    let (status, html) = submit(app, &format!("{page}/pay")).await;
    assert_eq!(status, StatusCode::CONFLICT, "{html}");
    let payments = payments_of(app, &buyer, &id).await;
    let statuses: Vec<&str> =
        payments["payments"].as_array().unwrap().iter().map(|p| p["status"].as_str().unwrap()).collect();
    assert_eq!(statuses, ["canceled", "pending"]);
    let pending = order_json(app, &buyer, &id).await;
    assert_eq!((pending["status"].as_str(), pending["paymentMethod"].as_str()), (Some("pending"), Some("manual")));
}

async fn checkout_is_for_the_orders_buyer_and_payable_orders_only(app: &TestApp) {
    let admin = app.admin_token("boss").await;
    let buyer = app.user_token("buyer").await;
    let stranger = app.user_token("stranger").await;
    let widget = product(app, &admin, 10.0, 5).await;
    let id = order(app, &buyer, &widget, 1).await;
    checkout(app, Some(&stranger), &id, "test").await.assert_error(StatusCode::NOT_FOUND, "NOT_FOUND");
    checkout(app, None, &id, "test").await.assert_error(StatusCode::NOT_FOUND, "NOT_FOUND");
    app.get(&format!("/api/v1/orders/{id}/payments"), Some(&stranger))
        .await
        .assert_error(StatusCode::NOT_FOUND, "NOT_FOUND");
    checkout(app, Some(&admin), "999999", "test").await.assert_error(StatusCode::NOT_FOUND, "NOT_FOUND");
    assert!(payments_of(app, &buyer, &id).await["payments"].as_array().unwrap().is_empty(), "nothing was written");
    // An admin may open it.
    assert_eq!(checkout(app, Some(&admin), &id, "test").await.status, StatusCode::CREATED);

    // A guest proves the order is theirs as when reading it.
    let body = json!({ "items": [{ "productId": widget, "quantity": 1 }], "email": "guest@example.com", "shippingAddress": address() });
    let placed = app.post("/api/v1/orders", None, body).await.body;
    let guest_order = placed["data"]["_id"].as_str().unwrap().to_string();
    let token = placed["data"]["orderToken"].as_str().unwrap().to_string();
    let path = format!("/api/v1/orders/{guest_order}/checkout");
    // The e-mail proves nothing; the order's token does.
    app.post(&path, None, json!({ "provider": "test", "email": "guest@example.com" }))
        .await
        .assert_error(StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    app.post(&path, None, json!({ "provider": "test", "token": "not-the-token" }))
        .await
        .assert_error(StatusCode::NOT_FOUND, "NOT_FOUND");
    let reply = app.post(&path, None, json!({ "provider": "test", "token": token })).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    let listed = app.get(&format!("/api/v1/orders/{guest_order}/payments?token={token}"), None).await;
    assert_eq!(listed.body["data"]["payments"].as_array().unwrap().len(), 1, "{}", listed.body);

    // Only a pending, unpaid order.
    let cancelled = order(app, &buyer, &widget, 1).await;
    app.post(&format!("/api/v1/orders/{cancelled}/cancel"), Some(&buyer), json!({})).await;
    checkout(app, Some(&buyer), &cancelled, "test").await.assert_error(StatusCode::CONFLICT, "CONFLICT");
}

async fn unconfigured_or_unknown_provider_is_400_naming_it(app: &TestApp) {
    let admin = app.admin_token("boss").await;
    let buyer = app.user_token("buyer").await;
    let widget = product(app, &admin, 10.0, 5).await;
    let id = order(app, &buyer, &widget, 1).await;
    for provider in ["stripe", "paypal"] {
        let reply = checkout(app, Some(&buyer), &id, provider).await;
        reply.assert_error(StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
        assert_eq!(reply.error_fields(), ["provider"]);
        assert!(reply.body["error"]["message"].as_str().unwrap().contains(provider), "{}", reply.body);
    }
    let reply = checkout(app, Some(&buyer), &id, "bitcoin").await;
    reply.assert_error(StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    assert_eq!(reply.error_fields(), ["provider"]);
    let reply = app.post(&format!("/api/v1/orders/{id}/checkout"), Some(&buyer), json!({})).await;
    assert_eq!(reply.error_fields(), ["provider"]);
    let reply =
        app.post(&format!("/api/v1/orders/{id}/checkout"), Some(&buyer), json!({ "provider": "test", "x": 1 })).await;
    assert_eq!(reply.error_fields(), ["x"]);
    // A provider that is not configured has no endpoints here (404), and a
    // call to one changes nothing either.
    let webhook = app.client.post(app.url("/api/v1/payments/stripe/webhook")).header("stripe-signature", "t=1,v1=00");
    let reply = Reply::read(webhook.json(&json!({ "id": "evt_1" })).send().await.unwrap()).await;
    reply.assert_error(StatusCode::NOT_FOUND, "NOT_FOUND");
    let unsigned = app.post("/api/v1/payments/stripe/webhook", None, json!({ "id": "evt_1" })).await;
    unsigned.assert_error(StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    let reply = app.get("/api/v1/payments/stripe/return?session_id=cs_1", None).await;
    reply.assert_error(StatusCode::NOT_FOUND, "NOT_FOUND");
    app.get("/api/v1/payments/stripe/return", None).await.assert_error(StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    assert!(payments_of(app, &buyer, &id).await["payments"].as_array().unwrap().is_empty());
}

async fn concurrent_pay_clicks_pay_the_order_once(app: &TestApp) {
    let admin = app.admin_token("boss").await;
    let buyer = app.user_token("buyer").await;
    let widget = product(app, &admin, 10.0, 5).await;
    let id = order(app, &buyer, &widget, 1).await;
    let (_, page) = test_checkout(app, &buyer, &id).await;
    let action = format!("{page}/pay");
    let clicks = join_all((0..6).map(|_| submit(app, &action))).await;
    assert!(clicks.iter().all(|(s, _)| *s == StatusCode::OK), "{clicks:?}");
    let paid = order_json(app, &buyer, &id).await;
    assert_eq!(paid["status"], "paid");
    assert_eq!(paid_events(&paid), 1);
    assert_eq!(audit_count(app, &admin, "payment.captured", &id).await, 1);
    assert_eq!(audit_count(app, &admin, "order.status_changed", &id).await, 1);
}

async fn cancel_on_the_test_page_leaves_the_order_unpaid(app: &TestApp) {
    let admin = app.admin_token("boss").await;
    let buyer = app.user_token("buyer").await;
    let widget = product(app, &admin, 10.0, 5).await;
    let id = order(app, &buyer, &widget, 1).await;
    let (_, page) = test_checkout(app, &buyer, &id).await;
    let (_, html) = get_html(app, &page).await;
    let (status, html) = submit(app, &form_action(&html, "Cancel")).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    let (status, _) = submit(app, &format!("{page}/pay")).await;
    assert_eq!(status, StatusCode::CONFLICT, "a cancelled session takes no payment");
    let pending = order_json(app, &buyer, &id).await;
    assert_eq!((pending["status"].as_str(), pending["paymentStatus"].as_str()), (Some("pending"), Some("unpaid")));
    assert_eq!(payments_of(app, &buyer, &id).await["payments"][0]["status"], "canceled");
    // The buyer can try again.
    assert_eq!(checkout(app, Some(&buyer), &id, "test").await.status, StatusCode::CREATED);
}

async fn cancelling_the_order_closes_its_session(app: &TestApp) {
    let admin = app.admin_token("boss").await;
    let buyer = app.user_token("buyer").await;
    let widget = product(app, &admin, 10.0, 5).await;
    let id = order(app, &buyer, &widget, 2).await;
    let (_, page) = test_checkout(app, &buyer, &id).await;
    let reply = app.post(&format!("/api/v1/orders/{id}/cancel"), Some(&buyer), json!({})).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body["data"]["status"], "cancelled");
    let (status, _) = submit(app, &format!("{page}/pay")).await;
    assert_eq!(status, StatusCode::CONFLICT, "the session closed with the order");
    assert_eq!(payments_of(app, &buyer, &id).await["payments"][0]["status"], "canceled");
    assert_eq!(stock(app, &widget).await, 5);
}

/// Marks a test session paid behind Emporium's back: the provider took the
/// money, and nobody has told the shop yet.
async fn provider_takes_money_silently(app: &TestApp, page: &str) {
    let reference = page.rsplit('/').next().unwrap();
    assert!(app.store.pay_test_session(reference, Timestamp::now()).await.unwrap());
}

async fn payment_found_after_cancellation_retakes_stock_and_pays(app: &TestApp) {
    let admin = app.admin_token("boss").await;
    let buyer = app.user_token("buyer").await;
    let widget = product(app, &admin, 10.0, 5).await;
    let id = order(app, &buyer, &widget, 2).await;
    let (_, page) = test_checkout(app, &buyer, &id).await;
    provider_takes_money_silently(app, &page).await;
    // Cancelling closes the session and so learns of the payment: the stock
    // is still there, so it is taken again and the order is paid.
    app.post(&format!("/api/v1/orders/{id}/cancel"), Some(&buyer), json!({})).await;
    let revived = order_json(app, &buyer, &id).await;
    assert_eq!((revived["status"].as_str(), revived["paymentStatus"].as_str()), (Some("paid"), Some("paid")));
    assert_eq!(stock(app, &widget).await, 3);
    assert_eq!(audit_count(app, &admin, "payment.order_revived", &id).await, 1);
    let last = revived["events"].as_array().unwrap().last().unwrap().clone();
    assert_eq!((last["from"].as_str(), last["to"].as_str()), (Some("cancelled"), Some("paid")));
}

async fn refunds_never_exceed_the_capture(app: &TestApp) {
    let admin = app.admin_token("boss").await;
    let buyer = app.user_token("buyer").await;
    let widget = product(app, &admin, 10.0, 5).await;
    let id = order(app, &buyer, &widget, 2).await;
    let (_, page) = test_checkout(app, &buyer, &id).await;
    submit(app, &format!("{page}/pay")).await;
    let refund = |body: Value| {
        let path = format!("/api/v1/orders/{id}/refund");
        let admin = admin.clone();
        async move { app.post(&path, Some(&admin), body).await }
    };
    app.post(&format!("/api/v1/orders/{id}/refund"), Some(&buyer), json!({}))
        .await
        .assert_error(StatusCode::FORBIDDEN, "AUTHORIZATION_ERROR");
    let too_much = refund(json!({ "amount": 20.01 })).await;
    too_much.assert_error(StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    assert_eq!(too_much.error_fields(), ["amount"]);
    refund(json!({ "amount": -1 })).await.assert_error(StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    refund(json!({ "amount": 0 })).await.assert_error(StatusCode::BAD_REQUEST, "VALIDATION_ERROR");

    // Six concurrent refunds of 5.00 out of 20.00: four go through.
    let racing = join_all((0..6).map(|_| refund(json!({ "amount": 5 })))).await;
    let ok = racing.iter().filter(|r| r.status == StatusCode::OK).count();
    assert_eq!(ok, 4, "{:?}", racing.iter().map(|r| r.body.to_string()).collect::<Vec<_>>());
    assert!(racing.iter().all(|r| r.status == StatusCode::OK || r.status.is_client_error()));
    let payments = payments_of(app, &buyer, &id).await;
    assert_eq!(payments["payments"][0]["refunded"].as_f64(), Some(20.0));
    let refunds = payments["refunds"].as_array().unwrap();
    assert_eq!(refunds.len(), 4);
    assert!(refunds.iter().all(|r| r["status"] == "succeeded"));
    refund(json!({})).await.assert_error(StatusCode::CONFLICT, "CONFLICT");
    // The refunds added up to the whole payment, yet only a full refund in one go refunds the order.
    assert_eq!(order_json(app, &buyer, &id).await["status"], "paid");

    // A full refund of a paid order: refunded, and its goods (not shipped) back in stock.
    let second = order(app, &buyer, &widget, 1).await;
    let (_, page) = test_checkout(app, &buyer, &second).await;
    submit(app, &format!("{page}/pay")).await;
    assert_eq!(stock(app, &widget).await, 2);
    let reply = app.post(&format!("/api/v1/orders/{second}/refund"), Some(&admin), json!({})).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body["data"]["order"]["status"], "refunded");
    assert_eq!(reply.body["data"]["order"]["paymentStatus"], "refunded");
    assert_eq!(reply.body["data"]["refund"]["amount"].as_f64(), Some(10.0));
    assert_eq!(stock(app, &widget).await, 3);
}

async fn amount_mismatch_leaves_the_order_unpaid_for_review(app: &TestApp) {
    let admin = app.admin_token("boss").await;
    let buyer = app.user_token("buyer").await;
    let widget = product(app, &admin, 10.0, 5).await;
    let id = order(app, &buyer, &widget, 1).await;
    let (payment, _) = test_checkout(app, &buyer, &id).await;
    // A provider reporting a capture of another amount, or currency, than the order's total.
    for (minor, currency) in [(999, "USD"), (1000, "EUR")] {
        let apply = ApplyPayment {
            payment_id: payment.parse::<PaymentId>().unwrap(),
            event: None,
            observed: Observed::Captured {
                amount: Money::from_minor(minor),
                currency: currency.into(),
                capture_reference: "cap_1".into(),
            },
            now: Timestamp::now(),
            actor: Actor { id: None, kind: "system".into(), ip: None },
        };
        app.store.apply_payment(&apply).await.unwrap();
    }
    let unpaid = order_json(app, &buyer, &id).await;
    assert_eq!((unpaid["status"].as_str(), unpaid["paymentStatus"].as_str()), (Some("pending"), Some("unpaid")));
    let attempt = payments_of(app, &buyer, &id).await["payments"][0].clone();
    assert_eq!((attempt["status"].as_str(), attempt["needsReview"].as_bool()), (Some("captured"), Some(true)));
    assert!(attempt["reviewReason"].as_str().unwrap().contains("9.99"), "{attempt}");
    assert_eq!(
        audit_count(app, &admin, "payment.amount_mismatch", &id).await,
        1,
        "the second report is the same capture"
    );
}

async fn expired_session_returns_the_stock(app: &TestApp) {
    let admin = app.admin_token("boss").await;
    let buyer = app.user_token("buyer").await;
    let widget = product(app, &admin, 10.0, 5).await;
    let id = order(app, &buyer, &widget, 3).await;
    let reply = checkout(app, Some(&buyer), &id, "test").await;
    let expires = Timestamp::parse(reply.body["data"]["expiresAt"].as_str().unwrap()).unwrap();
    let placed = Timestamp::parse(order_json(app, &buyer, &id).await["createdAt"].as_str().unwrap()).unwrap();
    assert!(expires <= placed.plus_secs(2), "the session never outlives the order");
    let page = path_of(reply.body["data"]["checkoutUrl"].as_str().unwrap());
    assert_eq!(stock(app, &widget).await, 2);
    eventually("the order expires", || async { order_json(app, &buyer, &id).await["status"] == "cancelled" }).await;
    assert_eq!(stock(app, &widget).await, 5);
    eventually("its attempt closes", || async {
        payments_of(app, &buyer, &id).await["payments"][0]["status"] == "expired"
    })
    .await;
    let (_, html) = get_html(app, &page).await;
    assert!(html.contains("this payment is expired"), "{html}");
    let (status, _) = submit(app, &format!("{page}/pay")).await;
    assert_eq!(status, StatusCode::CONFLICT);
}

async fn manual_order_is_processed_shipped_then_marked_paid_and_never_swept(app: &TestApp) {
    let admin = app.admin_token("boss").await;
    let buyer = app.user_token("buyer").await;
    let widget = product(app, &admin, 10.0, 5).await;
    let manual = order(app, &buyer, &widget, 1).await;
    let canary = order(app, &buyer, &widget, 1).await;
    let reply = checkout(app, Some(&buyer), &manual, "manual").await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    assert_eq!(
        (reply.body["data"]["provider"].as_str(), reply.body["data"]["status"].as_str()),
        (Some("manual"), Some("pending"))
    );
    // A provider order may not be processed before it is paid; a manual one may.
    let status = |order: String, to: &'static str| {
        let admin = admin.clone();
        async move { app.patch(&format!("/api/v1/orders/{order}/status"), Some(&admin), json!({ "status": to })).await }
    };
    status(canary.clone(), "processing").await.assert_error(StatusCode::CONFLICT, "CONFLICT");
    assert_eq!(status(manual.clone(), "processing").await.status, StatusCode::OK);
    let shipped = status(manual.clone(), "shipped").await;
    assert_eq!(shipped.status, StatusCode::OK, "{}", shipped.body);
    assert_eq!(shipped.body["data"]["paymentStatus"], "unpaid");
    // The sweep cancels the unpaid canary, never the manual order.
    eventually("the canary is swept", || async { order_json(app, &buyer, &canary).await["status"] == "cancelled" })
        .await;
    assert_eq!(order_json(app, &buyer, &manual).await["status"], "shipped");

    app.post(&format!("/api/v1/orders/{manual}/mark-paid"), Some(&buyer), json!({}))
        .await
        .assert_error(StatusCode::FORBIDDEN, "AUTHORIZATION_ERROR");
    let paid = app.post(&format!("/api/v1/orders/{manual}/mark-paid"), Some(&admin), json!({})).await;
    assert_eq!(paid.status, StatusCode::OK, "{}", paid.body);
    assert_eq!(
        (paid.body["data"]["status"].as_str(), paid.body["data"]["paymentStatus"].as_str()),
        (Some("shipped"), Some("paid"))
    );
    app.post(&format!("/api/v1/orders/{manual}/mark-paid"), Some(&admin), json!({}))
        .await
        .assert_error(StatusCode::CONFLICT, "CONFLICT");
    assert_eq!(payments_of(app, &buyer, &manual).await["payments"][0]["status"], "captured");
    assert_eq!(audit_count(app, &admin, "payment.captured", &manual).await, 1);
    assert_eq!(status(manual.clone(), "delivered").await.status, StatusCode::OK);

    // A test-provider order cannot be marked paid by hand.
    let other = order(app, &buyer, &widget, 1).await;
    checkout(app, Some(&buyer), &other, "test").await;
    app.post(&format!("/api/v1/orders/{other}/mark-paid"), Some(&admin), json!({}))
        .await
        .assert_error(StatusCode::CONFLICT, "CONFLICT");
}

async fn reconciliation_applies_a_payment_nobody_reported(app: &TestApp) {
    let admin = app.admin_token("boss").await;
    let buyer = app.user_token("buyer").await;
    let widget = product(app, &admin, 10.0, 5).await;
    let id = order(app, &buyer, &widget, 1).await;
    let (_, page) = test_checkout(app, &buyer, &id).await;
    provider_takes_money_silently(app, &page).await;
    eventually("reconciliation pays the order", || async { order_json(app, &buyer, &id).await["status"] == "paid" })
        .await;
    assert_eq!(paid_events(&order_json(app, &buyer, &id).await), 1);
    assert_eq!(audit_count(app, &admin, "payment.captured", &id).await, 1);
}

async fn payment_for_a_cancelled_order_whose_stock_is_gone_is_refunded(app: &TestApp) {
    let admin = app.admin_token("boss").await;
    let buyer = app.user_token("buyer").await;
    let widget = product(app, &admin, 10.0, 1).await;
    let id = order(app, &buyer, &widget, 1).await;
    let (_, page) = test_checkout(app, &buyer, &id).await;
    // The order is cancelled behind its session's back (as by a sweep on a
    // server whose provider call timed out), someone else buys the last
    // unit, and then the buyer's payment goes through at the provider.
    let change = emporium_store::StatusChange {
        from: emporium_domain::orders::OrderStatus::Pending,
        to: emporium_domain::orders::OrderStatus::Cancelled,
        payment_status: emporium_domain::orders::PaymentStatus::Unpaid,
        restock: true,
        actor_id: None,
        actor: "system".into(),
        reason: Some("test".into()),
        now: Timestamp::now(),
        audit: emporium_store::NewAuditEntry {
            at: Timestamp::now(),
            actor_id: None,
            action: "order.status_changed".into(),
            target_type: Some("order".into()),
            target_id: Some(id.clone()),
            ip: None,
            details: json!({}),
        },
    };
    app.store.change_order_status(id.parse().unwrap(), &change).await.unwrap();
    let rival = app.user_token("rival").await;
    order(app, &rival, &widget, 1).await;
    provider_takes_money_silently(app, &page).await;
    eventually("the payment is refunded", || async {
        let payments = payments_of(app, &buyer, &id).await;
        payments["refunds"].as_array().unwrap().iter().any(|r| r["status"] == "succeeded")
    })
    .await;
    let payments = payments_of(app, &buyer, &id).await;
    assert_eq!(payments["payments"][0]["refunded"].as_f64(), Some(10.0));
    assert_eq!(order_json(app, &buyer, &id).await["status"], "cancelled");
    assert_eq!(stock(app, &widget).await, 0);
    assert_eq!(audit_count(app, &admin, "payment.refund_due", &id).await, 1);
}

async fn zero_decimal_currency_is_paid_end_to_end(app: &TestApp) {
    let admin = app.admin_token("boss").await;
    let buyer = app.user_token("buyer").await;
    let widget = product(app, &admin, 1500.0, 5).await;
    let id = order(app, &buyer, &widget, 2).await;
    let (_, page) = test_checkout(app, &buyer, &id).await;
    let (_, html) = get_html(app, &page).await;
    assert!(html.contains("JPY"), "{html}");
    submit(app, &format!("{page}/pay")).await;
    let paid = order_json(app, &buyer, &id).await;
    assert_eq!(
        (paid["status"].as_str(), paid["currency"].as_str(), paid["total"].as_f64()),
        (Some("paid"), Some("JPY"), Some(3000.0))
    );
    let attempt = payments_of(app, &buyer, &id).await["payments"][0].clone();
    assert_eq!((attempt["currency"].as_str(), attempt["captured"].as_f64()), (Some("JPY"), Some(3000.0)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_racing_to_apply_one_payment_pay_once() {
    if !crate::harness::postgres_available() {
        return;
    }
    let a = TestApp::spawn(Backend::Postgres, reconciling).await;
    let b = a.second_server(reconciling).await;
    let admin = a.admin_token("boss").await;
    let buyer = a.user_token("buyer").await;
    let widget = product(&a, &admin, 10.0, 50).await;
    for _ in 0..3 {
        let id = order(&a, &buyer, &widget, 1).await;
        let (_, page) = test_checkout(&b, &buyer, &id).await;
        // Both servers' buyers' clicks and both servers' reconciliation race.
        let action = format!("{page}/pay");
        let clicks = join_all((0..6).map(|i| submit(if i % 2 == 0 { &a } else { &b }, &action))).await;
        assert!(clicks.iter().all(|(s, _)| *s == StatusCode::OK), "{clicks:?}");
        let paid = order_json(&a, &buyer, &id).await;
        assert_eq!(paid["status"], "paid");
        assert_eq!(paid_events(&paid), 1);
        assert_eq!(audit_count(&a, &admin, "payment.captured", &id).await, 1);
    }
    b.stop().await;
    a.stop().await;
}
