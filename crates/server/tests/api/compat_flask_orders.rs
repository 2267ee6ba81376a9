//! The flask-orders dialect (`/compat/flask-orders`): the document's own
//! example requests in order, the same accounts and data as the native API
//! and the promarket dialect, who may do what, and every bad input (each in
//! the dialect's `{"message"}` / `{"msg"}` shape, changing nothing).

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::harness::{PASSWORD, Reply, TestApp};

crate::on_both_backends!(
    the_documents_examples_work_in_order,
    flask_orders_share_accounts_catalog_stock_and_orders,
    only_owners_and_admins_touch_an_order_or_an_account,
    every_bad_input_is_a_flask_error_and_changes_nothing,
);

const BASE: &str = "/compat/flask-orders";

fn path(p: &str) -> String {
    format!("{BASE}{p}")
}

fn assert_message(reply: &Reply, status: StatusCode) {
    assert_eq!(reply.status, status, "{}", reply.body);
    assert!(reply.body["message"].as_str().is_some_and(|m| !m.is_empty()), "{}", reply.body);
    assert_eq!(reply.body.as_object().map(|o| o.len()), Some(1), "{}", reply.body);
}

fn assert_msg(reply: &Reply, msg: &str) {
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{}", reply.body);
    assert_eq!(reply.body, json!({ "msg": msg }));
}

async fn register(app: &TestApp, email: &str) -> String {
    let body = json!({ "first_name": "manoj", "last_name": "ram", "email": email, "password": PASSWORD });
    let reply = app.post(&path("/register"), None, body).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    reply.body["user_id"].as_str().unwrap().to_string()
}

async fn login(app: &TestApp, email: &str) -> String {
    let reply = app.post(&path("/login"), None, json!({ "email": email, "password": PASSWORD })).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    reply.body["access_token"].as_str().unwrap().to_string()
}

/// A native category and a product in it; returns the product's id.
async fn native_product(app: &TestApp, admin: &str, category: &str, name: &str, stock: i64) -> String {
    let slug = category.to_lowercase();
    if app.get(&format!("/api/v1/categories/{slug}"), None).await.status == StatusCode::NOT_FOUND {
        let reply = app.post("/api/v1/categories", Some(admin), json!({ "name": category })).await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    }
    let body = json!({ "name": name, "price": 300, "stock": stock, "category": slug });
    let reply = app.post("/api/v1/products", Some(admin), body).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    reply.body["data"]["_id"].as_str().unwrap().to_string()
}

async fn stock(app: &TestApp, id: &str) -> i64 {
    app.get(&format!("/api/v1/products/{id}"), None).await.body["data"]["stock"].as_i64().unwrap()
}

async fn order(app: &TestApp, token: &str, body: Value) -> Reply {
    app.post(&path("/order"), Some(token), body).await
}

async fn place(app: &TestApp, token: &str, product: &str, quantity: i64) -> String {
    let reply = order(app, token, json!({ "products": product, "Quantity": quantity })).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    reply.body["id"].as_str().unwrap().to_string()
}

async fn status_of(app: &TestApp, token: &str, id: &str) -> Reply {
    app.get(&path(&format!("/orders/status?order_id={id}")), Some(token)).await
}

async fn the_documents_examples_work_in_order(app: &TestApp) {
    let admin = app.admin_token("boss").await;
    let phone = native_product(app, &admin, "Electronics", "Phone", 10).await;

    // 1. register, as the document sends it: its password ("09876") fails the
    // store's policy, named; a strong one registers.
    let example =
        json!({ "first_name": "manoj", "last_name": "ram", "email": "example@gmail.com", "password": "09876" });
    let weak = app.post(&path("/register"), None, example.clone()).await;
    assert_message(&weak, StatusCode::BAD_REQUEST);
    assert!(weak.body["message"].as_str().unwrap().contains("password must be at least 8 characters"), "{}", weak.body);
    let mut strong = example.clone();
    strong["password"] = json!(PASSWORD);
    let registered = app.post(&path("/register"), None, strong.clone()).await;
    assert_eq!(registered.status, StatusCode::CREATED, "{}", registered.body);
    assert_eq!(registered.body["message"], "User registered successfully");
    let user_id = registered.body["user_id"].as_str().unwrap().to_string();
    assert!(user_id.parse::<u64>().is_ok(), "{}", registered.body);
    assert_message(&app.post(&path("/register"), None, strong).await, StatusCode::CONFLICT);

    // 2. login.
    let reply = app.post(&path("/login"), None, json!({ "email": "example@gmail.com", "password": PASSWORD })).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body.as_object().unwrap().len(), 1);
    let token = reply.body["access_token"].as_str().unwrap().to_string();

    // 3a. a new order, as the document sends it; its status is ignored.
    let example = json!({ "type": "electronics", "products": "Phone", "Quantity": 3, "status": "In InProgress" });
    let created = order(app, &token, example).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    assert_eq!(created.body["message"], "Order created successfully");
    let id = created.body["id"].as_str().unwrap().to_string();
    assert_eq!(stock(app, &phone).await, 7);

    // 3b. the customer's orders, as a JSON array.
    let listed = app.get(&path("/order"), Some(&token)).await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.body);
    assert_eq!(
        listed.body,
        json!({ "data": [{ "_id": id, "type": "Electronics", "products": "Phone", "quantity": 3, "status": "IN PROGRESS", "customer_id": user_id }], "message": "orders" })
    );

    // 3c. its status.
    let status = status_of(app, &token, &id).await;
    assert_eq!(
        (status.status, status.body.clone()),
        (StatusCode::OK, json!({ "data": "IN PROGRESS", "message": "status" }))
    );

    // 3d. update its status: the document's `Shipped` needs an admin; a
    // customer may set IN_PROGRESS (it is) and CANCELLED.
    let update = path(&format!("/orders/update?order_id={id}"));
    assert_message(&app.put(&update, Some(&token), json!({ "status": "Shipped" })).await, StatusCode::FORBIDDEN);
    let same = app.put(&update, Some(&token), json!({ "status": "IN_PROGRESS" })).await;
    assert_eq!(
        (same.status, same.body.clone()),
        (StatusCode::OK, json!({ "id": id, "message": "order status updated" }))
    );
    let shipped = app.put(&update, Some(&admin), json!({ "status": "Shipped" })).await;
    assert_eq!(
        (shipped.status, shipped.body.clone()),
        (StatusCode::OK, json!({ "id": id, "message": "order status updated" }))
    );
    assert_eq!(status_of(app, &token, &id).await.body["data"], "SHIPPED");
    // A shipped order cannot be cancelled or be in progress again.
    assert_message(&app.put(&update, Some(&token), json!({ "status": "CANCELLED" })).await, StatusCode::CONFLICT);
    assert_message(&app.put(&update, Some(&token), json!({ "status": "In InProgress" })).await, StatusCode::CONFLICT);

    // 3e. cancel an order at the customer's request: its stock comes back.
    let second = place(app, &token, "phone", 2).await;
    assert_eq!(stock(app, &phone).await, 5);
    let cancelled = app.put(&path(&format!("/orders/cancel?order_id={second}")), Some(&token), json!({})).await;
    assert_eq!(
        (cancelled.status, cancelled.body.clone()),
        (StatusCode::OK, json!({ "id": second, "message": "order canceled" }))
    );
    assert_eq!(stock(app, &phone).await, 7);
    assert_eq!(status_of(app, &token, &second).await.body["data"], "CANCELLED");
    assert_message(
        &app.put(&path(&format!("/orders/cancel?order_id={second}")), Some(&token), json!({})).await,
        StatusCode::CONFLICT,
    );

    // 4. delete the account: its token and password stop working; its
    // orders stay, anonymised, for the admin.
    let deleted = app.delete(&path(&format!("/users/{user_id}")), Some(&token), None).await;
    assert_eq!(
        (deleted.status, deleted.body.clone()),
        (StatusCode::OK, json!({ "message": "Your account is deleted successfully" }))
    );
    assert_msg(&app.get(&path("/order"), Some(&token)).await, "Token has expired");
    let again = app.post(&path("/login"), None, json!({ "email": "example@gmail.com", "password": PASSWORD })).await;
    assert_message(&again, StatusCode::UNAUTHORIZED);
    let kept = app.get(&format!("/api/v1/orders/{id}"), Some(&admin)).await;
    assert_eq!((kept.status, kept.body["data"]["userId"].clone()), (StatusCode::OK, Value::Null), "{}", kept.body);
}

async fn flask_orders_share_accounts_catalog_stock_and_orders(app: &TestApp) {
    // An account made here signs in natively and on promarket.
    register(app, "ravi@example.com").await;
    let native =
        app.post("/api/v1/users/login", None, json!({ "email": "ravi@example.com", "password": PASSWORD })).await;
    assert_eq!(native.status, StatusCode::OK, "{}", native.body);
    assert_eq!(native.body["data"]["user"]["fullName"], "manoj ram");
    let promarket = app
        .post("/compat/promarket/auth/login", None, json!({ "email": "ravi@example.com", "password": PASSWORD }))
        .await;
    assert_eq!(promarket.status, StatusCode::CREATED, "{}", promarket.body);
    let token = login(app, "ravi@example.com").await;

    // A product created natively is ordered here; stock is shared.
    let admin = app.admin_token("boss").await;
    let lamp = native_product(app, &admin, "Home", "Desk Lamp", 5).await;
    let id = place(app, &token, "DESK LAMP", 2).await;
    assert_eq!(stock(app, &lamp).await, 3);
    // One made through promarket too, named by its type (the category's name or slug).
    let created = app
        .post(
            "/compat/promarket/products",
            Some(&admin),
            json!({ "name": "Headset", "price": 50, "category": "Audio Gear", "stock": 4 }),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let headset = created.body["_id"].as_str().unwrap().to_string();
    for kind in ["Audio Gear", "audio-gear"] {
        let reply = order(app, &token, json!({ "type": kind, "products": "headset", "Quantity": 1 })).await;
        assert_eq!(reply.status, StatusCode::CREATED, "{kind}: {}", reply.body);
    }
    assert_eq!(app.get(&format!("/compat/promarket/products/{headset}"), None).await.body["stock"], 2);

    // An admin sees the order natively: a manual-payment one, which may be
    // prepared before it is paid; promarket's admin listing has it too.
    let seen = app.get(&format!("/api/v1/orders/{id}"), Some(&admin)).await;
    assert_eq!(
        (seen.body["data"]["paymentMethod"].as_str(), seen.body["data"]["items"][0]["name"].as_str()),
        (Some("manual"), Some("Desk Lamp")),
        "{}",
        seen.body
    );
    let moved =
        app.patch(&format!("/api/v1/orders/{id}/status"), Some(&admin), json!({ "status": "processing" })).await;
    assert_eq!(moved.status, StatusCode::OK, "{}", moved.body);
    assert_eq!(status_of(app, &token, &id).await.body["data"], "IN PROGRESS");
    let all = app.get("/compat/promarket/orders/", Some(&admin)).await;
    assert!(
        all.body.as_array().unwrap().iter().any(|o| o["_id"] == json!(id) && o["status"] == "preparing"),
        "{}",
        all.body
    );
    // The customer's list shows every order, newest first.
    let listed = app.get(&path("/order"), Some(&token)).await;
    assert_eq!(listed.body["data"].as_array().unwrap().len(), 3, "{}", listed.body);
    assert_eq!(listed.body["data"][0]["type"], "Audio Gear");

    // A native logout revokes the token here.
    let out = app.post("/api/v1/users/logout", Some(&token), json!({})).await;
    assert_eq!(out.status, StatusCode::OK, "{}", out.body);
    assert_msg(&app.get(&path("/order"), Some(&token)).await, "Token has expired");
}

async fn only_owners_and_admins_touch_an_order_or_an_account(app: &TestApp) {
    let admin = app.admin_token("boss").await;
    native_product(app, &admin, "Electronics", "Phone", 10).await;
    let alice_id = register(app, "alice@example.com").await;
    let bob_id = register(app, "bob@example.com").await;
    let (alice, bob) = (login(app, "alice@example.com").await, login(app, "bob@example.com").await);
    let id = place(app, &alice, "Phone", 1).await;

    // No token, a forged one: flask-jwt-extended's shape.
    for (method, p) in [
        (Method::POST, "/order"),
        (Method::GET, "/order"),
        (Method::GET, "/orders/status?order_id=1"),
        (Method::PUT, "/orders/update?order_id=1"),
        (Method::PUT, "/orders/cancel?order_id=1"),
        (Method::DELETE, "/users/1"),
    ] {
        let body =
            (method != Method::GET).then(|| json!({ "status": "CANCELLED", "products": "Phone", "Quantity": 1 }));
        assert_msg(&app.call(method.clone(), &path(p), None, body.clone()).await, "Missing Authorization Header");
        assert_msg(&app.call(method, &path(p), Some("not.a.token"), body).await, "Token has expired");
    }

    // Bob sees nothing of Alice's order and cannot change it: 404, never 200.
    assert_eq!(app.get(&path("/order"), Some(&bob)).await.body["data"], json!([]));
    assert_message(&status_of(app, &bob, &id).await, StatusCode::NOT_FOUND);
    for status in ["CANCELLED", "IN_PROGRESS", "Shipped"] {
        let reply =
            app.put(&path(&format!("/orders/update?order_id={id}")), Some(&bob), json!({ "status": status })).await;
        assert_message(&reply, StatusCode::NOT_FOUND);
    }
    let cancel = app.put(&path(&format!("/orders/cancel?order_id={id}")), Some(&bob), json!({})).await;
    assert_message(&cancel, StatusCode::NOT_FOUND);
    assert_eq!(status_of(app, &alice, &id).await.body["data"], "IN PROGRESS");
    // The admin may read and change any order.
    assert_eq!(status_of(app, &admin, &id).await.body["data"], "IN PROGRESS");
    let delivered =
        app.put(&path(&format!("/orders/update?order_id={id}")), Some(&admin), json!({ "status": "delivered" })).await;
    assert_message(&delivered, StatusCode::CONFLICT);
    let shipped =
        app.put(&path(&format!("/orders/update?order_id={id}")), Some(&admin), json!({ "status": "SHIPPED" })).await;
    assert_eq!(shipped.status, StatusCode::OK, "{}", shipped.body);
    let delivered =
        app.put(&path(&format!("/orders/update?order_id={id}")), Some(&admin), json!({ "status": "delivered" })).await;
    assert_eq!(delivered.status, StatusCode::OK, "{}", delivered.body);
    assert_eq!(status_of(app, &alice, &id).await.body["data"], "DELIVERED");
    let refund =
        app.put(&path(&format!("/orders/update?order_id={id}")), Some(&alice), json!({ "status": "refunded" })).await;
    assert_message(&refund, StatusCode::FORBIDDEN);

    // Bob cannot delete Alice (the same 404 as for nobody); an admin can.
    assert_message(&app.delete(&path(&format!("/users/{alice_id}")), Some(&bob), None).await, StatusCode::NOT_FOUND);
    assert_message(&app.delete(&path("/users/999999"), Some(&bob), None).await, StatusCode::NOT_FOUND);
    assert!(!login(app, "alice@example.com").await.is_empty(), "alice still signs in");
    let by_admin = app.delete(&path(&format!("/users/{bob_id}")), Some(&admin), None).await;
    assert_eq!(by_admin.status, StatusCode::OK, "{}", by_admin.body);
    assert_message(
        &app.post(&path("/login"), None, json!({ "email": "bob@example.com", "password": PASSWORD })).await,
        StatusCode::UNAUTHORIZED,
    );
    assert_message(&app.delete(&path("/users/999999"), Some(&admin), None).await, StatusCode::NOT_FOUND);
}

async fn every_bad_input_is_a_flask_error_and_changes_nothing(app: &TestApp) {
    let admin = app.admin_token("boss").await;
    let phone = native_product(app, &admin, "Electronics", "Phone", 3).await;
    native_product(app, &admin, "Toys", "Twin", 1).await;
    native_product(app, &admin, "Books", "Twin", 1).await;
    register(app, "buyer@example.com").await;
    let token = login(app, "buyer@example.com").await;

    // Register: missing fields, wrong types, a bad e-mail, a taken e-mail, unknown members.
    for (body, field) in [
        (json!({}), "first_name is required"),
        (json!({ "first_name": "a", "last_name": "b", "email": "x@example.com" }), "password is required"),
        (
            json!({ "first_name": 1, "last_name": "b", "email": "x@example.com", "password": PASSWORD }),
            "first_name must be a string",
        ),
        (json!({ "first_name": "a", "last_name": "b", "email": "nope", "password": PASSWORD }), "email "),
        (
            json!({ "first_name": "a", "last_name": "b", "email": "x@example.com", "password": PASSWORD, "role": "admin" }),
            "role is not allowed",
        ),
    ] {
        let reply = app.post(&path("/register"), None, body.clone()).await;
        assert_message(&reply, StatusCode::BAD_REQUEST);
        assert!(reply.body["message"].as_str().unwrap().contains(field), "{body}: {}", reply.body);
    }
    let taken = json!({ "first_name": "a", "last_name": "b", "email": "BUYER@example.com", "password": PASSWORD });
    assert_message(&app.post(&path("/register"), None, taken).await, StatusCode::CONFLICT);
    // Login: wrong password and unknown account alike.
    let wrong =
        app.post(&path("/login"), None, json!({ "email": "buyer@example.com", "password": "Wrong123!x" })).await;
    let nobody =
        app.post(&path("/login"), None, json!({ "email": "nobody@example.com", "password": "Wrong123!x" })).await;
    assert_message(&wrong, StatusCode::UNAUTHORIZED);
    assert_eq!(wrong.body, nobody.body);
    assert_message(&app.post(&path("/login"), None, json!({ "password": PASSWORD })).await, StatusCode::BAD_REQUEST);

    // Orders: bad fields, unknown products and types, an ambiguous name, short stock.
    for body in [
        json!({}),
        json!({ "products": "Phone" }),
        json!({ "products": "Phone", "Quantity": "x" }),
        json!({ "products": "Phone", "Quantity": 0 }),
        json!({ "products": "Phone", "Quantity": -2 }),
        json!({ "products": "Phone", "Quantity": 1.5 }),
        json!({ "products": "", "Quantity": 1 }),
        json!({ "products": 7, "Quantity": 1 }),
        json!({ "products": "Phone", "quantity": 1 }),
        json!({ "products": "Phone", "Quantity": 1, "status": 5 }),
    ] {
        assert_message(&order(app, &token, body).await, StatusCode::BAD_REQUEST);
    }
    let unknown = order(app, &token, json!({ "products": "Tablet", "Quantity": 1 })).await;
    assert_message(&unknown, StatusCode::NOT_FOUND);
    assert!(unknown.body["message"].as_str().unwrap().contains("Tablet"), "{}", unknown.body);
    assert_message(
        &order(app, &token, json!({ "type": "furniture", "products": "Phone", "Quantity": 1 })).await,
        StatusCode::NOT_FOUND,
    );
    assert_message(
        &order(app, &token, json!({ "type": "toys", "products": "Phone", "Quantity": 1 })).await,
        StatusCode::NOT_FOUND,
    );
    assert_message(&order(app, &token, json!({ "products": "Twin", "Quantity": 1 })).await, StatusCode::CONFLICT);
    assert_eq!(
        order(app, &token, json!({ "type": "Toys", "products": "Twin", "Quantity": 1 })).await.status,
        StatusCode::CREATED
    );
    assert_message(&order(app, &token, json!({ "products": "Phone", "Quantity": 4 })).await, StatusCode::CONFLICT);
    assert_eq!(stock(app, &phone).await, 3, "nothing was taken");
    // A status in the body never makes a shipped order.
    let id = order(app, &token, json!({ "products": "Phone", "Quantity": 1, "status": "Shipped" })).await.body["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(status_of(app, &token, &id).await.body["data"], "IN PROGRESS");

    // The body itself.
    let raw = |body: &'static str, content_type: &'static str| {
        let request = app
            .client
            .post(app.url(&path("/order")))
            .bearer_auth(&token)
            .header("content-type", content_type)
            .body(body);
        async move { Reply::read(request.send().await.unwrap()).await }
    };
    assert_message(&raw("{\"products\": ", "application/json").await, StatusCode::BAD_REQUEST);
    assert_message(&raw("[]", "application/json").await, StatusCode::BAD_REQUEST);
    assert_message(&raw("products=Phone", "text/plain").await, StatusCode::UNSUPPORTED_MEDIA_TYPE);

    // order_id: missing, empty, malformed, unknown.
    for query in ["", "?order_id=", "?order_id=1&order_id=2", "?id=1"] {
        assert_message(&app.get(&path(&format!("/orders/status{query}")), Some(&token)).await, StatusCode::BAD_REQUEST);
    }
    for bad in ["652655aeef5d42b8f95cfd98", "999999", "-1"] {
        assert_message(&status_of(app, &token, bad).await, StatusCode::NOT_FOUND);
        let update = app
            .put(&path(&format!("/orders/update?order_id={bad}")), Some(&token), json!({ "status": "CANCELLED" }))
            .await;
        assert_message(&update, StatusCode::NOT_FOUND);
        assert_message(
            &app.put(&path(&format!("/orders/cancel?order_id={bad}")), Some(&token), json!({})).await,
            StatusCode::NOT_FOUND,
        );
    }
    // Status: unknown, missing, wrong type.
    let update = path(&format!("/orders/update?order_id={id}"));
    for body in [json!({ "status": "Lost" }), json!({}), json!({ "status": 1 }), json!({ "status": "pending" })] {
        assert_message(&app.put(&update, Some(&token), body).await, StatusCode::BAD_REQUEST);
    }
    assert_eq!(status_of(app, &token, &id).await.body["data"], "IN PROGRESS");
    assert_eq!(stock(app, &phone).await, 2);

    // Paths and methods the document does not have.
    assert_message(&app.get(&path("/nothing"), None).await, StatusCode::NOT_FOUND);
    assert_message(&app.delete(&path("/order"), Some(&token), None).await, StatusCode::METHOD_NOT_ALLOWED);
    assert_message(&app.get(&path("/register"), None).await, StatusCode::METHOD_NOT_ALLOWED);
    assert_message(&app.delete(&path("/users/abc"), Some(&token), None).await, StatusCode::NOT_FOUND);
}
