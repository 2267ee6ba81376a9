//! Carts and orders: stock that is never oversold, idempotent placing, the
//! lifecycle, the TTL sweep, guest carts and who may see what.

use std::time::Duration;

use futures::future::join_all;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::{Backend, Reply, TestApp};

crate::on_both_backends!(
    fifty_buyers_for_ten_units_never_oversell,
    a_short_line_takes_nothing_from_the_others,
    racing_two_line_orders_take_the_first_line_only_for_placed_orders,
    orders_racing_a_price_change_charge_a_price_the_product_had,
    concurrent_cancels_restore_stock_once,
    idempotent_retry_returns_the_first_order,
    every_status_change_is_legal_or_409,
    restocking_follows_the_goods,
    guest_cart_merges_into_user_cart_at_login,
    cart_shows_live_prices_and_flags_lines,
    cart_quantities_are_checked,
    order_from_cart_snapshots_prices_and_empties_it,
    order_input_is_checked,
    orders_are_seen_only_by_owner_admin_or_guest_token,
);

fn address() -> Value {
    json!({ "firstName": "Ada", "lastName": "Lovelace", "address1": "12 Analytical St", "city": "London", "postcode": "N1 9GU", "country": "GB", "phone": "+44 20 7946 0000" })
}

async fn product(app: &TestApp, admin: &str, name: &str, price: f64, stock: i64) -> String {
    let reply =
        app.post("/api/v1/products", Some(admin), json!({ "name": name, "price": price, "stock": stock })).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    reply.body["data"]["_id"].as_str().unwrap().to_string()
}

async fn stock(app: &TestApp, id: &str) -> i64 {
    app.get(&format!("/api/v1/products/{id}"), None).await.body["data"]["stock"].as_i64().unwrap()
}

async fn guest_order(app: &TestApp, email: &str, items: Value) -> Reply {
    app.post("/api/v1/orders", None, json!({ "items": items, "email": email, "shippingAddress": address() })).await
}

async fn fifty_buyers_for_ten_units_never_oversell(app: &TestApp) {
    let admin = app.admin_token("boss").await;
    let id = product(app, &admin, "Limited Edition", 99.0, 10).await;
    let buyers =
        (0..50).map(|i| {
            let id = id.clone();
            async move {
                guest_order(app, &format!("buyer{i}@example.com"), json!([{ "productId": id, "quantity": 1 }])).await
            }
        });
    let replies = join_all(buyers).await;
    let placed = replies.iter().filter(|r| r.status == StatusCode::CREATED).count();
    let refused: Vec<&Reply> = replies.iter().filter(|r| r.status == StatusCode::CONFLICT).collect();
    assert_eq!(placed, 10, "exactly the stock was sold");
    assert_eq!(refused.len(), 40, "{:?}", replies.iter().map(|r| r.status).collect::<Vec<_>>());
    for r in refused {
        r.assert_error(StatusCode::CONFLICT, "INSUFFICIENT_STOCK");
        assert_eq!(r.body["error"]["details"][0]["productId"], id.as_str());
        assert_eq!(r.body["error"]["details"][0]["available"], 0);
    }
    assert_eq!(stock(app, &id).await, 0);
    let orders = app.get("/api/v1/orders?limit=100", Some(&admin)).await;
    assert_eq!(orders.body["meta"]["total"], 10);
}

async fn a_short_line_takes_nothing_from_the_others(app: &TestApp) {
    let admin = app.admin_token("boss").await;
    let plenty = product(app, &admin, "Plenty", 10.0, 5).await;
    let scarce = product(app, &admin, "Scarce", 10.0, 1).await;
    let reply = guest_order(
        app,
        "g@example.com",
        json!([{ "productId": plenty, "quantity": 2 }, { "productId": scarce, "quantity": 2 }]),
    )
    .await;
    reply.assert_error(StatusCode::CONFLICT, "INSUFFICIENT_STOCK");
    let detail = &reply.body["error"]["details"][0];
    assert_eq!(
        (
            detail["productId"].as_str(),
            detail["name"].as_str(),
            detail["requested"].as_i64(),
            detail["available"].as_i64()
        ),
        (Some(scarce.as_str()), Some("Scarce"), Some(2), Some(1))
    );
    assert_eq!((stock(app, &plenty).await, stock(app, &scarce).await), (5, 1), "nothing was taken");
    assert_eq!(app.get("/api/v1/orders", Some(&admin)).await.body["meta"]["total"], 0);
}

/// The buyers all see the scarce line in stock when their orders are priced,
/// so most are refused only when its stock is taken: the plentiful line they
/// had already taken must be put back.
async fn racing_two_line_orders_take_the_first_line_only_for_placed_orders(app: &TestApp) {
    let admin = app.admin_token("boss").await;
    let plenty = product(app, &admin, "Plenty", 10.0, 100).await;
    let scarce = product(app, &admin, "Scarce", 10.0, 5).await;
    let buyers = (0..30).map(|i| {
        let lines = json!([{ "productId": plenty, "quantity": 2 }, { "productId": scarce, "quantity": 1 }]);
        async move { guest_order(app, &format!("buyer{i}@example.com"), lines).await }
    });
    let replies = join_all(buyers).await;
    let placed = replies.iter().filter(|r| r.status == StatusCode::CREATED).count();
    assert_eq!(placed, 5, "{:?}", replies.iter().map(|r| r.status).collect::<Vec<_>>());
    for refused in replies.iter().filter(|r| r.status != StatusCode::CREATED) {
        refused.assert_error(StatusCode::CONFLICT, "INSUFFICIENT_STOCK");
        assert_eq!(refused.body["error"]["details"][0]["productId"], scarce.as_str());
    }
    assert_eq!((stock(app, &plenty).await, stock(app, &scarce).await), (90, 0));
    assert_eq!(app.get("/api/v1/orders", Some(&admin)).await.body["meta"]["total"], 5);
}

/// An order is priced before its stock is taken; a price change in between
/// makes it price again, so every order is charged a price the product
/// really had, and its totals add up.
async fn orders_racing_a_price_change_charge_a_price_the_product_had(app: &TestApp) {
    let admin = app.admin_token("boss").await;
    let id = product(app, &admin, "Volatile", 10.0, 1000).await;
    let path = format!("/api/v1/products/{id}");
    let buyers =
        (0..24).map(|i| {
            let id = id.clone();
            async move {
                guest_order(app, &format!("buyer{i}@example.com"), json!([{ "productId": id, "quantity": 3 }])).await
            }
        });
    let repricing = async {
        for price in [12.0, 14.0, 16.0] {
            // A version-less edit is never refused for the sales around it.
            let reply = app.patch(&path, Some(&admin), json!({ "price": price })).await;
            assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        }
    };
    let (replies, ()) = futures::join!(join_all(buyers), repricing);
    for reply in &replies {
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
        let order = &reply.body["data"];
        let unit = order["items"][0]["unitPrice"].as_f64().unwrap();
        assert!([10.0, 12.0, 14.0, 16.0].contains(&unit), "charged {unit}, a price it never had");
        assert_eq!(order["total"].as_f64(), Some(unit * 3.0), "{order}");
    }
    assert_eq!(stock(app, &id).await, 1000 - 3 * 24);
    let after = guest_order(app, "late@example.com", json!([{ "productId": id, "quantity": 1 }])).await;
    assert_eq!(after.body["data"]["items"][0]["unitPrice"].as_f64(), Some(16.0));
}

async fn concurrent_cancels_restore_stock_once(app: &TestApp) {
    let admin = app.admin_token("boss").await;
    let id = product(app, &admin, "Widget", 5.0, 10).await;
    let order = guest_order(app, "g@example.com", json!([{ "productId": id, "quantity": 3 }])).await;
    let order_id = order.body["data"]["_id"].as_str().unwrap().to_string();
    let token = order.body["data"]["orderToken"].as_str().unwrap().to_string();
    assert_eq!(stock(app, &id).await, 7);
    let path = format!("/api/v1/orders/{order_id}/cancel");
    let cancels = (0..20).map(|i| {
        let path = path.clone();
        let admin = admin.clone();
        let token = token.clone();
        async move {
            // Half from the admin, half from the guest owner.
            if i % 2 == 0 {
                app.post(&path, Some(&admin), json!({})).await
            } else {
                app.post(&path, None, json!({ "token": token })).await
            }
        }
    });
    let replies = join_all(cancels).await;
    assert_eq!(replies.iter().filter(|r| r.status == StatusCode::OK).count(), 1);
    for r in replies.iter().filter(|r| r.status != StatusCode::OK) {
        r.assert_error(StatusCode::CONFLICT, "CONFLICT");
    }
    assert_eq!(stock(app, &id).await, 10, "restored exactly once");
    let events = app.get(&format!("/api/v1/orders/{order_id}"), Some(&admin)).await.body["data"]["events"].clone();
    assert_eq!(events.as_array().unwrap().len(), 2, "{events}");
}

async fn idempotent_retry_returns_the_first_order(app: &TestApp) {
    let admin = app.admin_token("boss").await;
    let user = app.user_token("john").await;
    let other = app.user_token("jane").await;
    let id = product(app, &admin, "Mug", 8.0, 10).await;
    let body = json!({ "items": [{ "productId": id, "quantity": 2 }], "shippingAddress": address() });
    let send = |token: &str, key: &str, body: &Value| {
        app.client.post(app.url("/api/v1/orders")).bearer_auth(token).header("idempotency-key", key).json(body).send()
    };
    let first = Reply::read(send(&user, "key-1", &body).await.unwrap()).await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.body);
    // The same body with its keys in another order is the same request.
    let reordered: Value = serde_json::from_str(&format!(
        r#"{{"shippingAddress": {}, "items": [{{"quantity": 2, "productId": "{id}"}}]}}"#,
        address()
    ))
    .unwrap();
    let retry = Reply::read(send(&user, "key-1", &reordered).await.unwrap()).await;
    assert_eq!(retry.status, StatusCode::CREATED);
    assert_eq!(retry.header("idempotent-replayed"), Some("true"));
    assert_eq!(retry.body["data"]["_id"], first.body["data"]["_id"]);
    assert_eq!(stock(app, &id).await, 8, "stock was taken once");

    let changed = json!({ "items": [{ "productId": id, "quantity": 3 }], "shippingAddress": address() });
    Reply::read(send(&user, "key-1", &changed).await.unwrap()).await.assert_error(StatusCode::CONFLICT, "CONFLICT");
    // Keys belong to their user.
    let theirs = Reply::read(send(&other, "key-1", &body).await.unwrap()).await;
    assert_eq!(theirs.status, StatusCode::CREATED);
    assert_ne!(theirs.body["data"]["_id"], first.body["data"]["_id"]);
    // Concurrent retries of a new key still make one order.
    let burst = join_all((0..8).map(|_| send(&user, "key-2", &body))).await;
    let mut ids = Vec::new();
    for response in burst {
        let reply = Reply::read(response.unwrap()).await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
        ids.push(reply.body["data"]["_id"].clone());
    }
    ids.dedup();
    assert_eq!(ids.len(), 1, "{ids:?}");
    assert_eq!(stock(app, &id).await, 4);

    // A retry finds its first order even when that order took the last of
    // the stock, or emptied the cart it came from.
    let last = json!({ "items": [{ "productId": id, "quantity": 4 }], "shippingAddress": address() });
    let sold_out = Reply::read(send(&user, "key-3", &last).await.unwrap()).await;
    assert_eq!(sold_out.status, StatusCode::CREATED, "{}", sold_out.body);
    let again = Reply::read(send(&user, "key-3", &last).await.unwrap()).await;
    assert_eq!(
        (again.status, again.header("idempotent-replayed")),
        (StatusCode::CREATED, Some("true")),
        "{}",
        again.body
    );
    assert_eq!(again.body["data"]["_id"], sold_out.body["data"]["_id"]);
    let lamp = product(app, &admin, "Lamp", 20.0, 5).await;
    app.post("/api/v1/cart/items", Some(&user), json!({ "productId": lamp, "quantity": 1 })).await;
    let from_cart = json!({ "shippingAddress": address() });
    let first_cart = Reply::read(send(&user, "key-4", &from_cart).await.unwrap()).await;
    assert_eq!(first_cart.status, StatusCode::CREATED, "{}", first_cart.body);
    let cart_retry = Reply::read(send(&user, "key-4", &from_cart).await.unwrap()).await;
    assert_eq!(cart_retry.status, StatusCode::CREATED, "{}", cart_retry.body);
    assert_eq!(cart_retry.body["data"]["_id"], first_cart.body["data"]["_id"]);
    assert_eq!(stock(app, &lamp).await, 4, "stock was taken once");
}

async fn set_status(app: &TestApp, admin: &str, order: &str, status: &str) -> Reply {
    app.patch(&format!("/api/v1/orders/{order}/status"), Some(admin), json!({ "status": status })).await
}

async fn every_status_change_is_legal_or_409(app: &TestApp) {
    let admin = app.admin_token("boss").await;
    let id = product(app, &admin, "Lamp", 10.0, 100).await;
    let all = ["pending", "paid", "processing", "shipped", "delivered", "cancelled", "refunded"];
    let legal = |from: &str, to: &str| {
        matches!(
            (from, to),
            ("pending", "paid")
                | ("paid", "processing")
                | ("processing", "shipped")
                | ("shipped", "delivered")
                | ("pending" | "paid" | "processing", "cancelled")
                | ("paid" | "delivered", "refunded")
        )
    };
    // The path that reaches each status from a fresh order.
    let path_to = |status: &str| -> Vec<&str> {
        match status {
            "pending" => vec![],
            "paid" => vec!["paid"],
            "processing" => vec!["paid", "processing"],
            "shipped" => vec!["paid", "processing", "shipped"],
            "delivered" => vec!["paid", "processing", "shipped", "delivered"],
            "cancelled" => vec!["cancelled"],
            _ => vec!["paid", "refunded"],
        }
    };
    for from in all {
        for to in all {
            let order = guest_order(app, "g@example.com", json!([{ "productId": id, "quantity": 1 }])).await;
            let order = order.body["data"]["_id"].as_str().unwrap().to_string();
            for step in path_to(from) {
                assert_eq!(set_status(app, &admin, &order, step).await.status, StatusCode::OK);
            }
            let reply = set_status(app, &admin, &order, to).await;
            if legal(from, to) {
                assert_eq!(reply.status, StatusCode::OK, "{from} -> {to}: {}", reply.body);
                assert_eq!(reply.body["data"]["status"], to);
                let last = reply.body["data"]["events"].as_array().unwrap().last().unwrap().clone();
                assert_eq!(
                    (last["from"].as_str(), last["to"].as_str(), last["actor"].as_str()),
                    (Some(from), Some(to), Some("admin"))
                );
            } else {
                reply.assert_error(StatusCode::CONFLICT, "CONFLICT");
                let message = reply.body["error"]["message"].as_str().unwrap();
                assert!(message.contains(from) && message.contains(to), "{message}");
            }
        }
    }
    let order =
        guest_order(app, "g@example.com", json!([{ "productId": id, "quantity": 1 }])).await.body["data"]["_id"]
            .as_str()
            .unwrap()
            .to_string();
    set_status(app, &admin, &order, "shipping").await.assert_error(StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    set_status(app, &admin, "999999", "paid").await.assert_error(StatusCode::NOT_FOUND, "NOT_FOUND");
    let user = app.user_token("john").await;
    app.patch(&format!("/api/v1/orders/{order}/status"), Some(&user), json!({ "status": "paid" }))
        .await
        .assert_error(StatusCode::FORBIDDEN, "AUTHORIZATION_ERROR");
    let paid = set_status(app, &admin, &order, "paid").await;
    assert_eq!(paid.body["data"]["paymentStatus"], "paid");
    let log =
        app.get(&format!("/api/v1/admin/audit-log?action=order.status_changed&targetId={order}"), Some(&admin)).await;
    assert_eq!(log.body["meta"]["total"], 1, "order changes are audited");
}

async fn restocking_follows_the_goods(app: &TestApp) {
    let admin = app.admin_token("boss").await;
    let id = product(app, &admin, "Chair", 10.0, 10).await;
    let id_ref = &id;
    let order = |q: i64| async move {
        guest_order(app, "g@example.com", json!([{ "productId": id_ref, "quantity": q }])).await.body["data"]["_id"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let refunded_before_shipping = order(2).await;
    set_status(app, &admin, &refunded_before_shipping, "paid").await;
    let refund = set_status(app, &admin, &refunded_before_shipping, "refunded").await;
    assert_eq!(refund.body["data"]["paymentStatus"], "refunded");
    assert_eq!(stock(app, &id).await, 10, "paid -> refunded puts the goods back");

    let delivered = order(3).await;
    for s in ["paid", "processing", "shipped", "delivered", "refunded"] {
        set_status(app, &admin, &delivered, s).await;
    }
    assert_eq!(stock(app, &id).await, 7, "a refund after delivery does not");

    let cancelled = order(1).await;
    set_status(app, &admin, &cancelled, "paid").await;
    set_status(app, &admin, &cancelled, "processing").await;
    set_status(app, &admin, &cancelled, "cancelled").await;
    assert_eq!(stock(app, &id).await, 7, "cancelling from processing restocks");
}

async fn guest_cart_merges_into_user_cart_at_login(app: &TestApp) {
    let admin = app.admin_token("boss").await;
    let lamp = product(app, &admin, "Lamp", 10.0, 3).await;
    let desk = product(app, &admin, "Desk", 100.0, 5).await;
    app.register("john").await;
    let (user, _) = app.login("john").await;
    assert_eq!(
        app.post("/api/v1/cart/items", Some(&user), json!({ "productId": lamp, "quantity": 2 })).await.status,
        StatusCode::OK
    );

    let guest = app.post("/api/v1/cart/items", None, json!({ "productId": lamp, "quantity": 2 })).await;
    let key = guest.body["data"]["cartKey"].as_str().unwrap().to_string();
    assert_eq!(guest.header("x-cart-key"), Some(key.as_str()));
    let with_key = |req: reqwest::RequestBuilder| req.header("x-cart-key", &key);
    Reply::read(
        with_key(app.client.post(app.url("/api/v1/cart/items")))
            .json(&json!({ "productId": desk, "quantity": 1 }))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let guest_view = Reply::read(with_key(app.client.get(app.url("/api/v1/cart"))).send().await.unwrap()).await;
    assert_eq!(guest_view.body["data"]["itemCount"], 3);

    let login = Reply::read(
        with_key(app.client.post(app.url("/api/v1/users/login")))
            .json(&json!({ "email": "john@example.com", "password": crate::harness::PASSWORD }))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(login.status, StatusCode::OK);
    let token = login.body["data"]["accessToken"].as_str().unwrap();
    let cart = app.get("/api/v1/cart", Some(token)).await;
    let lines: Vec<(String, i64)> = cart.body["data"]["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| (l["name"].as_str().unwrap().to_string(), l["quantity"].as_i64().unwrap()))
        .collect();
    assert_eq!(lines, [("Lamp".to_string(), 3), ("Desk".to_string(), 1)], "2 + 2 capped at the stock of 3");
    assert_eq!(cart.body["data"]["cartKey"], Value::Null);

    // The key is spent: using it again gives a new, empty cart.
    let after = Reply::read(with_key(app.client.get(app.url("/api/v1/cart"))).send().await.unwrap()).await;
    assert_eq!(after.body["data"]["items"], json!([]));
    assert_ne!(after.body["data"]["cartKey"].as_str(), Some(key.as_str()));
}

async fn cart_shows_live_prices_and_flags_lines(app: &TestApp) {
    let admin = app.admin_token("boss").await;
    let a = product(app, &admin, "Alpha", 20.0, 10).await;
    let b = product(app, &admin, "Bravo", 5.0, 10).await;
    let c = product(app, &admin, "Charlie", 7.0, 10).await;
    let user = app.user_token("john").await;
    for (id, q) in [(&a, 2), (&b, 1), (&c, 4)] {
        app.post("/api/v1/cart/items", Some(&user), json!({ "productId": id, "quantity": q })).await;
    }
    app.patch(&format!("/api/v1/products/{a}"), Some(&admin), json!({ "discount": 25 })).await;
    app.delete(&format!("/api/v1/products/{b}"), Some(&admin), None).await;
    app.patch(&format!("/api/v1/products/{c}"), Some(&admin), json!({ "stock": 3 })).await;
    let cart = app.get("/api/v1/cart", Some(&user)).await.body["data"].clone();
    let items = cart["items"].as_array().unwrap();
    assert_eq!(items.len(), 3, "flagged lines are kept");
    assert_eq!(
        (items[0]["sellPrice"].as_f64(), items[0]["lineTotal"].as_f64(), items[0]["issue"].clone()),
        (Some(15.0), Some(30.0), Value::Null)
    );
    assert_eq!(items[1]["issue"], "deleted");
    assert_eq!(items[2]["issue"], "insufficient_stock");
    assert_eq!(
        (cart["subtotal"].as_f64(), cart["discountTotal"].as_f64(), cart["total"].as_f64()),
        (Some(40.0), Some(10.0), Some(30.0))
    );
    assert_eq!(cart["currency"], "USD");

    app.patch(&format!("/api/v1/products/{a}"), Some(&admin), json!({ "available": false })).await;
    assert_eq!(app.get("/api/v1/cart", Some(&user)).await.body["data"]["items"][0]["issue"], "unavailable");
    app.post("/api/v1/cart/items", Some(&user), json!({ "productId": a, "quantity": 1 }))
        .await
        .assert_error(StatusCode::CONFLICT, "CONFLICT");
}

async fn cart_quantities_are_checked(app: &TestApp) {
    let admin = app.admin_token("boss").await;
    let id = product(app, &admin, "Pen", 1.0, 5).await;
    let user = app.user_token("john").await;
    let add = |body: Value| async { app.post("/api/v1/cart/items", Some(&user), body).await };
    for q in [json!(0), json!(-1), json!(9223372036854775808_u64), json!(1.5), json!("2"), json!(null)] {
        let reply = add(json!({ "productId": id, "quantity": q })).await;
        reply.assert_error(StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
        assert_eq!(reply.error_fields(), ["quantity"], "{q}");
    }
    add(json!({ "productId": "999999", "quantity": 1 })).await.assert_error(StatusCode::NOT_FOUND, "NOT_FOUND");
    add(json!({ "productId": "abc", "quantity": 1 })).await.assert_error(StatusCode::NOT_FOUND, "NOT_FOUND");
    add(json!({ "quantity": 1 })).await.assert_error(StatusCode::BAD_REQUEST, "VALIDATION_ERROR");

    assert_eq!(add(json!({ "productId": id, "quantity": 3 })).await.status, StatusCode::OK);
    let over = add(json!({ "productId": id, "quantity": 3 })).await;
    over.assert_error(StatusCode::CONFLICT, "INSUFFICIENT_STOCK");
    assert_eq!(
        (over.body["error"]["details"][0]["available"].as_i64(), over.body["error"]["details"][0]["name"].as_str()),
        (Some(5), Some("Pen"))
    );

    let line = format!("/api/v1/cart/items/{id}");
    let set = app.patch(&line, Some(&user), json!({ "quantity": 5 })).await;
    assert_eq!(set.body["data"]["items"][0]["quantity"], 5);
    app.patch(&line, Some(&user), json!({ "change": 1 }))
        .await
        .assert_error(StatusCode::CONFLICT, "INSUFFICIENT_STOCK");
    assert_eq!(app.patch(&line, Some(&user), json!({ "change": -2 })).await.body["data"]["items"][0]["quantity"], 3);
    for bad in [
        json!({}),
        json!({ "quantity": -1 }),
        json!({ "change": 0 }),
        json!({ "quantity": 1, "change": 1 }),
        json!({ "change": 1.5 }),
        json!({ "quantity": 9223372036854775807_i64 }),
    ] {
        app.patch(&line, Some(&user), bad).await.assert_error(StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    }
    let removed = app.patch(&line, Some(&user), json!({ "change": -3 })).await;
    assert_eq!(removed.body["data"]["items"], json!([]), "reaching 0 removes the line");
    app.patch(&line, Some(&user), json!({ "quantity": 1 })).await.assert_error(StatusCode::NOT_FOUND, "NOT_FOUND");
    add(json!({ "productId": id, "quantity": 2 })).await;
    assert_eq!(app.patch(&line, Some(&user), json!({ "quantity": 0 })).await.body["data"]["items"], json!([]));
    add(json!({ "productId": id, "quantity": 2 })).await;
    assert_eq!(app.delete(&line, Some(&user), None).await.body["data"]["items"], json!([]));
    app.delete(&line, Some(&user), None).await.assert_error(StatusCode::NOT_FOUND, "NOT_FOUND");
    add(json!({ "productId": id, "quantity": 2 })).await;
    let cleared = app.delete("/api/v1/cart", Some(&user), None).await;
    assert_eq!((cleared.body["data"]["items"].clone(), cleared.body["data"]["total"].as_f64()), (json!([]), Some(0.0)));
}

async fn order_from_cart_snapshots_prices_and_empties_it(app: &TestApp) {
    let admin = app.admin_token("boss").await;
    let a = product(app, &admin, "Alpha", 19.99, 10).await;
    let b = product(app, &admin, "Bravo", 5.0, 10).await;
    app.patch(&format!("/api/v1/products/{a}"), Some(&admin), json!({ "discount": 10 })).await;
    app.register("john").await;
    let (user, _) = app.login("john").await;
    app.post("/api/v1/cart/items", Some(&user), json!({ "productId": a, "quantity": 3 })).await;
    app.post("/api/v1/cart/items", Some(&user), json!({ "productId": b, "quantity": 2 })).await;
    let placed = app
        .post("/api/v1/orders", Some(&user), json!({ "shippingAddress": address(), "notes": "Leave at the door" }))
        .await;
    assert_eq!(placed.status, StatusCode::CREATED, "{}", placed.body);
    let order = placed.body["data"].clone();
    assert_eq!(order["email"], "john@example.com");
    assert_eq!(order["status"], "pending");
    assert_eq!(order["paymentStatus"], "unpaid");
    assert_eq!(order["notes"], "Leave at the door");
    // 19.99 less 10% = 17.99 (17.991 rounded); 3 × 17.99 + 2 × 5.00.
    assert_eq!(
        (order["subtotal"].as_f64(), order["discountTotal"].as_f64(), order["total"].as_f64()),
        (Some(69.97), Some(6.0), Some(63.97))
    );
    assert_eq!(
        order["items"][0],
        json!({ "productId": a, "name": "Alpha", "quantity": 3, "unitPrice": 19.99, "discount": 10.0, "sellPrice": 17.99, "lineTotal": 53.97 })
    );
    assert_eq!(app.get("/api/v1/cart", Some(&user)).await.body["data"]["items"], json!([]), "the cart was emptied");
    assert_eq!((stock(app, &a).await, stock(app, &b).await), (7, 8));

    app.patch(&format!("/api/v1/products/{a}"), Some(&admin), json!({ "price": 99, "name": "Renamed" })).await;
    let id = order["_id"].as_str().unwrap();
    let again = app.get(&format!("/api/v1/orders/{id}"), Some(&user)).await.body["data"].clone();
    assert_eq!(
        (again["items"][0]["name"].as_str(), again["items"][0]["unitPrice"].as_f64(), again["total"].as_f64()),
        (Some("Alpha"), Some(19.99), Some(63.97)),
        "prices are snapshotted"
    );

    // Well formed, but the cart is empty now: a conflict with its state, not a malformed request.
    app.post("/api/v1/orders", Some(&user), json!({ "shippingAddress": address() }))
        .await
        .assert_error(StatusCode::CONFLICT, "CONFLICT");
}

async fn order_input_is_checked(app: &TestApp) {
    let admin = app.admin_token("boss").await;
    let id = product(app, &admin, "Cup", 3.0, 10).await;
    let no_email = app
        .post(
            "/api/v1/orders",
            None,
            json!({ "items": [{ "productId": id, "quantity": 1 }], "shippingAddress": address() }),
        )
        .await;
    no_email.assert_error(StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    assert_eq!(no_email.error_fields(), ["email"]);
    let bad = app
        .post("/api/v1/orders", None, json!({ "items": [{ "productId": id, "quantity": 0 }, { "quantity": 1 }, 7], "email": "nope", "shippingAddress": { "city": "X" } }))
        .await;
    bad.assert_error(StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    let fields = bad.error_fields();
    for expected in [
        "items[0].quantity",
        "items[1].productId",
        "items[2]",
        "email",
        "shippingAddress.firstName",
        "shippingAddress.postcode",
    ] {
        assert!(fields.contains(&expected.to_string()), "{expected} in {fields:?}");
    }
    for q in [json!(-1), json!(9223372036854775808_u64), json!(2.5)] {
        let reply = guest_order(app, "g@example.com", json!([{ "productId": id, "quantity": q }])).await;
        reply.assert_error(StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    }
    guest_order(app, "g@example.com", json!([])).await.assert_error(StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    guest_order(app, "g@example.com", json!([{ "productId": "424242", "quantity": 1 }]))
        .await
        .assert_error(StatusCode::NOT_FOUND, "NOT_FOUND");
    guest_order(app, "g@example.com", json!([{ "productId": "x1", "quantity": 1 }]))
        .await
        .assert_error(StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    app.patch(&format!("/api/v1/products/{id}"), Some(&admin), json!({ "available": false })).await;
    guest_order(app, "g@example.com", json!([{ "productId": id, "quantity": 1 }]))
        .await
        .assert_error(StatusCode::CONFLICT, "CONFLICT");
    assert_eq!(stock(app, &id).await, 10, "no refused order took stock");
    // The same product twice is one line.
    app.patch(&format!("/api/v1/products/{id}"), Some(&admin), json!({ "available": true })).await;
    let merged = guest_order(
        app,
        "g@example.com",
        json!([{ "productId": id, "quantity": 1 }, { "productId": id, "quantity": 2 }]),
    )
    .await;
    assert_eq!(merged.body["data"]["items"].as_array().unwrap().len(), 1);
    assert_eq!(merged.body["data"]["items"][0]["quantity"], 3);
}

async fn orders_are_seen_only_by_owner_admin_or_guest_token(app: &TestApp) {
    let admin = app.admin_token("boss").await;
    let id = product(app, &admin, "Book", 12.0, 50).await;
    let john = app.user_token("john").await;
    let jane = app.user_token("jane").await;
    let john_id =
        app.get("/api/v1/users/current-user", Some(&john)).await.body["data"]["_id"].as_str().unwrap().to_string();
    let line = json!([{ "productId": id, "quantity": 1 }]);
    let johns = app
        .post("/api/v1/orders", Some(&john), json!({ "items": line, "shippingAddress": address() }))
        .await
        .body["data"]["_id"]
        .as_str()
        .unwrap()
        .to_string();
    app.post("/api/v1/orders", Some(&jane), json!({ "items": line, "shippingAddress": address() })).await;
    let guest = guest_order(app, "Guest@Example.com", line.clone()).await.body["data"].clone();
    let (guests, token) = (guest["_id"].as_str().unwrap().to_string(), guest["orderToken"].as_str().unwrap());

    assert_eq!(app.get(&format!("/api/v1/orders/{johns}"), Some(&john)).await.status, StatusCode::OK);
    assert_eq!(app.get(&format!("/api/v1/orders/{johns}"), Some(&admin)).await.status, StatusCode::OK);
    app.get(&format!("/api/v1/orders/{johns}"), Some(&jane)).await.assert_error(StatusCode::NOT_FOUND, "NOT_FOUND");
    app.get(&format!("/api/v1/orders/{johns}"), None).await.assert_error(StatusCode::NOT_FOUND, "NOT_FOUND");
    app.get(&format!("/api/v1/orders/{johns}?email=john@example.com"), None)
        .await
        .assert_error(StatusCode::NOT_FOUND, "NOT_FOUND");
    app.post(&format!("/api/v1/orders/{johns}/cancel"), Some(&jane), json!({}))
        .await
        .assert_error(StatusCode::NOT_FOUND, "NOT_FOUND");
    app.get("/api/v1/orders/999999", Some(&john)).await.assert_error(StatusCode::NOT_FOUND, "NOT_FOUND");

    assert_eq!(app.get(&format!("/api/v1/orders/{guests}?token={token}"), None).await.status, StatusCode::OK);
    app.get(&format!("/api/v1/orders/{guests}?email=guest@example.com"), None)
        .await
        .assert_error(StatusCode::NOT_FOUND, "NOT_FOUND");
    app.get(&format!("/api/v1/orders/{guests}"), Some(&john)).await.assert_error(StatusCode::NOT_FOUND, "NOT_FOUND");
    app.get(&format!("/api/v1/orders/{johns}?token={token}"), None)
        .await
        .assert_error(StatusCode::NOT_FOUND, "NOT_FOUND");

    let mine = app.get("/api/v1/orders", Some(&john)).await;
    assert_eq!(mine.body["meta"]["total"], 1);
    assert_eq!(mine.body["data"][0]["_id"], johns.as_str());
    app.get(&format!("/api/v1/orders?userId={}", 999), Some(&john))
        .await
        .assert_error(StatusCode::FORBIDDEN, "AUTHORIZATION_ERROR");
    app.get("/api/v1/orders", None).await.assert_error(StatusCode::UNAUTHORIZED, "AUTHENTICATION_ERROR");

    assert_eq!(app.get("/api/v1/orders", Some(&admin)).await.body["meta"]["total"], 3);
    assert_eq!(app.get(&format!("/api/v1/orders?userId={john_id}"), Some(&admin)).await.body["meta"]["total"], 1);
    app.post(&format!("/api/v1/orders/{johns}/cancel"), Some(&john), json!({})).await;
    assert_eq!(app.get("/api/v1/orders?status=cancelled", Some(&admin)).await.body["meta"]["total"], 1);
    assert_eq!(app.get("/api/v1/orders?status=pending&from=2000-01-01", Some(&admin)).await.body["meta"]["total"], 2);
    assert_eq!(app.get("/api/v1/orders?to=2000-01-01", Some(&admin)).await.body["meta"]["total"], 0);
    app.get("/api/v1/orders?status=lost", Some(&admin)).await.assert_error(StatusCode::BAD_REQUEST, "VALIDATION_ERROR");

    // Deleting an account keeps its orders for the books, without the person.
    let jane_orders = app.get("/api/v1/orders", Some(&jane)).await.body["data"][0]["_id"].as_str().unwrap().to_string();
    app.delete("/api/v1/users/current-user", Some(&jane), Some(json!({ "password": crate::harness::PASSWORD }))).await;
    let kept = app.get(&format!("/api/v1/orders/{jane_orders}"), Some(&admin)).await.body["data"].clone();
    assert_eq!(
        (kept["userId"].clone(), kept["email"].as_str(), kept["shippingAddress"]["city"].as_str()),
        (Value::Null, Some("anonymised@invalid"), Some("[redacted]"))
    );
}

/// The sweep cancels unpaid orders past `EMPORIUM_ORDER_TTL` and restocks them.
async fn unpaid_orders_expire(backend: Backend) {
    let app = TestApp::spawn(backend, |c| {
        c.order_ttl = Duration::from_millis(300);
        c.sweep_interval = Duration::from_millis(100);
    })
    .await;
    let admin = app.admin_token("boss").await;
    let id = product(&app, &admin, "Ticket", 50.0, 5).await;
    let unpaid =
        guest_order(&app, "g@example.com", json!([{ "productId": id, "quantity": 2 }])).await.body["data"]["_id"]
            .as_str()
            .unwrap()
            .to_string();
    let paid =
        guest_order(&app, "g@example.com", json!([{ "productId": id, "quantity": 1 }])).await.body["data"]["_id"]
            .as_str()
            .unwrap()
            .to_string();
    set_status(&app, &admin, &paid, "paid").await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let order = app.get(&format!("/api/v1/orders/{unpaid}"), Some(&admin)).await.body["data"].clone();
        if order["status"] == "cancelled" {
            let last = order["events"].as_array().unwrap().last().unwrap().clone();
            assert_eq!((last["actor"].as_str(), last["from"].as_str()), (Some("system"), Some("pending")));
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "the unpaid order was never cancelled");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(stock(&app, &id).await, 4, "the unpaid order's 2 came back; the paid one's did not");
    assert_eq!(app.get(&format!("/api/v1/orders/{paid}"), Some(&admin)).await.body["data"]["status"], "paid");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unpaid_orders_expire_sqlite() {
    unpaid_orders_expire(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unpaid_orders_expire_postgres() {
    if crate::harness::postgres_available() {
        unpaid_orders_expire(Backend::Postgres).await;
    }
}
