use std::sync::Arc;
use std::time::{Duration, Instant};

use emporium_payments::fake::{FakePayPal, Outage};
use emporium_payments::{PayPalConfig, PayPalProvider, PaymentProvider, ProviderError, ProviderState, WebhookError};
use serde_json::{Value, json};

use crate::{checkout, money, raw_client, unix_now};

fn provider(fake: &FakePayPal) -> PayPalProvider {
    PayPalProvider::new(fake.provider_config()).unwrap()
}

fn order_id_of(session: &emporium_payments::Session) -> &str {
    &session.reference
}

#[tokio::test]
async fn paypal_order_is_approved_captured_and_refunded_in_parts_and_never_beyond() {
    let fake = FakePayPal::start().await;
    let paypal = provider(&fake);
    let request = checkout("pay_1", "USD", &[("Mug", 1_250, 2), ("Poster", 500, 1)]);

    let session = paypal.create_session(&request).await.unwrap();
    assert_eq!(session.redirect_url, format!("{}/checkoutnow?token={}", fake.base_url(), session.reference));
    assert_eq!(session.expires_at, None);
    let order = fake.order(order_id_of(&session)).unwrap();
    assert_eq!(order.status, "PAYER_ACTION_REQUIRED");
    assert_eq!(order.value, "30.00");
    assert_eq!((order.reference_id.as_deref(), order.invoice_id.as_deref()), (Some("ord_pay_1"), Some("pay_1")));
    assert_eq!(order.custom_id.as_deref(), Some("pay_1"));
    assert_eq!(order.request_id.as_deref(), Some("emporium-pay_1-create"));
    assert_eq!(order.items[0].unit_amount, "12.50");
    assert_eq!(order.items[0].quantity, "2");
    assert_eq!(order.return_url.as_deref(), Some(request.success_url.as_str()));
    assert_eq!(order.cancel_url.as_deref(), Some("https://shop.example/cart"));
    assert_eq!(paypal.session_state(&session.reference).await.unwrap(), ProviderState::Pending);

    // The buyer came back without approving: nothing is captured.
    assert_eq!(paypal.confirm(&session.reference, "capture-1").await.unwrap(), ProviderState::Pending);
    assert_eq!(fake.capture_count(), 0);

    fake.approve(&session.reference).await;
    assert_eq!(paypal.session_state(&session.reference).await.unwrap(), ProviderState::Pending);
    let state = paypal.confirm(&session.reference, "capture-1").await.unwrap();
    let ProviderState::Captured { amount, currency, capture_reference } = state.clone() else { panic!("{state:?}") };
    assert_eq!((amount, currency.as_str()), (money(3_000), "USD"));
    assert_eq!(fake.captures()[0].id, capture_reference);
    assert_eq!(paypal.session_state(&session.reference).await.unwrap(), state);

    let first = paypal.refund(&capture_reference, Some(money(1_000)), "USD", "refund-1").await.unwrap();
    assert_eq!((first.amount, first.status.as_str()), (money(1_000), "COMPLETED"));
    let rest = paypal.refund(&capture_reference, None, "USD", "refund-2").await.unwrap();
    assert_eq!(rest.amount, money(2_000));
    let beyond = paypal.refund(&capture_reference, Some(money(1)), "USD", "refund-3").await.unwrap_err();
    assert!(matches!(&beyond, ProviderError::Rejected(m) if m.contains("CAPTURE_FULLY_REFUNDED")), "{beyond:?}");
    assert_eq!(fake.refunds().iter().map(|r| r.amount_minor).sum::<i64>(), 3_000);
    // Refunded captures still read as captured: refunds are recorded apart.
    assert_eq!(paypal.session_state(&session.reference).await.unwrap(), state);
}

#[tokio::test]
async fn paypal_refund_above_what_is_left_is_rejected_and_a_repeat_key_replays() {
    let fake = FakePayPal::start().await;
    let paypal = provider(&fake);
    let session = paypal.create_session(&checkout("pay_2", "EUR", &[("Lamp", 4_000, 1)])).await.unwrap();
    fake.approve(&session.reference).await;
    let ProviderState::Captured { capture_reference, .. } = paypal.confirm(&session.reference, "c").await.unwrap()
    else {
        panic!("not captured")
    };
    let first = paypal.refund(&capture_reference, Some(money(3_000)), "EUR", "r1").await.unwrap();
    let replay = paypal.refund(&capture_reference, Some(money(3_000)), "EUR", "r1").await.unwrap();
    assert_eq!(first, replay);
    assert_eq!(fake.refunds().len(), 1);
    let error = paypal.refund(&capture_reference, Some(money(1_001)), "EUR", "r2").await.unwrap_err();
    assert!(matches!(&error, ProviderError::Rejected(m) if m.contains("REFUND_AMOUNT_EXCEEDED")), "{error:?}");
    let missing = paypal.refund("NO_SUCH_CAPTURE", None, "EUR", "r3").await.unwrap_err();
    assert!(matches!(missing, ProviderError::NotFound(_)), "{missing:?}");
}

#[tokio::test]
async fn paypal_double_confirm_captures_once() {
    let fake = FakePayPal::start().await;
    let paypal = Arc::new(provider(&fake));
    let session = paypal.create_session(&checkout("pay_3", "USD", &[("Mug", 1_000, 1)])).await.unwrap();
    fake.approve(&session.reference).await;

    // A double click: the same key twice at once.
    let (a, b) = tokio::join!(paypal.confirm(&session.reference, "k"), paypal.confirm(&session.reference, "k"));
    let (a, b) = (a.unwrap(), b.unwrap());
    assert!(matches!(a, ProviderState::Captured { .. }), "{a:?}");
    assert_eq!(a, b);
    // Another server (another key) after that: ORDER_ALREADY_CAPTURED, then the order is read.
    assert_eq!(paypal.confirm(&session.reference, "other-key").await.unwrap(), a);
    assert_eq!(fake.capture_count(), 1);
    assert_eq!(fake.request_count("POST /v2/checkout/orders/{id}/capture"), 3);
}

#[tokio::test]
async fn paypal_token_is_cached_shared_and_refreshed() {
    let fake = FakePayPal::start().await;
    let paypal = Arc::new(provider(&fake));

    // Cold cache, five calls at once: one token request.
    let calls = (0..5).map(|_| {
        let paypal = paypal.clone();
        tokio::spawn(async move { paypal.session_state("UNKNOWN").await })
    });
    for call in calls {
        assert_eq!(call.await.unwrap().unwrap(), ProviderState::Expired);
    }
    paypal.create_session(&checkout("pay_4", "USD", &[("Mug", 1_000, 1)])).await.unwrap();
    assert_eq!(fake.token_requests(), 1);

    // Revoked early: the 401 is retried once with a fresh token.
    fake.expire_tokens().await;
    assert_eq!(paypal.session_state("UNKNOWN").await.unwrap(), ProviderState::Expired);
    assert_eq!(fake.token_requests(), 2);

    // Tokens that live no longer than the refresh margin are used once.
    fake.set_token_lifetime(Duration::from_secs(30)).await;
    fake.expire_tokens().await;
    paypal.session_state("UNKNOWN").await.unwrap();
    paypal.session_state("UNKNOWN").await.unwrap();
    assert_eq!(fake.token_requests(), 4);
    fake.set_token_lifetime(Duration::from_secs(3_600)).await;
    paypal.session_state("UNKNOWN").await.unwrap();
    paypal.session_state("UNKNOWN").await.unwrap();
    assert_eq!(fake.token_requests(), 5);
}

#[tokio::test]
async fn paypal_zero_decimal_amounts_have_no_decimals() {
    let fake = FakePayPal::start().await;
    let paypal = provider(&fake);
    let session = paypal.create_session(&checkout("pay_5", "JPY", &[("Tea", 150_000, 3)])).await.unwrap();
    let order = fake.order(&session.reference).unwrap();
    assert_eq!((order.value.as_str(), order.items[0].unit_amount.as_str()), ("4500", "1500"));
    fake.approve(&session.reference).await;
    let state = paypal.confirm(&session.reference, "c").await.unwrap();
    let ProviderState::Captured { amount, currency, capture_reference } = state else { panic!("{state:?}") };
    assert_eq!((amount, currency.as_str()), (money(450_000), "JPY"));
    let refund = paypal.refund(&capture_reference, Some(money(50_000)), "JPY", "r").await.unwrap();
    assert_eq!((refund.amount, fake.refunds()[0].value.as_str()), (money(50_000), "500"));

    let before = fake.request_count("POST /v2/checkout/orders");
    let error = paypal.create_session(&checkout("pay_6", "JPY", &[("Tea", 10_050, 1)])).await.unwrap_err();
    assert!(matches!(error, ProviderError::Rejected(_)), "{error:?}");
    let error = paypal.create_session(&checkout("pay_7", "BHD", &[("Dates", 1_000, 1)])).await.unwrap_err();
    assert!(matches!(&error, ProviderError::Rejected(m) if m.contains("BHD")), "{error:?}");
    assert_eq!(fake.request_count("POST /v2/checkout/orders"), before);
}

#[tokio::test]
async fn paypal_the_capture_status_decides_not_the_order_status() {
    let fake = FakePayPal::start().await;
    let paypal = provider(&fake);
    let declined = paypal.create_session(&checkout("pay_8", "USD", &[("Mug", 1_000, 1)])).await.unwrap();
    fake.approve(&declined.reference).await;
    fake.decline_capture(&declined.reference).await;
    let state = paypal.confirm(&declined.reference, "c").await.unwrap();
    assert!(matches!(&state, ProviderState::Failed { reason } if reason.contains("DECLINED")), "{state:?}");
    assert_eq!(fake.order(&declined.reference).unwrap().status, "COMPLETED");
    assert_eq!(paypal.session_state(&declined.reference).await.unwrap(), state);

    let refused = paypal.create_session(&checkout("pay_9b", "USD", &[("Mug", 1_000, 1)])).await.unwrap();
    fake.approve(&refused.reference).await;
    fake.decline_instrument(&refused.reference).await;
    let state = paypal.confirm(&refused.reference, "c").await.unwrap();
    assert!(matches!(&state, ProviderState::Failed { reason } if reason.contains("INSTRUMENT_DECLINED")), "{state:?}");
    assert_eq!(fake.order(&refused.reference).unwrap().status, "APPROVED");

    let held = paypal.create_session(&checkout("pay_9", "USD", &[("Mug", 1_000, 1)])).await.unwrap();
    fake.approve(&held.reference).await;
    fake.pend_capture(&held.reference).await;
    assert_eq!(paypal.confirm(&held.reference, "c").await.unwrap(), ProviderState::Pending);
    fake.settle_capture(&held.reference).await;
    let state = paypal.session_state(&held.reference).await.unwrap();
    assert!(matches!(state, ProviderState::Captured { amount, .. } if amount == money(1_000)), "{state:?}");
}

#[tokio::test]
async fn paypal_reports_the_amount_it_captured_not_the_one_asked() {
    let fake = FakePayPal::start().await;
    let paypal = provider(&fake);
    let session = paypal.create_session(&checkout("pay_m", "USD", &[("Mug", 1_000, 1)])).await.unwrap();
    fake.approve(&session.reference).await;
    fake.set_capture_amount(&session.reference, 900).await;
    let state = paypal.confirm(&session.reference, "c").await.unwrap();
    assert!(matches!(state, ProviderState::Captured { amount, .. } if amount == money(900)), "{state:?}");
}

#[tokio::test]
async fn paypal_lapsed_order_reads_expired_and_cancel_calls_nothing() {
    let fake = FakePayPal::start().await;
    let paypal = provider(&fake);
    let session = paypal.create_session(&checkout("pay_10", "USD", &[("Mug", 1_000, 1)])).await.unwrap();
    let before = fake.request_counts();
    paypal.cancel(&session.reference).await.unwrap();
    assert_eq!(fake.request_counts(), before);
    fake.lapse(&session.reference).await;
    assert_eq!(paypal.session_state(&session.reference).await.unwrap(), ProviderState::Expired);
    assert_eq!(paypal.confirm(&session.reference, "c").await.unwrap(), ProviderState::Expired);
    assert_eq!(paypal.verify_webhook(&http::HeaderMap::new(), b"{}", unix_now()), Err(WebhookError::Unsupported));
}

#[tokio::test]
async fn paypal_create_is_idempotent_per_payment() {
    let fake = FakePayPal::start().await;
    let paypal = provider(&fake);
    let request = checkout("pay_11", "USD", &[("Mug", 1_000, 1)]);
    let first = paypal.create_session(&request).await.unwrap();
    assert_eq!(paypal.create_session(&request).await.unwrap(), first);
    assert_eq!(fake.orders().len(), 1);
}

#[tokio::test]
async fn paypal_bad_credentials_are_rejected() {
    let fake = FakePayPal::start().await;
    let wrong = PayPalProvider::new(PayPalConfig { client_secret: "nope".into(), ..fake.provider_config() }).unwrap();
    let error = wrong.session_state("ANY").await.unwrap_err();
    assert!(matches!(&error, ProviderError::Rejected(m) if m.contains("invalid_client")), "{error:?}");
}

#[tokio::test]
async fn paypal_down_is_unavailable_within_the_timeout() {
    let fake = FakePayPal::start().await;
    let timeout = Duration::from_millis(300);
    let paypal = PayPalProvider::new(PayPalConfig { timeout, ..fake.provider_config() }).unwrap();
    let request = checkout("pay_12", "USD", &[("Mug", 1_000, 1)]);

    fake.set_outage(Outage::Unavailable).await;
    let error = paypal.create_session(&request).await.unwrap_err();
    assert!(matches!(error, ProviderError::Unavailable(_)), "{error:?}");

    fake.set_outage(Outage::Stall).await;
    let started = Instant::now();
    let error = paypal.session_state("ANY").await.unwrap_err();
    assert!(matches!(error, ProviderError::Unavailable(_)), "{error:?}");
    // Well before the fake's ten-minute stall: the adapter's timeout ended it.
    assert!(started.elapsed() < Duration::from_secs(5), "took {:?}", started.elapsed());

    fake.set_outage(Outage::None).await;
    paypal.create_session(&request).await.unwrap();
}

#[tokio::test]
async fn paypal_approval_page_returns_the_buyer_with_token_and_payer_id() {
    let fake = FakePayPal::start().await;
    let paypal = provider(&fake);
    let session = paypal.create_session(&checkout("pay_13", "USD", &[("Mug", 1_000, 1)])).await.unwrap();
    let response = raw_client().get(&session.redirect_url).send().await.unwrap();
    assert_eq!(response.status(), 303);
    let location = reqwest::Url::parse(response.headers()["location"].to_str().unwrap()).unwrap();
    let query: Vec<(String, String)> = location.query_pairs().into_owned().collect();
    assert!(query.contains(&("token".into(), session.reference.clone())), "{location}");
    let payer = fake.order(&session.reference).unwrap().payer_id.unwrap();
    assert!(query.contains(&("PayerID".into(), payer)), "{location}");
    assert!(matches!(paypal.confirm(&session.reference, "c").await.unwrap(), ProviderState::Captured { .. }));
}

// --- the fake, called raw ---------------------------------------------------

async fn token(fake: &FakePayPal) -> String {
    let response = raw_client()
        .post(format!("{}/v1/oauth2/token", fake.base_url()))
        .basic_auth(fake.client_id(), Some(fake.client_secret()))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    body["access_token"].as_str().unwrap().to_string()
}

async fn post_json(fake: &FakePayPal, token: &str, path: &str, body: &Value) -> (u16, Value) {
    let response = raw_client()
        .post(format!("{}{path}", fake.base_url()))
        .bearer_auth(token)
        .header("Prefer", "return=representation")
        .json(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

fn usd(value: &str) -> Value {
    json!({ "currency_code": "USD", "value": value })
}

fn order_body(total: &str, item_total: &str, unit: &str, quantity: &str) -> Value {
    json!({
        "intent": "CAPTURE",
        "purchase_units": [{
            "reference_id": "ord_1",
            "amount": { "currency_code": "USD", "value": total, "breakdown": { "item_total": usd(item_total) } },
            "items": [{ "name": "Mug", "quantity": quantity, "unit_amount": usd(unit) }],
        }],
    })
}

fn issue(body: &Value) -> &str {
    body["details"][0]["issue"].as_str().unwrap_or_default()
}

#[tokio::test]
async fn fake_paypal_refuses_what_paypal_refuses() {
    let fake = FakePayPal::start().await;
    let token = token(&fake).await;
    let orders = "/v2/checkout/orders";

    let (status, body) = post_json(&fake, &token, orders, &order_body("20.00", "20.00", "10.00", "2")).await;
    assert_eq!((status, body["status"].as_str()), (201, Some("CREATED")));
    assert_eq!(body["links"].as_array().unwrap().iter().filter(|l| l["rel"] == "approve").count(), 1);

    let (status, body) = post_json(&fake, &token, orders, &order_body("20.00", "20.00", "10.00", "3")).await;
    assert_eq!((status, issue(&body)), (422, "ITEM_TOTAL_MISMATCH"));
    assert_eq!(body["name"], "UNPROCESSABLE_ENTITY");
    let (status, body) = post_json(&fake, &token, orders, &order_body("25.00", "20.00", "10.00", "2")).await;
    assert_eq!((status, issue(&body)), (422, "AMOUNT_MISMATCH"));
    let (status, body) = post_json(&fake, &token, orders, &order_body("20.001", "20.001", "10.0005", "2")).await;
    assert_eq!((status, issue(&body)), (422, "DECIMAL_PRECISION"));
    let mut no_total = order_body("20.00", "20.00", "10.00", "2");
    no_total["purchase_units"][0]["amount"].as_object_mut().unwrap().remove("breakdown");
    let (status, body) = post_json(&fake, &token, orders, &no_total).await;
    assert_eq!((status, issue(&body)), (422, "ITEM_TOTAL_REQUIRED"));

    let yen =
        json!({ "intent": "CAPTURE", "purchase_units": [{ "amount": { "currency_code": "JPY", "value": "100.50" } }] });
    let (status, body) = post_json(&fake, &token, orders, &yen).await;
    assert_eq!((status, issue(&body)), (422, "DECIMALS_NOT_SUPPORTED"));

    let mut unknown = order_body("20.00", "20.00", "10.00", "2");
    unknown["purchase_units"][0]["colour"] = json!("red");
    let (status, body) = post_json(&fake, &token, orders, &unknown).await;
    assert_eq!((status, issue(&body)), (400, "MALFORMED_REQUEST_JSON"));
    assert_eq!(body["name"], "INVALID_REQUEST");
    assert_eq!(body["details"][0]["field"], "/purchase_units/0/colour");
    let mut number = order_body("20.00", "20.00", "10.00", "2");
    number["purchase_units"][0]["items"][0]["quantity"] = json!(2);
    let (status, body) = post_json(&fake, &token, orders, &number).await;
    assert_eq!((status, issue(&body)), (400, "MALFORMED_REQUEST_JSON"));
    let (status, body) = post_json(&fake, &token, orders, &json!({ "intent": "CAPTURE" })).await;
    assert_eq!((status, issue(&body)), (400, "MISSING_REQUIRED_PARAMETER"));

    let (status, _) = post_json(&fake, "not-a-token", orders, &order_body("20.00", "20.00", "10.00", "2")).await;
    assert_eq!(status, 401);
    let missing_auth = raw_client().get(format!("{}{orders}/X", fake.base_url())).send().await.unwrap();
    assert_eq!(missing_auth.status(), 401);
    let body: Value = missing_auth.json().await.unwrap();
    assert_eq!(body["name"], "AUTHENTICATION_FAILURE");
    assert_eq!(fake.orders().len(), 1);

    // Capture: not before approval; one capture per order; a repeated request id replays.
    let id = fake.orders()[0].id.clone();
    let capture = format!("{orders}/{id}/capture");
    let (status, body) = post_json(&fake, &token, &capture, &json!({})).await;
    assert_eq!((status, issue(&body)), (422, "ORDER_NOT_APPROVED"));
    fake.approve(&id).await;
    let first = raw_client()
        .post(format!("{}{capture}", fake.base_url()))
        .bearer_auth(&token)
        .header("PayPal-Request-Id", "cap-1")
        .header("Prefer", "return=representation")
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(first.status(), 201);
    let first: Value = first.json().await.unwrap();
    let replay = raw_client()
        .post(format!("{}{capture}", fake.base_url()))
        .bearer_auth(&token)
        .header("PayPal-Request-Id", "cap-1")
        .header("Prefer", "return=representation")
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(replay.status(), 201);
    assert_eq!(replay.json::<Value>().await.unwrap(), first);
    let (status, body) = post_json(&fake, &token, &capture, &json!({})).await;
    assert_eq!((status, issue(&body)), (422, "ORDER_ALREADY_CAPTURED"));
    assert_eq!(fake.capture_count(), 1);
    assert_eq!(fake.request_ids(), vec!["cap-1", "cap-1"]);

    // Refunds never exceed what is left.
    let capture_id = first["purchase_units"][0]["payments"]["captures"][0]["id"].as_str().unwrap();
    let refund = format!("/v2/payments/captures/{capture_id}/refund");
    let (status, body) = post_json(&fake, &token, &refund, &json!({ "amount": usd("20.01") })).await;
    assert_eq!((status, issue(&body)), (422, "REFUND_AMOUNT_EXCEEDED"));
    let (status, body) = post_json(&fake, &token, &refund, &json!({ "amount": usd("5.001") })).await;
    assert_eq!((status, issue(&body)), (422, "DECIMAL_PRECISION"));
    let (status, body) = post_json(&fake, &token, &refund, &json!({ "amount": usd("5.00") })).await;
    assert_eq!((status, body["amount"]["value"].as_str()), (201, Some("5.00")));
    assert!(fake.refunds().len() == 1);

    // An invoice id already paid cannot be paid again.
    let mut again = order_body("20.00", "20.00", "10.00", "2");
    again["purchase_units"][0]["invoice_id"] = json!("inv-1");
    let paid = json!({ "intent": "CAPTURE", "purchase_units": [{ "invoice_id": "inv-1", "amount": usd("1.00") }] });
    let (_, body) = post_json(&fake, &token, orders, &paid).await;
    let paid_id = body["id"].as_str().unwrap().to_string();
    fake.approve(&paid_id).await;
    let (status, _) = post_json(&fake, &token, &format!("{orders}/{paid_id}/capture"), &json!({})).await;
    assert_eq!(status, 201);
    let (status, body) = post_json(&fake, &token, orders, &again).await;
    assert_eq!((status, issue(&body)), (422, "DUPLICATE_INVOICE_ID"));
}

#[tokio::test]
async fn paypal_calls_waiting_for_a_stalled_token_all_end_within_the_timeout() {
    let fake = FakePayPal::start().await;
    let timeout = Duration::from_millis(400);
    let paypal = Arc::new(PayPalProvider::new(PayPalConfig { timeout, ..fake.provider_config() }).unwrap());
    fake.set_outage(Outage::Stall).await;
    let calls: Vec<_> = (0..5)
        .map(|_| {
            let paypal = paypal.clone();
            tokio::spawn(async move {
                let started = Instant::now();
                let error = paypal.session_state("ANY").await.unwrap_err();
                (error, started.elapsed())
            })
        })
        .collect();
    for call in calls {
        let (error, took) = call.await.unwrap();
        assert!(matches!(error, ProviderError::Unavailable(_)), "{error:?}");
        assert!(took < timeout + Duration::from_millis(600), "took {took:?}");
    }
}
