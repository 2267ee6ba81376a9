//! Stripe Checkout and PayPal Orders v2 end to end, against the
//! contract-faithful fakes of both (HTTP servers on 127.0.0.1, started per
//! test): whoever brings the news — webhook, return, reconciliation, a second
//! server — the order is paid exactly once, and only when the provider says so.

use std::time::Duration;

use emporium_payments::fake::{Delivery, FakePayPal, FakeStripe, Outage};
use emporium_server::config::{Config, PayPalSettings, StripeSettings};
use emporium_service::Secret;
use futures::future::join_all;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::{Backend, Reply, TestApp};
use crate::payments::{checkout, order, product, stock};

const WEBHOOK_SECRET: &str = "whsec_emporium_test";

pub struct Shop {
    pub app: TestApp,
    pub stripe: FakeStripe,
    pub paypal: FakePayPal,
}

impl Shop {
    pub async fn start(backend: Backend, extra: fn(&mut Config)) -> Self {
        let (stripe, paypal) = (FakeStripe::start().await, FakePayPal::start().await);
        let app = TestApp::spawn(backend, |c| configure(c, &stripe, &paypal, extra)).await;
        stripe.set_webhook(app.url("/api/v1/payments/stripe/webhook"), WEBHOOK_SECRET).await;
        Self { app, stripe, paypal }
    }
}

fn configure(c: &mut Config, stripe: &FakeStripe, paypal: &FakePayPal, extra: fn(&mut Config)) {
    c.payments.stripe = Some(StripeSettings {
        secret_key: Secret::new(stripe.secret_key()),
        webhook_secret: Secret::new(WEBHOOK_SECRET),
        api_base: stripe.base_url(),
    });
    c.payments.paypal = Some(PayPalSettings {
        client_id: paypal.client_id(),
        client_secret: Secret::new(paypal.client_secret()),
        api_base: paypal.base_url(),
    });
    extra(c);
}

macro_rules! provider_cases {
    ($configure:ident: $($case:ident),* $(,)?) => {
        mod $configure {
            mod sqlite {
                $(
                    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                    async fn $case() {
                        let shop = super::super::Shop::start($crate::harness::Backend::Sqlite, super::super::$configure).await;
                        super::super::$case(&shop).await;
                        shop.app.stop().await;
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
                        let shop = super::super::Shop::start($crate::harness::Backend::Postgres, super::super::$configure).await;
                        super::super::$case(&shop).await;
                        shop.app.stop().await;
                    }
                )*
            }
        }
    };
}

provider_cases!(plain:
    stripe_webhook_before_the_return_pays_once,
    stripe_return_before_the_webhook_pays_once,
    three_concurrent_identical_webhooks_pay_once,
    bad_signature_tampered_body_and_stale_timestamp_are_400_and_change_nothing,
    stripe_amount_mismatch_leaves_the_order_unpaid_for_review,
    stripe_down_is_502_and_changes_nothing,
    stripe_async_payments_settle_by_their_own_webhooks,
    paypal_double_click_on_return_captures_once,
    paypal_cancel_closes_the_attempt_and_a_late_return_takes_nothing,
    paypal_refunds_never_exceed_the_capture,
);

provider_cases!(reconciling:
    missed_webhook_is_healed_by_reconciliation,
);

provider_cases!(expiring:
    expired_stripe_session_returns_the_stock,
);

provider_cases!(yen:
    stripe_yen_order_is_paid_in_whole_yen,
);

provider_cases!(with_front_end:
    returns_redirect_to_the_front_end,
);

fn plain(_: &mut Config) {}

fn reconciling(c: &mut Config) {
    c.payments.reconcile_after = Duration::ZERO;
    c.payments.reconcile_interval = Duration::from_millis(100);
}

fn expiring(c: &mut Config) {
    c.order_ttl = Duration::from_secs(2);
    c.sweep_interval = Duration::from_millis(100);
}

fn yen(c: &mut Config) {
    c.currency = "JPY".into();
}

fn with_front_end(c: &mut Config) {
    c.payments.frontend_url = Some("https://shop.example.com".into());
}

/// A buyer with an order of `quantity` widgets at `price`, and an admin.
async fn buyer_with_order(app: &TestApp, price: f64, quantity: i64) -> (String, String, String, String) {
    let admin = app.admin_token("boss").await;
    let buyer = app.user_token("buyer").await;
    let widget = product(app, &admin, price, 5).await;
    let id = order(app, &buyer, &widget, quantity).await;
    (admin, buyer, widget, id)
}

/// Opens a Stripe checkout and returns the fake's session id.
async fn stripe_checkout(shop: &Shop, buyer: &str, id: &str) -> String {
    let reply = checkout(&shop.app, Some(buyer), id, "stripe").await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    let session = shop.stripe.sessions().pop().expect("a session was opened");
    assert_eq!(reply.body["data"]["checkoutUrl"], session.url.as_str());
    assert_eq!(session.client_reference_id.as_deref(), Some(id));
    session.id
}

async fn paypal_checkout(shop: &Shop, buyer: &str, id: &str) -> String {
    let reply = checkout(&shop.app, Some(buyer), id, "paypal").await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    shop.paypal.orders().pop().expect("an order was created").id
}

async fn status_of(app: &TestApp, token: &str, id: &str) -> Value {
    app.get(&format!("/api/v1/orders/{id}"), Some(token)).await.body["data"].clone()
}

fn paid_events(order: &Value) -> usize {
    order["events"].as_array().unwrap().iter().filter(|e| e["to"] == "paid").count()
}

async fn audit_count(app: &TestApp, admin: &str, action: &str, order: &str) -> u64 {
    let reply = app
        .get(
            &format!("/api/v1/admin/audit-log?action={action}&targetType=order&targetId={order}&limit=100"),
            Some(admin),
        )
        .await;
    reply.body["meta"]["total"].as_u64().unwrap()
}

async fn attempt(app: &TestApp, token: &str, id: &str) -> Value {
    app.get(&format!("/api/v1/orders/{id}/payments"), Some(token)).await.body["data"]["payments"][0].clone()
}

async fn stripe_return(app: &TestApp, session: &str) -> Reply {
    app.get(&format!("/api/v1/payments/stripe/return?session_id={session}"), None).await
}

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

async fn assert_paid_once(app: &TestApp, admin: &str, buyer: &str, id: &str) {
    let paid = status_of(app, buyer, id).await;
    assert_eq!((paid["status"].as_str(), paid["paymentStatus"].as_str()), (Some("paid"), Some("paid")), "{paid}");
    assert_eq!(paid_events(&paid), 1, "{paid}");
    assert_eq!(audit_count(app, admin, "payment.captured", id).await, 1);
}

async fn stripe_webhook_before_the_return_pays_once(shop: &Shop) {
    let app = &shop.app;
    let (admin, buyer, widget, id) = buyer_with_order(app, 12.5, 2).await;
    let session = stripe_checkout(shop, &buyer, &id).await;
    let fake = shop.stripe.session(&session).unwrap();
    assert_eq!((fake.amount_total, fake.currency.as_str()), (2500, "usd"));
    let deliveries = shop.stripe.complete_session(&session).await;
    assert_eq!(deliveries.iter().map(|d| d.status).collect::<Vec<_>>(), [Some(200)]);
    assert_paid_once(app, &admin, &buyer, &id).await;
    let back = stripe_return(app, &session).await;
    assert_eq!(back.status, StatusCode::OK, "{}", back.body);
    assert_eq!(
        (back.body["data"]["status"].as_str(), back.body["data"]["orderStatus"].as_str()),
        (Some("captured"), Some("paid"))
    );
    assert_paid_once(app, &admin, &buyer, &id).await;
    assert_eq!(stock(app, &widget).await, 3);
    let redelivered = shop.stripe.redeliver(&deliveries[0].event_id).await;
    assert_eq!(redelivered.status, Some(200));
    assert_paid_once(app, &admin, &buyer, &id).await;
}

async fn stripe_return_before_the_webhook_pays_once(shop: &Shop) {
    let app = &shop.app;
    let (admin, buyer, _, id) = buyer_with_order(app, 10.0, 1).await;
    let session = stripe_checkout(shop, &buyer, &id).await;
    shop.stripe.set_delivery(Delivery::Delayed(Duration::from_millis(300))).await;
    shop.stripe.complete_session(&session).await;
    let back = stripe_return(app, &session).await;
    assert_eq!(back.body["data"]["orderStatus"], "paid", "{}", back.body);
    let deliveries = shop.stripe.wait_for_deliveries(1).await;
    assert_eq!(deliveries[0].status, Some(200));
    assert_paid_once(app, &admin, &buyer, &id).await;
}

async fn three_concurrent_identical_webhooks_pay_once(shop: &Shop) {
    let app = &shop.app;
    let (admin, buyer, _, id) = buyer_with_order(app, 10.0, 1).await;
    let session = stripe_checkout(shop, &buyer, &id).await;
    shop.stripe.set_delivery(Delivery::Duplicate(3)).await;
    let deliveries = shop.stripe.complete_session(&session).await;
    assert_eq!(deliveries.len(), 3);
    assert!(deliveries.iter().all(|d| d.status == Some(200)), "{deliveries:?}");
    assert_paid_once(app, &admin, &buyer, &id).await;
    assert_eq!(audit_count(app, &admin, "order.status_changed", &id).await, 1);
}

async fn bad_signature_tampered_body_and_stale_timestamp_are_400_and_change_nothing(shop: &Shop) {
    let app = &shop.app;
    let (admin, buyer, _, id) = buyer_with_order(app, 10.0, 1).await;
    let session = stripe_checkout(shop, &buyer, &id).await;
    shop.stripe.set_delivery(Delivery::Dropped).await;
    shop.stripe.complete_session(&session).await;
    let event = shop.stripe.events().pop().unwrap();
    let body = serde_json::to_vec(&event).unwrap();
    let now = emporium_domain::time::Timestamp::now().unix_secs();
    let send = |body: Vec<u8>, signature: Option<String>| async move {
        let mut request = app
            .client
            .post(app.url("/api/v1/payments/stripe/webhook"))
            .header("content-type", "application/json")
            .body(body);
        if let Some(signature) = signature {
            request = request.header("stripe-signature", signature);
        }
        Reply::read(request.send().await.unwrap()).await
    };
    let mut tampered = event.clone();
    tampered["data"]["object"]["amount_total"] = json!(1);
    let tampered = serde_json::to_vec(&tampered).unwrap();
    for (what, body, signature) in [
        ("missing signature", body.clone(), None),
        ("wrong secret", body.clone(), Some(FakeStripe::sign(&body, "whsec_wrong", now))),
        ("tampered body", tampered, Some(FakeStripe::sign(&body, WEBHOOK_SECRET, now))),
        ("stale timestamp", body.clone(), Some(FakeStripe::sign(&body, WEBHOOK_SECRET, now - 301))),
    ] {
        let reply = send(body, signature).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{what}: {}", reply.body);
        reply.assert_error(StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
        let order = status_of(app, &buyer, &id).await;
        assert_eq!(order["status"], "pending", "{what} changed nothing");
    }
    assert_eq!(audit_count(app, &admin, "payment.captured", &id).await, 0);
    let good = send(body.clone(), Some(FakeStripe::sign(&body, WEBHOOK_SECRET, now))).await;
    assert_eq!(good.status, StatusCode::OK, "{}", good.body);
    assert_paid_once(app, &admin, &buyer, &id).await;
}

async fn stripe_amount_mismatch_leaves_the_order_unpaid_for_review(shop: &Shop) {
    let app = &shop.app;
    let (admin, buyer, _, id) = buyer_with_order(app, 10.0, 1).await;
    let session = stripe_checkout(shop, &buyer, &id).await;
    shop.stripe.set_delivery(Delivery::Dropped).await;
    shop.stripe.complete_session(&session).await;
    shop.stripe.set_amount_total(&session, 100).await;
    let back = stripe_return(app, &session).await;
    assert_eq!(back.status, StatusCode::OK, "{}", back.body);
    let order = status_of(app, &buyer, &id).await;
    assert_eq!((order["status"].as_str(), order["paymentStatus"].as_str()), (Some("pending"), Some("unpaid")));
    let attempt = attempt(app, &buyer, &id).await;
    assert_eq!((attempt["needsReview"].as_bool(), attempt["captured"].as_f64()), (Some(true), Some(1.0)));
    assert_eq!(audit_count(app, &admin, "payment.amount_mismatch", &id).await, 1);
}

async fn stripe_down_is_502_and_changes_nothing(shop: &Shop) {
    let app = &shop.app;
    let (_, buyer, _, id) = buyer_with_order(app, 10.0, 1).await;
    shop.stripe.set_outage(Outage::Unavailable).await;
    checkout(app, Some(&buyer), &id, "stripe").await.assert_error(StatusCode::BAD_GATEWAY, "PAYMENT_PROVIDER_ERROR");
    let order = status_of(app, &buyer, &id).await;
    assert_eq!((order["status"].as_str(), order["paymentStatus"].as_str()), (Some("pending"), Some("unpaid")));
    assert!(shop.stripe.sessions().is_empty());
    // Once Stripe is back, asking again opens the same attempt's session.
    shop.stripe.set_outage(Outage::None).await;
    let reply = checkout(app, Some(&buyer), &id, "stripe").await;
    assert!(reply.status.is_success(), "{}", reply.body);
    assert!(reply.body["data"]["checkoutUrl"].is_string(), "{}", reply.body);
    assert_eq!(shop.stripe.sessions().len(), 1);
    let payments = app.get(&format!("/api/v1/orders/{id}/payments"), Some(&buyer)).await;
    assert_eq!(payments.body["data"]["payments"].as_array().unwrap().len(), 1);
}

async fn stripe_async_payments_settle_by_their_own_webhooks(shop: &Shop) {
    let app = &shop.app;
    let (admin, buyer, widget, id) = buyer_with_order(app, 10.0, 1).await;
    let session = stripe_checkout(shop, &buyer, &id).await;
    // A bank debit: the session completes unpaid; the order waits.
    let deliveries = shop.stripe.complete_session_async(&session).await;
    assert_eq!(deliveries[0].status, Some(200));
    assert_eq!(status_of(app, &buyer, &id).await["status"], "pending");
    assert_eq!(attempt(app, &buyer, &id).await["status"], "pending");
    shop.stripe.async_outcome(&session, false).await;
    let failed = attempt(app, &buyer, &id).await;
    assert_eq!(failed["status"], "failed", "{failed}");
    assert_eq!(status_of(app, &buyer, &id).await["paymentStatus"], "unpaid");
    // The buyer tries again, and this debit goes through.
    let retry = stripe_checkout(shop, &buyer, &id).await;
    shop.stripe.complete_session_async(&retry).await;
    shop.stripe.async_outcome(&retry, true).await;
    assert_paid_once(app, &admin, &buyer, &id).await;
    assert_eq!(stock(app, &widget).await, 4);
}

async fn paypal_double_click_on_return_captures_once(shop: &Shop) {
    let app = &shop.app;
    let (admin, buyer, _, id) = buyer_with_order(app, 19.99, 1).await;
    let token = paypal_checkout(shop, &buyer, &id).await;
    shop.paypal.approve(&token).await;
    let path = format!("/api/v1/payments/paypal/return?token={token}&PayerID=PAYER1");
    let clicks = join_all((0..4).map(|_| app.get(&path, None))).await;
    assert!(
        clicks.iter().all(|r| r.status == StatusCode::OK),
        "{:?}",
        clicks.iter().map(|r| &r.body).collect::<Vec<_>>()
    );
    assert_eq!(shop.paypal.capture_count(), 1);
    assert_paid_once(app, &admin, &buyer, &id).await;
}

async fn paypal_cancel_closes_the_attempt_and_a_late_return_takes_nothing(shop: &Shop) {
    let app = &shop.app;
    let (_, buyer, _, id) = buyer_with_order(app, 10.0, 1).await;
    let token = paypal_checkout(shop, &buyer, &id).await;
    let cancelled =
        app.call(reqwest::Method::POST, &format!("/api/v1/payments/paypal/cancel?token={token}"), None, None).await;
    assert_eq!(cancelled.status, StatusCode::OK, "{}", cancelled.body);
    assert_eq!(cancelled.body["data"]["status"], "canceled");
    shop.paypal.approve(&token).await;
    let late = app.get(&format!("/api/v1/payments/paypal/return?token={token}&PayerID=P"), None).await;
    assert_eq!(late.status, StatusCode::OK, "{}", late.body);
    assert_eq!(shop.paypal.capture_count(), 0, "a closed attempt is never captured");
    assert_eq!(status_of(app, &buyer, &id).await["status"], "pending");
    app.get("/api/v1/payments/paypal/cancel?token=UNKNOWN", None)
        .await
        .assert_error(StatusCode::NOT_FOUND, "NOT_FOUND");
}

async fn paypal_refunds_never_exceed_the_capture(shop: &Shop) {
    let app = &shop.app;
    let (admin, buyer, widget, id) = buyer_with_order(app, 10.0, 2).await;
    let token = paypal_checkout(shop, &buyer, &id).await;
    shop.paypal.approve(&token).await;
    app.get(&format!("/api/v1/payments/paypal/return?token={token}&PayerID=P"), None).await;
    let path = format!("/api/v1/orders/{id}/refund");
    let refund = |body: Value| app.post(&path, Some(&admin), body);
    assert_eq!(refund(json!({ "amount": 5.5 })).await.status, StatusCode::OK);
    refund(json!({ "amount": 14.51 })).await.assert_error(StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    let rest = refund(json!({ "restock": false })).await;
    assert_eq!(rest.status, StatusCode::OK, "{}", rest.body);
    assert_eq!(rest.body["data"]["refund"]["amount"].as_f64(), Some(14.5));
    refund(json!({})).await.assert_error(StatusCode::CONFLICT, "CONFLICT");
    let total: i64 = shop.paypal.refunds().iter().map(|r| r.amount_minor).sum();
    assert_eq!(total, 2000, "PayPal refunded exactly what it captured");
    assert_eq!(stock(app, &widget).await, 3, "not restocked when asked not to");
}

async fn missed_webhook_is_healed_by_reconciliation(shop: &Shop) {
    let app = &shop.app;
    let (admin, buyer, _, id) = buyer_with_order(app, 10.0, 1).await;
    let session = stripe_checkout(shop, &buyer, &id).await;
    shop.stripe.set_delivery(Delivery::Dropped).await;
    shop.stripe.complete_session(&session).await;
    eventually("reconciliation pays the order", || async { status_of(app, &buyer, &id).await["status"] == "paid" })
        .await;
    assert_paid_once(app, &admin, &buyer, &id).await;
    // A PayPal buyer who approved but never came back is captured too.
    let second = order(app, &buyer, &product(app, &admin, 5.0, 5).await, 1).await;
    let token = paypal_checkout(shop, &buyer, &second).await;
    shop.paypal.approve(&token).await;
    eventually("reconciliation captures the PayPal order", || async {
        status_of(app, &buyer, &second).await["status"] == "paid"
    })
    .await;
    assert_eq!(shop.paypal.capture_count(), 1);
}

async fn expired_stripe_session_returns_the_stock(shop: &Shop) {
    let app = &shop.app;
    let (_, buyer, widget, id) = buyer_with_order(app, 10.0, 3).await;
    let session = stripe_checkout(shop, &buyer, &id).await;
    assert_eq!(stock(app, &widget).await, 2);
    eventually("the order expires", || async { status_of(app, &buyer, &id).await["status"] == "cancelled" }).await;
    assert_eq!(stock(app, &widget).await, 5);
    assert_eq!(shop.stripe.session(&session).unwrap().status, "expired", "the session closed with the order");
    eventually("its attempt closes", || async { attempt(app, &buyer, &id).await["status"] == "expired" }).await;
}

async fn stripe_yen_order_is_paid_in_whole_yen(shop: &Shop) {
    let app = &shop.app;
    let (admin, buyer, _, id) = buyer_with_order(app, 1500.0, 2).await;
    let session = stripe_checkout(shop, &buyer, &id).await;
    let fake = shop.stripe.session(&session).unwrap();
    assert_eq!((fake.amount_total, fake.currency.as_str()), (3000, "jpy"));
    shop.stripe.complete_session(&session).await;
    assert_paid_once(app, &admin, &buyer, &id).await;
    let attempt = attempt(app, &buyer, &id).await;
    assert_eq!((attempt["currency"].as_str(), attempt["captured"].as_f64()), (Some("JPY"), Some(3000.0)));
    let refund = app.post(&format!("/api/v1/orders/{id}/refund"), Some(&admin), json!({ "amount": 1000 })).await;
    assert_eq!(refund.status, StatusCode::OK, "{}", refund.body);
    assert_eq!(shop.stripe.refunds()[0].amount, 1000);
}

async fn returns_redirect_to_the_front_end(shop: &Shop) {
    let app = &shop.app;
    let (_, buyer, _, id) = buyer_with_order(app, 10.0, 1).await;
    let session = stripe_checkout(shop, &buyer, &id).await;
    shop.stripe.complete_session(&session).await;
    let back = stripe_return(app, &session).await;
    assert_eq!(back.status, StatusCode::SEE_OTHER);
    assert_eq!(back.header("location"), Some(format!("https://shop.example.com/checkout/success?order={id}").as_str()));
    let second = order(app, &buyer, &product(app, &app.admin_token("boss2").await, 5.0, 5).await, 1).await;
    let token = paypal_checkout(shop, &buyer, &second).await;
    let cancelled = app.get(&format!("/api/v1/payments/paypal/cancel?token={token}"), None).await;
    assert_eq!(cancelled.status, StatusCode::SEE_OTHER);
    assert_eq!(cancelled.header("location"), Some("https://shop.example.com/cart"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_racing_webhook_and_return_pay_once() {
    if !crate::harness::postgres_available() {
        return;
    }
    let shop = Shop::start(Backend::Postgres, plain).await;
    let (stripe, paypal) = (&shop.stripe, &shop.paypal);
    let b = shop.app.second_server(|c| configure(c, stripe, paypal, plain)).await;
    let a = &shop.app;
    let (admin, buyer, _, _) = buyer_with_order(a, 10.0, 1).await;
    let widget = product(a, &admin, 10.0, 50).await;
    stripe.set_delivery(Delivery::Duplicate(2)).await;
    for _ in 0..3 {
        let id = order(a, &buyer, &widget, 1).await;
        let session = stripe_checkout(&shop, &buyer, &id).await;
        // The webhooks reach server a while the buyer's returns reach a and b.
        let (deliveries, returns) = tokio::join!(
            stripe.complete_session(&session),
            join_all([stripe_return(&b, &session), stripe_return(a, &session), stripe_return(&b, &session)])
        );
        assert!(deliveries.iter().all(|d| d.status == Some(200)), "{deliveries:?}");
        assert!(returns.iter().all(|r| r.status == StatusCode::OK || r.status == StatusCode::NOT_FOUND));
        assert_paid_once(a, &admin, &buyer, &id).await;
        assert_paid_once(&b, &admin, &buyer, &id).await;
    }
    b.stop().await;
    shop.app.stop().await;
}
