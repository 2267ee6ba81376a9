//! The promarket dialect (`/compat/promarket`): the document's own example
//! requests in order, the same accounts and data as the native API, who may
//! do what, every bad input (each in NestJS's error shape, changing
//! nothing), stock under contention, and manual payment.

use std::time::Duration;

use futures::future::join_all;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::harness::{Backend, PASSWORD, Reply, TestApp};

crate::on_both_backends!(
    the_documents_examples_work_in_order,
    promarket_accounts_tokens_and_data_are_the_native_ones,
    only_admins_write_the_catalog_and_see_every_order,
    every_bad_input_is_a_nest_error_and_changes_nothing,
    thirty_concurrent_orders_for_ten_units_sell_exactly_ten,
);

const BASE: &str = "/compat/promarket";

fn path(p: &str) -> String {
    format!("{BASE}{p}")
}

/// Asserts NestJS's default error body with this status.
fn assert_nest(reply: &Reply, status: StatusCode) {
    assert_eq!(reply.status, status, "{}", reply.body);
    assert_eq!(reply.body["statusCode"], json!(status.as_u16()), "{}", reply.body);
    assert_eq!(reply.body["error"], json!(status.canonical_reason().unwrap()), "{}", reply.body);
    assert!(reply.body["message"].is_string() || reply.body["message"].is_array(), "{}", reply.body);
    assert!(reply.body.get("success").is_none(), "not the native envelope: {}", reply.body);
}

/// The messages of a validation error, joined, to check which fields it names.
fn messages(reply: &Reply) -> String {
    match &reply.body["message"] {
        Value::Array(all) => all.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(" | "),
        other => other.as_str().unwrap_or_default().to_string(),
    }
}

/// The `refreshToken` cookie a reply sets.
fn refresh_cookie(reply: &Reply) -> String {
    let set = reply
        .headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("refreshToken="))
        .unwrap_or_else(|| panic!("no refreshToken cookie: {:?}", reply.headers))
        .to_string();
    assert!(set.contains("HttpOnly"), "{set}");
    set.split(';').next().unwrap().trim_start_matches("refreshToken=").to_string()
}

async fn refresh(app: &TestApp, cookie: Option<&str>) -> Reply {
    let mut request = app.client.get(app.url(&path("/auth/refresh")));
    if let Some(cookie) = cookie {
        request = request.header("cookie", format!("refreshToken={cookie}"));
    }
    Reply::read(request.send().await.unwrap()).await
}

async fn signup(app: &TestApp, email: &str) -> (String, Value) {
    let reply = app.post(&path("/auth/signup"), None, json!({ "email": email, "password": "123456@Omar" })).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    (reply.body["accessToken"].as_str().unwrap().to_string(), reply.body.clone())
}

async fn create_product(app: &TestApp, admin: &str, name: &str, stock: i64) -> String {
    let body = json!({ "name": name, "description": "d", "price": 19.99, "category": "Gadgets", "image": "https://img.example/x.png", "stock": stock });
    let reply = app.post(&path("/products"), Some(admin), body).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    reply.body["_id"].as_str().unwrap().to_string()
}

async fn stock(app: &TestApp, id: &str) -> i64 {
    let reply = app.get(&path(&format!("/products/{id}")), None).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    reply.body["stock"].as_i64().unwrap()
}

async fn order(app: &TestApp, token: &str, id: &str, quantity: Value) -> Reply {
    app.post(&path("/orders"), Some(token), json!({ "items": [{ "productId": id, "quantity": quantity }] })).await
}

/// An admin with the document's own login e-mail and password (its login
/// example answers `role: admin`), made as `emporium admin create` does.
async fn document_admin(app: &TestApp) {
    let reply = app
        .post(
            "/api/v1/users/register",
            None,
            json!({ "fullName": "Omar", "username": "omar", "email": "omar@email.com", "password": "123456@Omar" }),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    app.promote("omar").await;
}

async fn the_documents_examples_work_in_order(app: &TestApp) {
    document_admin(app).await;

    // POST signup, as the document sends it.
    let reply =
        app.post(&path("/auth/signup"), None, json!({ "email": "omar1@email.com", "password": "123456@Omar" })).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    assert_eq!((reply.body["role"].as_str(), reply.body["email"].as_str()), (Some("user"), Some("omar1@email.com")));
    assert!(reply.body["accessToken"].as_str().is_some_and(|t| !t.is_empty()));
    let user = reply.body["accessToken"].as_str().unwrap().to_string();
    refresh_cookie(&reply);

    // POST login: 201, as the document shows.
    let reply =
        app.post(&path("/auth/login"), None, json!({ "email": "omar@email.com", "password": "123456@Omar" })).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    assert_eq!((reply.body["role"].as_str(), reply.body["email"].as_str()), (Some("admin"), Some("omar@email.com")));
    let admin = reply.body["accessToken"].as_str().unwrap().to_string();
    let cookie = refresh_cookie(&reply);

    // GET refreshToken: the cookie buys a new access token and is rotated.
    let refreshed = refresh(app, Some(&cookie)).await;
    assert_eq!(refreshed.status, StatusCode::OK, "{}", refreshed.body);
    assert!(refreshed.body["accessToken"].is_string());
    assert_eq!(refreshed.body.as_object().unwrap().len(), 1, "{}", refreshed.body);
    let rotated = refresh_cookie(&refreshed);
    assert_ne!(rotated, cookie);
    let admin = refreshed.body["accessToken"].as_str().map(str::to_string).unwrap_or(admin);

    // POST CreateProduct, as the document sends it: its `image` ("sdas") is
    // no URL, which the store refuses; with a URL, it is created.
    let example = json!({ "name": "headset", "description": "a new good headset with good voice quality", "price": 500, "category": "accessories", "image": "sdas", "stock": 25 });
    let refused = app.post(&path("/products"), Some(&admin), example.clone()).await;
    assert_nest(&refused, StatusCode::BAD_REQUEST);
    assert!(messages(&refused).starts_with("image "), "{}", refused.body);
    let mut with_url = example.clone();
    with_url["image"] = json!("https://cdn.example/headset.png");
    let created = app.post(&path("/products"), Some(&admin), with_url).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let product = created.body.clone();
    assert_eq!(
        product,
        json!({ "_id": product["_id"], "name": "headset", "description": "a new good headset with good voice quality", "price": 500.0,
                "category": "accessories", "image": "https://cdn.example/headset.png", "stock": 25, "__v": product["__v"] })
    );
    let id = product["_id"].as_str().unwrap().to_string();

    // GET Get All Products, with and without the document's parameters.
    let all = app.get(&path("/products"), None).await;
    assert_eq!(all.status, StatusCode::OK, "{}", all.body);
    assert_eq!(all.body["products"][0]["_id"], json!(id));
    assert_eq!(all.body["query"], json!({ "category": null }));
    let filtered = app.get(&path("/products?category=accessories&limit=10&page=1"), None).await;
    assert_eq!(filtered.status, StatusCode::OK, "{}", filtered.body);
    assert_eq!(filtered.body["products"].as_array().unwrap().len(), 1);
    assert_eq!(filtered.body["query"], json!({ "category": "accessories" }));
    let other = app.get(&path("/products?category=shoes"), None).await;
    assert_eq!(other.body["products"], json!([]));

    // GET Get Product By ID.
    let one = app.get(&path(&format!("/products/{id}")), None).await;
    assert_eq!((one.status, one.body.clone()), (StatusCode::OK, product.clone()));

    // PATCH Update Product By Id: the whole product comes back.
    let patched = app
        .patch(
            &path(&format!("/products/{id}")),
            Some(&admin),
            json!({ "description": "a new good headphone with good voice quality " }),
        )
        .await;
    assert_eq!(patched.status, StatusCode::OK, "{}", patched.body);
    assert_eq!(patched.body["description"], "a new good headphone with good voice quality");
    assert_eq!((patched.body["name"].as_str(), patched.body["stock"].as_i64()), (Some("headset"), Some(25)));
    assert_eq!(patched.body["__v"].as_i64(), product["__v"].as_i64().map(|v| v + 1));

    // POST Create Order: the quantity as a string, as the document sends it.
    let placed =
        app.post(&path("/orders"), Some(&user), json!({ "items": [{ "productId": id, "quantity": "5" }] })).await;
    assert_eq!(placed.status, StatusCode::CREATED, "{}", placed.body);
    let o = placed.body.clone();
    for key in ["userId", "items", "total", "status", "_id", "createdAt", "updatedAt", "__v"] {
        assert!(o.get(key).is_some(), "{key} missing: {o}");
    }
    assert_eq!(o["items"], json!([{ "productId": id, "quantity": 5, "priceSnapshot": 500.0 }]));
    assert_eq!((o["total"].as_f64(), o["status"].as_str()), (Some(2500.0), Some("pending")));
    assert_eq!(stock(app, &id).await, 20);
    let order_id = o["_id"].as_str().unwrap().to_string();

    // GET Get All Orders (admin).
    let all = app.get(&path("/orders/"), Some(&admin)).await;
    assert_eq!(all.status, StatusCode::OK, "{}", all.body);
    assert_eq!(all.body.as_array().unwrap().len(), 1);
    assert_eq!(all.body[0]["_id"], json!(order_id));
    assert_eq!(app.get(&path("/orders"), Some(&admin)).await.body, all.body);

    // GET Get My Order: lines with their product populated.
    let mine = app.get(&path("/orders/me"), Some(&user)).await;
    assert_eq!(mine.status, StatusCode::OK, "{}", mine.body);
    assert_eq!(mine.body.as_array().unwrap().len(), 1);
    assert_eq!(
        mine.body[0]["items"][0],
        json!({ "productId": { "_id": id, "name": "headset", "price": 500.0, "image": "https://cdn.example/headset.png" }, "quantity": 5, "priceSnapshot": 500.0 })
    );
    assert_eq!(mine.body[0]["userId"], o["userId"]);

    // PATCH update Order Status: `preparing`, before it is paid (a manual order).
    let moved =
        app.patch(&path(&format!("/orders/{order_id}/status")), Some(&admin), json!({ "status": "preparing" })).await;
    assert_eq!(moved.status, StatusCode::OK, "{}", moved.body);
    assert_eq!(
        (moved.body["_id"].as_str(), moved.body["status"].as_str()),
        (Some(order_id.as_str()), Some("preparing"))
    );
    let shipped =
        app.patch(&path(&format!("/orders/{order_id}/status")), Some(&admin), json!({ "status": "shipped" })).await;
    assert_eq!(shipped.body["status"], "shipped", "{}", shipped.body);
    let paid = app.patch(&path(&format!("/orders/{order_id}/status")), Some(&admin), json!({ "status": "paid" })).await;
    assert_eq!((paid.status, paid.body["status"].as_str()), (StatusCode::OK, Some("shipped")), "{}", paid.body);
    let delivered =
        app.patch(&path(&format!("/orders/{order_id}/status")), Some(&admin), json!({ "status": "delivered" })).await;
    assert_eq!(delivered.body["status"], "delivered", "{}", delivered.body);

    // DELETE Delete Product By ID: 204, then it is gone.
    let deleted = app.delete(&path(&format!("/products/{id}")), Some(&admin), None).await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    assert_nest(&app.get(&path(&format!("/products/{id}")), None).await, StatusCode::NOT_FOUND);
    // The order keeps its line, populated from its snapshot.
    let mine = app.get(&path("/orders/me"), Some(&user)).await;
    assert_eq!(mine.body[0]["items"][0]["productId"]["name"], "headset", "{}", mine.body);
}

async fn promarket_accounts_tokens_and_data_are_the_native_ones(app: &TestApp) {
    let (token, _) = signup(app, "ada@example.com").await;
    // The account signs in natively with the same e-mail and password.
    let native =
        app.post("/api/v1/users/login", None, json!({ "email": "ada@example.com", "password": "123456@Omar" })).await;
    assert_eq!(native.status, StatusCode::OK, "{}", native.body);
    assert_eq!(native.body["data"]["user"]["username"], "ada", "the username comes from the e-mail");
    // A second signup whose e-mail gives the same username still works.
    let (_, other) = signup(app, "ada@example.org").await;
    assert_eq!(other["email"], "ada@example.org");
    // The promarket token is a native session.
    let me = app.get("/api/v1/users/current-user", Some(&token)).await;
    assert_eq!(me.body["data"]["email"], "ada@example.com", "{}", me.body);

    // A product created natively is listed and ordered here; stock is shared.
    let admin = app.admin_token("boss").await;
    let native =
        app.post("/api/v1/products", Some(&admin), json!({ "name": "Native Lamp", "price": 12.5, "stock": 4 })).await;
    assert_eq!(native.status, StatusCode::CREATED, "{}", native.body);
    let lamp = native.body["data"]["_id"].as_str().unwrap().to_string();
    let listed = app.get(&path("/products"), None).await;
    let entry = listed.body["products"].as_array().unwrap().iter().find(|p| p["_id"] == json!(lamp)).cloned();
    assert_eq!(
        entry.map(|p| (p["price"].clone(), p["category"].clone(), p["image"].clone())),
        Some((json!(12.5), json!(""), json!("")))
    );
    let placed = order(app, &token, &lamp, json!(3)).await;
    assert_eq!(placed.status, StatusCode::CREATED, "{}", placed.body);
    let order_id = placed.body["_id"].as_str().unwrap().to_string();
    let native_stock = app.get(&format!("/api/v1/products/{lamp}"), None).await.body["data"]["stock"].clone();
    assert_eq!(native_stock, json!(1));

    // An admin sees it natively: a manual-payment order, to an address to be arranged.
    let seen = app.get(&format!("/api/v1/orders/{order_id}"), Some(&admin)).await;
    assert_eq!(seen.status, StatusCode::OK, "{}", seen.body);
    assert_eq!(
        (
            seen.body["data"]["status"].as_str(),
            seen.body["data"]["paymentMethod"].as_str(),
            seen.body["data"]["paymentStatus"].as_str()
        ),
        (Some("pending"), Some("manual"), Some("unpaid")),
        "{}",
        seen.body
    );
    assert_eq!(seen.body["data"]["shippingAddress"]["city"], "[to be arranged]");
    // Moved natively to processing, it reads `preparing` here.
    let moved =
        app.patch(&format!("/api/v1/orders/{order_id}/status"), Some(&admin), json!({ "status": "processing" })).await;
    assert_eq!(moved.status, StatusCode::OK, "{}", moved.body);
    assert_eq!(app.get(&path("/orders/me"), Some(&token)).await.body[0]["status"], "preparing");

    // Logging out natively ends the session here too.
    let out = app.post("/api/v1/users/logout", Some(&token), json!({})).await;
    assert_eq!(out.status, StatusCode::OK, "{}", out.body);
    assert_nest(&app.get(&path("/orders/me"), Some(&token)).await, StatusCode::UNAUTHORIZED);

    // A native account signs in here.
    app.register("grace").await;
    let reply =
        app.post(&path("/auth/login"), None, json!({ "email": "grace@example.com", "password": PASSWORD })).await;
    assert_eq!((reply.status, reply.body["role"].as_str()), (StatusCode::CREATED, Some("user")), "{}", reply.body);

    // A spent refresh cookie is refused (and ends its session); none at all too.
    let login =
        app.post(&path("/auth/login"), None, json!({ "email": "grace@example.com", "password": PASSWORD })).await;
    let cookie = refresh_cookie(&login);
    assert_eq!(refresh(app, Some(&cookie)).await.status, StatusCode::OK);
    assert_nest(&refresh(app, Some(&cookie)).await, StatusCode::UNAUTHORIZED);
    assert_nest(&refresh(app, None).await, StatusCode::UNAUTHORIZED);
    assert_nest(&refresh(app, Some("not-a-token")).await, StatusCode::UNAUTHORIZED);
}

async fn only_admins_write_the_catalog_and_see_every_order(app: &TestApp) {
    let admin = app.admin_token("boss").await;
    let (alice, _) = signup(app, "alice@example.com").await;
    let (bob, _) = signup(app, "bob@example.com").await;
    let id = create_product(app, &admin, "Widget", 10).await;
    let body = json!({ "name": "Nope", "price": 1 });

    // Anonymous: 401. A user: 403. Nothing is written.
    assert_nest(&app.post(&path("/products"), None, body.clone()).await, StatusCode::UNAUTHORIZED);
    assert_nest(&app.post(&path("/products"), Some(&alice), body.clone()).await, StatusCode::FORBIDDEN);
    assert_nest(
        &app.post(&path("/products"), Some("garbage.token.here"), body.clone()).await,
        StatusCode::UNAUTHORIZED,
    );
    let patch = json!({ "stock": 999 });
    assert_nest(
        &app.patch(&path(&format!("/products/{id}")), Some(&alice), patch.clone()).await,
        StatusCode::FORBIDDEN,
    );
    assert_nest(&app.patch(&path(&format!("/products/{id}")), None, patch).await, StatusCode::UNAUTHORIZED);
    assert_nest(&app.delete(&path(&format!("/products/{id}")), Some(&alice), None).await, StatusCode::FORBIDDEN);
    assert_eq!(stock(app, &id).await, 10);
    assert_eq!(app.get(&path("/products"), None).await.body["products"].as_array().unwrap().len(), 1);

    // Orders: anonymous may not order or list; only an admin lists all or moves one.
    assert_nest(&order(app, "", &id, json!(1)).await, StatusCode::UNAUTHORIZED);
    let placed = order(app, &alice, &id, json!(2)).await;
    let order_id = placed.body["_id"].as_str().unwrap().to_string();
    assert_nest(&app.get(&path("/orders/me"), None).await, StatusCode::UNAUTHORIZED);
    assert_nest(&app.get(&path("/orders/"), None).await, StatusCode::UNAUTHORIZED);
    assert_nest(&app.get(&path("/orders/"), Some(&alice)).await, StatusCode::FORBIDDEN);
    let status = json!({ "status": "preparing" });
    assert_nest(
        &app.patch(&path(&format!("/orders/{order_id}/status")), Some(&alice), status.clone()).await,
        StatusCode::FORBIDDEN,
    );
    assert_nest(
        &app.patch(&path(&format!("/orders/{order_id}/status")), Some(&bob), status).await,
        StatusCode::FORBIDDEN,
    );
    // Bob never sees Alice's order.
    assert_eq!(app.get(&path("/orders/me"), Some(&bob)).await.body, json!([]));
    assert_eq!(app.get(&path("/orders/me"), Some(&alice)).await.body.as_array().unwrap().len(), 1);
    let native = app.get(&format!("/api/v1/orders/{order_id}"), Some(&admin)).await;
    assert_eq!(native.body["data"]["status"], "pending", "nothing moved it");
}

async fn every_bad_input_is_a_nest_error_and_changes_nothing(app: &TestApp) {
    let admin = app.admin_token("boss").await;
    let (user, _) = signup(app, "buyer@example.com").await;
    let id = create_product(app, &admin, "Gizmo", 3).await;

    // Signup: missing fields, wrong types, a bad e-mail, a weak password, a taken e-mail.
    let bad_signups = [
        (json!({}), vec!["email is required", "password is required"]),
        (json!({ "email": "x@example.com" }), vec!["password is required"]),
        (json!({ "email": 5, "password": "123456@Omar" }), vec!["email "]),
        (json!({ "email": "not-an-email", "password": "123456@Omar" }), vec!["email "]),
        (json!({ "email": "weak@example.com", "password": "09876" }), vec!["password must be at least 8"]),
        (
            json!({ "email": "weak@example.com", "password": "123456@Omar", "role": "admin" }),
            vec!["role is not allowed"],
        ),
    ];
    for (body, expected) in bad_signups {
        let reply = app.post(&path("/auth/signup"), None, body.clone()).await;
        assert_nest(&reply, StatusCode::BAD_REQUEST);
        assert!(reply.body["message"].is_array(), "{}", reply.body);
        for part in expected {
            assert!(messages(&reply).contains(part), "{body}: {} lacks {part}", reply.body);
        }
    }
    let taken =
        app.post(&path("/auth/signup"), None, json!({ "email": "BUYER@example.com", "password": "123456@Omar" })).await;
    assert_nest(&taken, StatusCode::CONFLICT);
    // None of those made an account.
    app.post("/api/v1/users/login", None, json!({ "email": "weak@example.com", "password": "123456@Omar" }))
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "AUTHENTICATION_ERROR");

    // Login: wrong password and unknown account alike; missing fields.
    let wrong =
        app.post(&path("/auth/login"), None, json!({ "email": "buyer@example.com", "password": "Wrong123!" })).await;
    let unknown =
        app.post(&path("/auth/login"), None, json!({ "email": "nobody@example.com", "password": "Wrong123!" })).await;
    assert_nest(&wrong, StatusCode::UNAUTHORIZED);
    assert_eq!(wrong.body, unknown.body);
    assert_nest(
        &app.post(&path("/auth/login"), None, json!({ "email": "buyer@example.com" })).await,
        StatusCode::BAD_REQUEST,
    );

    // The body itself: malformed JSON, not an object, not JSON at all.
    let raw = |body: &'static str, content_type: &'static str| {
        let request = app
            .client
            .request(Method::POST, app.url(&path("/orders")))
            .bearer_auth(&user)
            .header("content-type", content_type)
            .body(body);
        async move { Reply::read(request.send().await.unwrap()).await }
    };
    assert_nest(&raw("{\"items\": [", "application/json").await, StatusCode::BAD_REQUEST);
    assert_nest(&raw("[1, 2]", "application/json").await, StatusCode::BAD_REQUEST);
    assert_nest(&raw("items=1", "application/x-www-form-urlencoded").await, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let huge = format!("{{\"items\": \"{}\"}}", "x".repeat(2 * 1024 * 1024));
    let request =
        app.client.post(app.url(&path("/orders"))).bearer_auth(&user).header("content-type", "application/json");
    assert_nest(&Reply::read(request.body(huge).send().await.unwrap()).await, StatusCode::PAYLOAD_TOO_LARGE);

    // Orders: every quantity that is not a positive whole number, bad lines, unknown products.
    for quantity in [
        json!("abc"),
        json!("5.5"),
        json!(5.5),
        json!(0),
        json!("0"),
        json!(-1),
        json!("-1"),
        json!(""),
        json!(null),
        json!(true),
        json!("1e3"),
    ] {
        let reply = order(app, &user, &id, quantity.clone()).await;
        assert_nest(&reply, StatusCode::BAD_REQUEST);
        assert!(messages(&reply).contains("items[0].quantity"), "{quantity}: {}", reply.body);
    }
    for body in [json!({}), json!({ "items": [] }), json!({ "items": "x" }), json!({ "items": [{ "quantity": 1 }] })] {
        assert_nest(&app.post(&path("/orders"), Some(&user), body).await, StatusCode::BAD_REQUEST);
    }
    let malformed = order(app, &user, "689f200f397067483708e5ae", json!(1)).await;
    assert_nest(&malformed, StatusCode::BAD_REQUEST);
    assert!(messages(&malformed).contains("items[0].productId"), "{}", malformed.body);
    assert_nest(&order(app, &user, "999999", json!(1)).await, StatusCode::NOT_FOUND);
    // Short stock: 409, nothing taken, also not for the line that could be had.
    let other = create_product(app, &admin, "Other", 5).await;
    let short = app
        .post(
            &path("/orders"),
            Some(&user),
            json!({ "items": [{ "productId": other, "quantity": 1 }, { "productId": id, "quantity": "4" }] }),
        )
        .await;
    assert_nest(&short, StatusCode::CONFLICT);
    assert_eq!((stock(app, &id).await, stock(app, &other).await), (3, 5));

    // Products: bad fields, a bad price, an unknown or malformed id.
    let bad_products = [
        json!({}),
        json!({ "name": "X", "price": -1 }),
        json!({ "name": "X", "price": "cheap" }),
        json!({ "name": "X", "price": 1.234 }),
        json!({ "name": "X", "price": 1, "stock": -5 }),
        json!({ "name": "X", "price": 1, "stock": "many" }),
        json!({ "name": "X", "price": 1, "image": "javascript:alert(1)" }),
        json!({ "name": "X", "price": 1, "category": "" }),
        json!({ "name": "X\u{0000}", "price": 1 }),
        json!({ "name": "X", "price": 1, "colour": "red" }),
    ];
    for body in bad_products {
        let reply = app.post(&path("/products"), Some(&admin), body.clone()).await;
        assert_nest(&reply, StatusCode::BAD_REQUEST);
    }
    let listed = app.get(&path("/products"), None).await;
    assert_eq!(listed.body["products"].as_array().unwrap().len(), 2, "nothing was created");
    for bad in ["/products/689f2854de8aea5195c4b765", "/products/999999", "/products/-1"] {
        assert_nest(&app.get(&path(bad), None).await, StatusCode::NOT_FOUND);
        assert_nest(&app.patch(&path(bad), Some(&admin), json!({ "stock": 1 })).await, StatusCode::NOT_FOUND);
        assert_nest(&app.delete(&path(bad), Some(&admin), None).await, StatusCode::NOT_FOUND);
    }
    assert_nest(
        &app.patch(&path(&format!("/products/{id}")), Some(&admin), json!({ "price": "x" })).await,
        StatusCode::BAD_REQUEST,
    );
    assert_nest(
        &app.patch(&path(&format!("/products/{id}")), Some(&admin), json!({ "stock": 1, "__v": 99 })).await,
        StatusCode::CONFLICT,
    );
    for query in ["?limit=0", "?limit=abc", "?page=0", "?page=", "?sort=name"] {
        assert_nest(&app.get(&path(&format!("/products{query}")), None).await, StatusCode::BAD_REQUEST);
    }
    assert_eq!(stock(app, &id).await, 3);

    // Status changes: an unknown status, native spelling, a forbidden move, unknown ids.
    let placed = order(app, &user, &id, json!(1)).await;
    let order_id = placed.body["_id"].as_str().unwrap().to_string();
    let status_path = path(&format!("/orders/{order_id}/status"));
    for status in [json!("lost"), json!("processing"), json!("PREPARING"), json!(3), json!(null)] {
        let reply = app.patch(&status_path, Some(&admin), json!({ "status": status })).await;
        assert_nest(&reply, StatusCode::BAD_REQUEST);
    }
    assert_nest(&app.patch(&status_path, Some(&admin), json!({ "status": "delivered" })).await, StatusCode::CONFLICT);
    assert_nest(&app.patch(&status_path, Some(&admin), json!({ "status": "refunded" })).await, StatusCode::CONFLICT);
    for bad in ["999999", "689f51ec96c0d16d17c57d50"] {
        let reply =
            app.patch(&path(&format!("/orders/{bad}/status")), Some(&admin), json!({ "status": "shipped" })).await;
        assert_nest(&reply, StatusCode::NOT_FOUND);
    }
    let cancelled = app.patch(&status_path, Some(&admin), json!({ "status": "cancelled" })).await;
    assert_eq!(cancelled.body["status"], "cancelled", "{}", cancelled.body);
    assert_eq!(stock(app, &id).await, 3, "cancelling restocked");
    assert_nest(&app.patch(&status_path, Some(&admin), json!({ "status": "preparing" })).await, StatusCode::CONFLICT);

    // Routes the document does not have, and methods a route does not take.
    assert_nest(&app.get(&path("/nothing-here"), None).await, StatusCode::NOT_FOUND);
    assert_nest(&app.put(&path("/products"), Some(&admin), json!({})).await, StatusCode::METHOD_NOT_ALLOWED);
    assert_nest(&app.delete(&path("/auth/login"), None, None).await, StatusCode::METHOD_NOT_ALLOWED);
}

async fn thirty_concurrent_orders_for_ten_units_sell_exactly_ten(app: &TestApp) {
    let admin = app.admin_token("boss").await;
    let id = create_product(app, &admin, "Limited", 10).await;
    let mut buyers = Vec::new();
    for i in 0..5 {
        buyers.push(signup(app, &format!("racer{i}@example.com")).await.0);
    }
    let attempts = (0..30).map(|i| {
        let (token, id) = (buyers[i % buyers.len()].clone(), id.clone());
        async move { order(app, &token, &id, json!("1")).await }
    });
    let replies = join_all(attempts).await;
    let sold = replies.iter().filter(|r| r.status == StatusCode::CREATED).count();
    for refused in replies.iter().filter(|r| r.status != StatusCode::CREATED) {
        assert_nest(refused, StatusCode::CONFLICT);
    }
    assert_eq!(sold, 10, "exactly the stock was sold");
    assert_eq!(stock(app, &id).await, 0);
    let all = app.get(&path("/orders/?limit=100"), Some(&admin)).await;
    assert_eq!(all.body.as_array().unwrap().len(), 10);
}

/// Orders placed here are to be paid by hand: the unpaid-order sweep cancels
/// an ordinary unpaid order past its time, never one of these.
async fn promarket_orders_are_never_swept(backend: Backend) {
    let app = TestApp::spawn(backend, |c| {
        c.order_ttl = Duration::from_millis(500);
        c.sweep_interval = Duration::from_millis(100);
    })
    .await;
    let admin = app.admin_token("boss").await;
    let (user, _) = signup(&app, "patient@example.com").await;
    let id = create_product(&app, &admin, "Slow Seller", 5).await;
    let manual = order(&app, &user, &id, json!(2)).await;
    assert_eq!(manual.status, StatusCode::CREATED, "{}", manual.body);
    let manual = manual.body["_id"].as_str().unwrap().to_string();
    // An ordinary (native, unpaid, no payment method) order: the canary.
    let address = json!({ "firstName": "A", "lastName": "B", "address1": "1 St", "city": "C", "postcode": "1", "country": "GB", "phone": "+44 20 7946 0000" });
    let canary = app
        .post(
            "/api/v1/orders",
            Some(&user),
            json!({ "items": [{ "productId": id, "quantity": 1 }], "shippingAddress": address }),
        )
        .await;
    assert_eq!(canary.status, StatusCode::CREATED, "{}", canary.body);
    let canary = canary.body["data"]["_id"].as_str().unwrap().to_string();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while app.get(&format!("/api/v1/orders/{canary}"), Some(&admin)).await.body["data"]["status"] != "cancelled" {
        assert!(tokio::time::Instant::now() < deadline, "the sweep never ran");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mine = app.get(&path("/orders/me"), Some(&user)).await;
    let kept = mine.body.as_array().unwrap().iter().find(|o| o["_id"] == json!(manual)).cloned().unwrap();
    assert_eq!(kept["status"], "pending", "the manual order was left alone");
    assert_eq!(stock(&app, &id).await, 3);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn promarket_orders_are_never_swept_sqlite() {
    promarket_orders_are_never_swept(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn promarket_orders_are_never_swept_postgres() {
    if crate::harness::postgres_available() {
        promarket_orders_are_never_swept(Backend::Postgres).await;
    }
}

/// The dialects' requests count against the same per-IP budget as the
/// native API's, and what they do is in the same audit log.
async fn dialect_requests_share_the_rate_limit_and_the_audit_log(backend: Backend) {
    let app = TestApp::spawn(backend, |c| {
        c.api.rate_limit = Some(emporium_api::rate_limit::Quota::per(12, Duration::from_secs(60)));
    })
    .await;
    let admin = app.admin_token("boss").await; // register + login: 2 requests
    let (user, _) = signup(&app, "audited@example.com").await;
    let id = create_product(&app, &admin, "Logged", 5).await;
    assert_eq!(order(&app, &user, &id, json!(1)).await.status, StatusCode::CREATED);
    let flask =
        app.post("/compat/flask-orders/order", Some(&user), json!({ "products": "Logged", "Quantity": 1 })).await;
    assert_eq!(flask.status, StatusCode::CREATED, "{}", flask.body);
    let log = app.get("/api/v1/admin/audit-log?limit=100", Some(&admin)).await;
    assert_eq!(log.status, StatusCode::OK, "{}", log.body);
    let actions: Vec<&str> = log.body["data"].as_array().unwrap().iter().filter_map(|e| e["action"].as_str()).collect();
    for action in ["user.registered", "product.created", "category.created", "order.created"] {
        assert!(actions.contains(&action), "{action} missing from {actions:?}");
    }
    assert_eq!(actions.iter().filter(|a| **a == "order.created").count(), 2, "{actions:?}");
    // 7 requests so far; the budget of 12 runs out on whichever API is asked.
    for _ in 0..5 {
        assert_eq!(app.get(&path("/products"), None).await.status, StatusCode::OK);
    }
    let limited = app.get(&path("/products"), None).await;
    assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS, "{}", limited.body);
    assert!(limited.header("retry-after").is_some());
    // Re-shaped as the dialect's error, the refusal keeps what every answer carries.
    assert_eq!(limited.header("x-request-id").map(str::len), Some(36));
    assert_eq!(limited.header("vary"), Some("origin, access-control-request-method, access-control-request-headers"));
    assert_eq!(app.get("/api/v1/products", None).await.status, StatusCode::TOO_MANY_REQUESTS);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dialect_requests_share_the_rate_limit_and_the_audit_log_sqlite() {
    dialect_requests_share_the_rate_limit_and_the_audit_log(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dialect_requests_share_the_rate_limit_and_the_audit_log_postgres() {
    if crate::harness::postgres_available() {
        dialect_requests_share_the_rate_limit_and_the_audit_log(Backend::Postgres).await;
    }
}
