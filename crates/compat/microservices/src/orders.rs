//! Order Service (API3): orders made from a cart, seen by their owner (a
//! user by token, a guest by the cart key the order was made from) or by
//! staff, and changed only by staff.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use emporium_api::AppState;
use emporium_api::extract::input::{Int, Line, Lines};
use emporium_api::extract::{ClientIp, Optional, PathText, Required};
use emporium_api::request_body;
use emporium_domain::account::Email;
use emporium_domain::address::{AddressInput, ShippingAddress};
use emporium_domain::error::FieldErrors as Problems;
use emporium_domain::ids::OrderId;
use emporium_domain::orders::{OrderStatus, PaymentStatus};
use emporium_domain::paging::{MAX_LIMIT, Page};
use emporium_service::orders::{OrderRequest, Viewer};
use emporium_store::{OrderFilter, OrderRecord};
use serde::Serialize;
use serde_json::json;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{DrfDetail, DrfError, DrfFieldErrors, DrfResult};
use crate::extract::{DrfJson, QueryCartKey, Signed, User, cart_key};
use crate::{TAG, drf};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(drf(routes!(create_order)))
        .routes(drf(routes!(update_order)))
        .routes(drf(routes!(get_orders)))
        .routes(drf(routes!(get_order_by_id)))
}

/// The document has no country; an order placed here without one is
/// addressed to this placeholder (the shop ships where it is told).
pub const NO_COUNTRY: &str = "-";

request_body! {
    /// The cart to order (a guest's by key; a user's by token) and where to ship it.
    pub struct DrfCreateOrderRequest {
        /// A guest's cart; ignored for a signed-in user, whose own cart is ordered.
        "cart_key" => cart_key: Optional<Line<128>>,
        /// The street address.
        "shipping_address" => shipping_address: Required<Line<200>>,
        "city" => city: Required<Line<100>>,
        "postcode" => postcode: Required<Line<20>>,
        "first_name" => first_name: Required<Line<100>>,
        "last_name" => last_name: Required<Line<100>>,
        "phone_number" => phone_number: Required<Line<30>>,
        /// Required for guests; a user's defaults to the account's.
        "email" => email: Optional<Email>,
        "notes" => notes: Optional<Lines<1000>>,
        /// Not in the document: the address's country (`"-"` when left out).
        "country" => country: Optional<Line<56>>,
    }
}

/// The native address parts' names, as this document names its fields.
fn address_field(native: &str) -> &str {
    match native.trim_start_matches('.') {
        "firstName" => "first_name",
        "lastName" => "last_name",
        "address1" => "shipping_address",
        "city" => "city",
        "postcode" => "postcode",
        "phone" => "phone_number",
        "country" => "country",
        other => other,
    }
}

/// Place an order from the caller's cart. Stock is taken for every line, or none.
#[utoipa::path(post, path = "/api/v1/order/create_order/", tag = TAG, request_body = DrfCreateOrderRequest, security((), ("bearer" = [])),
    responses((status = 201, body = Object, example = json!({"message": "Order created successfully", "order_id": 1, "cart_key": "…"})),
        (status = 400, body = DrfFieldErrors), (status = 401, body = DrfDetail), (status = 404, body = DrfDetail), (status = 409, body = DrfDetail)))]
async fn create_order(
    State(state): State<AppState>,
    ip: ClientIp,
    user: User,
    query: QueryCartKey,
    DrfJson(body): DrfJson<DrfCreateOrderRequest>,
) -> DrfResult<Response> {
    let key = cart_key(body.cart_key.get(), query);
    let mut problems = Problems::new();
    let address = ShippingAddress::parse(
        AddressInput {
            first_name: Some(body.first_name.get().0),
            last_name: Some(body.last_name.get().0),
            address1: Some(body.shipping_address.get().0),
            address2: None,
            city: Some(body.city.get().0),
            state: None,
            postcode: Some(body.postcode.get().0),
            country: Some(body.country.get().map_or_else(|| NO_COUNTRY.to_string(), |c| c.0)),
            phone: Some(body.phone_number.get().0),
        },
        "",
        &mut problems,
    );
    let email = body.email.get();
    if user.0.is_none() {
        if key.is_none() {
            problems.push("cart_key", "This field is required.");
        }
        if email.is_none() {
            problems.push("email", "This field is required.");
        }
    }
    let problems: Vec<_> = problems
        .into_vec()
        .into_iter()
        .map(|e| emporium_domain::FieldError::new(address_field(&e.field), e.message))
        .collect();
    if !problems.is_empty() {
        return Err(DrfError::Fields(problems));
    }
    let request = OrderRequest {
        items: None,
        shipping_address: address.expect("an address without problems parsed"),
        email,
        notes: body.notes.get().map(|n| n.0).filter(|n| !n.trim().is_empty()),
        idempotency_key: None,
        request_hash: String::new(),
    };
    let ctx = ip.context();
    let placed = match (&user.0, &key) {
        (Some(principal), _) => {
            let cart = state.services.carts.existing(Some(principal), None).await?;
            state.services.orders.place(Some(principal), cart, request, &ctx).await?
        }
        (None, Some(key)) => {
            let cart = state
                .services
                .carts
                .existing(None, Some(key))
                .await?
                .ok_or_else(|| DrfError::detail(axum::http::StatusCode::NOT_FOUND, "Cart not found."))?;
            state.services.orders.place_from_guest_cart(cart, key, request, &ctx).await?
        }
        (None, None) => unreachable!("a guest without a cart key was refused above"),
    };
    let cart_key = if user.0.is_some() { None } else { key };
    Ok((
        axum::http::StatusCode::CREATED,
        axum::Json(
            json!({ "message": "Order created successfully", "order_id": placed.order.id.get(), "cart_key": cart_key }),
        ),
    )
        .into_response())
}

/// An order in a user's list.
#[derive(Serialize, ToSchema)]
pub struct DrfOrderSummary {
    pub order_id: i64,
    pub total_price: String,
    /// pending, paid, processing, shipped, delivered, cancelled or refunded.
    pub status: String,
    pub is_paid: bool,
    /// The street address.
    pub shipping_address: String,
    pub first_name: String,
    pub last_name: String,
    pub phone: String,
    pub email: String,
}

impl From<&OrderRecord> for DrfOrderSummary {
    fn from(o: &OrderRecord) -> Self {
        let a = &o.shipping_address;
        Self {
            order_id: o.id.get(),
            total_price: o.totals.total.to_string(),
            status: o.status.as_str().to_string(),
            is_paid: o.payment_status == PaymentStatus::Paid,
            shipping_address: a.address1().to_string(),
            first_name: a.first_name().to_string(),
            last_name: a.last_name().to_string(),
            phone: a.phone().to_string(),
            email: o.email.clone(),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct DrfOrderList {
    pub orders: Vec<DrfOrderSummary>,
}

/// The caller's own orders, newest first.
#[utoipa::path(get, path = "/api/v1/order/get_orders/", tag = TAG, security(("bearer" = [])),
    responses((status = 200, body = DrfOrderList), (status = 401, body = DrfDetail)))]
async fn get_orders(State(state): State<AppState>, Signed(principal): Signed) -> DrfResult<Response> {
    let mut orders = Vec::new();
    for page in 1.. {
        let page = Page::new(Some(page), Some(i64::from(MAX_LIMIT)), MAX_LIMIT).map_err(|_| DrfError::not_found())?;
        let filter = OrderFilter { user_id: Some(principal.user_id), ..OrderFilter::default() };
        let (found, total) = state.services.orders.list(&principal, filter, page).await?;
        orders.extend(found.iter().map(DrfOrderSummary::from));
        if found.len() < MAX_LIMIT as usize || orders.len() as u64 >= total {
            break;
        }
    }
    Ok(axum::Json(DrfOrderList { orders }).into_response())
}

#[derive(Serialize, ToSchema)]
pub struct DrfOrderItemView {
    pub product_name: String,
    pub quantity: i64,
    /// One item's price as charged (after the discount).
    pub unit_price: String,
}

#[derive(Serialize, ToSchema)]
pub struct DrfOrderDetail {
    pub order_id: i64,
    pub total_price: String,
    pub items: Vec<DrfOrderItemView>,
    /// Not in the document: where the order stands.
    pub status: String,
    /// Not in the document: whether the payment arrived.
    pub is_paid: bool,
}

#[derive(Serialize, ToSchema)]
pub struct DrfOrderById {
    pub order: DrfOrderDetail,
}

request_body! {
    /// A guest's proof: the key of the cart the order was made from.
    pub struct DrfOrderByIdRequest {
        "cart_key" => cart_key: Optional<Line<128>>,
    }
}

/// Who a request is, for an order: a user by token, a guest by cart key.
pub fn viewer(state: &AppState, user: &User, key: Option<&str>) -> DrfResult<Viewer> {
    match (&user.0, key) {
        (Some(principal), _) => Ok(Viewer::Signed(principal.clone())),
        (None, Some(key)) => Ok(state.services.orders.guest_cart_viewer(key)),
        (None, None) => Err(DrfError::field("cart_key", "This field is required.")),
    }
}

/// One order, to its owner or staff; anyone else gets a 404.
#[utoipa::path(post, path = "/api/v1/order/{pk}/get_order_by_id/", tag = TAG, request_body = DrfOrderByIdRequest,
    params(("pk" = i64, Path)), security((), ("bearer" = [])),
    responses((status = 200, body = DrfOrderById), (status = 400, body = DrfFieldErrors), (status = 401, body = DrfDetail), (status = 404, body = DrfDetail)))]
async fn get_order_by_id(
    State(state): State<AppState>,
    user: User,
    query: QueryCartKey,
    PathText(pk): PathText,
    DrfJson(body): DrfJson<DrfOrderByIdRequest>,
) -> DrfResult<Response> {
    let key = cart_key(body.cart_key.get(), query);
    let viewer = viewer(&state, &user, key.as_deref())?;
    let id: OrderId = pk.parse().map_err(|_| DrfError::not_found())?;
    let order = state.services.orders.get(&viewer, id).await.map_err(|_| DrfError::not_found())?;
    let detail = DrfOrderDetail {
        order_id: order.id.get(),
        total_price: order.totals.total.to_string(),
        items: order
            .items
            .iter()
            .map(|i| DrfOrderItemView {
                product_name: i.name.clone(),
                quantity: i.quantity,
                unit_price: i.unit_sell_price.to_string(),
            })
            .collect(),
        status: order.status.as_str().to_string(),
        is_paid: order.payment_status == PaymentStatus::Paid,
    };
    Ok(axum::Json(DrfOrderById { order: detail }).into_response())
}

request_body! {
    /// Staff only. `status` moves the order through its lifecycle;
    /// `is_paid: true` records that a manual payment arrived (the
    /// document's "Service" variant). A customer can never mark an order paid.
    pub struct DrfUpdateOrderRequest {
        "order_id" => order_id: Required<Int<1, 999_999_999_999>>,
        "status" => status: Optional<OrderStatus>,
        "is_paid" => is_paid: Optional<bool>,
        /// Recorded nowhere: a manual payment's reference is the admin who marked it.
        "payment_intent" => payment_intent: Optional<Line<255>>,
    }
    check = check_update_order;
}

fn check_update_order(body: &DrfUpdateOrderRequest, errors: &mut Problems) {
    if body.is_paid.0 == Some(false) {
        errors.push("is_paid", "Only true is accepted: a payment is undone by a refund.");
    }
    if body.status.0.is_none() && body.is_paid.0.is_none() && errors.is_empty() {
        errors.push("non_field_errors", "Send status or is_paid.");
    }
}

/// Change an order (staff): its status, or mark a manual order paid.
#[utoipa::path(post, path = "/api/v1/order/update_order/", tag = TAG, request_body = DrfUpdateOrderRequest, security(("bearer" = [])),
    responses((status = 200, body = Object, example = json!({"message": "Order updated successfully."})),
        (status = 400, body = DrfFieldErrors), (status = 401, body = DrfDetail), (status = 403, body = DrfDetail),
        (status = 404, body = DrfDetail), (status = 409, body = DrfDetail)))]
async fn update_order(
    State(state): State<AppState>,
    ip: ClientIp,
    crate::extract::Staff(principal): crate::extract::Staff,
    DrfJson(body): DrfJson<DrfUpdateOrderRequest>,
) -> DrfResult<Response> {
    let id = OrderId::new(body.order_id.get().0);
    let ctx = ip.context();
    if body.is_paid.get() == Some(true) {
        state.services.payments.mark_paid(&principal, id, &ctx).await?;
    }
    if let Some(status) = body.status.get() {
        let current = state.services.orders.get(&Viewer::Signed(principal.clone()), id).await?;
        // Marking paid moved a pending order to `paid` already.
        if current.status != status {
            state.services.orders.set_status(&principal, id, status, &ctx).await?;
        }
    }
    Ok(axum::Json(json!({ "message": "Order updated successfully." })).into_response())
}
