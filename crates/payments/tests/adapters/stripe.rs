use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use emporium_payments::fake::{Delivery, FakeStripe, Outage};
use emporium_payments::{
    PaymentProvider, ProviderError, ProviderState, StripeConfig, StripeProvider, WebhookError, WebhookEvent,
};
use serde_json::Value;

use crate::{checkout, money, raw_client, unix_now};

const WEBHOOK_SECRET: &str = "whsec_emporium_test";

fn provider(fake: &FakeStripe) -> StripeProvider {
    StripeProvider::new(StripeConfig { webhook_secret: Some(WEBHOOK_SECRET.into()), ..fake.provider_config() }).unwrap()
}

#[tokio::test]
async fn stripe_session_is_paid_then_refunded_in_parts_and_never_beyond() {
    let fake = FakeStripe::start().await;
    let stripe = provider(&fake);
    let request = checkout("pay_1", "USD", &[("Mug", 1_250, 2), ("Poster", 500, 1)]);

    let session = stripe.create_session(&request).await.unwrap();
    assert!(session.redirect_url.starts_with(&fake.base_url()), "{}", session.redirect_url);
    let held = fake.session(&session.reference).unwrap();
    assert_eq!(held.amount_total, 3_000);
    assert_eq!(held.currency, "usd");
    assert_eq!(held.client_reference_id.as_deref(), Some("ord_pay_1"));
    assert_eq!(held.metadata.get("order_id").map(String::as_str), Some("ord_pay_1"));
    assert_eq!(held.metadata.get("payment_id").map(String::as_str), Some("pay_1"));
    assert_eq!(held.idempotency_key.as_deref(), Some("emporium-pay_1-create"));
    assert_eq!(held.line_items.len(), 2);
    assert_eq!(held.customer_email.as_deref(), Some("buyer@example.com"));
    assert_eq!(session.expires_at, Some(held.expires_at));
    assert_eq!(stripe.session_state(&session.reference).await.unwrap(), ProviderState::Pending);

    fake.complete_session(&session.reference).await;
    let intent = fake.session(&session.reference).unwrap().payment_intent.unwrap();
    let captured =
        ProviderState::Captured { amount: money(3_000), currency: "USD".into(), capture_reference: intent.clone() };
    assert_eq!(stripe.session_state(&session.reference).await.unwrap(), captured);
    assert_eq!(stripe.confirm(&session.reference, "confirm-1").await.unwrap(), captured);

    let first = stripe.refund(&intent, Some(money(1_000)), "USD", "refund-1").await.unwrap();
    assert_eq!(first.amount, money(1_000));
    assert_eq!(first.status, "succeeded");
    let rest = stripe.refund(&intent, None, "USD", "refund-2").await.unwrap();
    assert_eq!(rest.amount, money(2_000));
    let beyond = stripe.refund(&intent, Some(money(1)), "USD", "refund-3").await.unwrap_err();
    assert!(
        matches!(&beyond, ProviderError::Rejected(message) if message.contains("charge_already_refunded")),
        "{beyond:?}"
    );
    assert_eq!(fake.refunds().iter().map(|r| r.amount).sum::<i64>(), 3_000);
    // The session stays captured after refunds: refunds are recorded apart.
    assert_eq!(stripe.session_state(&session.reference).await.unwrap(), captured);
}

#[tokio::test]
async fn stripe_refund_above_what_is_left_is_rejected() {
    let fake = FakeStripe::start().await;
    let stripe = provider(&fake);
    let session = stripe.create_session(&checkout("pay_2", "EUR", &[("Lamp", 4_000, 1)])).await.unwrap();
    fake.complete_session(&session.reference).await;
    let intent = fake.session(&session.reference).unwrap().payment_intent.unwrap();
    stripe.refund(&intent, Some(money(3_000)), "EUR", "r1").await.unwrap();
    let error = stripe.refund(&intent, Some(money(1_001)), "EUR", "r2").await.unwrap_err();
    assert!(matches!(&error, ProviderError::Rejected(message) if message.contains("amount_too_large")), "{error:?}");
    assert_eq!(fake.refunds().len(), 1);
}

#[tokio::test]
async fn stripe_refunds_replay_under_one_idempotency_key() {
    let fake = FakeStripe::start().await;
    let stripe = provider(&fake);
    let session = stripe.create_session(&checkout("pay_3", "USD", &[("Mug", 1_000, 1)])).await.unwrap();
    fake.complete_session(&session.reference).await;
    let intent = fake.session(&session.reference).unwrap().payment_intent.unwrap();
    let first = stripe.refund(&intent, Some(money(400)), "USD", "refund-key").await.unwrap();
    let again = stripe.refund(&intent, Some(money(400)), "USD", "refund-key").await.unwrap();
    assert_eq!(first, again);
    assert_eq!(fake.refunds().len(), 1);
    let other = stripe.refund(&intent, Some(money(500)), "USD", "refund-key").await.unwrap_err();
    assert!(matches!(&other, ProviderError::Rejected(message) if message.contains("idempotency_error")), "{other:?}");
}

#[tokio::test]
async fn stripe_create_is_idempotent_per_payment() {
    let fake = FakeStripe::start().await;
    let stripe = provider(&fake);
    let request = checkout("pay_4", "USD", &[("Mug", 1_000, 1)]);
    let first = stripe.create_session(&request).await.unwrap();
    let again = stripe.create_session(&request).await.unwrap();
    assert_eq!(first, again);
    assert_eq!(fake.sessions().len(), 1);
    assert_eq!(fake.idempotency_keys(), vec!["emporium-pay_4-create", "emporium-pay_4-create"]);
    assert_eq!(fake.request_count("POST /v1/checkout/sessions"), 2);

    let changed = checkout("pay_4", "USD", &[("Mug", 1_000, 2)]);
    let error = stripe.create_session(&changed).await.unwrap_err();
    assert!(matches!(&error, ProviderError::Rejected(message) if message.contains("idempotency_error")), "{error:?}");
    assert_eq!(fake.sessions().len(), 1);
}

#[tokio::test]
async fn stripe_zero_decimal_amounts_cross_as_whole_yen() {
    let fake = FakeStripe::start().await;
    let stripe = provider(&fake);
    let session = stripe.create_session(&checkout("pay_5", "JPY", &[("Tea", 150_000, 3)])).await.unwrap();
    let held = fake.session(&session.reference).unwrap();
    assert_eq!(held.line_items[0].unit_amount, 1_500);
    assert_eq!(held.amount_total, 4_500);
    assert_eq!(held.currency, "jpy");
    fake.complete_session(&session.reference).await;
    let state = stripe.session_state(&session.reference).await.unwrap();
    let ProviderState::Captured { amount, currency, capture_reference } = state else { panic!("{state:?}") };
    assert_eq!((amount, currency.as_str()), (money(450_000), "JPY"));
    let refund = stripe.refund(&capture_reference, Some(money(50_000)), "JPY", "r").await.unwrap();
    assert_eq!(refund.amount, money(50_000));
    assert_eq!(fake.refunds()[0].amount, 500);

    // 100.50 JPY cannot be charged: refused before anything is sent.
    let before = fake.request_count("POST /v1/checkout/sessions");
    let error = stripe.create_session(&checkout("pay_6", "JPY", &[("Tea", 10_050, 1)])).await.unwrap_err();
    assert!(matches!(error, ProviderError::Rejected(_)), "{error:?}");
    assert_eq!(fake.request_count("POST /v1/checkout/sessions"), before);
}

#[tokio::test]
async fn stripe_three_decimal_amounts_end_in_zero() {
    let fake = FakeStripe::start().await;
    let stripe = provider(&fake);
    let session = stripe.create_session(&checkout("pay_7", "KWD", &[("Dates", 1_234, 1)])).await.unwrap();
    assert_eq!(fake.session(&session.reference).unwrap().amount_total, 12_340);
    fake.complete_session(&session.reference).await;
    let state = stripe.session_state(&session.reference).await.unwrap();
    assert!(matches!(state, ProviderState::Captured { amount, .. } if amount == money(1_234)), "{state:?}");
}

#[tokio::test]
async fn stripe_reports_the_amount_it_took_not_the_one_asked() {
    let fake = FakeStripe::start().await;
    let stripe = provider(&fake);
    let session = stripe.create_session(&checkout("pay_m", "USD", &[("Mug", 1_000, 1)])).await.unwrap();
    fake.complete_session(&session.reference).await;
    fake.set_amount_total(&session.reference, 900).await;
    let state = stripe.session_state(&session.reference).await.unwrap();
    assert!(matches!(state, ProviderState::Captured { amount, .. } if amount == money(900)), "{state:?}");
}

#[tokio::test]
async fn stripe_async_payment_is_pending_then_failed_or_captured() {
    let fake = FakeStripe::start().await;
    let stripe = provider(&fake);
    let failing = stripe.create_session(&checkout("pay_8", "EUR", &[("Desk", 20_000, 1)])).await.unwrap();
    let succeeding = stripe.create_session(&checkout("pay_9", "EUR", &[("Desk", 20_000, 1)])).await.unwrap();
    for session in [&failing, &succeeding] {
        fake.complete_session_async(&session.reference).await;
        assert_eq!(stripe.session_state(&session.reference).await.unwrap(), ProviderState::Pending);
    }
    fake.async_outcome(&failing.reference, false).await;
    let state = stripe.session_state(&failing.reference).await.unwrap();
    assert!(matches!(&state, ProviderState::Failed { reason } if reason.contains("could not be debited")), "{state:?}");
    fake.async_outcome(&succeeding.reference, true).await;
    let state = stripe.session_state(&succeeding.reference).await.unwrap();
    assert!(matches!(state, ProviderState::Captured { amount, .. } if amount == money(20_000)), "{state:?}");
}

#[tokio::test]
async fn stripe_cancel_expires_an_open_session_and_tolerates_a_finished_one() {
    let fake = FakeStripe::start().await;
    let stripe = provider(&fake);
    let open = stripe.create_session(&checkout("pay_10", "USD", &[("Mug", 1_000, 1)])).await.unwrap();
    stripe.cancel(&open.reference).await.unwrap();
    assert_eq!(stripe.session_state(&open.reference).await.unwrap(), ProviderState::Expired);
    stripe.cancel(&open.reference).await.unwrap();

    let paid = stripe.create_session(&checkout("pay_11", "USD", &[("Mug", 1_000, 1)])).await.unwrap();
    fake.complete_session(&paid.reference).await;
    stripe.cancel(&paid.reference).await.unwrap();
    assert!(matches!(stripe.session_state(&paid.reference).await.unwrap(), ProviderState::Captured { .. }));
    let processing = stripe.create_session(&checkout("pay_11b", "USD", &[("Mug", 1_000, 1)])).await.unwrap();
    fake.complete_session_async(&processing.reference).await;
    stripe.cancel(&processing.reference).await.unwrap();
    assert_eq!(stripe.session_state(&processing.reference).await.unwrap(), ProviderState::Pending);
    assert_eq!(fake.request_count("POST /v1/checkout/sessions/{id}/expire"), 4);

    let timed_out = stripe.create_session(&checkout("pay_12", "USD", &[("Mug", 1_000, 1)])).await.unwrap();
    fake.expire(&timed_out.reference).await;
    assert_eq!(stripe.session_state(&timed_out.reference).await.unwrap(), ProviderState::Expired);

    let missing = stripe.cancel("cs_test_missing").await.unwrap_err();
    assert!(matches!(missing, ProviderError::NotFound(_)), "{missing:?}");
}

#[tokio::test]
async fn stripe_expiry_is_kept_inside_the_window_stripe_accepts() {
    let fake = FakeStripe::start().await;
    let stripe = provider(&fake);
    let mut soon = checkout("pay_13", "USD", &[("Mug", 1_000, 1)]);
    soon.expires_at = unix_now() + 60;
    let session = stripe.create_session(&soon).await.unwrap();
    let expires_at = session.expires_at.unwrap();
    assert!(expires_at >= unix_now() + 30 * 60, "{expires_at}");
    let mut late = checkout("pay_14", "USD", &[("Mug", 1_000, 1)]);
    late.expires_at = unix_now() + 3 * 24 * 3600;
    let session = stripe.create_session(&late).await.unwrap();
    assert!(session.expires_at.unwrap() <= unix_now() + 24 * 3600);
}

#[tokio::test]
async fn stripe_unknown_session_is_not_found_and_a_wrong_key_rejected() {
    let fake = FakeStripe::start().await;
    let stripe = provider(&fake);
    let error = stripe.session_state("cs_test_nope").await.unwrap_err();
    assert!(matches!(error, ProviderError::NotFound(_)), "{error:?}");
    let wrong =
        StripeProvider::new(StripeConfig { secret_key: "sk_test_wrong".into(), ..fake.provider_config() }).unwrap();
    let error = wrong.create_session(&checkout("pay_15", "USD", &[("Mug", 1_000, 1)])).await.unwrap_err();
    assert!(matches!(&error, ProviderError::Rejected(message) if message.contains("Invalid API Key")), "{error:?}");
}

#[tokio::test]
async fn stripe_down_is_unavailable_within_the_timeout() {
    let fake = FakeStripe::start().await;
    let timeout = Duration::from_millis(300);
    let stripe = StripeProvider::new(StripeConfig { timeout, ..fake.provider_config() }).unwrap();
    let request = checkout("pay_16", "USD", &[("Mug", 1_000, 1)]);

    fake.set_outage(Outage::Unavailable).await;
    let error = stripe.create_session(&request).await.unwrap_err();
    assert!(matches!(error, ProviderError::Unavailable(_)), "{error:?}");

    fake.set_outage(Outage::Stall).await;
    let started = Instant::now();
    let error = stripe.session_state("cs_test_any").await.unwrap_err();
    assert!(matches!(error, ProviderError::Unavailable(_)), "{error:?}");
    // Well before the fake's ten-minute stall: the adapter's timeout ended it.
    assert!(started.elapsed() < Duration::from_secs(5), "took {:?}", started.elapsed());

    fake.set_outage(Outage::None).await;
    stripe.create_session(&request).await.unwrap();

    let nobody =
        StripeProvider::new(StripeConfig { api_base: "http://127.0.0.1:9".into(), ..fake.provider_config() }).unwrap();
    assert!(matches!(nobody.session_state("cs").await.unwrap_err(), ProviderError::Unavailable(_)));
}

// --- webhooks --------------------------------------------------------------

fn signed(header: Option<String>) -> HeaderMap {
    let mut headers = HeaderMap::new();
    if let Some(header) = header {
        headers.insert("stripe-signature", header.parse().unwrap());
    }
    headers
}

#[tokio::test]
async fn stripe_webhook_signatures_are_verified_as_stripe_documents() {
    let fake = FakeStripe::start().await;
    let stripe = provider(&fake);
    let body = br#"{"id":"evt_1","object":"event","type":"checkout.session.completed","data":{"object":{"id":"cs_test_1","object":"checkout.session"}}}"#;
    let now = unix_now();
    let good = FakeStripe::sign(body, WEBHOOK_SECRET, now);

    let event = stripe.verify_webhook(&signed(Some(good.clone())), body, now).unwrap();
    assert_eq!(
        event,
        WebhookEvent {
            event_id: "evt_1".into(),
            kind: "checkout.session.completed".into(),
            session_reference: Some("cs_test_1".into())
        }
    );

    // Two v1 signatures (a secret being rolled), only the second matching.
    let other = FakeStripe::sign(body, "whsec_old", now);
    let other_v1 = other.split_once(",v1=").unwrap().1;
    let good_v1 = good.split_once(",v1=").unwrap().1;
    let both = format!("t={now},v1={other_v1},v1={good_v1}");
    assert!(stripe.verify_webhook(&signed(Some(both)), body, now).is_ok());

    let tampered = String::from_utf8(body.to_vec()).unwrap().replace("cs_test_1", "cs_test_2");
    assert_eq!(
        stripe.verify_webhook(&signed(Some(good.clone())), tampered.as_bytes(), now),
        Err(WebhookError::BadSignature)
    );
    let wrong_secret = FakeStripe::sign(body, "whsec_wrong", now);
    assert_eq!(stripe.verify_webhook(&signed(Some(wrong_secret)), body, now), Err(WebhookError::BadSignature));
    let stale = FakeStripe::sign(body, WEBHOOK_SECRET, now - 301);
    assert_eq!(stripe.verify_webhook(&signed(Some(stale)), body, now), Err(WebhookError::StaleTimestamp));
    assert_eq!(stripe.verify_webhook(&signed(None), body, now), Err(WebhookError::MissingSignature));

    let ignored = br#"{"id":"evt_2","object":"event","type":"charge.refunded","data":{"object":{"id":"ch_1"}}}"#;
    let header = FakeStripe::sign(ignored, WEBHOOK_SECRET, now);
    let event = stripe.verify_webhook(&signed(Some(header)), ignored, now).unwrap();
    assert_eq!(event.session_reference, None);

    let unconfigured = StripeProvider::new(fake.provider_config()).unwrap();
    assert_eq!(unconfigured.verify_webhook(&signed(Some(good)), body, now), Err(WebhookError::Unsupported));
}

/// A webhook endpoint that verifies each delivery with the adapter, as the
/// server's will: 200 for a good one, 400 for the rest.
struct Receiver {
    url: String,
    verified: Arc<Mutex<Vec<Result<WebhookEvent, WebhookError>>>>,
    _task: tokio::task::JoinHandle<()>,
}

async fn receiver(stripe: StripeProvider) -> Receiver {
    type Shared = (Arc<StripeProvider>, Arc<Mutex<Vec<Result<WebhookEvent, WebhookError>>>>);
    async fn take(State((stripe, verified)): State<Shared>, headers: HeaderMap, body: Bytes) -> StatusCode {
        let outcome = stripe.verify_webhook(&headers, &body, unix_now());
        let status = if outcome.is_ok() { StatusCode::OK } else { StatusCode::BAD_REQUEST };
        verified.lock().unwrap().push(outcome);
        status
    }
    let verified = Arc::new(Mutex::new(Vec::new()));
    let router = axum::Router::new()
        .route("/webhook", axum::routing::post(take))
        .with_state((Arc::new(stripe), verified.clone()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/webhook", listener.local_addr().unwrap());
    let task = tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    Receiver { url, verified, _task: task }
}

#[tokio::test]
async fn stripe_deliveries_are_signed_and_each_mode_behaves() {
    let fake = FakeStripe::start().await;
    let stripe = provider(&fake);
    let endpoint = receiver(provider(&fake)).await;
    fake.set_webhook(&endpoint.url, WEBHOOK_SECRET).await;
    let mut sessions = Vec::new();
    for i in 0..6 {
        let session =
            stripe.create_session(&checkout(&format!("pay_w{i}"), "USD", &[("Mug", 1_000, 1)])).await.unwrap();
        sessions.push(session.reference);
    }

    let normal = fake.complete_session(&sessions[0]).await;
    assert_eq!(normal.len(), 1);
    assert_eq!(normal[0].status, Some(200));
    assert_eq!(normal[0].event_type, "checkout.session.completed");
    assert_eq!(normal[0].object_id.as_deref(), Some(sessions[0].as_str()));

    fake.set_delivery(Delivery::Duplicate(3)).await;
    let duplicates = fake.complete_session(&sessions[1]).await;
    assert_eq!(duplicates.len(), 3);
    assert!(duplicates.iter().all(|d| d.status == Some(200) && d.event_id == duplicates[0].event_id));

    fake.set_delivery(Delivery::BadlySigned).await;
    let bad = fake.complete_session(&sessions[2]).await;
    assert_eq!((bad[0].status, bad[0].badly_signed), (Some(400), true));
    // Stripe's retry of the same event, properly signed, goes through.
    assert_eq!(fake.redeliver(&bad[0].event_id).await.status, Some(200));

    fake.set_delivery(Delivery::Dropped).await;
    let dropped = fake.complete_session(&sessions[3]).await;
    assert_eq!(dropped[0].status, None);

    fake.set_delivery(Delivery::Reordered).await;
    assert!(fake.complete_session_async(&sessions[4]).await.is_empty(), "the first event is held");
    let reordered = fake.async_outcome(&sessions[4], true).await;
    let kinds: Vec<&str> = reordered.iter().map(|d| d.event_type.as_str()).collect();
    assert_eq!(kinds, ["checkout.session.async_payment_succeeded", "checkout.session.completed"]);

    fake.set_delivery(Delivery::Delayed(Duration::from_millis(50))).await;
    let before = fake.deliveries().len();
    assert!(fake.expire(&sessions[5]).await.is_empty());
    let all = fake.wait_for_deliveries(before + 1).await;
    assert_eq!(all.last().unwrap().event_type, "checkout.session.expired");

    let verified = endpoint.verified.lock().unwrap();
    let good = verified.iter().filter(|outcome| outcome.is_ok()).count();
    let bad = verified.iter().filter(|outcome| outcome.is_err()).count();
    assert_eq!((good, bad), (1 + 3 + 1 + 2 + 1, 1));
    assert!(verified.iter().any(|outcome| outcome == &Err(WebhookError::BadSignature)));
}

#[tokio::test]
async fn stripe_hosted_page_pays_and_returns_the_buyer_with_the_session_id() {
    let fake = FakeStripe::start().await;
    let stripe = provider(&fake);
    let session = stripe.create_session(&checkout("pay_h", "USD", &[("Mug", 1_000, 1)])).await.unwrap();
    let response = raw_client().get(&session.redirect_url).send().await.unwrap();
    assert_eq!(response.status(), 303);
    let location = response.headers()["location"].to_str().unwrap();
    assert_eq!(
        location,
        format!("https://shop.example/api/v1/payments/stripe/return?session_id={}", session.reference)
    );
    assert!(matches!(stripe.session_state(&session.reference).await.unwrap(), ProviderState::Captured { .. }));
    assert_eq!(raw_client().get(&session.redirect_url).send().await.unwrap().status(), 410);
}

// --- the fake, called raw ---------------------------------------------------

async fn post_form(fake: &FakeStripe, path: &str, key: Option<&str>, form: &[(&str, &str)]) -> (u16, HeaderMap, Value) {
    let mut request = raw_client().post(format!("{}{path}", fake.base_url())).bearer_auth(fake.secret_key()).form(form);
    if let Some(key) = key {
        request = request.header("Idempotency-Key", key);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    (status, headers, response.json().await.unwrap())
}

fn session_form<'a>(extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut form = vec![
        ("mode", "payment"),
        ("success_url", "https://shop.example/ok"),
        ("line_items[0][price_data][currency]", "usd"),
        ("line_items[0][price_data][unit_amount]", "1000"),
        ("line_items[0][price_data][product_data][name]", "Mug"),
        ("line_items[0][quantity]", "1"),
    ];
    form.extend_from_slice(extra);
    form
}

#[tokio::test]
async fn fake_stripe_refuses_what_stripe_refuses() {
    let fake = FakeStripe::start().await;

    let (status, _, body) = post_form(&fake, "/v1/checkout/sessions", None, &session_form(&[("colour", "red")])).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["type"], "invalid_request_error");
    assert_eq!(body["error"]["param"], "colour");
    assert_eq!(body["error"]["message"], "Received unknown parameter: colour");

    let (status, _, body) =
        post_form(&fake, "/v1/checkout/sessions", None, &session_form(&[("line_items[0][price_data][colour]", "x")]))
            .await;
    assert_eq!((status, body["error"]["param"].as_str()), (400, Some("line_items[0][price_data][colour]")));

    let decimals = session_form(&[]).into_iter().map(|(k, v)| if v == "1000" { (k, "10.00") } else { (k, v) });
    let (status, _, body) = post_form(&fake, "/v1/checkout/sessions", None, &decimals.collect::<Vec<_>>()).await;
    assert_eq!((status, body["error"]["message"].as_str()), (400, Some("Invalid integer: 10.00")));

    let soon = (unix_now() + 600).to_string();
    let (status, _, body) =
        post_form(&fake, "/v1/checkout/sessions", None, &session_form(&[("expires_at", soon.as_str())])).await;
    assert_eq!((status, body["error"]["param"].as_str()), (400, Some("expires_at")));

    let (status, _, body) = post_form(&fake, "/v1/checkout/sessions", None, &[("mode", "payment")]).await;
    assert_eq!((status, body["error"]["param"].as_str()), (400, Some("success_url")));

    let unauthenticated = raw_client().post(format!("{}/v1/checkout/sessions", fake.base_url())).send().await.unwrap();
    assert_eq!(unauthenticated.status(), 401);
    let body: Value = unauthenticated.json().await.unwrap();
    assert_eq!(body["error"]["type"], "invalid_request_error");
    assert!(fake.sessions().is_empty());

    // One key: the same parameters replay the first answer; others are refused.
    let (status, headers, first) = post_form(&fake, "/v1/checkout/sessions", Some("k1"), &session_form(&[])).await;
    assert_eq!(status, 200);
    assert!(headers.get("idempotent-replayed").is_none());
    let (status, headers, replay) = post_form(&fake, "/v1/checkout/sessions", Some("k1"), &session_form(&[])).await;
    assert_eq!((status, &replay), (200, &first));
    assert_eq!(headers["idempotent-replayed"], "true");
    let (status, _, body) =
        post_form(&fake, "/v1/checkout/sessions", Some("k1"), &session_form(&[("customer_email", "a@b.example")]))
            .await;
    assert_eq!((status, body["error"]["type"].as_str()), (400, Some("idempotency_error")));
    let (status, _, body) = post_form(&fake, "/v1/refunds", Some("k1"), &[("payment_intent", "pi_x")]).await;
    assert_eq!((status, body["error"]["type"].as_str()), (400, Some("idempotency_error")));
    assert_eq!(fake.sessions().len(), 1);

    // Refunds: nothing to refund before payment; never more than is left.
    let id = first["id"].as_str().unwrap().to_string();
    fake.complete_session(&id).await;
    let intent = fake.session(&id).unwrap().payment_intent.unwrap();
    let (status, _, body) =
        post_form(&fake, "/v1/refunds", None, &[("payment_intent", intent.as_str()), ("amount", "1001")]).await;
    assert_eq!((status, body["error"]["code"].as_str()), (400, Some("amount_too_large")));
    let (status, _, _) = post_form(&fake, "/v1/refunds", None, &[("payment_intent", intent.as_str())]).await;
    assert_eq!(status, 200);
    let (status, _, body) = post_form(&fake, "/v1/refunds", None, &[("payment_intent", intent.as_str())]).await;
    assert_eq!((status, body["error"]["code"].as_str()), (400, Some("charge_already_refunded")));
    let (status, _, body) = post_form(&fake, "/v1/refunds", None, &[("payment_intent", "pi_missing")]).await;
    assert_eq!((status, body["error"]["code"].as_str()), (404, Some("resource_missing")));
}

#[tokio::test]
async fn a_retried_stripe_session_with_a_near_expiry_is_the_same_session() {
    let fake = FakeStripe::start().await;
    let stripe = provider(&fake);
    let mut soon = checkout("pay_retry", "USD", &[("Mug", 1_000, 1)]);
    soon.expires_at = soon.created_at + 60;
    let first = stripe.create_session(&soon).await.unwrap();
    // The retry must come at a later second than the first call, as a real one would.
    let started = unix_now();
    while unix_now() == started {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let retry = stripe.create_session(&soon).await.unwrap();
    assert_eq!(retry.reference, first.reference);
    assert_eq!(retry.expires_at, first.expires_at);
    assert_eq!(fake.sessions().len(), 1);
}
