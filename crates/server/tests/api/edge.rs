//! What the edge refuses before anything reaches a service or SQL: control
//! characters in any text (PostgreSQL answered 500 to a NUL byte), empty
//! query parameters, and what the OpenAPI document promises about them.

use std::collections::HashSet;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::{PASSWORD, TestApp};

crate::on_both_backends!(
    control_characters_are_refused_naming_the_field,
    multi_line_text_keeps_its_newlines_and_tabs,
    empty_query_parameters_are_refused
);

fn address() -> Value {
    json!({ "firstName": "Ada", "lastName": "Lovelace", "address1": "12 Analytical St", "city": "London", "postcode": "N1 9GU", "country": "GB", "phone": "+44 20 7946 0000" })
}

fn assert_refused(reply: &crate::harness::Reply, field: &str, what: &str) {
    reply.assert_error(StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    assert_eq!(reply.error_fields(), [field], "{what}: {}", reply.body);
}

async fn control_characters_are_refused_naming_the_field(app: &TestApp) {
    let admin = app.admin_token("boss").await;
    let product =
        app.post("/api/v1/products", Some(&admin), json!({ "name": "Pen", "price": 2, "stock": 5 })).await.body["data"]
            ["_id"]
            .as_str()
            .unwrap()
            .to_string();

    // Bodies: NUL, another C0 character, DEL and a C1 character, each named.
    for bad in ["\u{0}", "\u{1b}", "\u{7f}", "\u{85}"] {
        let login = app
            .post("/api/v1/users/login", None, json!({ "email": format!("a{bad}@example.com"), "password": PASSWORD }))
            .await;
        assert_refused(&login, "email", "login e-mail");
        let register = app
            .post(
                "/api/v1/users/register",
                None,
                json!({ "fullName": format!("Eve{bad}"), "username": "eve", "email": "eve@example.com", "password": PASSWORD }),
            )
            .await;
        assert_refused(&register, "fullName", "registration name");
        for (field, value) in [
            ("name", json!(format!("Pen{bad}"))),
            ("description", json!(format!("A pen{bad}"))),
            ("keywords", json!([format!("ink{bad}")])),
            ("sku", json!(format!("PEN{bad}"))),
        ] {
            let mut body = json!({ "name": "Pen", "price": 2 });
            body[field] = value;
            assert_refused(&app.post("/api/v1/products", Some(&admin), body).await, field, "product text");
        }
        let rename =
            app.patch(&format!("/api/v1/products/{product}"), Some(&admin), json!({ "name": format!("P{bad}") })).await;
        assert_refused(&rename, "name", "product update");
        for (field, value) in [("name", format!("Pens{bad}")), ("description", format!("All pens{bad}"))] {
            let mut body = json!({ "name": "Pens" });
            body[field] = json!(value);
            assert_refused(&app.post("/api/v1/categories", Some(&admin), body).await, field, "category text");
        }
        let items = json!([{ "productId": product, "quantity": 1 }]);
        let notes = app
            .post(
                "/api/v1/orders",
                Some(&admin),
                json!({ "items": items, "shippingAddress": address(), "notes": format!("ring{bad}") }),
            )
            .await;
        assert_refused(&notes, "notes", "order notes");
        let mut city = address();
        city["city"] = json!(format!("Lon{bad}don"));
        let nested = app.post("/api/v1/orders", Some(&admin), json!({ "items": items, "shippingAddress": city })).await;
        assert_refused(&nested, "shippingAddress.city", "address part");
    }

    // Query parameters.
    for (path, field) in [
        ("/api/v1/products?category=%00", "category"),
        ("/api/v1/products?search=%00", "search"),
        ("/api/v1/products?search=pen%7F", "search"),
        ("/api/v1/categories/pens/products?search=%C2%85", "search"),
        ("/api/v1/admin/users?search=%00", "search"),
        ("/api/v1/admin/audit-log?action=%00", "action"),
        ("/api/v1/admin/audit-log?targetType=user%00", "targetType"),
        ("/api/v1/admin/audit-log?targetId=%00", "targetId"),
        ("/api/v1/orders?status=%00", "status"),
    ] {
        assert_refused(&app.get(path, Some(&admin)).await, field, path);
    }

    // Path segments.
    for path in
        ["/api/v1/categories/%00", "/api/v1/categories/%00/products", "/api/v1/products/%00", "/api/v1/orders/%00"]
    {
        assert_refused(&app.get(path, Some(&admin)).await, "id", path);
    }
    assert_refused(
        &app.put("/api/v1/admin/users/%00", Some(&admin), json!({ "role": "user" })).await,
        "id",
        "admin user path",
    );
    assert_refused(&app.delete("/api/v1/cart/items/%00", Some(&admin), None).await, "productId", "cart line path");

    // None of it was stored, and the shop still answers.
    assert_eq!(app.get("/api/v1/products", None).await.body["meta"]["total"], 1);
    assert_eq!(app.get("/api/v1/categories", None).await.body["data"], json!([]));
    assert_eq!(app.get("/api/v1/orders", Some(&admin)).await.body["meta"]["total"], 0);
    assert_eq!(app.get("/api/v1/admin/users", Some(&admin)).await.body["meta"]["total"], 1);
}

async fn multi_line_text_keeps_its_newlines_and_tabs(app: &TestApp) {
    let admin = app.admin_token("boss").await;
    let description = "Line one\r\nLine two\n\tindented";
    let created = app
        .post(
            "/api/v1/products",
            Some(&admin),
            json!({ "name": "Pen", "price": 2, "stock": 5, "description": description }),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    assert_eq!(created.body["data"]["description"], description);
    let id = created.body["data"]["_id"].as_str().unwrap().to_string();

    let items = json!([{ "productId": id, "quantity": 1 }]);
    let order = app
        .post(
            "/api/v1/orders",
            Some(&admin),
            json!({ "items": items, "shippingAddress": address(), "notes": "Ring twice\nthen wait" }),
        )
        .await;
    assert_eq!(order.status, StatusCode::CREATED, "{}", order.body);
    assert_eq!(order.body["data"]["notes"], "Ring twice\nthen wait");

    // A single-line field does not take them.
    let name = app.post("/api/v1/products", Some(&admin), json!({ "name": "Two\nlines", "price": 1 })).await;
    assert_refused(&name, "name", "a name is one line");
}

async fn empty_query_parameters_are_refused(app: &TestApp) {
    let admin = app.admin_token("boss").await;
    for (path, field) in [
        ("/api/v1/products?page=", "page"),
        ("/api/v1/products?limit=", "limit"),
        ("/api/v1/products?search=", "search"),
        ("/api/v1/products?sort=", "sort"),
        ("/api/v1/admin/users?page=", "page"),
        ("/api/v1/admin/audit-log?limit=", "limit"),
        ("/api/v1/orders?status=", "status"),
    ] {
        assert_refused(&app.get(path, Some(&admin)).await, field, path);
    }
    let both = app.get("/api/v1/products?page=&limit=", None).await;
    both.assert_error(StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    let mut fields = both.error_fields();
    fields.sort();
    assert_eq!(fields, ["limit", "page"]);
    // Left out, they take their defaults.
    let defaults = app.get("/api/v1/products", None).await;
    assert_eq!((defaults.body["meta"]["page"].as_u64(), defaults.body["meta"]["limit"].as_u64()), (Some(1), Some(10)));
}

async fn document(app: &TestApp) -> Value {
    app.client.get(app.url("/openapi.json")).send().await.unwrap().json().await.unwrap()
}

fn operations(doc: &Value) -> Vec<(String, String, &Value)> {
    let mut all = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            all.push((path.clone(), method.clone(), operation));
        }
    }
    all
}

/// Tools take the document at its word: no doubled prefix, one id per
/// operation, every answer the layers give, and the limits the parsers check.
#[tokio::test]
async fn openapi_document_describes_the_server() {
    let app = TestApp::spawn(crate::harness::Backend::Sqlite, |_| {}).await;
    let doc = document(&app).await;
    app.stop().await;

    assert!(
        doc.get("servers").is_none_or(|s| s.as_array().unwrap().iter().all(|s| s["url"] != "/api/v1")),
        "{}",
        doc["servers"]
    );
    let mut ids = HashSet::new();
    for (path, method, operation) in operations(&doc) {
        let id = operation["operationId"].as_str().unwrap_or_else(|| panic!("{method} {path} has an operationId"));
        assert!(ids.insert(id.to_string()), "{id} names one operation only");
        // A dialect documents its own envelope and errors, under its own tag.
        if let Some(rest) = path.strip_prefix("/compat/") {
            let dialect = rest.split('/').next().unwrap_or_default().to_string();
            let tagged = operation["tags"].as_array().is_some_and(|t| t.iter().any(|t| t.as_str() == Some(&dialect)));
            assert!(tagged, "{method} {path} is tagged {dialect}");
            continue;
        }
        assert!(path.starts_with("/api/v1/"), "{path}");
        let responses = operation["responses"].as_object().unwrap();
        assert!(responses.contains_key("429"), "{method} {path} declares 429");
        if operation.get("requestBody").is_some() {
            for status in ["400", "413", "415"] {
                assert!(responses.contains_key(status), "{method} {path} declares {status}");
            }
        }
        if operation["security"].as_array().is_some_and(|s| s.iter().any(|r| r.get("bearer").is_some())) {
            assert!(responses.contains_key("401"), "{method} {path} declares 401");
        }
    }
    // PUT and PATCH of one resource are two operations.
    let product = &doc["paths"]["/api/v1/products/{id}"];
    assert_ne!(product["put"]["operationId"], product["patch"]["operationId"]);
    // Protected operations say so.
    for (path, method) in [("/api/v1/products", "post"), ("/api/v1/admin/users", "get"), ("/api/v1/orders", "get")] {
        assert_eq!(doc["paths"][path][method]["security"], json!([{ "bearer": [] }]), "{method} {path}");
    }
    // The cancel body may be left out.
    assert_ne!(doc["paths"]["/api/v1/orders/{id}/cancel"]["post"]["requestBody"]["required"], json!(true));

    // Limits and refusals come from the parsing types.
    let schemas = &doc["components"]["schemas"];
    let register = &schemas["RegisterRequest"];
    assert_eq!(register["additionalProperties"], json!(false));
    let mut required: Vec<&str> =
        register["required"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    required.sort();
    assert_eq!(required, ["email", "fullName", "password", "username"]);
    assert_eq!(register["properties"]["fullName"]["maxLength"], 100);
    assert_eq!(register["properties"]["password"]["minLength"], 8);
    assert_eq!(schemas["NewProductRequest"]["properties"]["stock"]["maximum"], 1_000_000_000);
    let params = doc["paths"]["/api/v1/products"]["get"]["parameters"].as_array().unwrap();
    let param =
        |name: &str| params.iter().find(|p| p["name"] == name).unwrap_or_else(|| panic!("{name}"))["schema"].clone();
    assert_eq!((param("limit")["minimum"].clone(), param("limit")["maximum"].clone()), (json!(1), json!(100)));
    assert_eq!(param("search")["minLength"], 1, "an empty value is refused");
    assert!(param("sort")["enum"].as_array().unwrap().contains(&json!("-price")));

    // Links let a client follow a created resource's id.
    let created = &doc["paths"]["/api/v1/products"]["post"]["responses"]["201"]["links"]["getProduct"];
    assert_eq!(created["operationId"], "get_product");
    assert_eq!(created["parameters"]["id"], "$response.body#/data/_id");
}
