//! The OpenAPI document, assembled from the route annotations and the
//! request types (which generate their own schemas; see [`crate::extract`]).
//!
//! What every operation shares is added here once, so no route can forget
//! it: the error responses the layers in front of every handler give (400
//! for a malformed request, 413 and 415 for bodies, 401 where a token is
//! read, 429 from the rate limit), and the links between operations that let
//! a client (or schemathesis' stateful tests) follow `data._id` from one
//! answer into the next request.

use utoipa::openapi::link::LinkBuilder;
use utoipa::openapi::path::Operation;
use utoipa::openapi::response::{Response, ResponseBuilder};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref, RefOr};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(title = "Emporium", description = "The native Emporium API. Every success is wrapped in `{statusCode, data, message, success}`; every error in `{success: false, error: {code, message, details}}`. Paths carry their `/api/v1` prefix, so the server's own origin is the base URL."),
    modifiers(&BearerAuth),
    tags((name = "accounts", description = "Registration, sign-in and the caller's account"), (name = "admin", description = "Users and the audit log, for admins"), (name = "catalog", description = "Products and categories: read by anyone, written by admins"), (name = "cart", description = "A signed-in user's cart, or a guest's by X-Cart-Key"), (name = "orders", description = "Placing orders and their lifecycle"), (name = "payments", description = "Checkout through Stripe, PayPal, the test page or manual payment; provider webhooks and returns; refunds"))
)]
pub struct ApiDoc;

/// Completes the document once every route is in it (what every operation
/// shares, and the links between them) and renders it as served.
/// `payment_methods` are the ones this server takes: checkout accepts only
/// those, so the document names only those (a generated client then never
/// offers a provider the server would refuse).
pub fn finish(mut openapi: utoipa::openapi::OpenApi, payment_methods: &[&str]) -> serde_json::Value {
    SharedResponses.modify(&mut openapi);
    Links.modify(&mut openapi);
    let mut document = serde_json::to_value(&openapi).expect("the document serializes");
    fix_link_names(&mut document);
    optional_bodies_are_objects(&mut document);
    if let Some(provider) = document.pointer_mut("/components/schemas/CheckoutRequest/properties/provider") {
        provider["enum"] = serde_json::json!(payment_methods);
    }
    document
}

/// utoipa documents an optional body (`request_body = Option<T>`) as "`T` or
/// `null`"; what the server takes is `T`, or no body at all (`required` false).
fn optional_bodies_are_objects(document: &mut serde_json::Value) {
    let Some(paths) = document.get_mut("paths").and_then(|p| p.as_object_mut()) else { return };
    for item in paths.values_mut().filter_map(|i| i.as_object_mut()) {
        for operation in item.values_mut() {
            let Some(body) = operation.get_mut("requestBody") else { continue };
            if body.get("required") == Some(&serde_json::Value::Bool(true)) {
                continue;
            }
            let Some(schema) = body.pointer_mut("/content/application~1json/schema") else { continue };
            let Some(variants) = schema.get("oneOf").and_then(|v| v.as_array()) else { continue };
            let object: Vec<&serde_json::Value> =
                variants.iter().filter(|v| v.get("type") != Some(&serde_json::json!("null"))).collect();
            if variants.len() == 2 && object.len() == 1 {
                *schema = object[0].clone();
            }
        }
    }
}

/// utoipa 5 writes a Link's members in snake case (`operation_id`); the
/// specification spells them `operationId`, `operationRef`, `requestBody`.
fn fix_link_names(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Object(map) => {
            if let Some(serde_json::Value::Object(links)) = map.get_mut("links") {
                for link in links.values_mut() {
                    if let serde_json::Value::Object(link) = link {
                        for (from, to) in [
                            ("operation_id", "operationId"),
                            ("operation_ref", "operationRef"),
                            ("request_body", "requestBody"),
                        ] {
                            if let Some(v) = link.remove(from) {
                                link.insert(to.to_string(), v);
                            }
                        }
                    }
                }
            }
            map.values_mut().for_each(fix_link_names);
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(fix_link_names),
        _ => {}
    }
}

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).bearer_format("JWT").build()),
        );
    }
}

fn error_response(description: &str) -> RefOr<Response> {
    ResponseBuilder::new()
        .description(description)
        .content("application/json", ContentBuilder::new().schema(Some(Ref::from_schema_name("ErrorEnvelope"))).build())
        .build()
        .into()
}

/// The native API's operations (a dialect under `/compat` documents its own
/// errors and envelope, so nothing shared is added to it).
fn operations(openapi: &mut utoipa::openapi::OpenApi) -> impl Iterator<Item = &mut Operation> {
    openapi.paths.paths.iter_mut().filter(|(path, _)| !path.starts_with("/compat/")).flat_map(|(_, item)| {
        [&mut item.get, &mut item.put, &mut item.post, &mut item.delete, &mut item.patch]
            .into_iter()
            .filter_map(Option::as_mut)
    })
}

/// The errors any operation can get before (or besides) its handler.
struct SharedResponses;

impl Modify for SharedResponses {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for operation in operations(openapi) {
            let has_body = operation.request_body.is_some();
            let has_params = operation.parameters.as_ref().is_some_and(|p| !p.is_empty());
            let reads_token = operation.security.as_ref().is_some_and(|s| !s.is_empty());
            let responses = &mut operation.responses.responses;
            let mut add = |status: &str, description: &str| {
                responses.entry(status.to_string()).or_insert_with(|| error_response(description));
            };
            if has_body || has_params {
                add("400", "A malformed request: every bad field is named in `details`");
            }
            if reads_token {
                add("401", "A token that is not valid (or none, where one is required)");
            }
            if has_body {
                add("413", "The body is larger than the configured limit");
                add("415", "The body is not JSON");
            }
            add("429", "Over the rate limit; `Retry-After` says when to come back");
        }
    }
}

/// Where one operation's answer names what the next one needs.
struct Links;

/// `(from operationId, status, link name, to operationId, parameters, request body)`.
type LinkSpec = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static [(&'static str, &'static str)],
    Option<&'static str>,
);

const LINKS: &[LinkSpec] = &[
    (
        "register",
        "201",
        "login",
        "login",
        &[],
        Some(r#"{"email": "$request.body#/email", "password": "$request.body#/password"}"#),
    ),
    ("register", "201", "changeRole", "change_user_role", &[("id", "$response.body#/data/_id")], None),
    ("register", "201", "deleteUser", "delete_user", &[("id", "$response.body#/data/_id")], None),
    ("create_product", "201", "getProduct", "get_product", &[("id", "$response.body#/data/_id")], None),
    ("create_product", "201", "replaceProduct", "replace_product", &[("id", "$response.body#/data/_id")], None),
    ("create_product", "201", "updateProduct", "update_product", &[("id", "$response.body#/data/_id")], None),
    ("create_product", "201", "deleteProduct", "delete_product", &[("id", "$response.body#/data/_id")], None),
    (
        "create_product",
        "201",
        "addToCart",
        "add_cart_item",
        &[],
        Some(r#"{"productId": "$response.body#/data/_id", "quantity": 1}"#),
    ),
    (
        "create_product",
        "201",
        "order",
        "place_order",
        &[],
        Some(
            r#"{"items": [{"productId": "$response.body#/data/_id", "quantity": 1}], "shippingAddress": {"firstName": "Ada", "lastName": "Lovelace", "address1": "12 Analytical St", "city": "London", "postcode": "N1 9GU", "country": "GB", "phone": "+44 20 7946 0000"}}"#,
        ),
    ),
    ("create_category", "201", "getCategory", "get_category", &[("id", "$response.body#/data/_id")], None),
    ("create_category", "201", "replaceCategory", "replace_category", &[("id", "$response.body#/data/_id")], None),
    ("create_category", "201", "updateCategory", "update_category", &[("id", "$response.body#/data/_id")], None),
    ("create_category", "201", "deleteCategory", "delete_category", &[("id", "$response.body#/data/_id")], None),
    (
        "create_category",
        "201",
        "categoryProducts",
        "list_category_products",
        &[("id", "$response.body#/data/_id")],
        None,
    ),
    ("add_cart_item", "200", "changeLine", "update_cart_item", &[("productId", "$request.body#/productId")], None),
    ("add_cart_item", "200", "removeLine", "remove_cart_item", &[("productId", "$request.body#/productId")], None),
    ("place_order", "201", "getOrder", "get_order", &[("id", "$response.body#/data/_id")], None),
    ("place_order", "201", "cancelOrder", "cancel_order", &[("id", "$response.body#/data/_id")], None),
    ("place_order", "201", "changeStatus", "change_order_status", &[("id", "$response.body#/data/_id")], None),
];

impl Modify for Links {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for operation in operations(openapi) {
            let Some(id) = operation.operation_id.clone() else { continue };
            for (_, status, name, target, parameters, body) in LINKS.iter().filter(|l| l.0 == id) {
                let Some(RefOr::T(response)) = operation.responses.responses.get_mut(*status) else {
                    panic!("{id} has no {status} response to link from");
                };
                let mut link = LinkBuilder::new().operation_id(*target);
                for (parameter, value) in *parameters {
                    link = link.parameter(*parameter, *value);
                }
                if let Some(body) = body {
                    let body: serde_json::Value = serde_json::from_str(body).expect("link bodies are JSON");
                    link = link.request_body(Some(body));
                }
                response.links.insert((*name).to_string(), link.build().into());
            }
        }
    }
}
