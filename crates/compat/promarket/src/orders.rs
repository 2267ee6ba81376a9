//! `/orders`: placing an order (a manual-payment one: the document has no
//! payment step), the caller's orders, all orders (admin), and status changes.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use emporium_api::AppState;
use emporium_api::error::ApiError;
use emporium_api::extract::input::{Input, Line, List, PageLimit, PageNumber};
use emporium_api::extract::{AdminAuth, Auth, ClientIp, JsonObject, Optional, PathText, Query, Required};
use emporium_api::{request_body, request_query};
use emporium_domain::Error;
use emporium_domain::ids::{OrderId, ProductId, UserId};
use emporium_domain::money::Money;
use emporium_domain::orders::{MAX_ORDER_LINES, MAX_QUANTITY, OrderStatus, Quantity};
use emporium_domain::paging::Page;
use emporium_service::Principal;
use emporium_service::orders::Viewer;
use emporium_store::{OrderFilter, OrderRecord};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Schema, Type};

use crate::auth::read;
use crate::error::{NestError, PromarketResult};

/// A line's quantity: a positive whole number, sent as a number (`5`) or,
/// as the document's example does, a string (`"5"`). `5.5`, `"5.0"`, `"-1"`,
/// `0` and `"five"` are each a 400.
#[derive(Debug, Clone, Copy)]
pub struct LineQuantity(pub Quantity);

impl Input for LineQuantity {
    fn schema() -> RefOr<Schema> {
        OneOfBuilder::new()
            .item(ObjectBuilder::new().schema_type(Type::Integer).minimum(Some(1)).maximum(Some(MAX_QUANTITY)))
            .item(ObjectBuilder::new().schema_type(Type::String).pattern(Some(r"^0*([1-9][0-9]{0,3}|10000)$")))
            .description(Some("A whole number from 1, as a number or a string of digits"))
            .into()
    }
    fn from_json(value: Value) -> Result<Self, String> {
        let n = match &value {
            Value::String(s) if !s.is_empty() && s.len() <= 18 && s.bytes().all(|b| b.is_ascii_digit()) => {
                s.parse().ok()
            }
            Value::Number(n) => n.as_i64(),
            _ => None,
        };
        let n = n.ok_or_else(|| format!("must be a whole number from 1 to {MAX_QUANTITY}"))?;
        Quantity::new(n).map(LineQuantity)
    }
}

request_body! {
    /// One line of an order.
    pub struct PromarketOrderLine {
        "productId" => product_id: Required<ProductId>,
        "quantity" => quantity: Required<LineQuantity>,
    }
}

request_body! {
    /// An order: its lines. Lines of one product are added together.
    pub struct PromarketNewOrder {
        "items" => items: Required<List<PromarketOrderLine, 1, MAX_ORDER_LINES>>,
    }
}

request_body! {
    /// The status to move the order to.
    pub struct PromarketStatusChange {
        /// `pending`, `paid`, `preparing`, `shipped`, `delivered`, `cancelled` or `refunded`.
        "status" => status: Required<DialectStatus>,
    }
}

request_query! {
    pub struct OrderListQuery {
        /// From 1.
        "page" => page: Optional<PageNumber>,
        /// 1–100, default 100.
        "limit" => limit: Optional<PageLimit>,
    }
}

/// A status as this document spells it: `preparing` is Emporium's `processing`.
#[derive(Debug, Clone, Copy)]
pub struct DialectStatus(pub OrderStatus);

const STATUSES: [(&str, OrderStatus); 7] = [
    ("pending", OrderStatus::Pending),
    ("paid", OrderStatus::Paid),
    ("preparing", OrderStatus::Processing),
    ("shipped", OrderStatus::Shipped),
    ("delivered", OrderStatus::Delivered),
    ("cancelled", OrderStatus::Cancelled),
    ("refunded", OrderStatus::Refunded),
];

pub fn status_name(status: OrderStatus) -> &'static str {
    STATUSES.iter().find(|(_, s)| *s == status).map(|(n, _)| *n).unwrap_or("pending")
}

impl Input for DialectStatus {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new().schema_type(Type::String).enum_values(Some(STATUSES.map(|(n, _)| n))).into()
    }
    fn from_json(value: Value) -> Result<Self, String> {
        let raw = Line::<40>::from_json(value)?.0;
        STATUSES
            .iter()
            .find(|(n, _)| *n == raw)
            .map(|(_, s)| DialectStatus(*s))
            .ok_or_else(|| format!("must be one of: {}", STATUSES.map(|(n, _)| n).join(", ")))
    }
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PromarketLine {
    product_id: String,
    quantity: i64,
    /// The unit price paid, as it was when the order was placed.
    #[schema(value_type = f64)]
    price_snapshot: Money,
}

/// An order as the document shows it.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PromarketOrder {
    /// `""` for an order whose account was deleted.
    user_id: String,
    items: Vec<PromarketLine>,
    #[schema(value_type = f64)]
    total: Money,
    /// `pending`, `paid`, `preparing`, `shipped`, `delivered`, `cancelled` or `refunded`.
    status: &'static str,
    #[serde(rename = "_id")]
    id: String,
    created_at: String,
    updated_at: String,
    #[serde(rename = "__v")]
    version: i64,
}

impl From<&OrderRecord> for PromarketOrder {
    fn from(o: &OrderRecord) -> Self {
        Self {
            user_id: o.user_id.map(|u| u.to_string()).unwrap_or_default(),
            items: o
                .items
                .iter()
                .map(|i| PromarketLine {
                    product_id: i.product_id.to_string(),
                    quantity: i.quantity,
                    price_snapshot: i.unit_sell_price,
                })
                .collect(),
            total: o.totals.total,
            status: status_name(o.status),
            id: o.id.to_string(),
            created_at: o.created_at.to_rfc3339(),
            updated_at: o.updated_at.to_rfc3339(),
            version: o.version,
        }
    }
}

/// A line's product, populated as Mongoose would.
#[derive(Serialize, ToSchema)]
pub struct PromarketPopulatedProduct {
    #[serde(rename = "_id")]
    id: String,
    name: String,
    /// The product's price now (the snapshot's, if it was deleted since).
    #[schema(value_type = f64)]
    price: Money,
    image: String,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PromarketPopulatedLine {
    product_id: PromarketPopulatedProduct,
    quantity: i64,
    #[schema(value_type = f64)]
    price_snapshot: Money,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PromarketMyOrder {
    #[serde(rename = "_id")]
    id: String,
    user_id: String,
    items: Vec<PromarketPopulatedLine>,
    #[schema(value_type = f64)]
    total: Money,
    status: &'static str,
    created_at: String,
    updated_at: String,
    #[serde(rename = "__v")]
    version: i64,
}

fn order_id(raw: &str) -> Result<OrderId, Error> {
    raw.parse().map_err(|_| Error::NotFound("Order not found".into()))
}

fn page(q: OrderListQuery) -> Result<Page, Error> {
    Page::new(q.page.get().map(|p| p.0), q.limit.get().map(|l| l.0), 100)
        .map_err(|_| Error::internal("paging was checked on reading"))
}

/// Place an order for the signed-in user. Stock for every line is taken at
/// once, or none is (short stock: 409, nothing taken). The order is to be
/// paid outside the site (manual): an admin can prepare and ship it before
/// it is paid, and it is never cancelled for being unpaid.
#[utoipa::path(post, path = "/orders", tag = "promarket", security(("bearer" = [])), request_body = PromarketNewOrder,
    responses((status = 201, body = PromarketOrder), (status = 400, body = NestError), (status = 401, body = NestError),
        (status = 404, body = NestError), (status = 409, body = NestError)))]
pub async fn create_order(
    State(state): State<AppState>,
    ip: ClientIp,
    auth: Result<Auth, ApiError>,
    body: Result<JsonObject, ApiError>,
) -> PromarketResult<impl IntoResponse> {
    let Auth(principal) = auth?;
    let body: PromarketNewOrder = read(body)?;
    let List(lines) = body.items.get();
    let items = lines.into_iter().map(|l| (l.product_id.get(), l.quantity.get().0)).collect();
    let order = state.services.payments.place_manual(&principal, items, &ip.context()).await?;
    Ok((StatusCode::CREATED, axum::Json(PromarketOrder::from(&order))))
}

/// Every order, newest first (admin). `page`/`limit` page through them (100 a page).
#[utoipa::path(get, path = "/orders/", tag = "promarket", security(("bearer" = [])), params(OrderListQuery),
    responses((status = 200, body = Vec<PromarketOrder>), (status = 400, body = NestError), (status = 401, body = NestError), (status = 403, body = NestError)))]
pub async fn all_orders(
    State(state): State<AppState>,
    auth: Result<AdminAuth, ApiError>,
    query: Result<Query<OrderListQuery>, ApiError>,
) -> PromarketResult<axum::Json<Vec<PromarketOrder>>> {
    let AdminAuth(principal) = auth?;
    let Query(q) = query?;
    let (orders, _) = state.services.orders.list(&principal, OrderFilter::default(), page(q)?).await?;
    Ok(axum::Json(orders.iter().map(PromarketOrder::from).collect()))
}

async fn populated(state: &AppState, order: &OrderRecord) -> Result<PromarketMyOrder, Error> {
    let mut items = Vec::with_capacity(order.items.len());
    for line in &order.items {
        let product = match state.services.catalog.product(line.product_id).await {
            Ok(p) => PromarketPopulatedProduct {
                id: p.id.to_string(),
                name: p.draft.name.clone(),
                price: p.draft.price,
                image: p.draft.images.first().cloned().unwrap_or_default(),
            },
            Err(Error::NotFound(_)) => PromarketPopulatedProduct {
                id: line.product_id.to_string(),
                name: line.name.clone(),
                price: line.unit_price,
                image: String::new(),
            },
            Err(e) => return Err(e),
        };
        items.push(PromarketPopulatedLine {
            product_id: product,
            quantity: line.quantity,
            price_snapshot: line.unit_sell_price,
        });
    }
    Ok(PromarketMyOrder {
        id: order.id.to_string(),
        user_id: order.user_id.map(|u: UserId| u.to_string()).unwrap_or_default(),
        items,
        total: order.totals.total,
        status: status_name(order.status),
        created_at: order.created_at.to_rfc3339(),
        updated_at: order.updated_at.to_rfc3339(),
        version: order.version,
    })
}

/// The signed-in user's own orders, newest first, each line's product populated.
#[utoipa::path(get, path = "/orders/me", tag = "promarket", security(("bearer" = [])), params(OrderListQuery),
    responses((status = 200, body = Vec<PromarketMyOrder>), (status = 400, body = NestError), (status = 401, body = NestError)))]
pub async fn my_orders(
    State(state): State<AppState>,
    auth: Result<Auth, ApiError>,
    query: Result<Query<OrderListQuery>, ApiError>,
) -> PromarketResult<axum::Json<Vec<PromarketMyOrder>>> {
    let Auth(principal) = auth?;
    let Query(q) = query?;
    let filter = OrderFilter { user_id: Some(principal.user_id), ..OrderFilter::default() };
    let (orders, _) = state.services.orders.list(&principal, filter, page(q)?).await?;
    let mut views = Vec::with_capacity(orders.len());
    for order in &orders {
        views.push(populated(&state, order).await?);
    }
    Ok(axum::Json(views))
}

/// Moves an order as an admin asked: `paid` records the payment (a manual
/// order may be paid at any stage), `cancelled` also closes its checkout,
/// anything else is a plain lifecycle move.
async fn move_order(
    state: &AppState,
    principal: &Principal,
    id: OrderId,
    to: OrderStatus,
    ip: ClientIp,
) -> Result<OrderRecord, Error> {
    let ctx = ip.context();
    let viewer = Viewer::Signed(principal.clone());
    match to {
        OrderStatus::Paid => {
            state.services.orders.get(&viewer, id).await?;
            state.services.payments.mark_paid(principal, id, &ctx).await?;
            state.services.orders.get(&viewer, id).await
        }
        OrderStatus::Cancelled => state.services.payments.cancel_order(&viewer, id, &ctx).await,
        to => state.services.orders.set_status(principal, id, to, &ctx).await,
    }
}

/// Move an order through its lifecycle (admin). An unknown status is a 400;
/// a move the lifecycle forbids (`delivered` → `preparing`) is a 409.
#[utoipa::path(patch, path = "/orders/{id}/status", tag = "promarket", security(("bearer" = [])), params(("id" = String, Path)),
    request_body = PromarketStatusChange,
    responses((status = 200, body = PromarketOrder), (status = 400, body = NestError), (status = 401, body = NestError),
        (status = 403, body = NestError), (status = 404, body = NestError), (status = 409, body = NestError)))]
pub async fn update_status(
    State(state): State<AppState>,
    ip: ClientIp,
    auth: Result<AdminAuth, ApiError>,
    id: Result<PathText, ApiError>,
    body: Result<JsonObject, ApiError>,
) -> PromarketResult<axum::Json<PromarketOrder>> {
    let AdminAuth(principal) = auth?;
    let PathText(id) = id?;
    let id = order_id(&id)?;
    let body: PromarketStatusChange = read(body)?;
    let order = move_order(&state, &principal, id, body.status.get().0, ip).await?;
    Ok(axum::Json(PromarketOrder::from(&order)))
}
