//! The microservices.md dialect (DRF + SimpleJWT) under /compat/microservices,
//! driven with the document's own requests in its order, on both backends:
//! the catalog with its filters, users and SimpleJWT tokens, a guest's cart
//! and order by cart key, Stripe checkout against the contract-faithful fake
//! (paid only once Stripe confirms), and the Django-style reset link over a
//! real SMTP server. Every error is in DRF's shape.

use std::time::Duration;

use emporium_server::config::Config;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::{Backend, PASSWORD, Reply, TestApp};
use crate::providers::Shop;
use crate::smtp::{SinkMode, SmtpSink};

const BASE: &str = "/compat/microservices/api/v1";

macro_rules! on_both_backends {
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

on_both_backends!(
    the_catalog_is_served_as_drf_renders_it_with_every_filter,
    catalog_writes_are_for_staff_and_errors_are_in_drf_shape,
    users_register_sign_in_refresh_verify_and_log_out,
    profile_and_password_changes_reach_the_native_api,
    a_guest_cart_is_found_by_its_key_and_only_by_it,
    orders_are_seen_only_by_their_owner_and_changed_only_by_staff,
    a_guest_order_is_paid_only_after_stripe_confirms,
    the_reset_mail_carries_uidb64_and_token_and_the_new_password_works,
);

fn url(path: &str) -> String {
    format!("{BASE}{path}")
}

async fn get(app: &TestApp, path: &str, token: Option<&str>) -> Reply {
    app.get(&url(path), token).await
}

async fn post(app: &TestApp, path: &str, token: Option<&str>, body: Value) -> Reply {
    app.post(&url(path), token, body).await
}

fn assert_detail(reply: &Reply, status: StatusCode, detail: &str) {
    assert_eq!(reply.status, status, "{}", reply.body);
    assert_eq!(reply.body["detail"], json!(detail), "{}", reply.body);
    assert!(reply.body.get("success").is_none(), "the native envelope leaked: {}", reply.body);
}

/// A 400 in DRF's validation shape naming exactly `fields`.
fn assert_fields(reply: &Reply, fields: &[&str]) {
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.body);
    let object = reply.body.as_object().unwrap_or_else(|| panic!("not an object: {}", reply.body));
    let mut named: Vec<&str> = object.keys().map(String::as_str).collect();
    named.sort();
    let mut expected = fields.to_vec();
    expected.sort();
    assert_eq!(named, expected, "{}", reply.body);
    for (field, messages) in object {
        let messages = messages.as_array().unwrap_or_else(|| panic!("{field}: not a list: {}", reply.body));
        assert!(!messages.is_empty() && messages.iter().all(|m| m.as_str().is_some_and(|m| m.ends_with('.'))));
    }
}

async fn category(app: &TestApp, admin: &str, name: &str) -> i64 {
    let reply = post(app, "/category/", Some(admin), json!({ "name": name })).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    assert_eq!(reply.body["name"], json!(name));
    reply.body["id"].as_i64().unwrap()
}

async fn product(app: &TestApp, admin: &str, body: Value) -> Value {
    let reply = post(app, "/product/", Some(admin), body).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    reply.body
}

fn ids(reply: &Reply) -> Vec<i64> {
    reply
        .body
        .as_array()
        .unwrap_or_else(|| panic!("not a list: {}", reply.body))
        .iter()
        .map(|p| p["id"].as_i64().unwrap())
        .collect()
}

async fn the_catalog_is_served_as_drf_renders_it_with_every_filter(backend: Backend) {
    let app = TestApp::spawn(backend, |_| {}).await;
    let admin = app.admin_token("boss").await;
    let phones = category(&app, &admin, "Phones").await;
    let books = category(&app, &admin, "Books").await;
    let phone = product(
        &app,
        &admin,
        json!({ "name": "Android Phone", "price": "100.00", "discount": 10, "category": phones, "image": "https://cdn.example.com/p.png", "stock": 5 }),
    )
    .await;
    let book = product(&app, &admin, json!({ "name": "Rust Book", "price": 40, "category": books, "stock": 3 })).await;
    let old = product(
        &app,
        &admin,
        json!({ "name": "Old Phone", "price": "20.50", "discount": "50", "available": false, "category": phones }),
    )
    .await;

    // One product, exactly the document's members and types.
    let (phone_id, book_id, old_id) =
        (phone["id"].as_i64().unwrap(), book["id"].as_i64().unwrap(), old["id"].as_i64().unwrap());
    let one = get(&app, &format!("/product/{phone_id}/"), None).await;
    assert_eq!(one.status, StatusCode::OK);
    let mut keys: Vec<&String> = one.body.as_object().unwrap().keys().collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "available",
            "category",
            "created",
            "description",
            "discount",
            "id",
            "image",
            "name",
            "price",
            "sell_price",
            "updated"
        ]
    );
    assert_eq!(
        (
            &one.body["sell_price"],
            &one.body["price"],
            &one.body["discount"],
            &one.body["category"],
            &one.body["available"]
        ),
        (&json!("90.00"), &json!("100.00"), &json!("10.00"), &json!(phones), &json!(true))
    );
    assert_eq!(one.body["image"], json!("https://cdn.example.com/p.png"));
    assert!(one.body["created"].as_str().unwrap().contains('T'));
    assert_eq!(get(&app, &format!("/product/{book_id}/"), None).await.body["image"], Value::Null);
    assert_eq!(get(&app, &format!("/product/{old_id}/"), None).await.body["sell_price"], json!("10.25"));

    // The list is a bare array; the filters combine, on both list endpoints.
    assert_eq!(ids(&get(&app, "/product/", None).await), [phone_id, book_id, old_id]);
    assert_eq!(ids(&get(&app, "/product/?search=phone", None).await).len(), 2);
    assert_eq!(ids(&get(&app, "/product/?search=PHONE&available=True", None).await), [phone_id]);
    assert_eq!(ids(&get(&app, "/product/?available=False", None).await), [old_id]);
    assert_eq!(ids(&get(&app, "/product/?price_min=40&price_max=90", None).await), [phone_id, book_id]);
    assert_eq!(ids(&get(&app, "/product/?price_max=89.99", None).await), [book_id, old_id]);
    assert_eq!(ids(&get(&app, "/product/?discount_min=10&discount_max=10", None).await), [phone_id]);
    assert_eq!(ids(&get(&app, "/product/?discount_min=5&price_min=50", None).await), [phone_id]);
    assert_eq!(ids(&get(&app, &format!("/category/{phones}/products/"), None).await), [phone_id, old_id]);
    assert_eq!(ids(&get(&app, &format!("/category/{phones}/products/?available=True"), None).await), [phone_id]);
    assert_eq!(ids(&get(&app, &format!("/category/{books}/products/?search=phone"), None).await), Vec::<i64>::new());

    // Categories.
    let all = get(&app, "/category/", None).await;
    assert_eq!(all.body, json!([{ "id": books, "name": "Books" }, { "id": phones, "name": "Phones" }]));
    assert_eq!(get(&app, &format!("/category/{books}/"), None).await.body, json!({ "id": books, "name": "Books" }));

    // Bad filters are named; unknown ids and paths are DRF's 404.
    assert_fields(&get(&app, "/product/?available=yes", None).await, &["available"]);
    assert_fields(&get(&app, "/product/?price_min=abc&discount_max=101", None).await, &["price_min", "discount_max"]);
    assert_fields(&get(&app, "/product/?colour=red", None).await, &["colour"]);
    assert_detail(&get(&app, "/product/999999/", None).await, StatusCode::NOT_FOUND, "Not found.");
    assert_detail(&get(&app, "/product/abc/", None).await, StatusCode::NOT_FOUND, "Not found.");
    assert_detail(&get(&app, "/category/999999/", None).await, StatusCode::NOT_FOUND, "Not found.");
    assert_detail(&get(&app, "/category/phones/", None).await, StatusCode::NOT_FOUND, "Not found.");
    assert_detail(&get(&app, "/category/999999/products/", None).await, StatusCode::NOT_FOUND, "Not found.");
    assert_detail(&get(&app, "/no/such/thing/", None).await, StatusCode::NOT_FOUND, "Not found.");
    let wrong_method = app.call(reqwest::Method::PATCH, &url("/product/"), None, Some(json!({}))).await;
    assert_detail(&wrong_method, StatusCode::METHOD_NOT_ALLOWED, "Method not allowed.");

    // Cross-API: the native catalog shows the same product.
    let native = app.get(&format!("/api/v1/products/{phone_id}"), None).await;
    assert_eq!(native.body["data"]["name"], json!("Android Phone"), "{}", native.body);
    app.stop().await;
}

async fn catalog_writes_are_for_staff_and_errors_are_in_drf_shape(backend: Backend) {
    let app = TestApp::spawn(backend, |_| {}).await;
    let admin = app.admin_token("boss").await;
    let customer = app.user_token("ada").await;
    let phones = category(&app, &admin, "Phones").await;
    let body = json!({ "name": "Phone", "price": 10, "stock": 1 });

    assert_detail(
        &post(&app, "/product/", None, body.clone()).await,
        StatusCode::UNAUTHORIZED,
        "Authentication credentials were not provided.",
    );
    assert_detail(
        &post(&app, "/product/", Some("not-a-token"), body.clone()).await,
        StatusCode::UNAUTHORIZED,
        "Given token not valid for any token type",
    );
    assert_detail(
        &post(&app, "/product/", Some(&customer), body.clone()).await,
        StatusCode::FORBIDDEN,
        "You do not have permission to perform this action.",
    );
    assert_detail(
        &post(&app, "/category/", Some(&customer), json!({ "name": "X" })).await,
        StatusCode::FORBIDDEN,
        "You do not have permission to perform this action.",
    );
    assert_eq!(ids(&get(&app, "/product/", None).await), Vec::<i64>::new(), "nothing was written");

    // Every bad member is named at once; malformed JSON and media types are DRF's details.
    let bad = post(
        &app,
        "/product/",
        Some(&admin),
        json!({ "price": -1, "discount": 120, "image": "ftp://x", "category": 999999, "colour": "red" }),
    )
    .await;
    assert_fields(&bad, &["name", "price", "discount", "colour"]);
    assert_fields(
        &post(&app, "/product/", Some(&admin), json!({ "name": "P", "price": 1, "category": 999999 })).await,
        &["category"],
    );
    assert_fields(
        &post(&app, "/product/", Some(&admin), json!({ "name": "P", "price": 1, "image": "not a url" })).await,
        &["image"],
    );
    assert_fields(&post(&app, "/product/", Some(&admin), json!({ "name": "P\u{0}", "price": 1 })).await, &["name"]);
    let text = app
        .client
        .post(app.url(&url("/product/")))
        .bearer_auth(&admin)
        .header("content-type", "text/plain")
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(text.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert!(text.json::<Value>().await.unwrap()["detail"].is_string());
    let malformed = app
        .client
        .post(app.url(&url("/product/")))
        .bearer_auth(&admin)
        .header("content-type", "application/json")
        .body("{")
        .send()
        .await
        .unwrap();
    assert_eq!(malformed.status(), StatusCode::BAD_REQUEST);
    assert!(malformed.json::<Value>().await.unwrap()["detail"].is_string());

    // Staff: create, replace, delete.
    let made =
        product(&app, &admin, json!({ "name": "Phone", "price": "10.00", "category": phones, "stock": 2 })).await;
    let id = made["id"].as_i64().unwrap();
    let put = app
        .put(&url(&format!("/product/{id}/")), Some(&admin), json!({ "name": "Phone 2", "price": 12, "discount": 25 }))
        .await;
    assert_eq!(put.status, StatusCode::OK, "{}", put.body);
    assert_eq!(
        (&put.body["name"], &put.body["sell_price"], &put.body["category"]),
        (&json!("Phone 2"), &json!("9.00"), &json!(phones))
    );
    assert_detail(
        &app.put(&url(&format!("/product/{id}/")), Some(&customer), json!({ "name": "Mine", "price": 0 })).await,
        StatusCode::FORBIDDEN,
        "You do not have permission to perform this action.",
    );
    // The document spells category writes without the trailing slash; both work.
    let renamed = app.put(&url(&format!("/category/{phones}")), Some(&admin), json!({ "name": "Mobiles" })).await;
    assert_eq!(renamed.body, json!({ "id": phones, "name": "Mobiles" }), "{}", renamed.body);
    assert_detail(
        &app.delete(&url(&format!("/category/{phones}")), Some(&admin), None).await,
        StatusCode::CONFLICT,
        "The category still has products; move or delete them first.",
    );
    assert_eq!(app.delete(&url(&format!("/product/{id}/")), Some(&customer), None).await.status, StatusCode::FORBIDDEN);
    assert_eq!(app.delete(&url(&format!("/product/{id}/")), Some(&admin), None).await.status, StatusCode::NO_CONTENT);
    assert_detail(&get(&app, &format!("/product/{id}/"), None).await, StatusCode::NOT_FOUND, "Not found.");
    assert_eq!(
        app.delete(&url(&format!("/category/{phones}/")), Some(&admin), None).await.status,
        StatusCode::NO_CONTENT
    );

    // The log service is the audit log: the writes are there, for admins.
    let audit = app.get("/api/v1/admin/audit-log?action=product.created", Some(&admin)).await;
    assert_eq!(audit.body["meta"]["total"], json!(1), "{}", audit.body);
    app.stop().await;
}

async fn register(app: &TestApp, name: &str) -> Value {
    let reply = post(
        app,
        "/users/register/",
        None,
        json!({ "username": name, "password": PASSWORD, "confirm_password": PASSWORD, "email": format!("{name}@example.com") }),
    )
    .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    reply.body
}

async fn login(app: &TestApp, name: &str, password: &str) -> Reply {
    post(app, "/users/login/", None, json!({ "username": name, "password": password })).await
}

async fn users_register_sign_in_refresh_verify_and_log_out(backend: Backend) {
    let app = TestApp::spawn(backend, |_| {}).await;
    let mismatch = post(&app, "/users/register/", None, json!({ "username": "ada", "password": PASSWORD, "confirm_password": "Other-Pass1!", "email": "ada@example.com" })).await;
    assert_fields(&mismatch, &["confirm_password"]);
    assert_fields(
        &post(
            &app,
            "/users/register/",
            None,
            json!({ "username": "ada", "password": "short", "confirm_password": "short", "email": "nope" }),
        )
        .await,
        &["password", "email"],
    );
    assert_fields(
        &post(&app, "/users/register/", None, json!({})).await,
        &["username", "password", "confirm_password", "email"],
    );

    let registered = register(&app, "ada").await;
    assert_eq!(registered["message"], json!("User registered successfully."));
    let user = &registered["user"];
    assert!(user["id"].is_i64());
    assert_eq!(
        (&user["username"], &user["email"], &user["phone_number"], &user["city"]),
        (&json!("ada"), &json!("ada@example.com"), &Value::Null, &Value::Null)
    );
    let access = user["access"].as_str().unwrap().to_string();
    assert!(user["refresh"].is_string());
    let again = post(
        &app,
        "/users/register/",
        None,
        json!({ "username": "ada", "password": PASSWORD, "confirm_password": PASSWORD, "email": "other@example.com" }),
    )
    .await;
    assert_fields(&again, &["username"]);

    let me = get(&app, "/users/me/", Some(&access)).await;
    assert_eq!((me.status, &me.body["username"]), (StatusCode::OK, &json!("ada")), "{}", me.body);
    assert!(me.body.get("access").is_none());
    assert_detail(
        &get(&app, "/users/me/", None).await,
        StatusCode::UNAUTHORIZED,
        "Authentication credentials were not provided.",
    );

    // Login by username; a wrong password and an unknown user answer the same.
    let wrong = login(&app, "ada", "Wrong-Pass123!").await;
    assert_detail(&wrong, StatusCode::UNAUTHORIZED, "No active account found with the given credentials");
    assert_eq!(login(&app, "nobody", "Wrong-Pass123!").await.body, wrong.body);
    let pair = login(&app, "ada", PASSWORD).await;
    assert_eq!(pair.status, StatusCode::OK, "{}", pair.body);
    let (access, refresh) =
        (pair.body["access"].as_str().unwrap().to_string(), pair.body["refresh"].as_str().unwrap().to_string());

    // Verify and refresh; a spent refresh token is refused (and ends its session).
    assert_detail(
        &post(&app, "/users/token/verify/", None, json!({ "token": access })).await,
        StatusCode::OK,
        "Token is valid",
    );
    assert_detail(
        &post(&app, "/users/token/verify/", None, json!({ "token": "garbage" })).await,
        StatusCode::UNAUTHORIZED,
        "Token is invalid or expired",
    );
    assert_fields(&post(&app, "/users/token/verify/", None, json!({})).await, &["token"]);
    let refreshed = post(&app, "/users/token/refresh/", None, json!({ "refresh": refresh })).await;
    assert_eq!(refreshed.status, StatusCode::OK, "{}", refreshed.body);
    let new_access = refreshed.body["access"].as_str().unwrap().to_string();
    assert_ne!(refreshed.body["refresh"], json!(refresh));
    assert_eq!(get(&app, "/users/me/", Some(&new_access)).await.status, StatusCode::OK);
    assert_detail(
        &post(&app, "/users/token/refresh/", None, json!({ "refresh": refresh })).await,
        StatusCode::UNAUTHORIZED,
        "Token is invalid or expired",
    );
    assert_detail(
        &post(&app, "/users/token/refresh/", None, json!({ "refresh": "nonsense" })).await,
        StatusCode::UNAUTHORIZED,
        "Token is invalid or expired",
    );

    // Logout revokes the session everywhere, the native API included.
    let other = login(&app, "ada", PASSWORD).await.body["access"].as_str().unwrap().to_string();
    let out = post(&app, "/users/logout/", Some(&other), json!({})).await;
    assert_eq!(out.body, json!({ "message": "Logged out successfully." }));
    assert_detail(
        &get(&app, "/users/me/", Some(&other)).await,
        StatusCode::UNAUTHORIZED,
        "Given token not valid for any token type",
    );
    assert_detail(
        &post(&app, "/users/token/verify/", None, json!({ "token": other })).await,
        StatusCode::UNAUTHORIZED,
        "Token is invalid or expired",
    );
    assert_eq!(app.get("/api/v1/users/current-user", Some(&other)).await.status, StatusCode::UNAUTHORIZED);
    assert_detail(
        &post(&app, "/users/logout/", None, json!({})).await,
        StatusCode::UNAUTHORIZED,
        "Authentication credentials were not provided.",
    );

    // Cross-API: an account made here signs in natively, and a native token works here.
    let native =
        app.post("/api/v1/users/login", None, json!({ "email": "ada@example.com", "password": PASSWORD })).await;
    assert_eq!(native.status, StatusCode::OK, "{}", native.body);
    let native_token = native.body["data"]["accessToken"].as_str().unwrap();
    assert_eq!(get(&app, "/users/me/", Some(native_token)).await.body["username"], json!("ada"));
    app.stop().await;
}

async fn profile_and_password_changes_reach_the_native_api(backend: Backend) {
    let app = TestApp::spawn(backend, |_| {}).await;
    let access = register(&app, "ada").await["user"]["access"].as_str().unwrap().to_string();
    let updated = app
        .put(
            &url("/users/me/update/"),
            Some(&access),
            json!({ "first_name": "Ada", "last_name": "Lovelace", "phone_number": "+44 20 7946 0000", "city": "London", "address": "12 Analytical St", "postcode": "N1 9GU" }),
        )
        .await;
    assert_eq!(updated.status, StatusCode::OK, "{}", updated.body);
    assert_eq!(
        (
            &updated.body["first_name"],
            &updated.body["last_name"],
            &updated.body["city"],
            &updated.body["address"],
            &updated.body["postcode"],
            &updated.body["phone_number"]
        ),
        (
            &json!("Ada"),
            &json!("Lovelace"),
            &json!("London"),
            &json!("12 Analytical St"),
            &json!("N1 9GU"),
            &json!("+44 20 7946 0000")
        )
    );
    let native = app.get("/api/v1/users/current-user", Some(&access)).await;
    assert_eq!(native.body["data"]["fullName"], json!("Ada Lovelace"), "{}", native.body);
    assert_fields(
        &app.put(&url("/users/me/update/"), Some(&access), json!({ "email": "bad", "phone_number": "x" })).await,
        &["email", "phone_number"],
    );
    assert_fields(&app.put(&url("/users/me/update/"), Some(&access), json!({ "is_staff": true })).await, &["is_staff"]);

    // Change the password: the old one is checked, the new one given twice.
    let change = |old: &str, new: &str, confirm: &str| json!({ "old_password": old, "new_password": new, "confirm_password": confirm });
    let path = url("/users/me/change-password/");
    assert_fields(
        &app.post(&path, Some(&access), change("Wrong-Pass1!", "New-Pass4567!", "New-Pass4567!")).await,
        &["old_password"],
    );
    assert_fields(
        &app.post(&path, Some(&access), change(PASSWORD, "New-Pass4567!", "Other-Pass1!")).await,
        &["confirm_password"],
    );
    assert_fields(&app.post(&path, Some(&access), change(PASSWORD, "weak", "weak")).await, &["new_password"]);
    let other_session = login(&app, "ada", PASSWORD).await.body["access"].as_str().unwrap().to_string();
    let changed = app.post(&path, Some(&access), change(PASSWORD, "New-Pass4567!", "New-Pass4567!")).await;
    assert_eq!(changed.status, StatusCode::OK, "{}", changed.body);
    assert_eq!(get(&app, "/users/me/", Some(&access)).await.status, StatusCode::OK, "this session stays");
    assert_eq!(get(&app, "/users/me/", Some(&other_session)).await.status, StatusCode::UNAUTHORIZED, "the others end");
    assert_eq!(login(&app, "ada", PASSWORD).await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(login(&app, "ada", "New-Pass4567!").await.status, StatusCode::OK);
    app.stop().await;
}

fn address(extra: Value) -> Value {
    let mut body = json!({ "shipping_address": "12 Analytical St", "city": "London", "postcode": "N1 9GU", "first_name": "Ada", "last_name": "Lovelace", "phone_number": "+44 20 7946 0000", "notes": "ring twice" });
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    body
}

async fn guest_cart(app: &TestApp) -> String {
    let cart = get(app, "/cart/get_cart/", None).await;
    assert_eq!(cart.status, StatusCode::OK, "{}", cart.body);
    assert_eq!((&cart.body["cart_details"], &cart.body["total_price"]), (&json!([]), &json!("0.00")));
    cart.body["cart_key"].as_str().unwrap().to_string()
}

async fn add(app: &TestApp, token: Option<&str>, key: Option<&str>, product: i64, quantity: i64) -> Reply {
    let mut body = json!({ "product_id": product.to_string(), "quantity": quantity });
    if let Some(key) = key {
        body["cart_key"] = json!(key);
    }
    post(app, "/cart/add_item/", token, body).await
}

async fn a_guest_cart_is_found_by_its_key_and_only_by_it(backend: Backend) {
    let app = TestApp::spawn(backend, |_| {}).await;
    let admin = app.admin_token("boss").await;
    let widget = product(&app, &admin, json!({ "name": "Widget", "price": "100.00", "discount": 10, "stock": 5 }))
        .await["id"]
        .as_i64()
        .unwrap();
    let gadget =
        product(&app, &admin, json!({ "name": "Gadget", "price": 5, "stock": 1 })).await["id"].as_i64().unwrap();
    let key = guest_cart(&app).await;

    let added = add(&app, None, Some(&key), widget, 2).await;
    assert_eq!(added.status, StatusCode::OK, "{}", added.body);
    assert_eq!(
        (
            &added.body["message"],
            &added.body["product_id"],
            &added.body["quantity"],
            &added.body["name"],
            &added.body["price"],
            &added.body["discount"]
        ),
        (
            &json!("Item added to cart"),
            &json!(widget.to_string()),
            &json!(2),
            &json!("Widget"),
            &json!("100.00"),
            &json!("10.00")
        )
    );
    let cart = get(&app, &format!("/cart/get_cart/?cart_key={key}"), None).await;
    assert_eq!(cart.body["cart_key"], json!(key));
    assert_eq!(cart.body["total_price"], json!("180.00"));
    let line = &cart.body["cart_details"][0];
    assert_eq!(
        (
            &line["product_id"],
            &line["quantity"],
            &line["price"],
            &line["price_per_item"],
            &line["price_after_discount"]
        ),
        (&json!(widget.to_string()), &json!(2), &json!("100.00"), &json!("90.00"), &json!("180.00"))
    );

    // Quantities: set, change, refusals.
    let set = patch_quantity(&app, json!({ "product_id": widget, "quantity": 4, "cart_key": key })).await;
    assert_eq!(
        set.body,
        json!({ "message": "Quantity updated successfully.", "product_id": widget.to_string(), "new_quantity": 4 })
    );
    let changed = patch_quantity(&app, json!({ "product_id": widget, "change": -1, "cart_key": key })).await;
    assert_eq!(changed.body["new_quantity"], json!(3));
    assert_fields(
        &patch_quantity(&app, json!({ "product_id": widget, "quantity": 1, "change": 1, "cart_key": key })).await,
        &["non_field_errors"],
    );
    assert_fields(
        &patch_quantity(&app, json!({ "product_id": widget, "change": 0, "cart_key": key })).await,
        &["change"],
    );
    assert_fields(
        &patch_quantity(&app, json!({ "product_id": "abc", "quantity": -1, "cart_key": key })).await,
        &["product_id", "quantity"],
    );
    let too_many = patch_quantity(&app, json!({ "product_id": widget, "quantity": 6, "cart_key": key })).await;
    assert_eq!(too_many.status, StatusCode::CONFLICT, "{}", too_many.body);
    assert!(too_many.body["detail"].is_string());
    assert_fields(&add(&app, None, Some(&key), widget, 0).await, &["quantity"]);
    assert_detail(&add(&app, None, Some(&key), 999999, 1).await, StatusCode::NOT_FOUND, "Product not found.");
    add(&app, None, Some(&key), gadget, 1).await;

    // The "another service" view takes the key, never makes a cart.
    let service = get(&app, &format!("/cart/get_user_cart/?cart_key={key}"), None).await;
    assert_eq!(service.body["total_price"], json!("275.00"), "{}", service.body);
    assert!(service.body.get("cart_key").is_none());
    assert_detail(
        &get(&app, "/cart/get_user_cart/?cart_key=unknown-key", None).await,
        StatusCode::NOT_FOUND,
        "Cart not found.",
    );
    assert_fields(&get(&app, "/cart/get_user_cart/", None).await, &["cart_key"]);

    // Another guest's key is another cart; a user's cart is their own.
    let other_key = guest_cart(&app).await;
    assert_ne!(other_key, key);
    assert_eq!(get(&app, &format!("/cart/get_cart/?cart_key={other_key}"), None).await.body["cart_details"], json!([]));
    let user = app.user_token("ada").await;
    assert_eq!(
        get(&app, &format!("/cart/get_cart/?cart_key={key}"), Some(&user)).await.body["cart_details"],
        json!([])
    );
    assert_eq!(get(&app, "/cart/get_cart/", Some(&user)).await.body["cart_key"], Value::Null);
    assert_detail(
        &get(&app, "/cart/get_cart/", Some("stale")).await,
        StatusCode::UNAUTHORIZED,
        "Given token not valid for any token type",
    );

    // Remove, clear, clear by key.
    let remove = app
        .delete(&url("/cart/remove_item/"), None, Some(json!({ "product_id": gadget.to_string(), "cart_key": key })))
        .await;
    assert_eq!(remove.body, json!({ "message": "Item removed from cart", "product_id": gadget.to_string() }));
    let again =
        app.delete(&url("/cart/remove_item/"), None, Some(json!({ "product_id": gadget, "cart_key": key }))).await;
    assert_detail(&again, StatusCode::NOT_FOUND, "Product is not in the cart.");
    let cleared = app.delete(&url("/cart/clear_user_cart/"), None, Some(json!({ "cart_key": key }))).await;
    assert_eq!(cleared.body, json!({ "message": format!("Cart {key} cleared") }));
    assert_eq!(get(&app, &format!("/cart/get_user_cart/?cart_key={key}"), None).await.body["cart_details"], json!([]));
    add(&app, Some(&user), None, widget, 1).await;
    let clear = app.delete(&url("/cart/clear_cart/"), Some(&user), None).await;
    assert_eq!(clear.body, json!({ "message": "Cart cleared" }));
    assert_eq!(get(&app, "/cart/get_cart/", Some(&user)).await.body["cart_details"], json!([]));

    // Cross-API: the guest cart is the native one under the same key.
    add(&app, None, Some(&key), widget, 1).await;
    let native = app.get(&format!("/api/v1/cart?cartKey={key}"), None).await;
    assert_eq!(native.body["data"]["items"].as_array().map(Vec::len), Some(1), "{}", native.body);
    app.stop().await;
}

async fn orders_are_seen_only_by_their_owner_and_changed_only_by_staff(backend: Backend) {
    let app = TestApp::spawn(backend, |_| {}).await;
    let admin = app.admin_token("boss").await;
    let widget = product(&app, &admin, json!({ "name": "Widget", "price": "100.00", "discount": 10, "stock": 5 }))
        .await["id"]
        .as_i64()
        .unwrap();
    let key = guest_cart(&app).await;

    // Every missing field is named; a guest needs the cart key and an e-mail.
    assert_fields(
        &post(&app, "/order/create_order/", None, json!({})).await,
        &["shipping_address", "city", "postcode", "first_name", "last_name", "phone_number"],
    );
    assert_fields(&post(&app, "/order/create_order/", None, address(json!({}))).await, &["cart_key", "email"]);
    assert_fields(
        &post(
            &app,
            "/order/create_order/",
            None,
            address(json!({ "cart_key": key, "email": "ada@example.com", "phone_number": "call me" })),
        )
        .await,
        &["phone_number"],
    );
    let empty =
        post(&app, "/order/create_order/", None, address(json!({ "cart_key": key, "email": "ada@example.com" }))).await;
    assert_detail(&empty, StatusCode::CONFLICT, "The cart is empty.");

    add(&app, None, Some(&key), widget, 2).await;
    let placed =
        post(&app, "/order/create_order/", None, address(json!({ "cart_key": key, "email": "ada@example.com" }))).await;
    assert_eq!(placed.status, StatusCode::CREATED, "{}", placed.body);
    assert_eq!(
        (&placed.body["message"], &placed.body["cart_key"]),
        (&json!("Order created successfully"), &json!(key))
    );
    let order = placed.body["order_id"].as_i64().unwrap();
    assert_eq!(
        get(&app, &format!("/cart/get_cart/?cart_key={key}"), None).await.body["cart_details"],
        json!([]),
        "the cart was emptied"
    );
    assert_eq!(get(&app, &format!("/product/{widget}/"), None).await.status, StatusCode::OK);

    // The guest sees it by the cart key; anyone else gets a 404.
    let seen = order_by_id(&app, order, None, json!({ "cart_key": key })).await;
    assert_eq!(seen.status, StatusCode::OK, "{}", seen.body);
    assert_eq!(
        (&seen.body["order"]["order_id"], &seen.body["order"]["total_price"]),
        (&json!(order), &json!("180.00"))
    );
    assert_eq!(
        seen.body["order"]["items"],
        json!([{ "product_name": "Widget", "quantity": 2, "unit_price": "90.00" }])
    );
    let other_key = guest_cart(&app).await;
    assert_detail(
        &order_by_id(&app, order, None, json!({ "cart_key": other_key })).await,
        StatusCode::NOT_FOUND,
        "Not found.",
    );
    let eve = app.user_token("eve").await;
    assert_detail(
        &order_by_id(&app, order, Some(&eve), json!({ "cart_key": key })).await,
        StatusCode::NOT_FOUND,
        "Not found.",
    );
    assert_fields(&order_by_id(&app, order, None, json!({})).await, &["cart_key"]);
    assert_eq!(order_by_id(&app, order, Some(&admin), json!({})).await.status, StatusCode::OK, "staff see every order");

    // A user's order, from their cart; their list holds only their own.
    let ada = app.user_token("ada").await;
    add(&app, Some(&ada), None, widget, 1).await;
    let mine = post(&app, "/order/create_order/", Some(&ada), address(json!({}))).await;
    assert_eq!((mine.status, &mine.body["cart_key"]), (StatusCode::CREATED, &Value::Null), "{}", mine.body);
    let mine = mine.body["order_id"].as_i64().unwrap();
    let listed = get(&app, "/order/get_orders/", Some(&ada)).await;
    assert_eq!(
        listed.body,
        json!({ "orders": [{ "order_id": mine, "total_price": "90.00", "status": "pending", "is_paid": false, "shipping_address": "12 Analytical St", "first_name": "Ada", "last_name": "Lovelace", "phone": "+44 20 7946 0000", "email": "ada@example.com" }] })
    );
    assert_eq!(get(&app, "/order/get_orders/", Some(&eve)).await.body, json!({ "orders": [] }));
    assert_detail(
        &get(&app, "/order/get_orders/", None).await,
        StatusCode::UNAUTHORIZED,
        "Authentication credentials were not provided.",
    );
    assert_detail(&order_by_id(&app, order, Some(&ada), json!({})).await, StatusCode::NOT_FOUND, "Not found.");

    // A customer can never mark an order paid, nor change its status.
    let forbidden = "You do not have permission to perform this action.";
    assert_detail(
        &update_order(&app, Some(&ada), json!({ "order_id": mine, "is_paid": true, "payment_intent": "pi_fake" }))
            .await,
        StatusCode::FORBIDDEN,
        forbidden,
    );
    assert_detail(
        &update_order(&app, Some(&ada), json!({ "order_id": mine, "status": "shipped" })).await,
        StatusCode::FORBIDDEN,
        forbidden,
    );
    assert_eq!(
        update_order(&app, None, json!({ "order_id": mine, "is_paid": true })).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(get(&app, "/order/get_orders/", Some(&ada)).await.body["orders"][0]["is_paid"], json!(false));

    // Staff: bad input named; a manual payment marked; a status moved.
    assert_fields(&update_order(&app, Some(&admin), json!({ "order_id": mine })).await, &["non_field_errors"]);
    assert_fields(&update_order(&app, Some(&admin), json!({ "order_id": mine, "is_paid": false })).await, &["is_paid"]);
    assert_fields(
        &update_order(&app, Some(&admin), json!({ "order_id": "x", "status": "teleported" })).await,
        &["order_id", "status"],
    );
    assert_detail(
        &update_order(&app, Some(&admin), json!({ "order_id": 999999, "status": "shipped" })).await,
        StatusCode::NOT_FOUND,
        "Order not found.",
    );
    let paid =
        update_order(&app, Some(&admin), json!({ "order_id": mine, "is_paid": true, "payment_intent": "bank-123" }))
            .await;
    assert_eq!(paid.body, json!({ "message": "Order updated successfully." }), "{}", paid.body);
    let after = &get(&app, "/order/get_orders/", Some(&ada)).await.body["orders"][0];
    assert_eq!((&after["is_paid"], &after["status"]), (&json!(true), &json!("paid")));
    assert_eq!(
        update_order(&app, Some(&admin), json!({ "order_id": mine, "status": "processing" })).await.status,
        StatusCode::OK
    );
    assert_eq!(get(&app, "/order/get_orders/", Some(&ada)).await.body["orders"][0]["status"], json!("processing"));
    let backwards = update_order(&app, Some(&admin), json!({ "order_id": mine, "status": "pending" })).await;
    assert_eq!(backwards.status, StatusCode::CONFLICT, "{}", backwards.body);

    // Cross-API: the native API shows the same order to its owner.
    let native = app.get(&format!("/api/v1/orders/{mine}"), Some(&ada)).await;
    assert_eq!(
        (native.body["data"]["status"].as_str(), native.body["data"]["paymentStatus"].as_str()),
        (Some("processing"), Some("paid"))
    );
    app.stop().await;
}

fn plain(_: &mut Config) {}

async fn a_guest_order_is_paid_only_after_stripe_confirms(backend: Backend) {
    let shop = Shop::start(backend, plain).await;
    let app = &shop.app;
    let admin = app.admin_token("boss").await;
    let widget =
        product(app, &admin, json!({ "name": "Widget", "price": "12.50", "stock": 5 })).await["id"].as_i64().unwrap();

    // The document's flow: guest cart → order → checkout session.
    let key = guest_cart(app).await;
    add(app, None, Some(&key), widget, 2).await;
    assert_detail(&checkout(app, json!(key)).await, StatusCode::NOT_FOUND, "No pending order to pay.");
    let placed =
        post(app, "/order/create_order/", None, address(json!({ "cart_key": key, "email": "ada@example.com" }))).await;
    let order = placed.body["order_id"].as_i64().unwrap();
    assert_fields(&post(app, "/payments/create-checkout-session/", None, json!({})).await, &["cart_key"]);
    let other_key = guest_cart(app).await;
    assert_detail(&checkout(app, json!(other_key)).await, StatusCode::NOT_FOUND, "No pending order to pay.");
    let session = checkout(app, json!(key)).await;
    assert_eq!(session.status, StatusCode::OK, "{}", session.body);
    let fake = shop.stripe.sessions().pop().expect("a session was opened");
    assert_eq!(session.body, json!({ "checkout_url": fake.url }));
    assert_eq!((fake.amount_total, fake.client_reference_id.as_deref()), (2500, Some(order.to_string().as_str())));
    let success_url = fake.success_url.clone().unwrap();
    assert!(success_url.contains("/compat/microservices/api/v1/payments/success/?session_id="), "{success_url}");
    assert!(fake.cancel_url.clone().unwrap().ends_with("/compat/microservices/api/v1/payments/cancel/"));
    // Asking again gives the same live session.
    assert_eq!(checkout(app, json!(key)).await.body, session.body);

    // Never success before Stripe confirms; the query proves nothing.
    let early = success(app, &fake.id).await;
    assert_eq!((early.status, &early.body), (StatusCode::ACCEPTED, &json!({ "status": "pending" })));
    assert_detail(&success(app, "cs_test_forged").await, StatusCode::NOT_FOUND, "Payment not found.");
    assert_fields(&app.get(&url("/payments/success/"), None).await, &["session_id"]);
    assert_eq!(order_by_id(app, order, None, json!({ "cart_key": key })).await.body["order"]["is_paid"], json!(false));
    // Staff cannot mark a Stripe order paid by hand either.
    let by_hand = post(app, "/order/update_order/", Some(&admin), json!({ "order_id": order, "is_paid": true })).await;
    assert_eq!(by_hand.status, StatusCode::CONFLICT, "{}", by_hand.body);

    // Stripe completes the session and delivers its signed webhook.
    let deliveries = shop.stripe.complete_session(&fake.id).await;
    assert_eq!(deliveries.iter().map(|d| d.status).collect::<Vec<_>>(), [Some(200)]);
    let done = success(app, &fake.id).await;
    assert_eq!((done.status, &done.body), (StatusCode::OK, &json!({ "status": "success" })));
    assert_eq!(order_by_id(app, order, None, json!({ "cart_key": key })).await.body["order"]["is_paid"], json!(true));
    assert_eq!(order_by_id(app, order, None, json!({ "cart_key": key })).await.body["order"]["status"], json!("paid"));
    assert_eq!(app.get(&url("/payments/cancel/"), None).await.body, json!({ "status": "canceled" }));
    assert_detail(&checkout(app, json!(key)).await, StatusCode::NOT_FOUND, "No pending order to pay.");

    // Paid once, in the audit log and in the native view.
    let audit = app
        .get(
            &format!("/api/v1/admin/audit-log?action=payment.captured&targetType=order&targetId={order}"),
            Some(&admin),
        )
        .await;
    assert_eq!(audit.body["meta"]["total"], json!(1), "{}", audit.body);
    let native = app.get(&format!("/api/v1/orders/{order}"), Some(&admin)).await;
    assert_eq!(native.body["data"]["paymentStatus"], json!("paid"));

    // A signed-in user's checkout needs no key; a customer's is refused for another's order.
    let ada = app.user_token("ada").await;
    add(app, Some(&ada), None, widget, 1).await;
    let mine =
        post(app, "/order/create_order/", Some(&ada), address(json!({}))).await.body["order_id"].as_i64().unwrap();
    let eve = app.user_token("eve").await;
    let stolen = post(app, "/payments/create-checkout-session/", Some(&eve), json!({ "order_id": mine })).await;
    assert_detail(&stolen, StatusCode::NOT_FOUND, "Order not found.");
    let own = post(app, "/payments/create-checkout-session/", Some(&ada), json!({})).await;
    assert_eq!(own.status, StatusCode::OK, "{}", own.body);
    let session = shop.stripe.sessions().pop().unwrap();
    assert_eq!(own.body["checkout_url"], json!(session.url));
    assert_eq!(session.client_reference_id.as_deref(), Some(mine.to_string().as_str()));
    shop.stripe.complete_session(&session.id).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while get(app, "/order/get_orders/", Some(&ada)).await.body["orders"][0]["is_paid"] != json!(true) {
        assert!(tokio::time::Instant::now() < deadline, "the webhook never paid the order");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    shop.app.stop().await;
}

async fn the_reset_mail_carries_uidb64_and_token_and_the_new_password_works(backend: Backend) {
    let Some(sink) = SmtpSink::start(SinkMode::Plain).await else { return };
    let smtp = sink.url();
    let app = TestApp::spawn(backend, move |c| {
        c.mail.smtp = Some(emporium_mail::SmtpSettings::parse(&smtp).unwrap());
        c.mail.poll_interval = Duration::from_millis(100);
        c.mail.from = "Test Shop <shop@shop.test>".into();
        c.mail.shop_name = "Test Shop".into();
        c.payments.frontend_url = Some("http://shop.test".into());
    })
    .await;
    let id = register(&app, "ada").await["user"]["id"].as_i64().unwrap();
    let asked = post(&app, "/users/reset-password/", None, json!({ "email": "ada@example.com" })).await;
    let answer = json!({ "detail": "If an account with that email exists, a password reset email has been sent." });
    assert_eq!((asked.status, &asked.body), (StatusCode::OK, &answer));
    assert_eq!(post(&app, "/users/reset-password/", None, json!({ "email": "nobody@example.com" })).await.body, answer);
    assert_fields(&post(&app, "/users/reset-password/", None, json!({ "email": "not an email" })).await, &["email"]);

    let mail = sink.mail_to("ada@example.com", "Reset").await;
    let prefix = "http://shop.test/reset-password/confirm/?uidb64=";
    let text = mail.text();
    let start = text.find(prefix).unwrap_or_else(|| panic!("no Django-style link in {text}")) + prefix.len();
    let link: String = text[start..].chars().take_while(|c| !c.is_whitespace()).collect();
    let (uidb64, token) = link.split_once("&token=").unwrap_or_else(|| panic!("no token in {link}"));
    // Django's urlsafe_base64_encode(force_bytes(pk)), unpadded.
    let expected_uid = {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(id.to_string())
    };
    assert_eq!(uidb64, expected_uid);
    assert!(sink.received().iter().all(|m| !m.is_to("nobody@example.com")));

    let invalid = "The reset link is invalid or has expired.";
    assert_fields(&confirm(&app, uidb64, token, "New-Pass4567!", "Other-Pass1!").await, &["confirm_password"]);
    assert_fields(&confirm(&app, uidb64, token, "weak", "weak").await, &["new_password"]);
    assert_detail(
        &confirm(&app, "!!", token, "New-Pass4567!", "New-Pass4567!").await,
        StatusCode::BAD_REQUEST,
        invalid,
    );
    assert_detail(
        &confirm(&app, uidb64, "forged-token", "New-Pass4567!", "New-Pass4567!").await,
        StatusCode::BAD_REQUEST,
        invalid,
    );
    assert_fields(
        &app.post(
            &url("/users/reset-password/confirm/"),
            None,
            json!({ "new_password": "New-Pass4567!", "confirm_password": "New-Pass4567!" }),
        )
        .await,
        &["uidb64", "token"],
    );
    assert_eq!(login(&app, "ada", PASSWORD).await.status, StatusCode::OK, "nothing changed yet");

    let done = confirm(&app, uidb64, token, "New-Pass4567!", "New-Pass4567!").await;
    assert_eq!(
        (done.status, &done.body),
        (StatusCode::OK, &json!({ "detail": "Password has been reset." })),
        "{}",
        done.body
    );
    assert_detail(
        &confirm(&app, uidb64, token, "Third-Pass789!", "Third-Pass789!").await,
        StatusCode::BAD_REQUEST,
        invalid,
    );
    assert_eq!(login(&app, "ada", PASSWORD).await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(login(&app, "ada", "New-Pass4567!").await.status, StatusCode::OK);
    // The notification service is the outbox: the reset and the "changed" mail went out.
    sink.mail_to("ada@example.com", "password was changed").await;
    app.stop().await;
}

async fn patch_quantity(app: &TestApp, body: Value) -> Reply {
    app.patch(&url("/cart/update_quantity/"), None, body).await
}

async fn order_by_id(app: &TestApp, order: i64, token: Option<&str>, body: Value) -> Reply {
    app.post(&url(&format!("/order/{order}/get_order_by_id/")), token, body).await
}

async fn update_order(app: &TestApp, token: Option<&str>, body: Value) -> Reply {
    app.post(&url("/order/update_order/"), token, body).await
}

async fn checkout(app: &TestApp, key: Value) -> Reply {
    post(app, "/payments/create-checkout-session/", None, json!({ "cart_key": key })).await
}

async fn success(app: &TestApp, session: &str) -> Reply {
    app.get(&url(&format!("/payments/success/?session_id={session}")), None).await
}

async fn confirm(app: &TestApp, uid: &str, token: &str, new: &str, again: &str) -> Reply {
    let path = url(&format!("/users/reset-password/confirm/?uidb64={uid}&token={token}"));
    app.post(&path, None, json!({ "new_password": new, "confirm_password": again })).await
}
