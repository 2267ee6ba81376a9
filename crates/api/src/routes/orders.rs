//! `/orders`: placing orders (from items or the cart), reading them, and
//! moving them through their lifecycle.

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use emporium_domain::Error;
use emporium_domain::account::Email;
use emporium_domain::ids::UserId;
use emporium_domain::ids::{OrderId, ProductId};
use emporium_domain::orders::MAX_ORDER_LINES;
use emporium_domain::orders::{OrderStatus, Quantity};
use emporium_domain::time::Timestamp;
use emporium_service::orders::{OrderRequest, Viewer};
use emporium_store::OrderFilter;
use serde_json::Value;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::envelope::{Envelope, ListMeta, Reply};
use crate::error::{ApiResult, ErrorEnvelope};
use crate::extract::input::{Line, Lines, List, PageLimit, PageNumber};
use crate::extract::{
    AdminAuth, Auth, Body, CartKey, ClientIp, IdPath, JsonObject, MaybeAuth, Optional, OptionalJson, OrderToken,
    PathText, Query, Required,
};
use crate::routes::accounts::AddressRequest;
use crate::routes::admin::page;
use crate::views::OrderView;
use crate::{request_body, request_query};

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

request_body! {
    /// One line of an order.
    pub struct OrderLineRequest {
        "productId" => product_id: Required<ProductId>,
        "quantity" => quantity: Required<Quantity>,
    }
}

request_body! {
    /// An order: explicit `items`, or else the caller's cart.
    pub struct PlaceOrderRequest {
        /// The lines to buy; when absent, the caller's cart is ordered (and emptied).
        /// Lines of the same product are added together.
        "items" => items: Optional<List<OrderLineRequest, 1, MAX_ORDER_LINES>>,
        "shippingAddress" => shipping_address: Required<AddressRequest>,
        /// Required for guests; defaults to the account's e-mail.
        "email" => email: Optional<Email>,
        "notes" => notes: Optional<Lines<1000>>,
    }
}

/// Place an order. Stock for every line is taken at once, or none is: two
/// buyers can never get more than the shop has. With `Idempotency-Key`, a
/// retry returns the first order (24 h), and the same key with a different
/// body gets 409. A guest's order comes with `orderToken`, shown only in this
/// answer: it is what reads and cancels the order later. A guest's retry
/// gets a fresh token, and the earlier one stops working.
#[utoipa::path(post, path = "/orders", tag = "orders", request_body = PlaceOrderRequest, security((), ("bearer" = [])),
    params(("Idempotency-Key" = Option<String>, Header, max_length = 255, pattern = r"^[!-~]([ -~]*[!-~])?$",
            description = "1 to 255 visible ASCII characters; a retry with the same key returns the first order"),
        ("X-Cart-Key" = Option<String>, Header, description = "a guest's cart, when ordering from it")),
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
    let mut errors = emporium_domain::error::FieldErrors::new();
    let order = PlaceOrderRequest::read_object(body, "", &mut errors);
    let idempotency_key = match headers.get("idempotency-key").map(|v| v.to_str().map(str::trim)) {
        None => None,
        Some(Ok(k)) if !k.is_empty() && k.len() <= 255 => Some(k.to_string()),
        Some(_) => {
            errors.push("Idempotency-Key", "must be 1 to 255 visible ASCII characters");
            None
        }
    };
    errors.into_result()?;
    let items = order
        .items
        .get()
        .map(|List(lines)| lines.into_iter().map(|line| (line.product_id.get(), line.quantity.get())).collect());
    let address = order.shipping_address.get().into_address()?;
    let email = order.email.get();
    let notes = order.notes.get().map(|n| n.0).filter(|n| !n.is_empty());
    let request = OrderRequest { items, shipping_address: address, email, notes, idempotency_key, request_hash };
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

request_query! {
    pub struct OrderQuery {
        /// From 1.
        "page" => page: Optional<PageNumber>,
        /// 1–100, default 10.
        "limit" => limit: Optional<PageLimit>,
        "status" => status: Optional<OrderStatus>,
        /// Admins only.
        "userId" => user_id: Optional<UserId>,
        /// Placed at or after.
        "from" => from: Optional<Timestamp>,
        /// Placed before.
        "to" => to: Optional<Timestamp>,
    }
}

/// Your orders, newest first; an admin sees everyone's and can filter by user.
#[utoipa::path(get, path = "/orders", tag = "orders", security(("bearer" = [])), params(OrderQuery),
    responses((status = 200, body = Envelope<Vec<OrderView>>), (status = 400, body = ErrorEnvelope), (status = 401, body = ErrorEnvelope), (status = 403, body = ErrorEnvelope)))]
async fn list_orders(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Query(q): Query<OrderQuery>,
) -> ApiResult<Reply<Vec<OrderView>>> {
    let page = page(q.page, q.limit, 10);
    let filter = OrderFilter {
        status: q.status.get(),
        user_id: q.user_id.get(),
        since: q.from.get(),
        until: q.to.get(),
        ..OrderFilter::default()
    };
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

/// A guest's order token as sent: one line, as long as a token can be.
pub type GivenOrderToken = Line<128>;
/// How a guest once named an order's e-mail: one line, as long as an e-mail can be.
type GuestEmail = Line<{ Email::MAX_LEN }>;

request_query! {
    pub struct GuestQuery {
        /// For guests: the order token from the answer that placed the order,
        /// as in the order's link (or send it as `X-Order-Token`).
        "token" => token: Optional<GivenOrderToken>,
        /// Once a guest's proof; it proves nothing now but is still read, so
        /// an old link gets the same 404 as a wrong token, not a 400.
        "email" => email: Optional<GuestEmail>,
    }
}

/// One order with its status history: to its owner, an admin, or a guest
/// with the order's access token (`X-Order-Token`, or `?token=` as in the
/// order's link). Anyone else, a guest naming only the e-mail included, gets 404.
#[utoipa::path(get, path = "/orders/{id}", tag = "orders", security((), ("bearer" = [])),
    params(IdPath, GuestQuery, ("X-Order-Token" = Option<String>, Header, description = "a guest's order token, from the answer that placed the order")),
    responses((status = 200, body = Envelope<OrderView>), (status = 400, body = ErrorEnvelope), (status = 401, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope)))]
async fn get_order(
    State(state): State<AppState>,
    auth: MaybeAuth,
    OrderToken(header): OrderToken,
    PathText(id): PathText,
    Query(q): Query<GuestQuery>,
) -> ApiResult<Reply<OrderView>> {
    let token = header.or(q.token.get().map(|t| t.0));
    let order = state.services.orders.get(&viewer(auth, token)?, order_id(&id)?).await?;
    Ok(Reply::ok(OrderView::from(&order), "Order fetched successfully"))
}

request_body! {
    /// Who cancels: a guest sends the order token (here, as `X-Order-Token` or
    /// as `?token=`); a signed-in caller sends nothing.
    pub struct CancelRequest {
        /// For guests: the order token from the answer that placed the order.
        "token" => token: Optional<GivenOrderToken>,
        /// Read and ignored, as in [`GuestQuery`].
        "email" => email: Optional<GuestEmail>,
    }
}

/// Cancel an order (owner, admin, or a guest with its order token) while it
/// is pending, paid or processing; its stock goes back and its live checkout
/// session is closed at the provider. The body may be left out. Anyone else gets 404.
#[utoipa::path(post, path = "/orders/{id}/cancel", tag = "orders", request_body = Option<CancelRequest>,
    params(IdPath, GuestQuery, ("X-Order-Token" = Option<String>, Header, description = "a guest's order token")),
    security((), ("bearer" = [])),
    responses((status = 200, body = Envelope<OrderView>), (status = 400, body = ErrorEnvelope), (status = 401, body = ErrorEnvelope),
        (status = 404, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope)))]
async fn cancel_order(
    State(state): State<AppState>,
    ip: ClientIp,
    auth: MaybeAuth,
    OrderToken(header): OrderToken,
    PathText(id): PathText,
    Query(q): Query<GuestQuery>,
    OptionalJson(body): OptionalJson<CancelRequest>,
) -> ApiResult<Reply<OrderView>> {
    let token = header.or(body.token.get().map(|t| t.0)).or(q.token.get().map(|t| t.0));
    let order = state.services.payments.cancel_order(&viewer(auth, token)?, order_id(&id)?, &ip.context()).await?;
    Ok(Reply::ok(OrderView::from(&order), "Order cancelled successfully"))
}

request_body! {
    /// The status to move to.
    pub struct StatusRequest {
        /// pending → paid → processing → shipped → delivered; pending/paid/processing → cancelled; paid/delivered → refunded.
        "status" => status: Required<OrderStatus>,
    }
}

/// Move an order along its lifecycle (admin). An illegal change gets 409 naming both statuses.
#[utoipa::path(patch, path = "/orders/{id}/status", tag = "orders", security(("bearer" = [])), params(IdPath), request_body = StatusRequest,
    responses((status = 200, body = Envelope<OrderView>), (status = 400, body = ErrorEnvelope), (status = 401, body = ErrorEnvelope),
        (status = 403, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope)))]
async fn change_order_status(
    State(state): State<AppState>,
    ip: ClientIp,
    AdminAuth(principal): AdminAuth,
    PathText(id): PathText,
    crate::extract::Json(body): crate::extract::Json<StatusRequest>,
) -> ApiResult<Reply<OrderView>> {
    let order = state.services.orders.set_status(&principal, order_id(&id)?, body.status.get(), &ip.context()).await?;
    Ok(Reply::ok(OrderView::from(&order), "Order status updated successfully"))
}
