//! `/orders`: placing orders (from items or the cart), reading them, and
//! moving them through their lifecycle.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use emporium_domain::Error;
use emporium_domain::account::Email;
use emporium_domain::ids::OrderId;
use emporium_domain::orders::{OrderStatus, Quantity};
use emporium_domain::time::Timestamp;
use emporium_service::orders::{OrderRequest, Viewer};
use emporium_store::OrderFilter;
use serde::Deserialize;
use serde_json::Value;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::envelope::{Envelope, ListMeta, Reply};
use crate::error::{ApiResult, ErrorEnvelope};
use crate::extract::{
    AdminAuth, Auth, CartKey, ClientIp, Fields, JsonObject, MaybeAuth, OptionalJsonObject, OrderToken, Params,
};
use crate::routes::accounts::parse_address;
use crate::views::{AddressSchema, OrderView};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(place_order, list_orders))
        .routes(routes!(get_order))
        .routes(routes!(cancel_order))
        .routes(routes!(change_order_status))
}

pub(crate) fn order_id(raw: &str) -> Result<OrderId, Error> {
    raw.parse().map_err(|_| Error::NotFound("Order not found".into()))
}

/// JSON with object keys sorted, so the same body always hashes the same.
fn canonical(value: &Value) -> String {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            let fields: Vec<String> =
                keys.into_iter().map(|k| format!("{}:{}", Value::String(k.clone()), canonical(&map[k]))).collect();
            format!("{{{}}}", fields.join(","))
        }
        Value::Array(items) => format!("[{}]", items.iter().map(canonical).collect::<Vec<_>>().join(",")),
        other => other.to_string(),
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
pub struct OrderLineRequest {
    product_id: String,
    quantity: i64,
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
pub struct PlaceOrderRequest {
    /// The lines to buy; when absent, the caller's cart is ordered (and emptied).
    items: Option<Vec<OrderLineRequest>>,
    shipping_address: AddressSchema,
    /// Required for guests; defaults to the account's e-mail.
    email: Option<String>,
    /// At most 1000 characters.
    notes: Option<String>,
}

/// Place an order. Stock for every line is taken at once, or none is: two
/// buyers can never get more than the shop has. With `Idempotency-Key`, a
/// retry returns the first order (24 h), and the same key with a different
/// body gets 409. A guest's order comes with `orderToken`, shown only in this
/// answer: it is what reads and cancels the order later. A guest's retry
/// gets a fresh token, and the earlier one stops working.
#[utoipa::path(post, path = "/orders", tag = "orders", request_body = PlaceOrderRequest,
    params(("Idempotency-Key" = Option<String>, Header), ("X-Cart-Key" = Option<String>, Header, description = "a guest's cart, when ordering from it")),
    responses((status = 201, body = Envelope<OrderView>), (status = 400, body = ErrorEnvelope), (status = 401, body = ErrorEnvelope),
        (status = 404, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope)))]
async fn place_order(
    State(state): State<AppState>,
    ip: ClientIp,
    auth: MaybeAuth,
    key: CartKey,
    headers: HeaderMap,
    JsonObject(body): JsonObject,
) -> ApiResult<Response> {
    let request_hash = emporium_service::tokens::hash_token(&canonical(&Value::Object(body.clone())));
    let mut f = Fields::new(body);
    let items = f.optional_array("items").map(|raw| {
        let mut lines = Vec::with_capacity(raw.len());
        for (i, item) in raw.into_iter().enumerate() {
            let name = format!("items[{i}]");
            let Value::Object(map) = item else {
                f.error(&name, "must be an object with productId and quantity");
                continue;
            };
            let mut line = Fields::nested(map, &name);
            let product = match line.nullable_key("productId") {
                Some(Some(raw)) => raw.parse().map_err(|_| line.error("productId", "must be a product id")).ok(),
                _ => {
                    line.error("productId", "is required");
                    None
                }
            };
            let quantity = line
                .required_i64("quantity")
                .and_then(|q| Quantity::new(q).map_err(|e| line.error("quantity", e)).ok());
            f.absorb(line);
            if let (Some(p), Some(q)) = (product, quantity) {
                lines.push((p, q));
            }
        }
        lines
    });
    let address = f.required_object("shippingAddress").and_then(|nested| parse_address(&mut f, nested));
    let email = f.optional_str("email");
    let email = f.parse("email", email, Email::parse);
    let notes = f.optional_str("notes").map(|n| n.trim().to_string()).filter(|n| !n.is_empty());
    if notes.as_ref().is_some_and(|n| n.chars().count() > 1000) {
        f.error("notes", "must be at most 1000 characters");
    }
    let idempotency_key = match headers.get("idempotency-key").map(|v| v.to_str().map(str::trim)) {
        None => None,
        Some(Ok(k)) if !k.is_empty() && k.len() <= 255 => Some(k.to_string()),
        Some(_) => {
            f.error("Idempotency-Key", "must be 1 to 255 visible ASCII characters");
            None
        }
    };
    f.finish()?;
    let request = OrderRequest {
        items,
        shipping_address: address.expect("checked"),
        email,
        notes,
        idempotency_key,
        request_hash,
    };
    let cart = match request.items {
        Some(_) => None,
        None => state.services.carts.existing(auth.0.as_ref(), key.0.as_deref()).await?,
    };
    let placed = state.services.orders.place(auth.0.as_ref(), cart, request, &ip.context()).await?;
    let view = OrderView { order_token: placed.access_token, ..OrderView::from(&placed.order) };
    let mut response = Reply::created(view, "Order placed successfully").into_response();
    if placed.replayed {
        response.headers_mut().insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    Ok(response)
}

/// Your orders, newest first; an admin sees everyone's and can filter by user.
#[utoipa::path(get, path = "/orders", tag = "orders", security(("bearer" = [])),
    params(("page" = Option<u32>, Query), ("limit" = Option<u32>, Query), ("status" = Option<String>, Query), ("userId" = Option<String>, Query, description = "admins only"),
        ("from" = Option<String>, Query, description = "placed at or after (RFC 3339 or YYYY-MM-DD)"), ("to" = Option<String>, Query, description = "placed before")),
    responses((status = 200, body = Envelope<Vec<OrderView>>), (status = 400, body = ErrorEnvelope), (status = 401, body = ErrorEnvelope), (status = 403, body = ErrorEnvelope)))]
async fn list_orders(
    State(state): State<AppState>,
    Auth(principal): Auth,
    mut q: Params,
) -> ApiResult<Reply<Vec<OrderView>>> {
    let page = q.page(10);
    let filter = OrderFilter {
        status: q.parse("status", OrderStatus::parse),
        user_id: q.parse("userId", |s| s.parse().map_err(|_| "must be a user id".to_string())),
        since: q.parse("from", Timestamp::parse),
        until: q.parse("to", Timestamp::parse),
        search: None,
    };
    q.finish()?;
    let (orders, total) = state.services.orders.list(&principal, filter, page).await?;
    Ok(Reply::list(
        orders.iter().map(OrderView::from).collect(),
        ListMeta::new(page, total),
        "Orders fetched successfully",
    ))
}

/// The signed-in caller, or a guest holding the order's access token. A
/// caller with neither is no one an order could belong to.
pub(crate) fn viewer(auth: MaybeAuth, token: Option<String>) -> Result<Viewer, Error> {
    match (auth.0, token) {
        (Some(principal), _) => Ok(Viewer::Signed(principal)),
        (None, Some(token)) => Ok(Viewer::Guest { token }),
        (None, None) => Err(Error::NotFound("Order not found".into())),
    }
}

/// `email` was once a guest's proof; it proves nothing now but is still
/// read, so an old link gets the same 404 as a wrong token, not a 400.
const IGNORED_EMAIL: &str = "email";

/// One order with its status history: to its owner, an admin, or a guest
/// with the order's access token (`X-Order-Token`, or `?token=` as in the
/// order's link). Anyone else, a guest naming only the e-mail included, gets 404.
#[utoipa::path(get, path = "/orders/{id}", tag = "orders", params(("id" = String, Path),
        ("X-Order-Token" = Option<String>, Header, description = "a guest's order token, from the answer that placed the order"),
        ("token" = Option<String>, Query, description = "the same token, as in the order's link")),
    responses((status = 200, body = Envelope<OrderView>), (status = 404, body = ErrorEnvelope)))]
async fn get_order(
    State(state): State<AppState>,
    auth: MaybeAuth,
    OrderToken(header): OrderToken,
    Path(id): Path<String>,
    mut q: Params,
) -> ApiResult<Reply<OrderView>> {
    let token = q.str("token");
    q.ignore(IGNORED_EMAIL);
    q.finish()?;
    let order = state.services.orders.get(&viewer(auth, header.or(token))?, order_id(&id)?).await?;
    Ok(Reply::ok(OrderView::from(&order), "Order fetched successfully"))
}

#[derive(Deserialize, ToSchema)]
#[allow(dead_code)]
pub struct CancelRequest {
    /// For guests: the order token from the answer that placed the order
    /// (or send it as `X-Order-Token`, or `?token=`).
    token: Option<String>,
}

/// Cancel an order (owner, admin, or a guest with its order token) while it
/// is pending, paid or processing; its stock goes back and its live checkout
/// session is closed at the provider. Anyone else gets 404.
#[utoipa::path(post, path = "/orders/{id}/cancel", tag = "orders", request_body = CancelRequest, params(("id" = String, Path),
        ("X-Order-Token" = Option<String>, Header, description = "a guest's order token"),
        ("token" = Option<String>, Query, description = "the same token, as in the order's link")),
    responses((status = 200, body = Envelope<OrderView>), (status = 404, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope)))]
async fn cancel_order(
    State(state): State<AppState>,
    ip: ClientIp,
    auth: MaybeAuth,
    OrderToken(header): OrderToken,
    Path(id): Path<String>,
    mut q: Params,
    OptionalJsonObject(body): OptionalJsonObject,
) -> ApiResult<Reply<OrderView>> {
    let from_query = q.str("token");
    q.ignore(IGNORED_EMAIL);
    let mut f = Fields::new(body);
    let from_body = f.optional_str("token");
    f.optional_str(IGNORED_EMAIL);
    let (query_done, body_done) = (q.finish(), f.finish());
    query_done?;
    body_done?;
    let token = header.or(from_body).or(from_query);
    let order = state.services.payments.cancel_order(&viewer(auth, token)?, order_id(&id)?, &ip.context()).await?;
    Ok(Reply::ok(OrderView::from(&order), "Order cancelled successfully"))
}

#[derive(Deserialize, ToSchema)]
#[allow(dead_code)]
pub struct StatusRequest {
    /// pending → paid → processing → shipped → delivered; pending/paid/processing → cancelled; paid/delivered → refunded.
    status: String,
}

/// Move an order along its lifecycle (admin). An illegal change gets 409 naming both statuses.
#[utoipa::path(patch, path = "/orders/{id}/status", tag = "orders", security(("bearer" = [])), params(("id" = String, Path)), request_body = StatusRequest,
    responses((status = 200, body = Envelope<OrderView>), (status = 400, body = ErrorEnvelope), (status = 401, body = ErrorEnvelope),
        (status = 403, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope)))]
async fn change_order_status(
    State(state): State<AppState>,
    ip: ClientIp,
    AdminAuth(principal): AdminAuth,
    Path(id): Path<String>,
    JsonObject(body): JsonObject,
) -> ApiResult<Reply<OrderView>> {
    let mut f = Fields::new(body);
    let status = f.required_str("status");
    let status = f.parse("status", status, OrderStatus::parse);
    f.finish()?;
    let order =
        state.services.orders.set_status(&principal, order_id(&id)?, status.expect("checked"), &ip.context()).await?;
    Ok(Reply::ok(OrderView::from(&order), "Order status updated successfully"))
}
