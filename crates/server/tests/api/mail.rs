//! E-mail against a real SMTP server (aiosmtpd, see `smtp.rs`): the password
//! reset flow end to end, the mails orders and accounts send, and an outbox
//! that loses nothing, sends nothing twice and queues nothing for a change
//! that did not happen.

use std::time::{Duration, Instant};

use emporium_server::config::Config;
use futures::future::join_all;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::{Backend, PASSWORD, TestApp};
use crate::smtp::{Received, SinkMode, SmtpSink};

/// Runs each case, given its backend, as `sqlite::case` and `postgres::case`;
/// each case starts its own SMTP server (or skips, with a notice).
macro_rules! with_smtp_on_both_backends {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    super::$case($crate::harness::Backend::Sqlite).await;
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
                    super::$case($crate::harness::Backend::Postgres).await;
                }
            )*
        }
    };
}

with_smtp_on_both_backends!(
    a_forgotten_password_is_reset_through_the_mailed_link,
    an_unknown_email_gets_the_same_answer_and_no_mail,
    the_fourth_reset_request_in_an_hour_sends_nothing,
    registration_sends_the_welcome,
    each_order_event_sends_its_mail_once_with_the_right_totals,
    mails_queued_while_smtp_is_down_go_out_once_when_it_is_back,
    a_stalling_smtp_server_does_not_hang_the_sender,
    a_rolled_back_change_queues_nothing,
    starttls_to_a_self_signed_server_needs_the_url_to_trust_it,
    header_injection_never_reaches_the_smtp_conversation,
    a_dead_mail_is_listed_and_an_admin_can_send_it_again,
);

fn sending_to(url: String) -> impl FnOnce(&mut Config) {
    move |c: &mut Config| {
        c.mail.smtp = Some(emporium_mail::SmtpSettings::parse(&url).unwrap());
        c.mail.poll_interval = Duration::from_millis(100);
        c.mail.from = "Test Shop <shop@shop.test>".into();
        c.mail.shop_name = "Test Shop".into();
        // The mail gauges are read from a separate metrics address.
        c.metrics_bind = Some(([127, 0, 0, 1], 0).into());
        // Links in mails point at the shop's front end.
        c.payments.frontend_url = Some("http://shop.test".into());
    }
}

async fn app_with(backend: Backend, sink: &SmtpSink) -> TestApp {
    TestApp::spawn(backend, sending_to(sink.url())).await
}

fn address(first_name: &str) -> Value {
    json!({ "firstName": first_name, "lastName": "Lovelace", "address1": "12 Analytical St", "city": "London", "postcode": "N1 9GU", "country": "GB", "phone": "+44 20 7946 0000" })
}

async fn product(app: &TestApp, admin: &str, body: Value) -> String {
    let reply = app.post("/api/v1/products", Some(admin), body).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    reply.body["data"]["_id"].as_str().unwrap().to_string()
}

async fn guest_order(app: &TestApp, email: &str, product: &str, quantity: i64) -> crate::harness::Reply {
    app.post(
        "/api/v1/orders",
        None,
        json!({ "items": [{ "productId": product, "quantity": quantity }], "email": email, "shippingAddress": address("Ada") }),
    )
    .await
}

/// The admin's view of the outbox.
async fn outbox(app: &TestApp, admin: &str, query: &str) -> Value {
    let reply = app.get(&format!("/api/v1/admin/emails?limit=100{query}"), Some(admin)).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    reply.body.clone()
}

/// Polls the outbox until `done` holds.
async fn outbox_until(app: &TestApp, admin: &str, query: &str, what: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let body = outbox(app, admin, query).await;
        if done(&body) {
            return body;
        }
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for {what}: {body}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The reset token in a reset mail's link, which must point at the front end.
fn reset_token(mail: &Received) -> String {
    let link = "http://shop.test/reset-password?token=";
    let start = mail.text().find(link).unwrap_or_else(|| panic!("no reset link in {}", mail.text())) + link.len();
    let token: String = mail.text()[start..].chars().take_while(char::is_ascii_alphanumeric).collect();
    assert!(mail.html().contains(&format!("{link}{token}")), "{}", mail.html());
    token
}

async fn forgot(app: &TestApp, email: &str) -> crate::harness::Reply {
    app.post("/api/v1/users/forgot-password", None, json!({ "email": email })).await
}

async fn a_forgotten_password_is_reset_through_the_mailed_link(backend: Backend) {
    let Some(sink) = SmtpSink::start(SinkMode::Plain).await else { return };
    let app = app_with(backend, &sink).await;
    app.register("jane").await;
    let (access, refresh) = app.login("jane").await;
    let (other_access, _) = app.login("jane").await;

    let reply = forgot(&app, "Jane@Example.com").await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let mail = sink.mail_to("jane@example.com", "Reset your Test Shop password").await;
    assert_eq!(mail.content_type, "multipart/alternative");
    assert!(mail.text().contains("30 minutes"), "{}", mail.text());
    let token = reset_token(&mail);
    assert_eq!(token.len(), 64);

    // The policy holds, and a refused attempt spends nothing.
    let weak = app.post("/api/v1/users/reset-password", None, json!({ "token": token, "newPassword": "short" })).await;
    weak.assert_error(StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    assert_eq!(weak.error_fields(), vec!["newPassword"]);

    let new_password = "Another-Pass456";
    let reset =
        app.post("/api/v1/users/reset-password", None, json!({ "token": token, "newPassword": new_password })).await;
    assert_eq!(reset.status, StatusCode::OK, "{}", reset.body);

    // Every old session is gone, with its access and refresh tokens.
    for token in [&access, &other_access] {
        app.get("/api/v1/users/current-user", Some(token))
            .await
            .assert_error(StatusCode::UNAUTHORIZED, "AUTHENTICATION_ERROR");
    }
    app.post("/api/v1/users/refresh-token", None, json!({ "refreshToken": refresh }))
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "AUTHENTICATION_ERROR");
    app.post("/api/v1/users/login", None, json!({ "email": "jane@example.com", "password": PASSWORD }))
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "AUTHENTICATION_ERROR");
    let login =
        app.post("/api/v1/users/login", None, json!({ "email": "jane@example.com", "password": new_password })).await;
    assert_eq!(login.status, StatusCode::OK, "{}", login.body);

    // Single use.
    let again =
        app.post("/api/v1/users/reset-password", None, json!({ "token": token, "newPassword": "Third-Pass789" })).await;
    again.assert_error(StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    assert_eq!(again.error_fields(), vec!["token"]);
    for bad in ["", "not-a-token", &"f".repeat(64), &"x".repeat(5000)] {
        app.post("/api/v1/users/reset-password", None, json!({ "token": bad, "newPassword": "Third-Pass789" }))
            .await
            .assert_error(StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    }
    let still = app.post("/api/v1/users/login", None, json!({ "email": "jane@example.com", "password": new_password }));
    assert_eq!(still.await.status, StatusCode::OK);

    sink.mail_to("jane@example.com", "password was changed").await;

    // The audit log tells the story; the admin's outbox shows no reset secret.
    let admin = app.admin_token("boss").await;
    let audit = app.get("/api/v1/admin/audit-log?action=user.password_reset", Some(&admin)).await;
    assert_eq!(audit.body["meta"]["total"], json!(1), "{}", audit.body);
    let revoked = app.get("/api/v1/admin/audit-log?action=user.sessions_revoked", Some(&admin)).await;
    assert_eq!(revoked.body["meta"]["total"], json!(1), "{}", revoked.body);
    let listed = outbox(&app, &admin, "&recipient=JANE@example.com").await;
    let resets: Vec<&Value> =
        listed["data"].as_array().unwrap().iter().filter(|m| m["kind"] == json!("password_reset")).collect();
    assert_eq!(resets.len(), 1, "{listed}");
    assert_eq!(resets[0]["content"], Value::Null);
    assert!(!listed.to_string().contains(&token));
    // Once sent, the stored copy of the reset mail no longer holds the token.
    let filter = emporium_store::MailFilter { status: None, recipient: Some("jane@example.com".into()) };
    let page = emporium_domain::paging::Page::new(None, Some(100), 100).unwrap();
    let (stored, _) = app.store.list_mails(&filter, page).await.unwrap();
    let reset = stored.iter().find(|m| m.kind == "password_reset").unwrap();
    assert_eq!(reset.status, emporium_store::MailStatus::Sent);
    assert!(reset.content.is_none(), "the sent reset mail still holds its secret");
    let welcome = listed["data"].as_array().unwrap().iter().find(|m| m["kind"] == json!("welcome")).unwrap();
    assert_eq!(welcome["content"]["username"], json!("jane"), "{welcome}");
    app.stop().await;
}

async fn an_unknown_email_gets_the_same_answer_and_no_mail(backend: Backend) {
    let Some(sink) = SmtpSink::start(SinkMode::Plain).await else { return };
    let app = app_with(backend, &sink).await;
    app.register("jane").await;
    sink.mail_to("jane@example.com", "Welcome").await;

    let unknown = forgot(&app, "nobody@example.com").await;
    let known = forgot(&app, "jane@example.com").await;
    assert_eq!(unknown.status, StatusCode::OK);
    assert_eq!(unknown.body, known.body);
    sink.mail_to("jane@example.com", "Reset").await;
    assert!(sink.received().iter().all(|m| !m.is_to("nobody@example.com")));
    assert!(!sink.conversation().contains("nobody@example.com"));

    // A malformed address is a plain validation error, as anywhere else.
    forgot(&app, "not an email").await.assert_error(StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    app.stop().await;
}

async fn the_fourth_reset_request_in_an_hour_sends_nothing(backend: Backend) {
    let Some(sink) = SmtpSink::start(SinkMode::Plain).await else { return };
    let app = app_with(backend, &sink).await;
    app.register("jane").await;
    let admin = app.admin_token("boss").await;
    for _ in 0..4 {
        assert_eq!(forgot(&app, "jane@example.com").await.status, StatusCode::OK);
    }
    // The one over budget leaves a trace for admins, and nothing else.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while app.get("/api/v1/admin/audit-log?action=user.password_reset_throttled", Some(&admin)).await.body["meta"]["total"]
        != json!(1)
    {
        assert!(tokio::time::Instant::now() < deadline, "the fourth request was not refused");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let received =
        sink.wait_until("three reset mails", |r| r.iter().filter(|m| m.subject.contains("Reset")).count() >= 3).await;
    outbox_until(&app, &admin, "&status=pending", "an empty queue", |b| b["meta"]["total"] == json!(0)).await;
    let resets = sink.received().iter().filter(|m| m.subject.contains("Reset")).count();
    assert_eq!(resets, 3, "{received:?}");

    // Only the newest link works: each request invalidated the ones before.
    let tokens: Vec<String> = sink.received().iter().filter(|m| m.subject.contains("Reset")).map(reset_token).collect();
    let live: Vec<&String> = {
        let mut live = Vec::new();
        for token in &tokens {
            let reply = app
                .post("/api/v1/users/reset-password", None, json!({ "token": token, "newPassword": "Another-Pass456" }))
                .await;
            if reply.status == StatusCode::OK {
                live.push(token);
            }
        }
        live
    };
    assert_eq!(live.len(), 1, "exactly one of the three links works");
    app.stop().await;
}

async fn registration_sends_the_welcome(backend: Backend) {
    let Some(sink) = SmtpSink::start(SinkMode::Plain).await else { return };
    let app = app_with(backend, &sink).await;
    app.register("jane").await;
    let mail = sink.mail_to("jane@example.com", "Welcome to Test Shop").await;
    assert_eq!(mail.mail_from, "shop@shop.test");
    assert!(mail.raw.contains("jane Tester"), "{}", mail.raw);
    assert!(mail.text().contains("jane") && mail.html().contains("jane"));
    assert!(mail.message_id.ends_with("@shop.test>"), "{}", mail.message_id);
    app.stop().await;
}

async fn each_order_event_sends_its_mail_once_with_the_right_totals(backend: Backend) {
    let Some(sink) = SmtpSink::start(SinkMode::Plain).await else { return };
    let app = app_with(backend, &sink).await;
    let admin = app.admin_token("boss").await;
    let mug =
        product(&app, &admin, json!({ "name": "Mug <b>bold</b>", "price": 12.5, "discount": 10, "stock": 10 })).await;
    let pen = product(&app, &admin, json!({ "name": "Pen", "price": 3, "stock": 10 })).await;
    let placed = app
        .post(
            "/api/v1/orders",
            None,
            json!({ "items": [{ "productId": mug, "quantity": 2 }, { "productId": pen, "quantity": 3 }], "email": "ada@example.com", "shippingAddress": address("Ada") }),
        )
        .await;
    assert_eq!(placed.status, StatusCode::CREATED, "{}", placed.body);
    let id = placed.body["data"]["_id"].as_str().unwrap().to_string();
    assert_eq!(placed.body["data"]["total"], json!(31.5));

    let confirmation = sink.mail_to("ada@example.com", &format!("order #{id} received")).await;
    let text = confirmation.text();
    assert!(text.contains("2 x Mug <b>bold</b> at 11.25 USD (12.50 USD less 10%) = 22.50 USD"), "{text}");
    assert!(text.contains("3 x Pen at 3.00 USD = 9.00 USD"), "{text}");
    assert!(text.contains("Subtotal: 34.00 USD") && text.contains("Discount: -2.50 USD"), "{text}");
    assert!(text.contains("Total:    31.50 USD"), "{text}");
    assert!(text.contains("12 Analytical St") && text.contains("N1 9GU London"), "{text}");
    assert!(text.contains("awaiting payment") && !text.to_lowercase().contains("payment received"), "{text}");
    assert!(confirmation.html().contains("Mug &#60;b&#62;bold&#60;/b&#62;"), "{}", confirmation.html());
    assert!(confirmation.html().contains("31.50 USD"));

    // A guest's confirmation links to the order with its access token, the
    // one thing that opens it without an account; the stored copy is hidden.
    let token = placed.body["data"]["orderToken"].as_str().expect("a guest order has a token").to_string();
    let link = format!("http://shop.test/orders/{id}?token={token}");
    assert!(text.contains(&link), "{text}");
    assert!(confirmation.html().contains(&link), "{}", confirmation.html());
    let opened = app.get(&format!("/api/v1/orders/{id}?token={token}"), None).await;
    assert_eq!(opened.status, StatusCode::OK, "{}", opened.body);
    let stored = outbox(&app, &admin, "&recipient=ada@example.com").await;
    let placed_mail =
        stored["data"].as_array().unwrap().iter().find(|m| m["key"] == json!(format!("order:{id}:pending")));
    assert_eq!(placed_mail.expect("the confirmation is listed")["content"], Value::Null, "the token is never shown");
    assert!(!stored.to_string().contains(&token));

    for status in ["paid", "processing", "shipped", "delivered", "refunded"] {
        let moved = app.patch(&format!("/api/v1/orders/{id}/status"), Some(&admin), json!({ "status": status })).await;
        assert_eq!(moved.status, StatusCode::OK, "{}", moved.body);
    }
    let paid = sink.mail_to("ada@example.com", &format!("payment received for order #{id}")).await;
    assert!(paid.text().contains("31.50 USD"), "{}", paid.text());
    sink.mail_to("ada@example.com", &format!("order #{id} has shipped")).await;
    let refunded = sink.mail_to("ada@example.com", &format!("refund issued for order #{id}")).await;
    assert!(refunded.text().contains("refunded 31.50 USD"), "{}", refunded.text());

    let second = guest_order(&app, "ada@example.com", &pen, 1).await;
    let second_id = second.body["data"]["_id"].as_str().unwrap().to_string();
    app.post(&format!("/api/v1/orders/{second_id}/cancel"), Some(&admin), json!({})).await;
    sink.mail_to("ada@example.com", &format!("order #{second_id} cancelled")).await;

    // Once each: placed, paid, shipped, refunded, and the second's placed and cancelled.
    outbox_until(&app, &admin, "&status=pending", "an empty queue", |b| b["meta"]["total"] == json!(0)).await;
    let mails: Vec<Received> = sink.received().into_iter().filter(|m| m.is_to("ada@example.com")).collect();
    assert_eq!(mails.len(), 6, "{:?}", mails.iter().map(|m| &m.subject).collect::<Vec<_>>());
    let mut ids: Vec<&String> = mails.iter().map(|m| &m.message_id).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 6);
    let listed = outbox(&app, &admin, "&recipient=ada@example.com&status=sent").await;
    let mut keys: Vec<String> =
        listed["data"].as_array().unwrap().iter().map(|m| m["key"].as_str().unwrap().to_string()).collect();
    keys.sort();
    let mut expected: Vec<String> =
        ["pending", "paid", "shipped", "refunded"].iter().map(|s| format!("order:{id}:{s}")).collect();
    expected.extend(["pending", "cancelled"].iter().map(|s| format!("order:{second_id}:{s}")));
    expected.sort();
    assert_eq!(keys, expected);

    let metrics_base = app.metrics_base.clone().expect("a separate metrics address");
    let metrics = app.client.get(format!("{metrics_base}/metrics")).send().await.unwrap().text().await.unwrap();
    for name in ["emporium_mail_sent_total", "emporium_mail_pending", "emporium_mail_oldest_pending_age_seconds"] {
        assert!(metrics.contains(name), "{name} missing from /metrics");
    }
    app.stop().await;
}

async fn mails_queued_while_smtp_is_down_go_out_once_when_it_is_back(backend: Backend) {
    let Some(mut sink) = SmtpSink::start(SinkMode::Plain).await else { return };
    sink.stop();
    let app = app_with(backend, &sink).await;
    let admin = app.admin_token("boss").await;
    let pen = product(&app, &admin, json!({ "name": "Pen", "price": 3, "stock": 100 })).await;
    for i in 0..5 {
        assert_eq!(guest_order(&app, &format!("buyer{i}@example.com"), &pen, 1).await.status, StatusCode::CREATED);
    }
    // Every mail has been tried and failed, and waits for another try.
    let failing = outbox_until(&app, &admin, "&status=pending", "failed attempts", |b| {
        b["data"].as_array().is_some_and(|d| {
            d.len() == 6 && d.iter().all(|m| m["attempts"].as_i64() >= Some(1) && m["lastError"].is_string())
        })
    })
    .await;
    assert_eq!(failing["meta"]["total"], json!(6), "the admin's welcome and five confirmations");

    sink.restart().await;
    sink.wait_until("every queued mail", |r| r.len() >= 6).await;
    outbox_until(&app, &admin, "&status=sent", "all sent", |b| b["meta"]["total"] == json!(6)).await;
    let received = sink.received();
    assert_eq!(received.len(), 6, "{:?}", received.iter().map(|m| &m.subject).collect::<Vec<_>>());
    for i in 0..5 {
        assert_eq!(received.iter().filter(|m| m.is_to(&format!("buyer{i}@example.com"))).count(), 1);
    }
    app.stop().await;
}

async fn a_stalling_smtp_server_does_not_hang_the_sender(backend: Backend) {
    let Some(sink) = SmtpSink::start(SinkMode::Stall).await else { return };
    let url = sink.url();
    let app = TestApp::spawn(backend, |c| {
        sending_to(url)(c);
        c.mail.send_timeout = Duration::from_millis(500);
        c.mail.retry_base = Duration::from_secs(60);
    })
    .await;
    let admin = app.admin_token("boss").await;
    let started = Instant::now();
    let body = outbox_until(&app, &admin, "", "a timed-out attempt", |b| {
        b["data"].as_array().is_some_and(|d| d.iter().any(|m| m["lastError"].is_string()))
    })
    .await;
    assert!(started.elapsed() < Duration::from_secs(10), "the attempt took {:?}", started.elapsed());
    assert_eq!(body["data"][0]["status"], json!("pending"), "{body}");
    // The sender is still working: a later mail is tried too.
    app.register("later").await;
    outbox_until(&app, &admin, "&recipient=later@example.com", "the later mail to be tried", |b| {
        b["data"][0]["attempts"].as_i64() >= Some(1)
    })
    .await;
    let stopped = Instant::now();
    app.stop().await;
    assert!(stopped.elapsed() < Duration::from_secs(5), "shutdown took {:?}", stopped.elapsed());
}

async fn a_rolled_back_change_queues_nothing(backend: Backend) {
    let Some(sink) = SmtpSink::start(SinkMode::Plain).await else { return };
    let app = app_with(backend, &sink).await;
    let admin = app.admin_token("boss").await;
    let scarce = product(&app, &admin, json!({ "name": "Scarce", "price": 5, "stock": 1 })).await;
    let plenty = product(&app, &admin, json!({ "name": "Plenty", "price": 5, "stock": 10 })).await;
    // Refused orders roll back: a line short of stock takes nothing, queues nothing.
    let refused = app
        .post(
            "/api/v1/orders",
            None,
            json!({ "items": [{ "productId": plenty, "quantity": 1 }, { "productId": scarce, "quantity": 2 }], "email": "ada@example.com", "shippingAddress": address("Ada") }),
        )
        .await;
    refused.assert_error(StatusCode::CONFLICT, "INSUFFICIENT_STOCK");
    // A duplicate registration fails on the unique key: no second welcome.
    app.register("jane").await;
    let duplicate = app
        .post(
            "/api/v1/users/register",
            None,
            json!({ "fullName": "Jane Again", "username": "jane2", "email": "JANE@example.com", "password": PASSWORD }),
        )
        .await;
    duplicate.assert_error(StatusCode::CONFLICT, "CONFLICT");
    // An illegal status change and a bad reset token change nothing either.
    let order = guest_order(&app, "bob@example.com", &plenty, 1).await;
    let id = order.body["data"]["_id"].as_str().unwrap().to_string();
    app.patch(&format!("/api/v1/orders/{id}/status"), Some(&admin), json!({ "status": "shipped" }))
        .await
        .assert_error(StatusCode::CONFLICT, "CONFLICT");
    app.post(
        "/api/v1/users/reset-password",
        None,
        json!({ "token": "0".repeat(64), "newPassword": "Another-Pass456" }),
    )
    .await
    .assert_error(StatusCode::BAD_REQUEST, "VALIDATION_ERROR");

    sink.mail_to("bob@example.com", &format!("order #{id} received")).await;
    outbox_until(&app, &admin, "&status=pending", "an empty queue", |b| b["meta"]["total"] == json!(0)).await;
    let all = outbox(&app, &admin, "").await;
    let mut keys: Vec<String> =
        all["data"].as_array().unwrap().iter().map(|m| m["key"].as_str().unwrap().to_string()).collect();
    keys.sort();
    assert_eq!(keys.len(), 3, "boss's and jane's welcomes and bob's confirmation only: {keys:?}");
    assert!(keys.contains(&format!("order:{id}:pending")));
    assert!(sink.received().iter().all(|m| !m.is_to("ada@example.com")));
    assert_eq!(sink.received().iter().filter(|m| m.is_to("jane@example.com")).count(), 1);
    app.stop().await;
}

async fn starttls_to_a_self_signed_server_needs_the_url_to_trust_it(backend: Backend) {
    let Some(sink) = SmtpSink::start(SinkMode::StartTls).await else { return };
    // Without the certificate in the URL, the server is not trusted.
    let strict = TestApp::spawn(backend, sending_to(format!("{}?tls=required", sink.url()))).await;
    let admin = strict.admin_token("boss").await;
    let failed =
        outbox_until(&strict, &admin, "", "a refused attempt", |b| b["data"][0]["lastError"].is_string()).await;
    let error = failed["data"][0]["lastError"].as_str().unwrap().to_lowercase();
    assert!(error.contains("certificate") || error.contains("tls"), "{error}");
    assert!(sink.received().is_empty());
    strict.stop().await;

    let url = format!("{}?tls=required&ca_file={}", sink.url(), sink.cert_path().display());
    let trusting = TestApp::spawn(backend, sending_to(url)).await;
    trusting.register("jane").await;
    let mail = sink.mail_to("jane@example.com", "Welcome").await;
    assert!(mail.tls, "the message travelled over TLS");
    trusting.stop().await;
}

async fn header_injection_never_reaches_the_smtp_conversation(backend: Backend) {
    let Some(sink) = SmtpSink::start(SinkMode::Plain).await else { return };
    let app = app_with(backend, &sink).await;
    let admin = app.admin_token("boss").await;
    let pen = product(&app, &admin, json!({ "name": "Pen", "price": 3, "stock": 100 })).await;
    let injected = "Eve\r\nBcc: victim@evil.test";
    let refused = app
        .post(
            "/api/v1/users/register",
            None,
            json!({ "fullName": injected, "username": "eve", "email": "eve@example.com", "password": PASSWORD }),
        )
        .await;
    refused.assert_error(StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    for email in [
        "eve@example.com\r\nRCPT TO:<victim@evil.test>",
        "eve@example.com>\r\nBcc: victim@evil.test",
        "\"eve\r\n\"@example.com",
    ] {
        let reply = guest_order(&app, email, &pen, 1).await;
        reply.assert_error(StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
        let forgot = forgot(&app, email).await;
        forgot.assert_error(StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    }
    // A name that gets through (in the shipping address) is only ever text.
    let order = app
        .post(
            "/api/v1/orders",
            None,
            json!({ "items": [{ "productId": pen, "quantity": 1 }], "email": "ada@example.com", "shippingAddress": address(injected), "notes": "x\r\n.\r\nRCPT TO:<victim@evil.test>" }),
        )
        .await;
    let id = if order.status == StatusCode::CREATED {
        order.body["data"]["_id"].as_str().unwrap().to_string()
    } else {
        order.assert_error(StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
        let order = guest_order(&app, "ada@example.com", &pen, 1).await;
        order.body["data"]["_id"].as_str().unwrap().to_string()
    };
    let mail = sink.mail_to("ada@example.com", &format!("order #{id}")).await;
    assert_eq!(mail.rcpt_tos, vec!["ada@example.com".to_string()]);
    let headers = mail.raw.split("\r\n\r\n").next().unwrap().to_lowercase();
    assert!(!headers.lines().any(|l| l.starts_with("bcc:")), "{headers}");
    let conversation = sink.conversation();
    assert!(!conversation.contains("evil.test"), "{conversation}");
    assert!(sink.received().iter().all(|m| m.rcpt_tos.iter().all(|r| !r.contains("evil"))));
    app.stop().await;
}

async fn a_dead_mail_is_listed_and_an_admin_can_send_it_again(backend: Backend) {
    let Some(mut sink) = SmtpSink::start(SinkMode::Plain).await else { return };
    sink.stop();
    let url = sink.url();
    let app = TestApp::spawn(backend, |c| {
        sending_to(url)(c);
        c.mail.max_attempts = 2;
    })
    .await;
    let admin = app.admin_token("boss").await;
    let user = app.user_token("jane").await;
    let dead = outbox_until(&app, &admin, "&status=dead&recipient=jane@example.com", "a dead mail", |b| {
        b["meta"]["total"] == json!(1)
    })
    .await;
    let mail = &dead["data"][0];
    assert_eq!(mail["attempts"], json!(2), "{mail}");
    assert!(mail["lastError"].is_string() && mail["nextAttemptAt"].is_null(), "{mail}");
    let id = mail["_id"].as_str().unwrap().to_string();

    // Admins only; bad input is named.
    app.get("/api/v1/admin/emails", Some(&user)).await.assert_error(StatusCode::FORBIDDEN, "AUTHORIZATION_ERROR");
    app.post(&format!("/api/v1/admin/emails/{id}/retry"), Some(&user), json!({}))
        .await
        .assert_error(StatusCode::FORBIDDEN, "AUTHORIZATION_ERROR");
    app.get("/api/v1/admin/emails", None).await.assert_error(StatusCode::UNAUTHORIZED, "AUTHENTICATION_ERROR");
    let bad = app.get("/api/v1/admin/emails?status=lost", Some(&admin)).await;
    bad.assert_error(StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    assert_eq!(bad.error_fields(), vec!["status"]);
    for missing in ["999999", "abc", "-1"] {
        app.post(&format!("/api/v1/admin/emails/{missing}/retry"), Some(&admin), json!({}))
            .await
            .assert_error(StatusCode::NOT_FOUND, "NOT_FOUND");
    }

    sink.restart().await;
    let retried = app.post(&format!("/api/v1/admin/emails/{id}/retry"), Some(&admin), json!({})).await;
    assert_eq!(retried.status, StatusCode::OK, "{}", retried.body);
    sink.mail_to("jane@example.com", "Welcome").await;
    outbox_until(&app, &admin, "&status=sent&recipient=jane@example.com", "the retried mail sent", |b| {
        b["meta"]["total"] == json!(1)
    })
    .await;
    // Only a dead message can be retried.
    app.post(&format!("/api/v1/admin/emails/{id}/retry"), Some(&admin), json!({}))
        .await
        .assert_error(StatusCode::CONFLICT, "CONFLICT");
    let audit = app.get("/api/v1/admin/audit-log?action=mail.retried", Some(&admin)).await;
    assert_eq!(audit.body["meta"]["total"], json!(1), "{}", audit.body);
    app.stop().await;
}

mod eml {
    use std::time::Duration;

    use crate::harness::TestApp;

    crate::on_both_backends!(without_smtp_mail_lands_as_eml_files_in_the_data_directory);

    /// With no SMTP server configured, mail is written as `.eml` files under the
    /// data directory, so a newcomer can open the mail they just triggered.
    async fn without_smtp_mail_lands_as_eml_files_in_the_data_directory(app: &TestApp) {
        app.register("jane").await;
        let dir = app.data_dir().join("mail");
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        let eml = loop {
            let found = std::fs::read_dir(&dir).ok().and_then(|entries| {
                entries.filter_map(Result::ok).map(|e| e.path()).find(|p| p.extension().is_some_and(|x| x == "eml"))
            });
            if let Some(path) = found {
                break std::fs::read_to_string(path).unwrap();
            }
            assert!(tokio::time::Instant::now() < deadline, "no .eml file in {}", dir.display());
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        assert!(eml.contains("To: \"jane Tester\" <jane@example.com>") || eml.contains("jane@example.com"), "{eml}");
        assert!(eml.contains("Subject: Welcome to Emporium"), "{eml}");
        assert!(eml.contains("multipart/alternative"), "{eml}");
    }
}

/// Two servers on one PostgreSQL database, both sending, with 50 mails
/// queued: every one is delivered exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_deliver_fifty_queued_mails_exactly_once() {
    if !crate::harness::postgres_available() {
        return;
    }
    let Some(mut sink) = SmtpSink::start(SinkMode::Plain).await else { return };
    // Queued while the SMTP server is down, so both servers find them waiting.
    sink.stop();
    let fast = |url: String| {
        move |c: &mut Config| {
            sending_to(url)(c);
            c.mail.poll_interval = Duration::from_millis(50);
            c.mail.retry_base = Duration::from_millis(100);
        }
    };
    let a = TestApp::spawn(Backend::Postgres, fast(sink.url())).await;
    let b = a.second_server(fast(sink.url())).await;
    let admin = a.admin_token("boss").await;
    let pen = product(&a, &admin, json!({ "name": "Pen", "price": 3, "stock": 1000 })).await;
    let orders = (0..49).map(|i| {
        let server = if i % 2 == 0 { &a } else { &b };
        let pen = pen.clone();
        async move { guest_order(server, &format!("buyer{i}@example.com"), &pen, 1).await.status }
    });
    assert!(join_all(orders).await.iter().all(|s| *s == StatusCode::CREATED));
    let queued = outbox(&a, &admin, "&status=pending").await;
    assert_eq!(queued["meta"]["total"], json!(50), "the admin's welcome and 49 confirmations");

    sink.restart().await;
    sink.wait_until("fifty mails", |r| r.len() >= 50).await;
    outbox_until(&a, &admin, "&status=sent", "all sent", |body| body["meta"]["total"] == json!(50)).await;
    let received = sink.received();
    assert_eq!(received.len(), 50);
    let mut ids: Vec<&String> = received.iter().map(|m| &m.message_id).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 50, "no message was delivered twice");
    b.stop().await;
    a.stop().await;
}

/// How many mails a second the sender delivers to a local SMTP server: run
/// with `--ignored --nocapture` for the figure. Orders are placed faster than
/// mails go out, so the pace between the first and the last arrival is the
/// sender's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement, not a test"]
async fn measure_mails_per_second() {
    let Some(sink) = SmtpSink::start(SinkMode::Plain).await else { return };
    let app = app_with(Backend::Sqlite, &sink).await;
    let admin = app.admin_token("boss").await;
    let pen = product(&app, &admin, json!({ "name": "Pen", "price": 3, "stock": 10000 })).await;
    sink.mail_to("boss@example.com", "Welcome").await;
    let count = 300;
    let started = Instant::now();
    let orders = (0..count).map(|i| {
        let (app, pen) = (&app, pen.clone());
        async move { guest_order(app, &format!("buyer{i}@example.com"), &pen, 1).await.status }
    });
    assert!(join_all(orders).await.iter().all(|s| *s == StatusCode::CREATED));
    let placed = started.elapsed().as_secs_f64();
    let received = sink.wait_until("every mail", |r| r.len() > count).await;
    let elapsed = started.elapsed().as_secs_f64();
    let orders: Vec<f64> = received.iter().filter(|m| m.subject.contains("order")).map(|m| m.received_at).collect();
    let first = orders.iter().copied().fold(f64::MAX, f64::min);
    let last = orders.iter().copied().fold(0.0, f64::max);
    println!(
        "{count} orders placed in {placed:.2}s; their {count} mails all delivered {elapsed:.2}s after the first order: \
         {:.0} mails/s between the first and the last arrival",
        (count - 1) as f64 / (last - first)
    );
    app.stop().await;
}
