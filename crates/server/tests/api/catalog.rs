//! Categories and products: validation, admin-only writes, optimistic
//! versions, every filter and sort, search ranking, and hostile input.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::TestApp;

crate::on_both_backends!(
    categories_are_created_read_and_nested_one_level,
    category_in_use_cannot_be_deleted,
    catalog_writes_are_for_admins_only,
    product_validation_names_each_field,
    product_is_created_with_derived_sell_price,
    product_update_is_partial_and_versioned,
    price_discount_and_stock_changes_are_audited,
    deleted_product_leaves_catalog_and_search,
    sku_is_unique,
    every_filter_and_sort,
    pagination_edges,
    search_ranks_name_over_keywords_over_description,
    search_matches_prefixes_and_all_words,
    search_forgives_one_typo_in_long_words,
    listings_count_the_whole_match_in_facets,
    hostile_input_is_refused_or_harmless,
    category_listing_includes_sub_categories,
);

async fn create_category(app: &TestApp, admin: &str, body: Value) -> Value {
    let reply = app.post("/api/v1/categories", Some(admin), body).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    reply.body["data"].clone()
}

async fn create_product(app: &TestApp, admin: &str, body: Value) -> Value {
    let reply = app.post("/api/v1/products", Some(admin), body).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    reply.body["data"].clone()
}

fn names(reply: &crate::harness::Reply) -> Vec<String> {
    reply.body["data"]
        .as_array()
        .unwrap_or_else(|| panic!("{}", reply.body))
        .iter()
        .map(|p| p["name"].as_str().unwrap().to_string())
        .collect()
}

async fn categories_are_created_read_and_nested_one_level(app: &TestApp) {
    let admin = app.admin_token("boss").await;
    let phones = create_category(app, &admin, json!({ "name": "Phones & Tablets", "description": "Handhelds" })).await;
    assert_eq!(phones["slug"], "phones-tablets");
    assert_eq!(phones["__v"], 0);
    let id = phones["_id"].as_str().unwrap();

    let by_id = app.get(&format!("/api/v1/categories/{id}"), None).await;
    let by_slug = app.get("/api/v1/categories/phones-tablets", None).await;
    assert_eq!(by_id.status, StatusCode::OK);
    assert_eq!(by_id.body["data"], by_slug.body["data"]);
    app.get("/api/v1/categories/nope", None).await.assert_error(StatusCode::NOT_FOUND, "NOT_FOUND");

    app.post("/api/v1/categories", Some(&admin), json!({ "name": "Phones, Tablets" }))
        .await
        .assert_error(StatusCode::CONFLICT, "CONFLICT");
    let bad = app.post("/api/v1/categories", Some(&admin), json!({ "name": "", "slug": "Bad Slug" })).await;
    bad.assert_error(StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    let mut fields = bad.error_fields();
    fields.sort();
    assert_eq!(fields, ["name", "slug"]);

    let android = create_category(app, &admin, json!({ "name": "Android", "parent": "phones-tablets" })).await;
    assert_eq!(android["parent"], id);
    let nested =
        app.post("/api/v1/categories", Some(&admin), json!({ "name": "Pixel", "parent": android["_id"] })).await;
    nested.assert_error(StatusCode::CONFLICT, "CONFLICT");
    assert!(nested.body["error"]["message"].as_str().unwrap().contains("top-level"), "{}", nested.body);
    app.post("/api/v1/categories", Some(&admin), json!({ "name": "Orphan", "parent": "no-such" }))
        .await
        .assert_error(StatusCode::CONFLICT, "CONFLICT");

    // Renaming keeps the slug, so links keep working; a stale __v is refused.
    let renamed =
        app.patch(&format!("/api/v1/categories/{id}"), Some(&admin), json!({ "name": "Mobile", "__v": 0 })).await;
    assert_eq!(renamed.status, StatusCode::OK, "{}", renamed.body);
    assert_eq!(
        (renamed.body["data"]["name"].as_str(), renamed.body["data"]["slug"].as_str()),
        (Some("Mobile"), Some("phones-tablets"))
    );
    app.put(&format!("/api/v1/categories/{id}"), Some(&admin), json!({ "name": "Stale", "__v": 0 }))
        .await
        .assert_error(StatusCode::CONFLICT, "CONFLICT");

    let audit = app.get(&format!("/api/v1/admin/audit-log?targetType=category&targetId={id}"), Some(&admin)).await;
    let actions: Vec<&str> =
        audit.body["data"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["category.updated", "category.created"], "written with each change, newest first");

    let list = app.get("/api/v1/categories", None).await;
    let slugs: Vec<&str> = list.body["data"].as_array().unwrap().iter().map(|c| c["slug"].as_str().unwrap()).collect();
    assert_eq!(slugs, ["phones-tablets", "android"], "parents first");
}

async fn category_in_use_cannot_be_deleted(app: &TestApp) {
    let admin = app.admin_token("boss").await;
    let parent = create_category(app, &admin, json!({ "name": "Audio" })).await;
    let child = create_category(app, &admin, json!({ "name": "Speakers", "parent": parent["_id"] })).await;
    let product =
        create_product(app, &admin, json!({ "name": "Boombox", "price": 10, "category": child["slug"] })).await;

    let child_path = format!("/api/v1/categories/{}", child["_id"].as_str().unwrap());
    let parent_path = format!("/api/v1/categories/{}", parent["_id"].as_str().unwrap());
    app.delete(&child_path, Some(&admin), None).await.assert_error(StatusCode::CONFLICT, "CONFLICT");
    app.delete(&parent_path, Some(&admin), None).await.assert_error(StatusCode::CONFLICT, "CONFLICT");
    assert_eq!(app.get(&child_path, None).await.status, StatusCode::OK, "nothing was deleted");

    app.delete(&format!("/api/v1/products/{}", product["_id"].as_str().unwrap()), Some(&admin), None).await;
    assert_eq!(app.delete(&child_path, Some(&admin), None).await.status, StatusCode::OK);
    assert_eq!(app.delete(&parent_path, Some(&admin), None).await.status, StatusCode::OK);
    app.get(&parent_path, None).await.assert_error(StatusCode::NOT_FOUND, "NOT_FOUND");
}

async fn catalog_writes_are_for_admins_only(app: &TestApp) {
    let admin = app.admin_token("boss").await;
    let user = app.user_token("john").await;
    let product = create_product(app, &admin, json!({ "name": "Lamp", "price": 20 })).await;
    let category = create_category(app, &admin, json!({ "name": "Lighting" })).await;
    let p = format!("/api/v1/products/{}", product["_id"].as_str().unwrap());
    let c = format!("/api/v1/categories/{}", category["_id"].as_str().unwrap());
    let writes = [
        (reqwest::Method::POST, "/api/v1/products".to_string(), Some(json!({ "name": "X", "price": 1 }))),
        (reqwest::Method::PUT, p.clone(), Some(json!({ "price": 1 }))),
        (reqwest::Method::PATCH, p.clone(), Some(json!({ "price": 1 }))),
        (reqwest::Method::DELETE, p.clone(), None),
        (reqwest::Method::POST, "/api/v1/categories".to_string(), Some(json!({ "name": "X" }))),
        (reqwest::Method::PUT, c.clone(), Some(json!({ "name": "X" }))),
        (reqwest::Method::DELETE, c.clone(), None),
    ];
    for (method, path, body) in writes {
        app.call(method.clone(), &path, None, body.clone())
            .await
            .assert_error(StatusCode::UNAUTHORIZED, "AUTHENTICATION_ERROR");
        app.call(method.clone(), &path, Some(&user), body.clone())
            .await
            .assert_error(StatusCode::FORBIDDEN, "AUTHORIZATION_ERROR");
        // Even an invalid body from a user gets 403, not a validation answer.
        app.call(method, &path, Some(&user), Some(json!({ "price": -1 })))
            .await
            .assert_error(StatusCode::FORBIDDEN, "AUTHORIZATION_ERROR");
    }
    let unchanged = app.get(&p, None).await;
    assert_eq!(
        (unchanged.body["data"]["price"].as_f64(), unchanged.body["data"]["__v"].as_i64()),
        (Some(20.0), Some(0))
    );
}

async fn product_validation_names_each_field(app: &TestApp) {
    let admin = app.admin_token("boss").await;
    let cases = [
        (json!({ "price": 1 }), "name"),
        (json!({ "name": "" , "price": 1 }), "name"),
        (json!({ "name": "x".repeat(201), "price": 1 }), "name"),
        (json!({ "name": "A" }), "price"),
        (json!({ "name": "A", "price": -0.01 }), "price"),
        (json!({ "name": "A", "price": 1.234 }), "price"),
        (json!({ "name": "A", "price": "12,50" }), "price"),
        (json!({ "name": "A", "price": 1, "discount": 101 }), "discount"),
        (json!({ "name": "A", "price": 1, "discount": -1 }), "discount"),
        (json!({ "name": "A", "price": 1, "stock": -1 }), "stock"),
        (json!({ "name": "A", "price": 1, "stock": 1.5 }), "stock"),
        (json!({ "name": "A", "price": 1, "stock": "5" }), "stock"),
        (json!({ "name": "A", "price": 1, "images": ["ftp://x.example/a.png"] }), "images"),
        (json!({ "name": "A", "price": 1, "images": "https://x.example/a.png" }), "images"),
        (json!({ "name": "A", "price": 1, "available": "yes" }), "available"),
        (json!({ "name": "A", "price": 1, "sku": "has spaces" }), "sku"),
        (json!({ "name": "A", "price": 1, "keywords": [1, 2] }), "keywords"),
        (json!({ "name": "A", "price": 1, "colour": "red" }), "colour"),
    ];
    for (body, field) in cases {
        let reply = app.post("/api/v1/products", Some(&admin), body.clone()).await;
        reply.assert_error(StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
        assert_eq!(reply.error_fields(), [field], "{body}");
    }
    // A category that names nothing: the request is well formed, the catalog has no such category.
    for category in [json!("no-such-category"), json!(999999)] {
        app.post("/api/v1/products", Some(&admin), json!({ "name": "A", "price": 1, "category": category }))
            .await
            .assert_error(StatusCode::CONFLICT, "CONFLICT");
    }
    let all = app
        .post("/api/v1/products", Some(&admin), json!({ "name": "", "price": -1, "stock": -1, "discount": 200 }))
        .await;
    assert_eq!(all.error_fields().len(), 4, "{}", all.body);
    assert_eq!(app.get("/api/v1/products", None).await.body["meta"]["total"], 0, "nothing was created");
}

async fn product_is_created_with_derived_sell_price(app: &TestApp) {
    let admin = app.admin_token("boss").await;
    let admin_id = app.get("/api/v1/users/current-user", Some(&admin)).await.body["data"]["_id"].clone();
    let cat = create_category(app, &admin, json!({ "name": "Phones" })).await;
    let p = create_product(
        app,
        &admin,
        json!({ "name": "Smartphone", "description": "Latest model", "price": "699.99", "discount": 15, "category": cat["_id"],
                "images": ["https://cdn.example.com/p.png"], "stock": 12, "keywords": ["phone", "Phone", "android"], "sku": "SP-1" }),
    )
    .await;
    assert_eq!(p["price"], 699.99);
    assert_eq!(p["sellPrice"], 594.99, "699.99 less 15% is 594.9915, rounded half-up to the cent");
    assert_eq!(p["discount"], 15.0);
    assert_eq!(p["category"], json!({ "_id": cat["_id"], "name": "Phones", "slug": "phones" }));
    assert_eq!(p["keywords"], json!(["phone", "android"]), "keywords are de-duplicated");
    assert_eq!(p["available"], true);
    assert_eq!(p["createdBy"], admin_id);
    assert_eq!(p["__v"], 0);
    let fetched = app.get(&format!("/api/v1/products/{}", p["_id"].as_str().unwrap()), None).await;
    assert_eq!(fetched.body["data"], p);
    assert_eq!(fetched.body["message"], "Product fetched successfully");
    app.get("/api/v1/products/424242", None).await.assert_error(StatusCode::NOT_FOUND, "NOT_FOUND");
    app.get("/api/v1/products/abc", None).await.assert_error(StatusCode::NOT_FOUND, "NOT_FOUND");
}

async fn product_update_is_partial_and_versioned(app: &TestApp) {
    let admin = app.admin_token("boss").await;
    let p = create_product(app, &admin, json!({ "name": "Kettle", "price": 30, "stock": 5, "sku": "K-1" })).await;
    let path = format!("/api/v1/products/{}", p["_id"].as_str().unwrap());

    let renamed = app.put(&path, Some(&admin), json!({ "name": "Steel Kettle" })).await;
    assert_eq!(renamed.status, StatusCode::OK, "{}", renamed.body);
    assert_eq!(renamed.body["message"], "Product updated successfully");
    let data = &renamed.body["data"];
    assert_eq!(
        (data["name"].as_str(), data["price"].as_f64(), data["stock"].as_i64(), data["__v"].as_i64()),
        (Some("Steel Kettle"), Some(30.0), Some(5), Some(1))
    );

    // A second admin working from version 0 is told, not silently overwritten.
    let stale = app.patch(&path, Some(&admin), json!({ "price": 25, "__v": 0 })).await;
    stale.assert_error(StatusCode::CONFLICT, "CONFLICT");
    let stale_header = app
        .client
        .patch(app.url(&path))
        .bearer_auth(&admin)
        .header("if-match", "\"0\"")
        .json(&json!({ "price": 25 }))
        .send()
        .await
        .unwrap();
    assert_eq!(stale_header.status(), StatusCode::CONFLICT);
    let fresh = app
        .client
        .patch(app.url(&path))
        .bearer_auth(&admin)
        .header("if-match", "\"1\"")
        .json(&json!({ "price": 25, "sku": null }))
        .send()
        .await
        .unwrap();
    assert_eq!(fresh.status(), StatusCode::OK);
    let after = app.get(&path, None).await.body["data"].clone();
    assert_eq!(
        (after["price"].as_f64(), after["sku"].clone(), after["__v"].as_i64()),
        (Some(25.0), Value::Null, Some(2))
    );

    app.patch(&path, Some(&admin), json!({ "stock": -5 }))
        .await
        .assert_error(StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    app.patch("/api/v1/products/999999", Some(&admin), json!({ "stock": 1 }))
        .await
        .assert_error(StatusCode::NOT_FOUND, "NOT_FOUND");
    assert_eq!(app.get(&path, None).await.body["data"]["__v"], 2, "refused updates change nothing");
}

async fn price_discount_and_stock_changes_are_audited(app: &TestApp) {
    let admin = app.admin_token("boss").await;
    let p = create_product(app, &admin, json!({ "name": "Fan", "price": 40, "stock": 3 })).await;
    let id = p["_id"].as_str().unwrap();
    app.patch(
        &format!("/api/v1/products/{id}"),
        Some(&admin),
        json!({ "price": 35.5, "discount": 10, "stock": 9, "name": "Desk Fan" }),
    )
    .await;
    let log = app.get(&format!("/api/v1/admin/audit-log?targetType=product&targetId={id}"), Some(&admin)).await;
    let entries = log.body["data"].as_array().unwrap();
    let find = |action: &str| {
        entries.iter().find(|e| e["action"] == action).unwrap_or_else(|| panic!("{action} in {entries:?}")).clone()
    };
    assert_eq!(find("product.price_changed")["details"], json!({ "from": "40.00", "to": "35.50" }));
    assert_eq!(find("product.discount_changed")["details"], json!({ "from": "0", "to": "10" }));
    assert_eq!(find("product.stock_changed")["details"], json!({ "from": "3", "to": "9" }));
    assert!(find("product.created")["actorId"].is_string());
    assert_eq!(entries.len(), 4, "a name change is not audited: {entries:?}");
}

async fn deleted_product_leaves_catalog_and_search(app: &TestApp) {
    let admin = app.admin_token("boss").await;
    let p = create_product(app, &admin, json!({ "name": "Quokka Plush", "price": 9, "sku": "Q-1" })).await;
    let path = format!("/api/v1/products/{}", p["_id"].as_str().unwrap());
    assert_eq!(app.get("/api/v1/products?search=quokka", None).await.body["meta"]["total"], 1);
    let reply = app.delete(&path, Some(&admin), None).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body["message"], "Product deleted successfully");
    app.get(&path, None).await.assert_error(StatusCode::NOT_FOUND, "NOT_FOUND");
    app.delete(&path, Some(&admin), None).await.assert_error(StatusCode::NOT_FOUND, "NOT_FOUND");
    app.patch(&path, Some(&admin), json!({ "price": 1 })).await.assert_error(StatusCode::NOT_FOUND, "NOT_FOUND");
    assert_eq!(app.get("/api/v1/products?search=quokka", None).await.body["meta"]["total"], 0);
    assert_eq!(app.get("/api/v1/products", None).await.body["meta"]["total"], 0);
    // Its SKU is free for a new product.
    create_product(app, &admin, json!({ "name": "Quokka Plush 2", "price": 9, "sku": "Q-1" })).await;
}

async fn sku_is_unique(app: &TestApp) {
    let admin = app.admin_token("boss").await;
    create_product(app, &admin, json!({ "name": "A", "price": 1, "sku": "SKU-1" })).await;
    let b = create_product(app, &admin, json!({ "name": "B", "price": 1 })).await;
    app.post("/api/v1/products", Some(&admin), json!({ "name": "C", "price": 1, "sku": "SKU-1" }))
        .await
        .assert_error(StatusCode::CONFLICT, "CONFLICT");
    app.patch(&format!("/api/v1/products/{}", b["_id"].as_str().unwrap()), Some(&admin), json!({ "sku": "SKU-1" }))
        .await
        .assert_error(StatusCode::CONFLICT, "CONFLICT");
}

/// Six products with known figures, in two categories.
async fn fixture(app: &TestApp) -> String {
    let admin = app.admin_token("boss").await;
    create_category(app, &admin, json!({ "name": "Audio" })).await;
    create_category(app, &admin, json!({ "name": "Video" })).await;
    for (name, price, discount, stock, available, category) in [
        ("Alpha Speaker", 100.0, 0.0, 5, true, "audio"),     // sell 100
        ("Bravo Headphones", 200.0, 50.0, 0, true, "audio"), // sell 100
        ("Charlie Amp", 50.0, 10.0, 3, false, "audio"),      // sell 45
        ("Delta Camera", 500.0, 20.0, 1, true, "video"),     // sell 400
        ("Echo Projector", 800.0, 0.0, 0, true, "video"),    // sell 800
        ("Foxtrot Cable", 5.0, 0.0, 100, true, "video"),     // sell 5
    ] {
        create_product(app, &admin, json!({ "name": name, "price": price, "discount": discount, "stock": stock, "available": available, "category": category })).await;
    }
    admin
}

async fn every_filter_and_sort(app: &TestApp) {
    fixture(app).await;
    let q = |query: &'static str| async move {
        let reply = app.get(&format!("/api/v1/products?limit=100&{query}"), None).await;
        assert_eq!(reply.status, StatusCode::OK, "{query}: {}", reply.body);
        names(&reply)
    };
    assert_eq!(
        q("sort=price").await,
        ["Foxtrot Cable", "Charlie Amp", "Alpha Speaker", "Bravo Headphones", "Delta Camera", "Echo Projector"]
    );
    assert_eq!(
        q("sort=-price").await,
        ["Echo Projector", "Delta Camera", "Bravo Headphones", "Alpha Speaker", "Charlie Amp", "Foxtrot Cable"]
    );
    assert_eq!(
        q("sort=name").await,
        ["Alpha Speaker", "Bravo Headphones", "Charlie Amp", "Delta Camera", "Echo Projector", "Foxtrot Cable"]
    );
    assert_eq!(q("sort=-name").await.first().map(String::as_str), Some("Foxtrot Cable"));
    assert_eq!(q("").await, q("sort=-createdAt").await);
    assert_eq!(q("sort=-createdAt").await.first().map(String::as_str), Some("Foxtrot Cable"), "newest first");
    assert_eq!(q("sort=createdAt").await.first().map(String::as_str), Some("Alpha Speaker"));

    assert_eq!(q("category=audio&sort=name").await, ["Alpha Speaker", "Bravo Headphones", "Charlie Amp"]);
    assert_eq!(
        q("minPrice=100&maxPrice=400&sort=price").await,
        ["Alpha Speaker", "Bravo Headphones", "Delta Camera"],
        "on the selling price"
    );
    assert_eq!(q("minDiscount=10&sort=name").await, ["Bravo Headphones", "Charlie Amp", "Delta Camera"]);
    assert_eq!(q("maxDiscount=0&sort=name").await, ["Alpha Speaker", "Echo Projector", "Foxtrot Cable"]);
    assert_eq!(q("available=false").await, ["Charlie Amp"]);
    assert_eq!(q("available=true&sort=name").await.len(), 5);
    assert_eq!(q("inStock=true&sort=name").await, ["Alpha Speaker", "Charlie Amp", "Delta Camera", "Foxtrot Cable"]);
    assert_eq!(q("inStock=false&sort=name").await, ["Bravo Headphones", "Echo Projector"]);
    // Combined.
    assert_eq!(q("category=video&inStock=true&minPrice=10&sort=-price").await, ["Delta Camera"]);
    assert_eq!(
        q("category=audio&available=true&inStock=true&maxPrice=150&minDiscount=0&sort=price").await,
        ["Alpha Speaker"]
    );
    assert_eq!(q("search=camera&category=video&minPrice=10").await, ["Delta Camera"]);
    assert_eq!(q("search=camera&category=audio").await, Vec::<String>::new());
    assert_eq!(q("category=no-such-category").await, Vec::<String>::new());
    let by_id = app.get("/api/v1/categories/audio", None).await.body["data"]["_id"].as_str().unwrap().to_string();
    assert_eq!(app.get(&format!("/api/v1/products?category={by_id}"), None).await.body["meta"]["total"], 3);

    // A range that holds nothing is a question with an empty answer, not a
    // malformed one: no JSON Schema can say "min <= max", so a client built
    // from the document must not get a 400 for it.
    let empty = app.get("/api/v1/products?minPrice=500&maxPrice=100", None).await;
    assert_eq!((empty.status, empty.body["meta"]["total"].as_u64()), (StatusCode::OK, Some(0)));
}

async fn pagination_edges(app: &TestApp) {
    fixture(app).await;
    let page = |query: &'static str| async move { app.get(&format!("/api/v1/products?sort=name&{query}"), None).await };
    let first = page("limit=4").await;
    let mut meta = first.body["meta"].clone();
    // Product listings also carry facets (pinned in listings_count_the_whole_match_in_facets).
    assert!(meta.as_object_mut().unwrap().remove("facets").is_some());
    assert_eq!(meta, json!({ "page": 1, "limit": 4, "total": 6, "totalPages": 2 }));
    assert_eq!(names(&first).len(), 4);
    let last = page("limit=4&page=2").await;
    assert_eq!(names(&last), ["Echo Projector", "Foxtrot Cable"]);
    let past = page("limit=4&page=3").await;
    assert_eq!(past.status, StatusCode::OK);
    assert_eq!(past.body["data"], json!([]));
    assert_eq!(past.body["meta"]["total"], 6);
    assert_eq!(page("").await.body["meta"]["limit"], 10, "default limit");
    assert_eq!(names(&page("limit=100").await).len(), 6);
    for bad in ["limit=0", "limit=101", "limit=-1", "page=0", "page=-3", "page=99999999999", "page=1.5", "limit=ten"] {
        let reply = app.get(&format!("/api/v1/products?{bad}"), None).await;
        reply.assert_error(StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    }
}

async fn search_ranks_name_over_keywords_over_description(app: &TestApp) {
    let admin = app.admin_token("boss").await;
    create_product(app, &admin, json!({ "name": "Plain Mug", "price": 5, "description": "A zephyr of a mug" })).await;
    create_product(app, &admin, json!({ "name": "Zephyr Lamp", "price": 5, "description": "Bright" })).await;
    create_product(app, &admin, json!({ "name": "Breeze Fan", "price": 5, "keywords": ["zephyr", "wind"] })).await;
    create_product(app, &admin, json!({ "name": "Unrelated", "price": 5 })).await;
    let reply = app.get("/api/v1/products?search=zephyr", None).await;
    assert_eq!(names(&reply), ["Zephyr Lamp", "Breeze Fan", "Plain Mug"]);
    assert_eq!(reply.body["meta"]["total"], 3);
    // Another order can be asked for; the set stays the same.
    assert_eq!(
        names(&app.get("/api/v1/products?search=zephyr&sort=name", None).await),
        ["Breeze Fan", "Plain Mug", "Zephyr Lamp"]
    );
}

async fn search_matches_prefixes_and_all_words(app: &TestApp) {
    let admin = app.admin_token("boss").await;
    create_product(app, &admin, json!({ "name": "Wireless Headphones", "price": 50 })).await;
    create_product(app, &admin, json!({ "name": "Wired Headset", "price": 20 })).await;
    create_product(app, &admin, json!({ "name": "Wireless Mouse", "price": 15, "keywords": ["office"] })).await;
    let q = |s: &'static str| async move {
        let mut n = names(&app.get(&format!("/api/v1/products?search={s}&sort=name"), None).await);
        n.sort();
        n
    };
    assert_eq!(q("wire").await, ["Wired Headset", "Wireless Headphones", "Wireless Mouse"], "prefix of the last word");
    assert_eq!(q("wireless%20head").await, ["Wireless Headphones"], "all words, the last as a prefix");
    assert_eq!(q("WIRELESS").await, ["Wireless Headphones", "Wireless Mouse"], "case-insensitive");
    assert_eq!(q("head%20wireless").await, Vec::<String>::new(), "only the last word is a prefix");
    assert_eq!(q("office%20mouse").await, ["Wireless Mouse"], "keywords and name together");
    assert_eq!(q("keyboard").await, Vec::<String>::new());
}

async fn search_forgives_one_typo_in_long_words(app: &TestApp) {
    let admin = app.admin_token("boss").await;
    create_product(app, &admin, json!({ "name": "Wireless Headphones", "price": 50 })).await;
    create_product(app, &admin, json!({ "name": "Hedphones Stand", "price": 20 })).await;
    create_product(app, &admin, json!({ "name": "Desk Lamp", "price": 15 })).await;
    let q = |s: &'static str| async move { names(&app.get(&format!("/api/v1/products?search={s}"), None).await) };
    // One edit away from a word of 5+ letters still matches; the exact word ranks first.
    assert_eq!(q("hedphones").await, ["Hedphones Stand", "Wireless Headphones"], "exact above typo");
    assert_eq!(q("headphones").await, ["Wireless Headphones", "Hedphones Stand"], "exact above typo");
    assert_eq!(q("wirelss%20headphones").await, ["Wireless Headphones"], "a deletion");
    assert_eq!(q("wierless").await, ["Wireless Headphones"], "a swap of neighbours");
    // Short words get no such leeway, and two edits are too many.
    assert_eq!(q("lamb").await, Vec::<String>::new());
    assert_eq!(q("hdphnes").await, Vec::<String>::new());
}

async fn listings_count_the_whole_match_in_facets(app: &TestApp) {
    let admin = app.admin_token("boss").await;
    let lamps = create_category(app, &admin, json!({ "name": "Lamps" })).await;
    create_category(app, &admin, json!({ "name": "Mugs" })).await;
    create_product(app, &admin, json!({ "name": "Desk Lamp", "price": 15, "category": "lamps" })).await;
    create_product(app, &admin, json!({ "name": "Floor Lamp", "price": 120, "category": "lamps" })).await;
    create_product(app, &admin, json!({ "name": "Lamp Mug", "price": 8, "category": "mugs" })).await;
    create_product(app, &admin, json!({ "name": "Loose Lamp", "price": 9 })).await;

    let reply = app.get("/api/v1/products?search=lamp&limit=1", None).await;
    let facets = &reply.body["meta"]["facets"];
    assert_eq!(
        facets["categories"],
        json!([
            { "_id": lamps["_id"], "slug": "lamps", "name": "Lamps", "count": 2 },
            { "_id": facets["categories"][1]["_id"], "slug": "mugs", "name": "Mugs", "count": 1 },
        ]),
        "counted over every match, not the page; a product without a category is in none"
    );
    assert_eq!(
        facets["priceBands"],
        json!([
            { "min": 0.0, "max": 10.0, "count": 2 },
            { "min": 10.0, "max": 25.0, "count": 1 },
            { "min": 100.0, "max": 250.0, "count": 1 },
        ])
    );
    // The facets follow the filter.
    let cheap = app.get("/api/v1/categories/lamps/products?maxPrice=50", None).await;
    assert_eq!(cheap.body["meta"]["facets"]["categories"][0]["count"], 1);
    assert_eq!(cheap.body["meta"]["facets"]["priceBands"], json!([{ "min": 10.0, "max": 25.0, "count": 1 }]));
    let none = app.get("/api/v1/products?search=zzzzzz", None).await;
    assert_eq!(none.body["meta"]["facets"], json!({ "categories": [], "priceBands": [] }));
}

async fn hostile_input_is_refused_or_harmless(app: &TestApp) {
    fixture(app).await;
    for search in [
        "\"",
        "'",
        "%",
        "%25%25",
        "*",
        "alpha*",
        "NEAR(alpha bravo)",
        "alpha OR 1=1",
        "'; DROP TABLE products; --",
        "a:*|b",
        "(!)",
        "alpha\" OR \"1",
    ] {
        let encoded: String = form_urlencoded::byte_serialize(search.as_bytes()).collect();
        let reply = app.get(&format!("/api/v1/products?search={encoded}"), None).await;
        assert_eq!(reply.status, StatusCode::OK, "{search:?}: {}", reply.body);
        assert!(reply.body["data"].is_array());
    }
    assert_eq!(
        names(&app.get("/api/v1/products?search=alpha*", None).await),
        ["Alpha Speaker"],
        "operators are plain text"
    );
    // A control character can never be a search: refused, not searched for.
    app.get("/api/v1/products?search=%00", None).await.assert_error(StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    let long = "a".repeat(10_000);
    app.get(&format!("/api/v1/products?search={long}"), None)
        .await
        .assert_error(StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    for bad in [
        "minPrice=abc",
        "minPrice=-5",
        "maxPrice=1e309",
        "minDiscount=500",
        "available=maybe",
        "inStock=yes",
        "sort=price;DROP",
        "sort=bogus",
        "unknown=1",
        "search=a&search=b",
    ] {
        app.get(&format!("/api/v1/products?{bad}"), None)
            .await
            .assert_error(StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    }
    let several = app.get("/api/v1/products?minPrice=x&limit=0&colour=red", None).await;
    let mut fields = several.error_fields();
    fields.sort();
    assert_eq!(fields, ["colour", "limit", "minPrice"]);
    assert_eq!(app.get("/api/v1/products", None).await.body["meta"]["total"], 6, "the catalog is intact");
}

async fn category_listing_includes_sub_categories(app: &TestApp) {
    let admin = app.admin_token("boss").await;
    let audio = create_category(app, &admin, json!({ "name": "Audio" })).await;
    create_category(app, &admin, json!({ "name": "Speakers", "parent": audio["_id"] })).await;
    create_category(app, &admin, json!({ "name": "Books" })).await;
    create_product(app, &admin, json!({ "name": "Amp", "price": 90, "category": "audio" })).await;
    create_product(app, &admin, json!({ "name": "Tower Speaker", "price": 300, "category": "speakers" })).await;
    create_product(app, &admin, json!({ "name": "Novel", "price": 12, "category": "books" })).await;

    let audio_products = app.get("/api/v1/categories/audio/products?sort=name", None).await;
    assert_eq!(names(&audio_products), ["Amp", "Tower Speaker"]);
    assert_eq!(audio_products.body["meta"]["total"], 2);
    assert_eq!(names(&app.get("/api/v1/categories/speakers/products", None).await), ["Tower Speaker"]);
    assert_eq!(names(&app.get("/api/v1/categories/audio/products?maxPrice=100", None).await), ["Amp"]);
    assert_eq!(names(&app.get("/api/v1/products?category=audio&sort=name", None).await), ["Amp", "Tower Speaker"]);
    app.get("/api/v1/categories/nope/products", None).await.assert_error(StatusCode::NOT_FOUND, "NOT_FOUND");
    app.get("/api/v1/categories/audio/products?category=books", None)
        .await
        .assert_error(StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
}
