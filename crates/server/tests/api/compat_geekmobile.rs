//! The geekmobile document under /compat/geekmobile, driven the way its
//! front end drives it — sign-up, basket, `/api/payments`, approval at the
//! contract-faithful PayPal fake, `execute_payment` — plus every documented
//! error, every bad input, access control and what the native API sees.

use emporium_payments::fake::{FakePayPal, Outage};
use emporium_server::config::{Config, PayPalSettings};
use emporium_service::Secret;
use futures::future::join_all;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::harness::{Backend, PASSWORD, Reply, TestApp};
use crate::payments::stock;

const BASE: &str = "/compat/geekmobile";
const FRONT: &str = "https://front.example";
const ADMIN_SECRET: &str = "geekmobile-admin-secret-0123456789";
const BAD_ID: &str = "Argument passed in must be a string of 12 bytes or a string of 24 hex characters or an integer";

pub struct Geek {
    pub app: TestApp,
    pub paypal: FakePayPal,
}

impl Geek {
    async fn start(backend: Backend, with_secret: bool) -> Self {
        let paypal = FakePayPal::start().await;
        let app = TestApp::spawn(backend, |c: &mut Config| {
            c.payments.paypal = Some(PayPalSettings {
                client_id: paypal.client_id(),
                client_secret: Secret::new(paypal.client_secret()),
                api_base: paypal.base_url(),
            });
            c.payments.frontend_url = Some(FRONT.into());
            if with_secret {
                c.api.geekmobile_admin_secret = Some(Secret::new(ADMIN_SECRET));
            }
        })
        .await;
        Self { app, paypal }
    }

    /// A request to the dialect, with these headers (`x-token`, `Authorization`).
    async fn call(&self, method: Method, path: &str, headers: &[(&str, &str)], body: Option<Value>) -> Reply {
        let mut request = self.app.client.request(method, self.app.url(&format!("{BASE}{path}")));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        Reply::read(request.send().await.expect("answered")).await
    }

    async fn get(&self, path: &str, headers: &[(&str, &str)]) -> Reply {
        self.call(Method::GET, path, headers, None).await
    }
}

macro_rules! geek_cases {
    ($with_secret:literal: $($case:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let geek = super::Geek::start($crate::harness::Backend::Sqlite, $with_secret).await;
                    super::$case(&geek).await;
                    geek.app.stop().await;
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
                    let geek = super::Geek::start($crate::harness::Backend::Postgres, $with_secret).await;
                    super::$case(&geek).await;
                    geek.app.stop().await;
                }
            )*
        }
    };
}

mod configured {
    geek_cases!(true:
        the_documented_purchase_flow_pays_once_and_lands_in_pucharses,
        cancel_payment_restocks_and_sends_the_buyer_to_the_cart,
        user_auth_answers_with_the_documented_messages,
        every_bad_input_is_named_in_the_validator_shape,
        orders_are_private_across_users_and_open_to_admins,
        paypal_down_is_502_and_gives_the_stock_back,
        admin_auth_needs_the_static_secret_and_signs_admins_only,
        admin_products_and_user_deletion_follow_the_document,
    );
    use super::*;
}

mod without_secret {
    geek_cases!(false: admin_auth_is_refused_when_no_secret_is_configured);
    use super::*;
}

/// The catalog the flows buy from: a `Components` category and a display in it.
async fn seed(app: &TestApp) -> (String, String) {
    let admin = app.admin_token("boss").await;
    let category = app.post("/api/v1/categories", Some(&admin), json!({ "name": "Components" })).await;
    assert_eq!(category.status, StatusCode::CREATED, "{}", category.body);
    let product = app
        .post(
            "/api/v1/products",
            Some(&admin),
            json!({
                "name": "Pantalla Samsung J6 Plus Original",
                "description": "La Pantalla Samsung J6+ 2018 J610 Original",
                "price": 234, "stock": 5, "category": "components",
                "images": ["https://img.example/j6.webp"], "keywords": ["display", "pantalla", "J610"],
            }),
        )
        .await;
    assert_eq!(product.status, StatusCode::CREATED, "{}", product.body);
    (admin, product.body["data"]["_id"].as_str().unwrap().to_string())
}

fn address() -> Value {
    json!({
        "firstName": "test", "lastName": "demo", "address1": "VICENTE dals", "phoneNumber": "5623232323",
        "countryRegion": "Mexico", "zip": "43534", "state": "Ciudad de Mexico", "locality": "Iztapalapa",
        "sublocality": "APATLACO",
    })
}

async fn sign_up(geek: &Geek, name: &str) -> String {
    let reply = geek
        .call(
            Method::POST,
            "/api/auth/new",
            &[],
            Some(
                json!({ "name": format!("{name} Demo"), "email": format!("{name}@example.com"), "password": PASSWORD }),
            ),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    reply.body["user"]["token"].as_str().unwrap().to_string()
}

/// Puts `quantity` of the product in the basket and opens the PayPal order;
/// returns PayPal's token (the order id at PayPal).
async fn basket_and_pay(geek: &Geek, token: &str, product: &str, quantity: i64) -> String {
    let basket = json!({ "newBasket": [{ "id_product": product, "quantity": quantity }] });
    let put = geek.call(Method::PUT, "/api/user/update/basket", &[("x-token", token)], Some(basket)).await;
    assert_eq!(put.status, StatusCode::OK, "{}", put.body);
    let paid =
        geek.call(Method::POST, "/api/payments", &[("x-token", token)], Some(json!({ "address": address() }))).await;
    assert_eq!(paid.status, StatusCode::CREATED, "{}", paid.body);
    let order = geek.paypal.orders().pop().expect("a PayPal order was created");
    assert_eq!(paid.body["order"]["link"]["rel"], "approve");
    assert_eq!(paid.body["order"]["link"]["method"], "GET");
    assert!(paid.body["order"]["link"]["href"].as_str().unwrap().contains(&order.id), "{}", paid.body);
    order.id
}

fn location(reply: &Reply) -> &str {
    reply.header("location").unwrap_or_default()
}

fn assert_msg(reply: &Reply, status: StatusCode, msg: &str) {
    assert_eq!(reply.status, status, "{}", reply.body);
    assert_eq!(reply.body, json!({ "ok": false, "msg": msg }));
}

/// Asserts a validator-shaped error naming exactly these fields, each with its message.
fn assert_fields(reply: &Reply, status: StatusCode, location: &str, fields: &[(&str, &str)]) {
    assert_eq!(reply.status, status, "{}", reply.body);
    assert_eq!(reply.body["ok"], false, "{}", reply.body);
    let errors = reply.body["errors"].as_object().unwrap_or_else(|| panic!("no errors: {}", reply.body));
    let mut named: Vec<&str> = errors.keys().map(String::as_str).collect();
    let mut expected: Vec<&str> = fields.iter().map(|(f, _)| *f).collect();
    named.sort();
    expected.sort();
    assert_eq!(named, expected, "{}", reply.body);
    for (field, msg) in fields {
        assert_eq!(errors[*field], json!({ "msg": msg, "location": location, "value": field }), "{}", reply.body);
    }
}

async fn the_documented_purchase_flow_pays_once_and_lands_in_pucharses(geek: &Geek) {
    let app = &geek.app;
    let (admin, product) = seed(app).await;

    // The catalog as the document shows it.
    let all = geek.get("/api/products", &[]).await;
    assert_eq!(all.status, StatusCode::OK, "{}", all.body);
    assert_eq!(all.body["ok"], true);
    assert_eq!(all.body["data"]["results"], 1);
    let listed = &all.body["data"]["products"][0];
    assert_eq!(
        listed,
        &json!({
            "name": "Pantalla Samsung J6 Plus Original", "description": "La Pantalla Samsung J6+ 2018 J610 Original",
            "thumbnail": "https://img.example/j6.webp", "value": 234.0, "category": "COMPONENTS",
            "keywords": ["display", "pantalla", "J610"], "stock": 5, "id": product,
        })
    );
    let unique = geek.get(&format!("/api/products/unique?id={product}"), &[]).await;
    assert_eq!(unique.body["data"]["product"], *listed, "{}", unique.body);
    let category = geek.get("/api/products/category/COMPONENTS", &[]).await;
    assert_eq!(category.status, StatusCode::OK, "{}", category.body);
    assert_eq!(category.body["data"]["category"], "COMPONENTS");
    assert_eq!(category.body["data"]["products"][0]["id"], product.as_str());
    let found = geek.get("/api/search?query=pantalla", &[]).await;
    assert_eq!(found.status, StatusCode::OK, "{}", found.body);
    assert_eq!(found.body["queries"][0]["id"], product.as_str(), "{}", found.body);
    assert_eq!(found.body["queries"][0]["category"], "COMPONENTS");
    assert!(found.body["queries"][0].get("keywords").is_none());

    // Sign-up: an empty basket and no purchases.
    let signed = geek
        .call(
            Method::POST,
            "/api/auth/new",
            &[],
            Some(json!({ "name": "user Demo", "email": "userDemo@example.com", "password": PASSWORD })),
        )
        .await;
    assert_eq!(signed.status, StatusCode::CREATED, "{}", signed.body);
    assert_eq!(signed.body["ok"], true);
    let user = &signed.body["user"];
    assert_eq!(user["name"], "user Demo");
    assert_eq!(user["email"], "userDemo@example.com");
    assert_eq!(user["basket"], json!({ "products": [] }));
    assert_eq!(user["pucharses"], json!([]));
    let token = user["token"].as_str().unwrap().to_string();
    let x = [("x-token", token.as_str())];

    // The basket: one added, then replaced; the body's name, price and stock are not believed.
    let added = geek.call(Method::PUT, "/api/user/update/add", &x, Some(json!({ "id": product }))).await;
    assert_eq!(added.status, StatusCode::OK, "{}", added.body);
    assert_eq!(added.body["user"]["products"][0]["quantity"], 1);
    assert_eq!(added.body["user"]["products"][0]["id_product"], product.as_str());
    let lying = json!({ "newBasket": [{
        "name": "Free", "thumbnail": "x", "value": 0.01, "quantity": 2, "stock": 99998, "description": "d",
        "category": "COMPONENTS", "id_product": product, "id": "2f93h0293fh02323f",
    }] });
    let replaced = geek.call(Method::PUT, "/api/user/update/basket", &x, Some(lying)).await;
    assert_eq!(replaced.status, StatusCode::OK, "{}", replaced.body);
    let line = &replaced.body["user"]["products"][0];
    assert_eq!(
        (line["name"].as_str(), line["value"].as_f64(), line["quantity"].as_i64(), line["stock"].as_i64()),
        (Some("Pantalla Samsung J6 Plus Original"), Some(234.0), Some(2), Some(5))
    );
    assert_eq!(line["category"], "COMPONENTS");

    // Payment: a pending order holding the stock, and a PayPal order that returns to this dialect.
    let paid = geek.call(Method::POST, "/api/payments", &x, Some(json!({ "address": address() }))).await;
    assert_eq!(paid.status, StatusCode::CREATED, "{}", paid.body);
    let paypal_order = geek.paypal.orders().pop().expect("a PayPal order");
    assert_eq!(paid.body["order"]["link"]["rel"], "approve");
    assert!(paid.body["order"]["link"]["href"].as_str().unwrap().contains(&paypal_order.id));
    assert!(paypal_order.return_url.as_deref().unwrap().ends_with("/compat/geekmobile/api/payments/execute_payment"));
    assert!(paypal_order.cancel_url.as_deref().unwrap().ends_with("/compat/geekmobile/api/payments/cancel_payment"));
    assert_eq!(stock(app, &product).await, 3);
    let before = geek
        .call(Method::POST, "/api/auth", &[], Some(json!({ "email": "userDemo@example.com", "password": PASSWORD })))
        .await;
    assert_eq!(before.body["user"]["pucharses"], json!([]), "an unpaid order is no purchase yet");
    assert_eq!(before.body["user"]["basket"]["products"][0]["quantity"], 2, "the basket stays until paid");

    // Approved at PayPal; the buyer comes back (twice at once): captured once, redirected.
    geek.paypal.approve(&paypal_order.id).await;
    let path = format!("/api/payments/execute_payment?token={}&PayerID=PAYER1", paypal_order.id);
    let returns = join_all((0..2).map(|_| geek.get(&path, &[]))).await;
    for back in &returns {
        assert_eq!(back.status, StatusCode::FOUND, "{}", back.body);
        assert_eq!(location(back), format!("{FRONT}/checkout/execute_payment?id={}", paypal_order.id));
    }
    assert_eq!(geek.paypal.capture_count(), 1, "a double click captures once");

    // The purchase, in the user object and by id; the basket is empty.
    let again = geek
        .call(Method::POST, "/api/auth", &[], Some(json!({ "email": "userDemo@example.com", "password": PASSWORD })))
        .await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.body);
    assert_eq!(again.body["user"]["basket"], json!({ "products": [] }));
    let purchases = again.body["user"]["pucharses"].as_array().unwrap();
    assert_eq!(purchases.len(), 1, "{}", again.body);
    let purchase = &purchases[0];
    assert_eq!(purchase["address"], address());
    assert_eq!(purchase["amount"], 468.0);
    assert_eq!(purchase["delivery"]["status"], "PROGRESS");
    assert_eq!(purchase["products"][0]["id_product"], product.as_str());
    assert_eq!(purchase["products"][0]["quantity"], 2);
    assert_eq!(purchase["products"][0]["thumbnail"], "https://img.example/j6.webp");
    let id = purchase["id"].as_str().unwrap();
    let consulted = geek.get(&format!("/api/user/consult/order?orderId={id}"), &x).await;
    assert_eq!(consulted.status, StatusCode::OK, "{}", consulted.body);
    assert_eq!(&consulted.body, purchase);

    // Natively: the admin sees one paid PayPal order; the stock stays taken.
    let native = app.get(&format!("/api/v1/orders/{id}"), Some(&admin)).await;
    assert_eq!(native.status, StatusCode::OK, "{}", native.body);
    assert_eq!(native.body["data"]["status"], "paid");
    assert_eq!(native.body["data"]["paymentMethod"], "paypal");
    assert_eq!(native.body["data"]["events"].as_array().unwrap().iter().filter(|e| e["to"] == "paid").count(), 1);
    assert_eq!(stock(app, &product).await, 3);
}

async fn cancel_payment_restocks_and_sends_the_buyer_to_the_cart(geek: &Geek) {
    let app = &geek.app;
    let (admin, product) = seed(app).await;
    let token = sign_up(geek, "canceller").await;
    let x = [("x-token", token.as_str())];

    // PayPal sends the buyer back with a GET; the document says POST: both cancel.
    for method in [Method::GET, Method::POST] {
        let paypal = basket_and_pay(geek, &token, &product, 2).await;
        assert_eq!(stock(app, &product).await, 3);
        let back = geek.call(method, &format!("/api/payments/cancel_payment?token={paypal}"), &[], None).await;
        assert_eq!(back.status, StatusCode::FOUND, "{}", back.body);
        assert_eq!(location(&back), format!("{FRONT}/cart"));
        assert_eq!(stock(app, &product).await, 5, "the cancelled order gave its stock back");
        // A late approval and return take nothing.
        let late = geek.get(&format!("/api/payments/execute_payment?token={paypal}&PayerID=P"), &[]).await;
        assert_eq!(late.status, StatusCode::BAD_REQUEST, "{}", late.body);
        assert_eq!(geek.paypal.capture_count(), 0);
    }
    let orders = app.get("/api/v1/orders?limit=100", Some(&admin)).await;
    let statuses: Vec<&str> =
        orders.body["data"].as_array().unwrap().iter().map(|o| o["status"].as_str().unwrap()).collect();
    assert_eq!(statuses, ["cancelled", "cancelled"], "{}", orders.body);
    // The basket is still there to try again; no purchase was made.
    let renewed = geek.get("/api/auth/renew", &x).await;
    assert_eq!(renewed.body["user"]["basket"]["products"][0]["quantity"], 2, "{}", renewed.body);
    assert_eq!(renewed.body["user"]["pucharses"], json!([]));

    // Bad and missing tokens.
    assert_msg(
        &geek.get("/api/payments/cancel_payment?token=UNKNOWN", &[]).await,
        StatusCode::BAD_REQUEST,
        "The token is invalid",
    );
    assert_msg(
        &geek.get("/api/payments/execute_payment?token=UNKNOWN&PayerID=P", &[]).await,
        StatusCode::BAD_REQUEST,
        "The token is invalid",
    );
    for path in ["/api/payments/cancel_payment", "/api/payments/cancel_payment?token=", "/api/payments/execute_payment"]
    {
        assert_fields(
            &geek.get(path, &[]).await,
            StatusCode::BAD_REQUEST,
            "query",
            &[("token", "The token is required")],
        );
    }
}

async fn user_auth_answers_with_the_documented_messages(geek: &Geek) {
    let token = sign_up(geek, "demo").await;
    let again = geek
        .call(
            Method::POST,
            "/api/auth/new",
            &[],
            Some(json!({ "name": "Other", "email": "DEMO@example.com", "password": PASSWORD })),
        )
        .await;
    assert_msg(&again, StatusCode::BAD_REQUEST, "Un usuario ya existe con ese usuario");

    let sign_in = |email: &'static str, password: &'static str| {
        geek.call(Method::POST, "/api/auth", &[], Some(json!({ "email": email, "password": password })))
    };
    assert_msg(
        &sign_in("nobody@example.com", PASSWORD).await,
        StatusCode::BAD_REQUEST,
        "The user does not exist with that email",
    );
    assert_msg(&sign_in("demo@example.com", "WrongPass123!").await, StatusCode::BAD_REQUEST, "Wrong password");
    let ok = sign_in("demo@example.com", PASSWORD).await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
    assert_eq!(ok.body["user"]["name"], "demo Demo");

    // Neither answer is quicker: an unknown e-mail is checked against a dummy
    // hash. (Without it, that answer would skip Argon2 and be many times faster.)
    let mut unknown = Vec::new();
    let mut wrong = Vec::new();
    for _ in 0..3 {
        let started = std::time::Instant::now();
        sign_in("nobody@example.com", PASSWORD).await;
        unknown.push(started.elapsed());
        let started = std::time::Instant::now();
        sign_in("demo@example.com", "WrongPass123!").await;
        wrong.push(started.elapsed());
    }
    unknown.sort();
    wrong.sort();
    assert!(unknown[1] * 3 >= wrong[1], "unknown account {:?} vs wrong password {:?}", unknown, wrong);

    // Both failures are audited and counted alike (the failure counter is the sign-in policy's).
    let admin = geek.app.admin_token("auditor").await;
    let failed = geek.app.get("/api/v1/admin/audit-log?action=user.login_failed&limit=100", Some(&admin)).await;
    assert_eq!(failed.body["meta"]["total"], 8, "{}", failed.body);

    // renew: missing and invalid x-token are 400s; a live one gets a working token.
    assert_msg(&geek.get("/api/auth/renew", &[]).await, StatusCode::BAD_REQUEST, "x-token token is missing");
    assert_msg(
        &geek.get("/api/auth/renew", &[("x-token", "nonsense")]).await,
        StatusCode::BAD_REQUEST,
        "Invalid token",
    );
    let renewed = geek.get("/api/auth/renew", &[("x-token", &token)]).await;
    assert_eq!(renewed.status, StatusCode::OK, "{}", renewed.body);
    let fresh = renewed.body["user"]["token"].as_str().unwrap().to_string();
    assert_eq!(geek.get("/api/auth/renew", &[("x-token", &fresh)]).await.status, StatusCode::OK);
    // The same session as the native API: a native logout revokes the dialect's token too.
    let out = geek.app.post("/api/v1/users/logout", Some(&token), json!({})).await;
    assert!(out.status.is_success(), "{}", out.body);
    assert_msg(&geek.get("/api/auth/renew", &[("x-token", &fresh)]).await, StatusCode::BAD_REQUEST, "Invalid token");
}

async fn every_bad_input_is_named_in_the_validator_shape(geek: &Geek) {
    let app = &geek.app;
    let (_, product) = seed(app).await;
    let token = sign_up(geek, "tester").await;
    let x = [("x-token", token.as_str())];

    // Every missing address field, by its document name and message.
    let every = [
        ("address.firstName", "Name is required"),
        ("address.lastName", "Name is required"),
        ("address.address1", "The address1 field is required"),
        ("address.phoneNumber", "The phoneNumber is required"),
        ("address.countryRegion", "The countryRegion is required"),
        ("address.zip", "Zip code is required"),
        ("address.state", "State is required"),
        ("address.locality", "Locality is required"),
        ("address.sublocality", "sublocality is required"),
    ];
    let empty = geek.call(Method::POST, "/api/payments", &x, Some(json!({ "address": {} }))).await;
    assert_fields(&empty, StatusCode::BAD_REQUEST, "body", &every);
    let mut blank = address();
    blank["sublocality"] = json!("  ");
    blank["zip"] = json!("");
    let blanks = geek.call(Method::POST, "/api/payments", &x, Some(json!({ "address": blank }))).await;
    assert_eq!(blanks.status, StatusCode::BAD_REQUEST, "{}", blanks.body);
    assert!(blanks.body["errors"]["address.zip"].is_object(), "{}", blanks.body);
    let no_address = geek.call(Method::POST, "/api/payments", &x, Some(json!({}))).await;
    assert_eq!(no_address.status, StatusCode::BAD_REQUEST);
    assert!(no_address.body["errors"]["address"].is_object(), "{}", no_address.body);
    let control =
        geek.call(Method::POST, "/api/payments", &x, Some(json!({ "address": { "firstName": "a\u{0}b" } }))).await;
    assert_eq!(control.body["errors"]["address.firstName"]["msg"], "Name is required", "{}", control.body);
    // An empty basket cannot be paid; nothing was ordered.
    let nothing = geek.call(Method::POST, "/api/payments", &x, Some(json!({ "address": address() }))).await;
    assert_msg(&nothing, StatusCode::BAD_REQUEST, "The basket is empty");
    assert!(geek.paypal.orders().is_empty());

    // Basket ids: malformed (400, Mongo's words) and unknown (404).
    for bad in [json!("zzz"), json!(-1), json!(1.5), json!(null), json!({})] {
        let reply = geek.call(Method::PUT, "/api/user/update/add", &x, Some(json!({ "id": bad }))).await;
        assert_fields(&reply, StatusCode::BAD_REQUEST, "body", &[("id", BAD_ID)]);
    }
    let unknown = geek.call(Method::PUT, "/api/user/update/add", &x, Some(json!({ "id": "999999" }))).await;
    assert_msg(&unknown, StatusCode::NOT_FOUND, "There is no product with the provided id");
    for bad in [json!({}), json!({ "newBasket": "x" }), json!({ "newBasket": null })] {
        let reply = geek.call(Method::PUT, "/api/user/update/basket", &x, Some(bad)).await;
        assert_fields(&reply, StatusCode::BAD_REQUEST, "body", &[("newBasket", "newBasket cannot be empty")]);
    }
    let bad_line = geek
        .call(
            Method::PUT,
            "/api/user/update/basket",
            &x,
            Some(json!({ "newBasket": [{ "id_product": "x", "quantity": 0 }] })),
        )
        .await;
    assert_fields(
        &bad_line,
        StatusCode::BAD_REQUEST,
        "body",
        &[
            ("newBasket[0].id_product", BAD_ID),
            ("newBasket[0].quantity", "The quantity must be an integer from 1 to 1000"),
        ],
    );
    // An unknown product in a replacement changes nothing.
    geek.call(Method::PUT, "/api/user/update/add", &x, Some(json!({ "id": product }))).await;
    let mixed =
        json!({ "newBasket": [{ "id_product": product, "quantity": 3 }, { "id_product": "424242", "quantity": 1 }] });
    let refused = geek.call(Method::PUT, "/api/user/update/basket", &x, Some(mixed)).await;
    assert_msg(&refused, StatusCode::NOT_FOUND, "There is no product with the provided id");
    let kept = geek.get("/api/auth/renew", &x).await;
    assert_eq!(kept.body["user"]["basket"]["products"][0]["quantity"], 1, "{}", kept.body);

    // Catalog queries and params.
    for path in ["/api/search", "/api/search?query=", "/api/search?query=%20"] {
        let reply = geek.get(path, &[]).await;
        assert_fields(
            &reply,
            StatusCode::BAD_REQUEST,
            "query",
            &[("query", "The \"query\" parameter must have at least 1 character")],
        );
    }
    for name in ["NOPE", "123", "%01"] {
        let reply = geek.get(&format!("/api/products/category/{name}"), &[]).await;
        assert_fields(
            &reply,
            StatusCode::NOT_FOUND,
            "params",
            &[("category", "The category param is mandatory and must be valid")],
        );
    }
    assert_fields(
        &geek.get("/api/products/unique?id=abc", &[]).await,
        StatusCode::BAD_REQUEST,
        "query",
        &[("id", BAD_ID)],
    );
    assert_fields(&geek.get("/api/products/unique", &[]).await, StatusCode::BAD_REQUEST, "query", &[("id", BAD_ID)]);
    assert_msg(
        &geek.get("/api/products/unique?id=999999", &[]).await,
        StatusCode::NOT_FOUND,
        "The product does not exist with the provided identifier",
    );
    let extra = geek.get(&format!("/api/products/unique?id={product}&debug=1"), &[]).await;
    assert_eq!(extra.status, StatusCode::BAD_REQUEST, "{}", extra.body);
    assert!(extra.body["errors"]["debug"].is_object(), "{}", extra.body);

    // Sign-up's fields, each named.
    let bad_sign_up = geek
        .call(
            Method::POST,
            "/api/auth/new",
            &[],
            Some(json!({ "name": "", "email": "not-an-email", "password": "short" })),
        )
        .await;
    assert_eq!(bad_sign_up.status, StatusCode::BAD_REQUEST, "{}", bad_sign_up.body);
    let named: Vec<&String> = bad_sign_up.body["errors"].as_object().unwrap().keys().collect();
    assert_eq!(named.len(), 3, "{}", bad_sign_up.body);
    let stray = geek
        .call(Method::POST, "/api/auth", &[], Some(json!({ "email": "a@b.co", "password": "x", "role": "admin" })))
        .await;
    assert!(stray.body["errors"]["role"].is_object(), "{}", stray.body);

    // The HTTP exchange itself: not JSON, malformed JSON, unknown paths, wrong methods.
    let text = app
        .client
        .post(app.url(&format!("{BASE}/api/auth")))
        .header("content-type", "text/plain")
        .body("email=a")
        .send()
        .await
        .unwrap();
    let text = Reply::read(text).await;
    assert_eq!(text.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(text.body["ok"], false);
    assert!(text.body["msg"].is_string(), "{}", text.body);
    let malformed = app
        .client
        .post(app.url(&format!("{BASE}/api/auth")))
        .header("content-type", "application/json")
        .body("{\"email\":")
        .send()
        .await
        .unwrap();
    let malformed = Reply::read(malformed).await;
    assert_eq!(malformed.status, StatusCode::BAD_REQUEST);
    assert_eq!(malformed.body["ok"], false, "{}", malformed.body);
    assert_msg(&geek.get("/api/nowhere", &[]).await, StatusCode::NOT_FOUND, "Route not found");
    let wrong = geek.call(Method::DELETE, "/api/products", &[], None).await;
    assert_msg(&wrong, StatusCode::METHOD_NOT_ALLOWED, "Method not allowed on this route");
}

async fn orders_are_private_across_users_and_open_to_admins(geek: &Geek) {
    let app = &geek.app;
    let (admin, product) = seed(app).await;
    let owner = sign_up(geek, "owner").await;
    let other = sign_up(geek, "other").await;
    let paypal = basket_and_pay(geek, &owner, &product, 1).await;
    geek.paypal.approve(&paypal).await;
    let back = geek.get(&format!("/api/payments/execute_payment?token={paypal}&PayerID=P"), &[]).await;
    assert_eq!(back.status, StatusCode::FOUND, "{}", back.body);
    let id = geek.get("/api/auth/renew", &[("x-token", &owner)]).await.body["user"]["pucharses"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();

    let path = format!("/api/user/consult/order?orderId={id}");
    assert_eq!(geek.get(&path, &[("x-token", &owner)]).await.status, StatusCode::OK);
    assert_msg(
        &geek.get(&path, &[("x-token", &other)]).await,
        StatusCode::FORBIDDEN,
        "You are not authorized to read the transaction",
    );
    assert_eq!(geek.get("/api/auth/renew", &[("x-token", &other)]).await.body["user"]["pucharses"], json!([]));
    assert_msg(
        &geek.get("/api/user/consult/order?orderId=999999", &[("x-token", &owner)]).await,
        StatusCode::NOT_FOUND,
        "No order found",
    );
    assert_msg(
        &geek.get("/api/user/consult/order?orderId=abc", &[("x-token", &owner)]).await,
        StatusCode::NOT_FOUND,
        "No order found",
    );
    assert_msg(&geek.get(&path, &[]).await, StatusCode::BAD_REQUEST, "x-token token is missing");
    // An admin's token reads any order; natively the other user still cannot.
    assert_eq!(geek.get(&path, &[("x-token", &admin)]).await.status, StatusCode::OK);
    app.get(&format!("/api/v1/orders/{id}"), Some(&other)).await.assert_error(StatusCode::NOT_FOUND, "NOT_FOUND");
    // Another user's basket is their own.
    let theirs = geek.get("/api/auth/renew", &[("x-token", &other)]).await;
    assert_eq!(theirs.body["user"]["basket"], json!({ "products": [] }));
}

async fn admin_auth_needs_the_static_secret_and_signs_admins_only(geek: &Geek) {
    let app = &geek.app;
    let auth = |headers: Vec<(&'static str, String)>, body: Value| async move {
        let headers: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
        geek.call(Method::POST, "/api/admin/auth", &headers, Some(body)).await
    };
    let creation = json!({ "name": "admin", "email": "admin@example.com", "password": PASSWORD });
    assert_msg(&auth(vec![], creation.clone()).await, StatusCode::UNAUTHORIZED, "Authorization token is missing");
    let wrong = vec![("authorization", "not-the-secret".to_string())];
    assert_msg(&auth(wrong, creation.clone()).await, StatusCode::UNAUTHORIZED, "Invalid token Authorization");
    let secret = || vec![("authorization", ADMIN_SECRET.to_string())];

    let created = auth(secret(), creation.clone()).await;
    assert_eq!(created.status, StatusCode::OK, "{}", created.body);
    assert_eq!(created.body["user"]["name"], "admin");
    assert!(created.body["user"]["uid"].is_string() && created.body["user"]["token"].is_string(), "{}", created.body);
    assert_msg(&auth(secret(), creation).await, StatusCode::BAD_REQUEST, "The user already exists with that email");
    let weak = auth(secret(), json!({ "name": "x", "email": "weak@example.com", "password": "weak" })).await;
    assert!(weak.body["errors"]["password"].is_object(), "{}", weak.body);

    let signed = auth(secret(), json!({ "email": "admin@example.com", "password": PASSWORD })).await;
    assert_eq!(signed.status, StatusCode::OK, "{}", signed.body);
    assert_eq!(signed.body["user"]["name"], "admin");
    let token = signed.body["user"]["token"].as_str().unwrap().to_string();
    // The new account is a native admin too, and its creation is in the audit log.
    let audit = app.get("/api/v1/admin/audit-log?action=user.admin_created&limit=100", Some(&token)).await;
    assert_eq!(audit.status, StatusCode::OK, "{}", audit.body);
    assert_eq!(audit.body["meta"]["total"], 1);
    assert_eq!(audit.body["data"][0]["details"]["by"], "geekmobile_admin_secret", "{}", audit.body);

    let bad_password = auth(secret(), json!({ "email": "admin@example.com", "password": "WrongPass123!" })).await;
    assert_msg(&bad_password, StatusCode::BAD_REQUEST, "Wrong password");
    let nobody = auth(secret(), json!({ "email": "nobody@example.com", "password": PASSWORD })).await;
    assert_msg(&nobody, StatusCode::BAD_REQUEST, "The user does not exist with that email");
    // A customer's account is no admin here, whatever its password.
    sign_up(geek, "customer").await;
    let customer = auth(secret(), json!({ "email": "customer@example.com", "password": PASSWORD })).await;
    assert_msg(&customer, StatusCode::BAD_REQUEST, "The user does not exist with that email");
}

async fn admin_auth_is_refused_when_no_secret_is_configured(geek: &Geek) {
    let body = json!({ "name": "admin", "email": "admin@example.com", "password": PASSWORD });
    for secret in ["", "anything-at-all-0123456789"] {
        let headers: Vec<(&str, &str)> = if secret.is_empty() { vec![] } else { vec![("authorization", secret)] };
        let reply = geek.call(Method::POST, "/api/admin/auth", &headers, Some(body.clone())).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{}", reply.body);
        assert_eq!(reply.body["ok"], false);
    }
    assert!(geek.app.store.user_by_email_key("admin@example.com").await.unwrap().is_none(), "nothing was created");
}

async fn admin_products_and_user_deletion_follow_the_document(geek: &Geek) {
    let app = &geek.app;
    let (native_admin, _) = seed(app).await;
    let created = geek
        .call(
            Method::POST,
            "/api/admin/auth",
            &[("authorization", ADMIN_SECRET)],
            Some(json!({ "name": "admin", "email": "admin@example.com", "password": PASSWORD })),
        )
        .await;
    let admin = created.body["user"]["token"].as_str().unwrap().to_string();
    let user = sign_up(geek, "victim").await;
    let body = json!({
        "name": "Smartphone Samsung Galaxy A14", "description": "El Smartphone Samsung Galaxy A14",
        "thumbnail": "https://img.example/a14.webp", "value": 2342, "category": "COMPONENTS",
        "keywords": ["Telefono", "Samsung"], "stock": 2,
    });

    // Who may: no token, a user's token, a bogus one; an admin's (this dialect's or native).
    let post = |token: Option<&str>, body: Value| {
        let headers: Vec<(&str, &str)> = token.map(|t| vec![("authorization", t)]).unwrap_or_default();
        let headers: Vec<(String, String)> = headers.into_iter().map(|(a, b)| (a.to_string(), b.to_string())).collect();
        async move {
            let headers: Vec<(&str, &str)> = headers.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
            geek.call(Method::POST, "/api/admin/products", &headers, Some(body)).await
        }
    };
    assert_msg(&post(None, body.clone()).await, StatusCode::UNAUTHORIZED, "Authorization token is missing");
    assert_msg(&post(Some(&user), body.clone()).await, StatusCode::UNAUTHORIZED, "Invalid token Authorization");
    assert_msg(&post(Some("bogus"), body.clone()).await, StatusCode::UNAUTHORIZED, "Invalid token Authorization");
    assert_msg(&post(Some(ADMIN_SECRET), body.clone()).await, StatusCode::UNAUTHORIZED, "Invalid token Authorization");

    let saved = post(Some(&admin), body.clone()).await;
    assert_eq!(saved.status, StatusCode::CREATED, "{}", saved.body);
    assert_eq!(saved.body["data"]["msg"], "The product was successfully saved");
    assert_eq!(saved.body["data"]["name"], "Smartphone Samsung Galaxy A14");
    let id = saved.body["data"]["id"].as_str().unwrap().to_string();
    let bearer = format!("Bearer {native_admin}");
    let also = post(Some(&bearer), body.clone()).await;
    assert_eq!(also.status, StatusCode::CREATED, "{}", also.body);
    // Natively visible, at the price given.
    let native = app.get(&format!("/api/v1/products/{id}"), None).await;
    assert_eq!(native.status, StatusCode::OK, "{}", native.body);
    assert_eq!(native.body["data"]["name"], "Smartphone Samsung Galaxy A14");
    assert_eq!(native.body["data"]["stock"], 2);

    // Every field's documented error, at once.
    let bad = post(
        Some(&admin),
        json!({ "description": "short", "thumbnail": "not a url", "value": "x", "category": "NOPE", "stock": "many" }),
    )
    .await;
    assert_fields(
        &bad,
        StatusCode::BAD_REQUEST,
        "body",
        &[
            ("name", "The name is required"),
            ("description", "The description is required and must have a minimum of 6 characters"),
            ("thumbnail", "the thumbnail must be a URL"),
            ("value", "The value is required and must be of type number"),
            ("stock", "Stock is required and must be of type Number"),
        ],
    );
    let mut unknown_category = body.clone();
    unknown_category["category"] = json!("NOPE");
    assert_fields(
        &post(Some(&admin), unknown_category).await,
        StatusCode::BAD_REQUEST,
        "body",
        &[("category", "The category does not exist")],
    );

    // PATCH takes the id and a partial body; DELETE removes it.
    let auth = [("authorization", admin.as_str())];
    let patched = geek
        .call(
            Method::PATCH,
            &format!("/api/admin/products?id={id}"),
            &auth,
            Some(json!({ "value": 720.02, "stock": 7 })),
        )
        .await;
    assert_eq!(patched.status, StatusCode::OK, "{}", patched.body);
    assert_eq!(patched.body["data"]["product"]["value"], 720.02);
    assert_eq!(patched.body["data"]["product"]["stock"], 7);
    assert_eq!(patched.body["data"]["product"]["name"], "Smartphone Samsung Galaxy A14");
    let short = geek
        .call(Method::PATCH, &format!("/api/admin/products?id={id}"), &auth, Some(json!({ "description": "tiny" })))
        .await;
    assert_fields(
        &short,
        StatusCode::BAD_REQUEST,
        "body",
        &[("description", "The description is required and must have a minimum of 6 characters")],
    );
    let missing = geek.call(Method::PATCH, "/api/admin/products?id=999999", &auth, Some(json!({ "stock": 1 }))).await;
    assert_msg(&missing, StatusCode::NOT_FOUND, "There is no product with the provided id");
    assert_fields(
        &geek.call(Method::DELETE, "/api/admin/products?id=abc", &auth, None).await,
        StatusCode::BAD_REQUEST,
        "query",
        &[("id", BAD_ID)],
    );
    let removed = geek.call(Method::DELETE, &format!("/api/admin/products?id={id}"), &auth, None).await;
    assert_eq!(removed.body, json!({ "ok": true, "msg": "The product was successfully removed" }));
    let twice = geek.call(Method::DELETE, &format!("/api/admin/products?id={id}"), &auth, None).await;
    assert_msg(&twice, StatusCode::NOT_FOUND, "There is no product with the provided id");
    assert_eq!(app.get(&format!("/api/v1/products/{id}"), None).await.status, StatusCode::NOT_FOUND);

    // Deleting a user by e-mail: their sessions end with the account.
    let delete = |token: &str, body: Value| {
        let token = token.to_string();
        async move {
            geek.call(Method::DELETE, "/api/admin/delete/user", &[("authorization", token.as_str())], Some(body)).await
        }
    };
    assert_msg(
        &delete(&user, json!({ "email": "victim@example.com" })).await,
        StatusCode::UNAUTHORIZED,
        "Invalid token Authorization",
    );
    let gone = delete(&admin, json!({ "email": "victim@example.com" })).await;
    assert_eq!(gone.body, json!({ "ok": true, "msg": "The user was deleted successfully" }), "{}", gone.body);
    assert_msg(&geek.get("/api/auth/renew", &[("x-token", &user)]).await, StatusCode::BAD_REQUEST, "Invalid token");
    assert_msg(
        &delete(&admin, json!({ "email": "victim@example.com" })).await,
        StatusCode::NOT_FOUND,
        "The user does not exist with that email",
    );
    let bad_email = delete(&admin, json!({ "email": "nope" })).await;
    assert_fields(&bad_email, StatusCode::BAD_REQUEST, "body", &[("email", "The email is required and must be valid")]);
}

async fn paypal_down_is_502_and_gives_the_stock_back(geek: &Geek) {
    let app = &geek.app;
    let (admin, product) = seed(app).await;
    let token = sign_up(geek, "unlucky").await;
    let x = [("x-token", token.as_str())];
    let basket = json!({ "newBasket": [{ "id_product": product, "quantity": 2 }] });
    geek.call(Method::PUT, "/api/user/update/basket", &x, Some(basket)).await;
    geek.paypal.set_outage(Outage::Unavailable).await;
    let refused = geek.call(Method::POST, "/api/payments", &x, Some(json!({ "address": address() }))).await;
    assert_eq!(refused.status, StatusCode::BAD_GATEWAY, "{}", refused.body);
    assert_eq!(refused.body["ok"], false);
    assert!(refused.body["msg"].is_string(), "{}", refused.body);
    assert_eq!(stock(app, &product).await, 5, "no PayPal order, so no stock held");
    let orders = app.get("/api/v1/orders?limit=100", Some(&admin)).await;
    assert_eq!(orders.body["data"][0]["status"], "cancelled", "{}", orders.body);
    let kept = geek.get("/api/auth/renew", &x).await;
    assert_eq!(kept.body["user"]["basket"]["products"][0]["quantity"], 2, "{}", kept.body);

    // A body over the limit is refused in the document's shape too.
    let huge = "x".repeat(2 * 1024 * 1024);
    let too_big = geek.call(Method::POST, "/api/auth", &[], Some(json!({ "email": huge, "password": "p" }))).await;
    assert_eq!(too_big.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(too_big.body["ok"], false, "{}", too_big.body);
}
