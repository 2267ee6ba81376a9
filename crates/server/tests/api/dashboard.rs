//! The admin dashboard at /admin, over HTTP: pages, actions, and their
//! effects as the API sees them; sign-in, the non-admin and cross-site
//! refusals, the security headers, and escaping.

use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde_json::{Value, json};

use crate::harness::{PASSWORD, TestApp};
use crate::on_both_backends;

on_both_backends!(
    anonymous_visitors_are_sent_to_sign_in_and_the_root_is_a_landing_page,
    a_customers_right_password_is_refused_like_a_wrong_one,
    a_session_that_is_no_longer_an_admins_gets_403_everywhere,
    signing_out_or_changing_the_password_ends_the_dashboard_session,
    pages_carry_a_strict_policy_and_assets_are_cached,
    cross_site_posts_are_refused_and_change_nothing,
    products_are_created_checked_and_edited_with_the_apis_messages,
    a_script_in_a_product_name_is_shown_as_text,
    inline_stock_and_bulk_actions_change_what_the_api_sees,
    orders_are_found_by_number_email_or_name_and_moved_through_their_lifecycle,
    home_shows_the_days_figures_and_low_stock,
    csv_export_then_import_with_a_dry_run_then_one_transaction,
    categories_are_created_renamed_moved_and_deleted,
    customers_are_found_promoted_and_deleted_but_the_last_admin_stays,
    the_audit_log_and_the_outbox_are_listed_and_filtered,
);

/// A browser-like session: the dashboard cookies it was given.
struct Session {
    cookie: String,
}

struct Page {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

impl Page {
    fn location(&self) -> &str {
        self.headers.get("location").and_then(|v| v.to_str().ok()).unwrap_or("")
    }
    fn assert_has(&self, text: &str) {
        assert!(self.body.contains(text), "expected {text:?} in the page ({}):\n{}", self.status, self.body);
    }
}

async fn read(response: reqwest::Response) -> Page {
    Page { status: response.status(), headers: response.headers().clone(), body: response.text().await.unwrap() }
}

fn cookies_of(headers: &HeaderMap) -> String {
    headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|c| c.split(';').next())
        .filter(|c| !c.ends_with('='))
        .collect::<Vec<_>>()
        .join("; ")
}

async fn sign_in(app: &TestApp, login: &str, password: &str) -> Page {
    read(
        app.client
            .post(app.url("/admin/sign-in"))
            .form(&[("login", login), ("password", password), ("next", "/admin")])
            .send()
            .await
            .unwrap(),
    )
    .await
}

/// Registers `name`, makes it an admin and signs in to the dashboard.
async fn admin_session(app: &TestApp, name: &str) -> Session {
    app.register(name).await;
    app.promote(name).await;
    let page = sign_in(app, &format!("{name}@example.com"), PASSWORD).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    assert_eq!(page.location(), "/admin");
    let cookie = cookies_of(&page.headers);
    assert!(cookie.contains("emporium_admin_access="), "{cookie}");
    Session { cookie }
}

async fn get(app: &TestApp, session: Option<&Session>, path: &str) -> Page {
    let mut request = app.client.get(app.url(path));
    if let Some(s) = session {
        request = request.header("cookie", &s.cookie);
    }
    read(request.send().await.unwrap()).await
}

/// Posts a form as the browser does from the dashboard's own page.
async fn post(app: &TestApp, session: &Session, path: &str, form: &[(&str, &str)]) -> Page {
    read(
        app.client
            .post(app.url(path))
            .header("cookie", &session.cookie)
            .header("origin", app.base.clone())
            .header("sec-fetch-site", "same-origin")
            .form(form)
            .send()
            .await
            .unwrap(),
    )
    .await
}

async fn api_product(app: &TestApp, id: &str) -> Value {
    app.get(&format!("/api/v1/products/{id}"), None).await.body["data"].clone()
}

fn address() -> Value {
    json!({ "firstName": "Grace", "lastName": "Hopper", "address1": "1 Navy Way", "city": "Arlington", "postcode": "22201", "country": "US", "phone": "+1 703 555 0100" })
}

async fn api_create_product(app: &TestApp, token: &str, body: Value) -> String {
    let reply = app.post("/api/v1/products", Some(token), body).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    reply.body["data"]["_id"].as_str().unwrap().to_string()
}

async fn guest_order(app: &TestApp, email: &str, product: &str, quantity: i64) -> String {
    let reply = app
        .post(
            "/api/v1/orders",
            None,
            json!({ "items": [{ "productId": product, "quantity": quantity }], "email": email, "shippingAddress": address() }),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    reply.body["data"]["_id"].as_str().unwrap().to_string()
}

/// Text as the templates write it into HTML.
fn escaped(text: &str) -> String {
    text.replace('&', "&#38;").replace('<', "&#60;").replace('>', "&#62;").replace('"', "&#34;").replace('\'', "&#39;")
}

/// The id in a `/admin/products/{id}?…` redirect.
fn id_in(location: &str) -> String {
    location.trim_start_matches("/admin/products/").split('?').next().unwrap().to_string()
}

async fn anonymous_visitors_are_sent_to_sign_in_and_the_root_is_a_landing_page(app: &TestApp) {
    for path in ["/admin", "/admin/products", "/admin/orders/1", "/admin/customers", "/admin/audit", "/admin/emails"] {
        let page = get(app, None, path).await;
        assert_eq!(page.status, StatusCode::SEE_OTHER, "{path}");
        assert!(page.location().starts_with("/admin/sign-in?next="), "{path}: {}", page.location());
    }
    let sign_in_page = get(app, None, "/admin/sign-in").await;
    assert_eq!(sign_in_page.status, StatusCode::OK);
    sign_in_page.assert_has("name=\"password\"");
    let root = get(app, None, "/").await;
    assert_eq!(root.status, StatusCode::OK);
    assert!(root.headers["content-type"].to_str().unwrap().starts_with("text/html"));
    for link in ["href=\"/admin\"", "href=\"/docs\"", "href=\"/health\""] {
        root.assert_has(link);
    }
}

async fn a_customers_right_password_is_refused_like_a_wrong_one(app: &TestApp) {
    app.register("shopper").await;
    let right = sign_in(app, "shopper@example.com", PASSWORD).await;
    let wrong = sign_in(app, "shopper@example.com", "Wrong-Passw0rd!").await;
    let unknown = sign_in(app, "nobody@example.com", PASSWORD).await;
    for page in [&right, &wrong, &unknown] {
        assert_eq!(page.status, StatusCode::UNAUTHORIZED);
        page.assert_has("Invalid credentials");
        assert!(!cookies_of(&page.headers).contains("emporium_admin_access="));
    }
}

async fn a_session_that_is_no_longer_an_admins_gets_403_everywhere(app: &TestApp) {
    let owner = app.admin_token("owner").await;
    let helper = admin_session(app, "helper").await;
    assert_eq!(get(app, Some(&helper), "/admin").await.status, StatusCode::OK);
    let helper_id = app.store.user_by_username_key("helper").await.unwrap().unwrap().id;
    let demoted = app.put(&format!("/api/v1/admin/users/{helper_id}"), Some(&owner), json!({ "role": "user" })).await;
    assert_eq!(demoted.status, StatusCode::OK, "{}", demoted.body);
    for path in ["/admin", "/admin/products", "/admin/orders", "/admin/categories", "/admin/customers", "/admin/audit"]
    {
        assert_eq!(get(app, Some(&helper), path).await.status, StatusCode::FORBIDDEN, "{path}");
    }
    let created = post(app, &helper, "/admin/products", &[("name", "Sneaky"), ("price", "1")]).await;
    assert_eq!(created.status, StatusCode::FORBIDDEN);
    assert_eq!(app.get("/api/v1/products", None).await.body["data"], json!([]));
}

async fn signing_out_or_changing_the_password_ends_the_dashboard_session(app: &TestApp) {
    let session = admin_session(app, "boss").await;
    let out = post(app, &session, "/admin/sign-out", &[]).await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    assert_eq!(get(app, Some(&session), "/admin").await.status, StatusCode::SEE_OTHER);

    let again = sign_in(app, "boss@example.com", PASSWORD).await;
    let session = Session { cookie: cookies_of(&again.headers) };
    assert_eq!(get(app, Some(&session), "/admin").await.status, StatusCode::OK);
    let (token, _) = app.login("boss").await;
    let changed = app
        .put(
            "/api/v1/users/change-password",
            Some(&token),
            json!({ "currentPassword": PASSWORD, "newPassword": "An0ther!Passw0rd" }),
        )
        .await;
    assert_eq!(changed.status, StatusCode::OK, "{}", changed.body);
    let page = get(app, Some(&session), "/admin").await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert!(page.location().starts_with("/admin/sign-in"));
}

async fn pages_carry_a_strict_policy_and_assets_are_cached(app: &TestApp) {
    let session = admin_session(app, "boss").await;
    for path in ["/admin", "/admin/products", "/admin/products/new", "/admin/orders", "/admin/sign-in", "/"] {
        let page = get(app, Some(&session), path).await;
        assert_eq!(page.status, StatusCode::OK, "{path}");
        let csp = page.headers["content-security-policy"].to_str().unwrap();
        for part in [
            "default-src 'self'",
            "form-action 'self'",
            "frame-ancestors 'none'",
            "script-src 'self'",
            "style-src 'self'",
        ] {
            assert!(csp.contains(part), "{path}: {csp}");
        }
        assert!(!csp.contains("unsafe"), "{csp}");
        assert_eq!(page.headers["x-frame-options"], "DENY");
        assert_eq!(page.headers["cache-control"], "no-store");
        assert_eq!(page.headers["referrer-policy"], "same-origin");
        assert!(!page.body.contains("style=\""), "{path} has an inline style");
        assert!(!page.body.contains("<script>"), "{path} has an inline script");
    }
    let home = get(app, Some(&session), "/admin").await;
    home.assert_has(r#""allowEval":false"#);
    home.assert_has(r#""includeIndicatorStyles":false"#);
    let script = home.body.split("<script src=\"").nth(1).unwrap().split('"').next().unwrap().to_string();
    let css =
        home.body.split("<link rel=\"stylesheet\" href=\"").nth(1).unwrap().split('"').next().unwrap().to_string();
    for asset in [script, css, "/admin/assets/htmx-LICENSE.txt".to_string()] {
        let page = get(app, None, &asset).await;
        assert_eq!(page.status, StatusCode::OK, "{asset}");
        assert!(page.headers["cache-control"].to_str().unwrap().contains("max-age=31536000"), "{asset}");
    }
    let htmx = get(app, None, "/admin/assets/htmx-2.0.4.min.js").await;
    assert!(htmx.body.contains("htmx"), "htmx is served");
}

async fn cross_site_posts_are_refused_and_change_nothing(app: &TestApp) {
    let session = admin_session(app, "boss").await;
    let forged = [
        ("origin", "https://evil.example"),
        ("sec-fetch-site", "cross-site"),
        ("sec-fetch-site", "same-site"),
        ("origin", "null"),
    ];
    for (header, value) in forged {
        let page = read(
            app.client
                .post(app.url("/admin/products"))
                .header("cookie", &session.cookie)
                .header(header, value)
                .form(&[("name", "Forged"), ("price", "1")])
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(page.status, StatusCode::FORBIDDEN, "{header}: {value}");
        let out = read(
            app.client
                .post(app.url("/admin/sign-out"))
                .header("cookie", &session.cookie)
                .header(header, value)
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(out.status, StatusCode::FORBIDDEN);
    }
    assert_eq!(app.get("/api/v1/products", None).await.body["data"], json!([]));
    // The session survived the forged sign-out.
    assert_eq!(get(app, Some(&session), "/admin").await.status, StatusCode::OK);
}

async fn products_are_created_checked_and_edited_with_the_apis_messages(app: &TestApp) {
    let session = admin_session(app, "boss").await;
    let token = app.login("boss").await.0;
    let category = app.post("/api/v1/categories", Some(&token), json!({ "name": "Kitchen" })).await;
    let category_id = category.body["data"]["_id"].as_str().unwrap().to_string();

    let bad = post(
        app,
        &session,
        "/admin/products",
        &[
            ("name", ""),
            ("price", "abc"),
            ("discount", "150"),
            ("stock", "-1"),
            ("images", "ftp://x"),
            ("sku", "no spaces"),
        ],
    )
    .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    // The same words as the API's validation errors, next to each field.
    let api = app
        .post("/api/v1/products", Some(&token), json!({ "name": "", "price": "abc", "discount": 150, "stock": -1, "images": ["ftp://x"], "sku": "no spaces" }))
        .await;
    for detail in api.body["error"]["details"].as_array().unwrap() {
        let field = detail["field"].as_str().unwrap();
        if field == "name" {
            continue; // the form says "is required" for an empty name, as the API does for a missing one
        }
        bad.assert_has(&format!("id=\"error-{field}\""));
        bad.assert_has(&escaped(detail["message"].as_str().unwrap()));
    }
    bad.assert_has("Name is required");
    assert_eq!(app.get("/api/v1/products", None).await.body["data"], json!([]));

    let created = post(
        app,
        &session,
        "/admin/products",
        &[
            ("name", "Teapot"),
            ("description", "Holds tea"),
            ("price", "24.50"),
            ("discount", "10"),
            ("category", &category_id),
            ("images", "https://img.example/teapot.jpg"),
            ("stock", "7"),
            ("available", "on"),
            ("keywords", "tea, pot"),
            ("sku", "TEA-1"),
        ],
    )
    .await;
    assert_eq!(created.status, StatusCode::SEE_OTHER, "{}", created.body);
    let id = id_in(created.location());
    let product = api_product(app, &id).await;
    assert_eq!(product["name"], "Teapot");
    assert_eq!(product["price"], json!(24.5));
    assert_eq!(product["discount"], json!(10.0));
    assert_eq!(product["stock"], 7);
    assert_eq!(product["sku"], "TEA-1");
    assert_eq!(product["keywords"], json!(["tea", "pot"]));
    assert_eq!(product["images"], json!(["https://img.example/teapot.jpg"]));
    assert_eq!(product["available"], true);

    let edit = get(app, Some(&session), &format!("/admin/products/{id}")).await;
    assert_eq!(edit.status, StatusCode::OK);
    edit.assert_has("value=\"TEA-1\"");
    let version = product["__v"].to_string();
    let saved = post(
        app,
        &session,
        &format!("/admin/products/{id}"),
        &[
            ("version", &version),
            ("name", "Teapot XL"),
            ("price", "30"),
            ("stock", "3"),
            ("sku", "TEA-1"),
            ("category", ""),
        ],
    )
    .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.body);
    let product = api_product(app, &id).await;
    assert_eq!(product["name"], "Teapot XL");
    assert_eq!(product["available"], false, "an unticked box makes it unavailable");
    assert_eq!(product["category"], Value::Null);

    // A stale version is refused with the service's conflict message.
    let stale = post(
        app,
        &session,
        &format!("/admin/products/{id}"),
        &[("version", &version), ("name", "Old"), ("price", "1")],
    )
    .await;
    assert_eq!(stale.status, StatusCode::CONFLICT);
    stale.assert_has("changed by someone else");

    // A second product may not take the same SKU.
    let duplicate = post(app, &session, "/admin/products", &[("name", "Copy"), ("price", "1"), ("sku", "TEA-1")]).await;
    assert_eq!(duplicate.status, StatusCode::CONFLICT);
    duplicate.assert_has("SKU already exists");

    let listed = get(app, Some(&session), "/admin/products?search=teapot").await;
    listed.assert_has("Teapot XL");
    let none = get(app, Some(&session), "/admin/products?available=yes").await;
    assert!(!none.body.contains("Teapot XL"));

    let deleted = post(app, &session, &format!("/admin/products/{id}/delete"), &[]).await;
    assert_eq!(deleted.status, StatusCode::SEE_OTHER);
    assert_eq!(app.get(&format!("/api/v1/products/{id}"), None).await.status, StatusCode::NOT_FOUND);
}

async fn a_script_in_a_product_name_is_shown_as_text(app: &TestApp) {
    let session = admin_session(app, "boss").await;
    let token = app.login("boss").await.0;
    let id = api_create_product(app, &token, json!({ "name": "<script>alert(1)</script>", "price": 1, "stock": 1, "description": "\"><img src=x onerror=alert(2)>" })).await;
    for path in ["/admin/products".to_string(), format!("/admin/products/{id}"), "/admin".to_string()] {
        let page = get(app, Some(&session), &path).await;
        assert_eq!(page.status, StatusCode::OK);
        assert!(!page.body.contains("<script>alert(1)</script>"), "{path}");
        assert!(!page.body.contains("<img src=x"), "{path}");
        page.assert_has(&escaped("<script>alert(1)</script>"));
    }
}

async fn inline_stock_and_bulk_actions_change_what_the_api_sees(app: &TestApp) {
    let session = admin_session(app, "boss").await;
    let token = app.login("boss").await.0;
    let a = api_create_product(app, &token, json!({ "name": "Alpha", "price": 1, "stock": 2 })).await;
    let b = api_create_product(app, &token, json!({ "name": "Beta", "price": 2, "stock": 4 })).await;
    let c = api_create_product(app, &token, json!({ "name": "Gamma", "price": 3, "stock": 6 })).await;
    let shelf = app.post("/api/v1/categories", Some(&token), json!({ "name": "Shelf" })).await.body["data"]["_id"]
        .as_str()
        .unwrap()
        .to_string();

    // Inline stock through htmx: the row comes back, not a page.
    let row = read(
        app.client
            .post(app.url(&format!("/admin/products/{a}/stock")))
            .header("cookie", &session.cookie)
            .header("hx-request", "true")
            .form(&[("stock", "42")])
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(row.status, StatusCode::OK);
    assert!(row.body.trim_start().starts_with(&format!("<tr id=\"product-{a}\"")), "{}", row.body);
    assert!(row.body.contains("value=\"42\""));
    assert_eq!(api_product(app, &a).await["stock"], 42);
    let refused = read(
        app.client
            .post(app.url(&format!("/admin/products/{a}/stock")))
            .header("cookie", &session.cookie)
            .header("hx-request", "true")
            .form(&[("stock", "-3")])
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    refused.assert_has("Stock must be an integer from 0");
    assert_eq!(api_product(app, &a).await["stock"], 42);
    // Without htmx, the same form posts and goes back to the list.
    let plain = post(app, &session, &format!("/admin/products/{b}/stock"), &[("stock", "5")]).await;
    assert_eq!(plain.status, StatusCode::SEE_OTHER);
    assert_eq!(api_product(app, &b).await["stock"], 5);

    let bulk = |action: &'static str, extra: Vec<(&'static str, String)>, ids: Vec<String>| {
        let mut form: Vec<(String, String)> = vec![("action".into(), action.into())];
        form.extend(extra.into_iter().map(|(k, v)| (k.to_string(), v)));
        form.extend(ids.into_iter().map(|id| ("ids".to_string(), id)));
        let request = app
            .client
            .post(app.url("/admin/products/bulk"))
            .header("cookie", session.cookie.clone())
            .header("origin", app.base.clone())
            .form(&form);
        async move { read(request.send().await.unwrap()).await }
    };
    let disabled = bulk("unavailable", vec![], vec![a.clone(), b.clone()]).await;
    assert_eq!(disabled.status, StatusCode::SEE_OTHER, "{}", disabled.body);
    assert_eq!(api_product(app, &a).await["available"], false);
    assert_eq!(api_product(app, &b).await["available"], false);
    assert_eq!(api_product(app, &c).await["available"], true);

    assert_eq!(
        bulk("stock", vec![("delta", "+5".into())], vec![b.clone(), c.clone()]).await.status,
        StatusCode::SEE_OTHER
    );
    assert_eq!(api_product(app, &b).await["stock"], 10);
    assert_eq!(api_product(app, &c).await["stock"], 11);
    // Taking more than there is refuses that product and names it; the others still change.
    let short = bulk("stock", vec![("delta", "-20".into())], vec![a.clone(), b.clone()]).await;
    assert_eq!(short.status, StatusCode::CONFLICT);
    short.assert_has(&format!("#{b}"));
    assert_eq!(api_product(app, &a).await["stock"], 22);
    assert_eq!(api_product(app, &b).await["stock"], 10);

    assert_eq!(
        bulk("move", vec![("category", shelf.clone())], vec![a.clone(), c.clone()]).await.status,
        StatusCode::SEE_OTHER
    );
    assert_eq!(api_product(app, &a).await["category"]["_id"], json!(shelf));
    assert_eq!(api_product(app, &c).await["category"]["_id"], json!(shelf));
    assert_eq!(api_product(app, &b).await["category"], Value::Null);

    let in_use = post(app, &session, &format!("/admin/categories/{shelf}/delete"), &[]).await;
    assert_eq!(in_use.status, StatusCode::CONFLICT);

    assert_eq!(bulk("delete", vec![], vec![a.clone(), c.clone()]).await.status, StatusCode::SEE_OTHER);
    assert_eq!(app.get(&format!("/api/v1/products/{a}"), None).await.status, StatusCode::NOT_FOUND);
    assert_eq!(app.get(&format!("/api/v1/products/{b}"), None).await.status, StatusCode::OK);
    let nothing = bulk("delete", vec![], vec![]).await;
    assert_eq!(nothing.status, StatusCode::BAD_REQUEST);
}

async fn orders_are_found_by_number_email_or_name_and_moved_through_their_lifecycle(app: &TestApp) {
    let session = admin_session(app, "boss").await;
    let token = app.login("boss").await.0;
    let product = api_create_product(app, &token, json!({ "name": "Lamp", "price": 10, "stock": 10 })).await;
    let first = guest_order(app, "grace@example.com", &product, 2).await;
    let second = guest_order(app, "other@example.com", &product, 1).await;
    app.register("ada").await;
    let (ada, _) = app.login("ada").await;
    let third = app
        .post(
            "/api/v1/orders",
            Some(&ada),
            json!({ "items": [{ "productId": product, "quantity": 1 }], "shippingAddress": address() }),
        )
        .await
        .body["data"]["_id"]
        .as_str()
        .unwrap()
        .to_string();

    let by_email = get(app, Some(&session), "/admin/orders?q=GRACE%40example").await;
    by_email.assert_has(&format!("id=\"order-{first}\""));
    assert!(!by_email.body.contains(&format!("id=\"order-{second}\"")));
    let by_number = get(app, Some(&session), &format!("/admin/orders?q=%23{second}")).await;
    by_number.assert_has(&format!("id=\"order-{second}\""));
    assert!(!by_number.body.contains(&format!("id=\"order-{first}\"")));
    // The account's full name ("ada Tester"), not only the address's.
    let by_name = get(app, Some(&session), "/admin/orders?q=ada%20tes").await;
    by_name.assert_has(&format!("id=\"order-{third}\""));
    assert!(!by_name.body.contains(&format!("id=\"order-{first}\"")));
    let pending = get(app, Some(&session), "/admin/orders?status=pending").await;
    pending.assert_has("3 orders");
    let future = get(app, Some(&session), "/admin/orders?from=2999-01-01").await;
    future.assert_has("0 orders");
    let bad = get(app, Some(&session), "/admin/orders?from=yesterday").await;
    bad.assert_has("From must be a date");

    let detail = get(app, Some(&session), &format!("/admin/orders/{first}")).await;
    assert_eq!(detail.status, StatusCode::OK);
    detail.assert_has("Lamp");
    detail.assert_has("Grace");
    detail.assert_has("id=\"timeline\"");
    // Only what the lifecycle allows from pending is offered.
    assert!(!detail.body.contains("value=\"shipped\""));
    assert!(detail.body.contains("/mark-paid"));

    let illegal = post(app, &session, &format!("/admin/orders/{first}/status"), &[("status", "shipped")]).await;
    assert_eq!(illegal.status, StatusCode::CONFLICT);
    illegal.assert_has("cannot go from pending to shipped");

    let paid = post(app, &session, &format!("/admin/orders/{first}/mark-paid"), &[]).await;
    assert_eq!(paid.status, StatusCode::SEE_OTHER, "{}", paid.body);
    let order = |id: String| {
        let token = token.clone();
        async move { app.get(&format!("/api/v1/orders/{id}"), Some(&token)).await.body["data"].clone() }
    };
    assert_eq!(order(first.clone()).await["status"], "paid");
    for next in ["processing", "shipped"] {
        let moved = post(app, &session, &format!("/admin/orders/{first}/status"), &[("status", next)]).await;
        assert_eq!(moved.status, StatusCode::SEE_OTHER, "{next}: {}", moved.body);
        assert_eq!(order(first.clone()).await["status"], next);
    }
    let shipped = get(app, Some(&session), &format!("/admin/orders/{first}")).await;
    shipped.assert_has("value=\"delivered\"");
    assert!(!shipped.body.contains("/cancel\""), "a shipped order cannot be cancelled");

    let stock_before = api_product(app, &product).await["stock"].as_i64().unwrap();
    let cancelled = post(app, &session, &format!("/admin/orders/{second}/cancel"), &[]).await;
    assert_eq!(cancelled.status, StatusCode::SEE_OTHER);
    assert_eq!(order(second.clone()).await["status"], "cancelled");
    assert_eq!(api_product(app, &product).await["stock"].as_i64().unwrap(), stock_before + 1);

    // A partial, then the rest: the order ends refunded.
    assert_eq!(
        post(app, &session, &format!("/admin/orders/{third}/mark-paid"), &[]).await.status,
        StatusCode::SEE_OTHER
    );
    let too_much = post(app, &session, &format!("/admin/orders/{third}/refund"), &[("amount", "999")]).await;
    assert!(too_much.status.is_client_error(), "{}", too_much.body);
    let partial =
        post(app, &session, &format!("/admin/orders/{third}/refund"), &[("amount", "4"), ("restock", "no")]).await;
    assert_eq!(partial.status, StatusCode::SEE_OTHER, "{}", partial.body);
    let payments = app.get(&format!("/api/v1/orders/{third}/payments"), Some(&token)).await;
    assert_eq!(payments.body["data"]["refunds"][0]["amount"], json!(4.0), "{}", payments.body);
    let rest = post(app, &session, &format!("/admin/orders/{third}/refund"), &[("amount", "")]).await;
    assert_eq!(rest.status, StatusCode::SEE_OTHER, "{}", rest.body);
    assert_eq!(order(third.clone()).await["status"], "refunded");
    let refunded = get(app, Some(&session), &format!("/admin/orders/{third}")).await;
    refunded.assert_has("id=\"refunds\"");
}

async fn home_shows_the_days_figures_and_low_stock(app: &TestApp) {
    let session = admin_session(app, "boss").await;
    let token = app.login("boss").await.0;
    let scarce = api_create_product(app, &token, json!({ "name": "Rare Vase", "price": 50, "stock": 3 })).await;
    api_create_product(app, &token, json!({ "name": "Plenty Cups", "price": 2, "stock": 500 })).await;
    let order = guest_order(app, "grace@example.com", &scarce, 1).await;
    guest_order(app, "grace@example.com", &scarce, 1).await;
    post(app, &session, &format!("/admin/orders/{order}/mark-paid"), &[]).await;
    let home = get(app, Some(&session), "/admin").await;
    assert_eq!(home.status, StatusCode::OK);
    home.assert_has("<span class=\"value\" id=\"orders-today\">2</span>");
    home.assert_has("<span class=\"value\" id=\"sales-today\">50.00</span>");
    home.assert_has("id=\"awaiting\" href=\"/admin/orders?status=paid\">1</a>");
    home.assert_has("Rare Vase");
    assert!(!home.body.contains("Plenty Cups"));
    home.assert_has(&format!("href=\"/admin/orders/{order}\""));
}

/// Uploads `csv` as the import form's file, as a browser sends it.
async fn upload(app: &TestApp, session: &Session, csv: &str) -> Page {
    let boundary = "----emporium-test-boundary";
    let body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"products.csv\"\r\nContent-Type: text/csv\r\n\r\n{csv}\r\n--{boundary}--\r\n"
    );
    read(
        app.client
            .post(app.url("/admin/products/import"))
            .header("cookie", &session.cookie)
            .header("origin", app.base.clone())
            .header("content-type", format!("multipart/form-data; boundary={boundary}"))
            .body(body)
            .send()
            .await
            .unwrap(),
    )
    .await
}

async fn csv_export_then_import_with_a_dry_run_then_one_transaction(app: &TestApp) {
    let session = admin_session(app, "boss").await;
    let token = app.login("boss").await.0;
    let mug = api_create_product(
        app,
        &token,
        json!({ "name": "Mug, \"large\"", "price": 8, "stock": 5, "sku": "MUG-L", "keywords": ["mug", "tea"] }),
    )
    .await;
    let cup =
        api_create_product(app, &token, json!({ "name": "Cup", "price": 4, "stock": 9, "available": false })).await;

    let export = get(app, Some(&session), "/admin/products/export.csv?available=yes").await;
    assert_eq!(export.status, StatusCode::OK);
    assert!(export.headers["content-type"].to_str().unwrap().starts_with("text/csv"));
    let lines: Vec<&str> = export.body.lines().collect();
    assert_eq!(lines[0], "id,sku,name,description,price,discount,category,stock,available,keywords,images");
    assert_eq!(lines.len(), 2, "only the available product: {}", export.body);
    assert!(lines[1].starts_with(&format!("{mug},MUG-L,\"Mug, \"\"large\"\"\",,8.00,")), "{}", lines[1]);

    // Re-import with one edited price, a new product and a row updated by SKU alone.
    let edited = export.body.replace(",8.00,", ",9.50,");
    let csv = format!("{edited}\n,NEW-1,Saucer,,3,0,,12,yes,,\n");
    let dry = upload(app, &session, &csv).await;
    assert_eq!(dry.status, StatusCode::OK, "{}", dry.body);
    dry.assert_has("<strong>1</strong> to create, <strong>1</strong> to update, <strong>0</strong> with errors");
    dry.assert_has(&format!("update #{mug}"));
    assert_eq!(api_product(app, &mug).await["price"], json!(8.0), "a dry run writes nothing");

    let bad = upload(app, &session, "sku,name,price\nMUG-L,Mug,abc\n,,-1\n").await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    bad.assert_has("price: must be");
    bad.assert_has("name: is required");
    assert!(!bad.body.contains("apply-import"));
    // The confirmation re-checks the file: a bad one writes nothing even if posted directly.
    let forced =
        post(app, &session, "/admin/products/import/apply", &[("csv", "sku,name,price\nMUG-L,Mug,1\n,,-1\n")]).await;
    assert_eq!(forced.status, StatusCode::BAD_REQUEST);
    assert_eq!(api_product(app, &mug).await["price"], json!(8.0));

    let unknown = upload(app, &session, "name,colour\nMug,red\n").await;
    assert_eq!(unknown.status, StatusCode::BAD_REQUEST);
    unknown.assert_has("Unknown column");

    let applied = post(app, &session, "/admin/products/import/apply", &[("csv", &csv)]).await;
    assert_eq!(applied.status, StatusCode::SEE_OTHER, "{}", applied.body);
    let product = api_product(app, &mug).await;
    assert_eq!(product["price"], json!(9.5));
    assert_eq!(product["name"], "Mug, \"large\"");
    assert_eq!(product["keywords"], json!(["mug", "tea"]));
    assert_eq!(api_product(app, &cup).await["available"], false, "rows not in the file are left alone");
    let saucers = app.get("/api/v1/products?search=saucer", None).await;
    assert_eq!(saucers.body["data"][0]["sku"], "NEW-1");
    assert_eq!(saucers.body["data"][0]["stock"], 12);

    // Two new rows with one SKU: the second insert fails, and so does the first.
    let clash =
        post(app, &session, "/admin/products/import/apply", &[("csv", "sku,name,price\nX-1,One,1\n,Two,2\n")]).await;
    assert_eq!(clash.status, StatusCode::SEE_OTHER);
    let twice =
        post(app, &session, "/admin/products/import/apply", &[("csv", "name,price,sku\nThree,3,DUP\nFour,4,DUP\n")])
            .await;
    assert_eq!(twice.status, StatusCode::CONFLICT, "{}", twice.body);
    assert_eq!(app.get("/api/v1/products?search=three", None).await.body["data"], json!([]));
}

async fn categories_are_created_renamed_moved_and_deleted(app: &TestApp) {
    let session = admin_session(app, "boss").await;
    let token = app.login("boss").await.0;
    assert_eq!(post(app, &session, "/admin/categories", &[("name", "Kitchen")]).await.status, StatusCode::SEE_OTHER);
    assert_eq!(post(app, &session, "/admin/categories", &[("name", "Garden")]).await.status, StatusCode::SEE_OTHER);
    let categories = app.get("/api/v1/categories", None).await.body["data"].clone();
    let id_of = |name: &str| {
        categories.as_array().unwrap().iter().find(|c| c["name"] == name).unwrap()["_id"].as_str().unwrap().to_string()
    };
    let (kitchen, garden) = (id_of("Kitchen"), id_of("Garden"));
    let child = post(app, &session, "/admin/categories", &[("name", "Knives"), ("parent", &kitchen)]).await;
    assert_eq!(child.status, StatusCode::SEE_OTHER);
    let knives = app.get("/api/v1/categories/knives", None).await.body["data"].clone();
    assert_eq!(knives["parent"], json!(kitchen), "{knives}");

    let empty = post(app, &session, "/admin/categories", &[("name", "  ")]).await;
    assert_eq!(empty.status, StatusCode::BAD_REQUEST);
    empty.assert_has("must not be empty");

    let knives_id = knives["_id"].as_str().unwrap().to_string();
    let moved =
        post(app, &session, &format!("/admin/categories/{knives_id}"), &[("name", "Blades"), ("parent", &garden)])
            .await;
    assert_eq!(moved.status, StatusCode::SEE_OTHER, "{}", moved.body);
    let blades = app.get(&format!("/api/v1/categories/{knives_id}"), None).await.body["data"].clone();
    assert_eq!(blades["name"], "Blades");
    assert_eq!(blades["parent"], json!(garden));

    let page = get(app, Some(&session), "/admin/categories").await;
    page.assert_has("value=\"Blades\"");
    // In use: it stays, and the page says why.
    let kept = post(app, &session, &format!("/admin/categories/{garden}/delete"), &[]).await;
    assert_eq!(kept.status, StatusCode::CONFLICT);
    kept.assert_has("sub-categories");
    api_create_product(app, &token, json!({ "name": "Spade", "price": 5, "category": kitchen })).await;
    let kept = post(app, &session, &format!("/admin/categories/{kitchen}/delete"), &[]).await;
    assert_eq!(kept.status, StatusCode::CONFLICT);
    kept.assert_has("still has products");
    assert_eq!(
        post(app, &session, &format!("/admin/categories/{knives_id}/delete"), &[]).await.status,
        StatusCode::SEE_OTHER
    );
    assert_eq!(app.get(&format!("/api/v1/categories/{knives_id}"), None).await.status, StatusCode::NOT_FOUND);
}

async fn customers_are_found_promoted_and_deleted_but_the_last_admin_stays(app: &TestApp) {
    let session = admin_session(app, "boss").await;
    let ada = app.register("ada").await;
    app.register("bob").await;
    let ada_id = ada["_id"].as_str().unwrap().to_string();
    let boss_id = app.store.user_by_username_key("boss").await.unwrap().unwrap().id.to_string();

    let found = get(app, Some(&session), "/admin/customers?q=ADA").await;
    found.assert_has(&format!("id=\"customer-{ada_id}\""));
    assert!(!found.body.contains("bob@example.com"));
    let admins = get(app, Some(&session), "/admin/customers?role=admin").await;
    admins.assert_has("boss@example.com");
    assert!(!admins.body.contains("ada@example.com"));

    let (ada_token, _) = app.login("ada").await;
    let product =
        api_create_product(app, &app.login("boss").await.0, json!({ "name": "Lamp", "price": 10, "stock": 5 })).await;
    let order = app
        .post(
            "/api/v1/orders",
            Some(&ada_token),
            json!({ "items": [{ "productId": product, "quantity": 1 }], "shippingAddress": address() }),
        )
        .await
        .body["data"]["_id"]
        .as_str()
        .unwrap()
        .to_string();
    let detail = get(app, Some(&session), &format!("/admin/customers/{ada_id}")).await;
    assert_eq!(detail.status, StatusCode::OK);
    detail.assert_has(&format!("href=\"/admin/orders/{order}\""));

    let last = post(app, &session, &format!("/admin/customers/{boss_id}/role"), &[("role", "user")]).await;
    assert_eq!(last.status, StatusCode::CONFLICT);
    last.assert_has("The last admin cannot be demoted");
    let kept = post(app, &session, &format!("/admin/customers/{boss_id}/delete"), &[]).await;
    assert_eq!(kept.status, StatusCode::CONFLICT);

    let promoted = post(app, &session, &format!("/admin/customers/{ada_id}/role"), &[("role", "admin")]).await;
    assert_eq!(promoted.status, StatusCode::SEE_OTHER);
    let users = app.get("/api/v1/admin/users?search=ada", Some(&app.login("boss").await.0)).await;
    assert_eq!(users.body["data"][0]["role"], "admin", "{}", users.body);
    assert_eq!(
        post(app, &session, &format!("/admin/customers/{ada_id}/role"), &[("role", "user")]).await.status,
        StatusCode::SEE_OTHER
    );
    let deleted = post(app, &session, &format!("/admin/customers/{ada_id}/delete"), &[]).await;
    assert_eq!(deleted.status, StatusCode::SEE_OTHER);
    let users = app.get("/api/v1/admin/users?search=ada", Some(&app.login("boss").await.0)).await;
    assert_eq!(users.body["data"], json!([]));
}

async fn the_audit_log_and_the_outbox_are_listed_and_filtered(app: &TestApp) {
    let session = admin_session(app, "boss").await;
    let token = app.login("boss").await.0;
    let product = api_create_product(app, &token, json!({ "name": "Kettle", "price": 20, "stock": 5 })).await;
    post(app, &session, &format!("/admin/products/{product}/stock"), &[("stock", "9")]).await;
    let audit = get(app, Some(&session), "/admin/audit?action=product.stock_changed").await;
    assert_eq!(audit.status, StatusCode::OK);
    audit.assert_has("1 entries");
    audit.assert_has(&format!("product {product}"));
    let by_target = get(app, Some(&session), &format!("/admin/audit?target_type=product&target_id={product}")).await;
    by_target.assert_has("product.created");
    let none = get(app, Some(&session), "/admin/audit?from=2999-01-01").await;
    none.assert_has("0 entries");

    guest_order(app, "grace@example.com", &product, 1).await;
    let outbox = get(app, Some(&session), "/admin/emails?recipient=Grace%40example.com").await;
    assert_eq!(outbox.status, StatusCode::OK);
    outbox.assert_has("grace@example.com");
    let nobody = get(app, Some(&session), "/admin/emails?recipient=nobody%40example.com").await;
    nobody.assert_has("0 messages");
    let dead = get(app, Some(&session), "/admin/emails?status=dead").await;
    dead.assert_has("0 messages");
    // Only a dead message can be sent again.
    let mails = app.get("/api/v1/admin/emails?recipient=grace@example.com", Some(&token)).await;
    let id = mails.body["data"][0]["_id"].as_str().unwrap().to_string();
    let retry = post(app, &session, &format!("/admin/emails/{id}/retry"), &[]).await;
    assert_eq!(retry.status, StatusCode::CONFLICT, "{}", retry.body);
}
