//! `/order` and `/orders/*`: an order names one catalog product by name
//! (a manual-payment order: the document has no payment step), the caller's
//! orders, an order's status, and the few status changes the document has.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use emporium_api::AppState;
use emporium_api::error::ApiError;
use emporium_api::extract::input::{Input, Line, Name};
use emporium_api::extract::{ClientIp, JsonObject, MaybeAuth, Optional, Query, Required};
use emporium_api::{request_body, request_query};
use emporium_domain::Error;
use emporium_domain::catalog::{CategoryKey, Slug};
use emporium_domain::ids::OrderId;
use emporium_domain::orders::{OrderStatus, Quantity};
use emporium_domain::paging::Page;
use emporium_service::Principal;
use emporium_service::orders::Viewer;
use emporium_store::{OrderFilter, OrderRecord};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};

use crate::accounts::{read, signed_in};
use crate::error::{FlaskError, FlaskJwtError, FlaskMessage, FlaskResult};

request_body! {
    /// An order of one catalog product.
    pub struct FlaskNewOrder {
        /// The product's category, by name or slug; narrows the match when given.
        "type" => kind: Optional<Line<100>>,
        /// The product's name (case-insensitive, exact).
        "products" => products: Required<Name<200>>,
        "Quantity" => quantity: Required<Quantity>,
        /// Ignored: a new order is always in progress.
        "status" => status: Optional<Line<100>>,
    }
}

request_body! {
    /// The status to set.
    pub struct FlaskStatusChange {
        "status" => status: Required<FlaskStatus>,
    }
}

request_query! {
    pub struct OrderIdQuery {
        /// The order's id.
        "order_id" => order_id: Required<Line<40>>,
    }
}

/// A status as this document spells it, any case, spaces and underscores
/// aside: `IN_PROGRESS` (also `In InProgress`), `SHIPPED`, `DELIVERED`,
/// `CANCELLED` (or `CANCELED`), `REFUNDED`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlaskStatus {
    InProgress,
    Shipped,
    Delivered,
    Cancelled,
    Refunded,
}

impl FlaskStatus {
    fn of(status: OrderStatus) -> Self {
        match status {
            OrderStatus::Pending | OrderStatus::Paid | OrderStatus::Processing => FlaskStatus::InProgress,
            OrderStatus::Shipped => FlaskStatus::Shipped,
            OrderStatus::Delivered => FlaskStatus::Delivered,
            OrderStatus::Cancelled => FlaskStatus::Cancelled,
            OrderStatus::Refunded => FlaskStatus::Refunded,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            FlaskStatus::InProgress => "IN PROGRESS",
            FlaskStatus::Shipped => "SHIPPED",
            FlaskStatus::Delivered => "DELIVERED",
            FlaskStatus::Cancelled => "CANCELLED",
            FlaskStatus::Refunded => "REFUNDED",
        }
    }
}

impl Input for FlaskStatus {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .max_length(Some(40))
            .description(Some("IN_PROGRESS, SHIPPED, DELIVERED, CANCELLED or REFUNDED, in any case"))
            .into()
    }
    fn from_json(value: Value) -> Result<Self, String> {
        let raw = Line::<40>::from_json(value)?.0;
        let key: String = raw.chars().filter(char::is_ascii_alphanumeric).collect::<String>().to_ascii_lowercase();
        match key.as_str() {
            "inprogress" | "ininprogress" => Ok(FlaskStatus::InProgress),
            "shipped" => Ok(FlaskStatus::Shipped),
            "delivered" => Ok(FlaskStatus::Delivered),
            "cancelled" | "canceled" => Ok(FlaskStatus::Cancelled),
            "refunded" => Ok(FlaskStatus::Refunded),
            _ => Err("must be one of: IN_PROGRESS, SHIPPED, DELIVERED, CANCELLED, REFUNDED".into()),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct FlaskCreated {
    id: String,
    /// `Order created successfully`, `order status updated` or `order canceled`.
    message: &'static str,
}

/// One of the caller's orders as the document lists them.
#[derive(Serialize, ToSchema)]
pub struct FlaskOrder {
    #[serde(rename = "_id")]
    id: String,
    /// The (first) product's category name; `""` for none.
    #[serde(rename = "type")]
    kind: String,
    /// The product's name (several, comma-separated, for an order placed elsewhere with more lines).
    products: String,
    quantity: i64,
    /// `IN PROGRESS`, `SHIPPED`, `DELIVERED`, `CANCELLED` or `REFUNDED`.
    status: &'static str,
    customer_id: String,
}

#[derive(Serialize, ToSchema)]
pub struct FlaskOrderList {
    data: Vec<FlaskOrder>,
    /// `orders`.
    message: &'static str,
}

#[derive(Serialize, ToSchema)]
pub struct FlaskStatusView {
    /// `IN PROGRESS`, `SHIPPED`, `DELIVERED`, `CANCELLED` or `REFUNDED`.
    data: &'static str,
    /// `status`.
    message: &'static str,
}

fn order_id(query: Result<Query<OrderIdQuery>, ApiError>) -> FlaskResult<OrderId> {
    let Query(q) = query?;
    q.order_id.get().0.parse().map_err(|_| FlaskError::new(StatusCode::NOT_FOUND, "Order not found"))
}

/// Place an order of the product named `products` (in category `type` when
/// given). Stock is taken as for any order; short stock is a 409. A
/// `status` in the body is ignored. The order is a manual-payment one.
#[utoipa::path(post, path = "/order", tag = "flask-orders", security(("bearer" = [])), request_body = FlaskNewOrder,
    responses((status = 201, body = FlaskCreated), (status = 400, body = FlaskMessage), (status = 401, body = FlaskJwtError),
        (status = 404, body = FlaskMessage), (status = 409, body = FlaskMessage)))]
pub async fn create_order(
    State(state): State<AppState>,
    ip: ClientIp,
    auth: Result<MaybeAuth, ApiError>,
    body: Result<JsonObject, ApiError>,
) -> FlaskResult<impl IntoResponse> {
    let principal = signed_in(auth)?;
    let body: FlaskNewOrder = read(body)?;
    let name = body.products.get().0;
    let category = match body.kind.get().map(|k| k.0).filter(|k| !k.trim().is_empty()) {
        None => None,
        Some(kind) => {
            let unknown = || FlaskError::new(StatusCode::NOT_FOUND, format!("No product type named '{kind}'"));
            let slug = Slug::from_name(&kind).map_err(|_| unknown())?;
            let key = CategoryKey::Slug(slug.as_str().to_string());
            state.services.catalog.find_category(&key).await?.ok_or_else(unknown)?;
            Some(key)
        }
    };
    let found = state.services.catalog.products_named(&name, category.as_ref()).await?;
    let product = match found.as_slice() {
        [] => return Err(FlaskError::new(StatusCode::NOT_FOUND, format!("No product named '{name}'"))),
        [one] => one.id,
        _ => {
            return Err(FlaskError::new(
                StatusCode::CONFLICT,
                format!("Several products are named '{name}'; give its type to choose one"),
            ));
        }
    };
    let items = vec![(product, body.quantity.get())];
    let order = state.services.payments.place_manual(&principal, items, &ip.context()).await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(FlaskCreated { id: order.id.to_string(), message: "Order created successfully" }),
    ))
}

async fn listed(state: &AppState, order: &OrderRecord) -> Result<FlaskOrder, Error> {
    let kind = match order.items.first() {
        Some(line) => match state.services.catalog.product(line.product_id).await {
            Ok(p) => p.category.as_ref().map(|c| c.name.clone()).unwrap_or_default(),
            Err(Error::NotFound(_)) => String::new(),
            Err(e) => return Err(e),
        },
        None => String::new(),
    };
    Ok(FlaskOrder {
        id: order.id.to_string(),
        kind,
        products: order.items.iter().map(|i| i.name.as_str()).collect::<Vec<_>>().join(", "),
        quantity: order.items.iter().map(|i| i.quantity).sum(),
        status: FlaskStatus::of(order.status).as_str(),
        customer_id: order.user_id.map(|u| u.to_string()).unwrap_or_default(),
    })
}

/// The caller's own orders (the newest 100), as a JSON array.
#[utoipa::path(get, path = "/order", tag = "flask-orders", security(("bearer" = [])),
    responses((status = 200, body = FlaskOrderList), (status = 401, body = FlaskJwtError)))]
pub async fn list_orders(
    State(state): State<AppState>,
    auth: Result<MaybeAuth, ApiError>,
) -> FlaskResult<axum::Json<FlaskOrderList>> {
    let principal = signed_in(auth)?;
    let filter = OrderFilter { user_id: Some(principal.user_id), ..OrderFilter::default() };
    let page = Page::new(Some(1), Some(100), 100).map_err(|_| Error::internal("paging"))?;
    let (orders, _) = state.services.orders.list(&principal, filter, page).await?;
    let mut data = Vec::with_capacity(orders.len());
    for order in &orders {
        data.push(listed(&state, order).await?);
    }
    Ok(axum::Json(FlaskOrderList { data, message: "orders" }))
}

/// An order's status: to its owner or an admin; anyone else gets 404.
#[utoipa::path(get, path = "/orders/status", tag = "flask-orders", security(("bearer" = [])), params(OrderIdQuery),
    responses((status = 200, body = FlaskStatusView), (status = 400, body = FlaskMessage), (status = 401, body = FlaskJwtError), (status = 404, body = FlaskMessage)))]
pub async fn order_status(
    State(state): State<AppState>,
    auth: Result<MaybeAuth, ApiError>,
    query: Result<Query<OrderIdQuery>, ApiError>,
) -> FlaskResult<axum::Json<FlaskStatusView>> {
    let principal = signed_in(auth)?;
    let id = order_id(query)?;
    let order = state.services.orders.get(&Viewer::Signed(principal), id).await?;
    Ok(axum::Json(FlaskStatusView { data: FlaskStatus::of(order.status).as_str(), message: "status" }))
}

/// Applies a status the caller asked for. A customer may set only
/// `IN_PROGRESS` (the order stays as it is, if it still is in progress) or
/// `CANCELLED` on their own order; the rest need an admin. `SHIPPED` on an
/// order not yet being prepared prepares it first (the document has no such step).
async fn apply(
    state: &AppState,
    principal: &Principal,
    id: OrderId,
    to: FlaskStatus,
    ip: ClientIp,
) -> Result<(), Error> {
    let viewer = Viewer::Signed(principal.clone());
    let ctx = ip.context();
    let order = state.services.orders.get(&viewer, id).await?;
    let admin_only =
        || Error::Forbidden("Only an admin may set this status; a customer may set IN_PROGRESS or CANCELLED".into());
    match to {
        FlaskStatus::InProgress if FlaskStatus::of(order.status) == FlaskStatus::InProgress => Ok(()),
        FlaskStatus::InProgress => {
            Err(Error::Conflict(format!("The order is {} and cannot be in progress again", order.status)))
        }
        FlaskStatus::Cancelled => state.services.payments.cancel_order(&viewer, id, &ctx).await.map(drop),
        _ if !principal.is_admin() => Err(admin_only()),
        FlaskStatus::Shipped => {
            if matches!(order.status, OrderStatus::Pending | OrderStatus::Paid) {
                state.services.orders.set_status(principal, id, OrderStatus::Processing, &ctx).await?;
            }
            state.services.orders.set_status(principal, id, OrderStatus::Shipped, &ctx).await.map(drop)
        }
        FlaskStatus::Delivered => {
            state.services.orders.set_status(principal, id, OrderStatus::Delivered, &ctx).await.map(drop)
        }
        FlaskStatus::Refunded => {
            state.services.orders.set_status(principal, id, OrderStatus::Refunded, &ctx).await.map(drop)
        }
    }
}

/// Set an order's status (see [`apply`] for who may set which).
#[utoipa::path(put, path = "/orders/update", tag = "flask-orders", security(("bearer" = [])), params(OrderIdQuery),
    request_body = FlaskStatusChange,
    responses((status = 200, body = FlaskCreated), (status = 400, body = FlaskMessage), (status = 401, body = FlaskJwtError),
        (status = 403, body = FlaskMessage), (status = 404, body = FlaskMessage), (status = 409, body = FlaskMessage)))]
pub async fn update_order(
    State(state): State<AppState>,
    ip: ClientIp,
    auth: Result<MaybeAuth, ApiError>,
    query: Result<Query<OrderIdQuery>, ApiError>,
    body: Result<JsonObject, ApiError>,
) -> FlaskResult<axum::Json<FlaskCreated>> {
    let principal = signed_in(auth)?;
    let id = order_id(query)?;
    let body: FlaskStatusChange = read(body)?;
    apply(&state, &principal, id, body.status.get(), ip).await?;
    Ok(axum::Json(FlaskCreated { id: id.to_string(), message: "order status updated" }))
}

/// Cancel an order (its owner or an admin); its stock comes back.
#[utoipa::path(put, path = "/orders/cancel", tag = "flask-orders", security(("bearer" = [])), params(OrderIdQuery),
    responses((status = 200, body = FlaskCreated), (status = 400, body = FlaskMessage), (status = 401, body = FlaskJwtError),
        (status = 404, body = FlaskMessage), (status = 409, body = FlaskMessage)))]
pub async fn cancel_order(
    State(state): State<AppState>,
    ip: ClientIp,
    auth: Result<MaybeAuth, ApiError>,
    query: Result<Query<OrderIdQuery>, ApiError>,
) -> FlaskResult<axum::Json<FlaskCreated>> {
    let principal = signed_in(auth)?;
    let id = order_id(query)?;
    state.services.payments.cancel_order(&Viewer::Signed(principal), id, &ip.context()).await?;
    Ok(axum::Json(FlaskCreated { id: id.to_string(), message: "order canceled" }))
}
