//! `/admin/orders`: the list (by status, date range, and a search over order
//! number, e-mail and customer name) and an order's page with everything
//! about it and the actions its lifecycle allows now.

use askama::Template;
use axum::Extension;
use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect};
use axum::routing::{get, post};
use emporium_api::AppState;
use emporium_api::extract::ClientIp;
use emporium_domain::Error;
use emporium_domain::ids::OrderId;
use emporium_domain::money::Money;
use emporium_domain::orders::{OrderStatus, PaymentStatus};
use emporium_domain::paging::Page;
use emporium_service::Principal;
use emporium_service::orders::Viewer;
use emporium_store::{MailFilter, OrderFilter, OrderRecord};

use super::{Pager, date, page_of, query, when};
use crate::form::Form;
use crate::render::{self, Layout, PageError, PageResult};
use crate::session::AdminUser;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/admin/orders", get(list))
        .route("/admin/orders/{id}", get(detail))
        .route("/admin/orders/{id}/status", post(set_status))
        .route("/admin/orders/{id}/cancel", post(cancel))
        .route("/admin/orders/{id}/mark-paid", post(mark_paid))
        .route("/admin/orders/{id}/refund", post(refund))
}

fn order_id(raw: &str) -> Result<OrderId, PageError> {
    raw.parse().map_err(|_| PageError::new(StatusCode::NOT_FOUND, "Order not found"))
}

/// An order as a list row shows it.
pub struct OrderRow {
    pub id: OrderId,
    pub placed: String,
    pub email: String,
    pub name: String,
    pub status: &'static str,
    pub payment: &'static str,
    pub items: usize,
    pub total: Money,
}

fn address_name(order: &OrderRecord) -> String {
    let address = serde_json::to_value(&order.shipping_address).unwrap_or_default();
    let part = |k: &str| address.get(k).and_then(|v| v.as_str()).unwrap_or("").to_string();
    format!("{} {}", part("firstName"), part("lastName")).trim().to_string()
}

impl From<&OrderRecord> for OrderRow {
    fn from(o: &OrderRecord) -> Self {
        Self {
            id: o.id,
            placed: when(o.created_at),
            email: o.email.clone(),
            name: address_name(o),
            status: o.status.as_str(),
            payment: o.payment_status.as_str(),
            items: o.items.len(),
            total: o.totals.total,
        }
    }
}

#[derive(Template)]
#[template(path = "orders.html")]
struct OrderList {
    layout: Layout,
    statuses: Vec<&'static str>,
    status: String,
    from: String,
    to: String,
    search: String,
    orders: Vec<OrderRow>,
    pager: Pager,
}

async fn list(
    State(state): State<AppState>,
    Extension(AdminUser(principal)): Extension<AdminUser>,
    RawQuery(raw): RawQuery,
) -> PageResult {
    let q = query(raw);
    let mut errors = Vec::new();
    let status_raw = q.text("status").trim().to_string();
    let status = match status_raw.as_str() {
        "" => None,
        s => OrderStatus::parse(s).map_err(|e| errors.push(format!("Status {e}"))).ok(),
    };
    let since = date(&q, "from", &mut errors, "From");
    // "To" names a whole day: everything before the next midnight.
    let until = date(&q, "to", &mut errors, "To").map(|t| t.plus_secs(24 * 3600));
    let search = q.text("q").trim().to_string();
    let filter = OrderFilter {
        status,
        since,
        until,
        search: Some(search.clone()).filter(|s| !s.is_empty()),
        user_id: None,
        guest_token_hash: None,
    };
    let page = page_of(&q, 25);
    let (orders, total) = state.services.orders.list(&principal, filter, page).await?;
    let pairs = [
        ("status", status_raw.clone()),
        ("from", q.text("from").to_string()),
        ("to", q.text("to").to_string()),
        ("q", search.clone()),
    ];
    render::ok(&OrderList {
        layout: Layout::new("Orders", "orders").with_error((!errors.is_empty()).then(|| errors.join("; "))),
        statuses: OrderStatus::ALL.iter().map(|s| s.as_str()).collect(),
        status: status_raw,
        from: q.text("from").to_string(),
        to: q.text("to").to_string(),
        search,
        orders: orders.iter().map(OrderRow::from).collect(),
        pager: Pager::new("/admin/orders", &pairs, page, total),
    })
}

pub struct Line {
    pub product_id: String,
    pub name: String,
    pub quantity: i64,
    pub unit_price: Money,
    pub discount: f64,
    pub unit_sell_price: Money,
    pub line_total: Money,
}

pub struct Event {
    pub at: String,
    pub from: String,
    pub to: &'static str,
    pub actor: String,
    pub reason: String,
}

pub struct PaymentLine {
    pub id: String,
    pub provider: String,
    pub status: String,
    pub amount: Money,
    pub captured: String,
    pub refunded: Money,
    pub review: String,
    pub created: String,
}

pub struct RefundLine {
    pub id: String,
    pub amount: Money,
    pub status: &'static str,
    pub reason: String,
    pub created: String,
}

pub struct MailLine {
    pub kind: String,
    pub to: String,
    pub status: &'static str,
    pub attempts: i64,
    pub when: String,
    pub error: String,
}

#[derive(Template)]
#[template(path = "order.html")]
struct OrderPage {
    layout: Layout,
    order: OrderRow,
    currency: String,
    subtotal: Money,
    discount_total: Money,
    method: String,
    notes: String,
    address: Vec<(String, String)>,
    lines: Vec<Line>,
    events: Vec<Event>,
    payments: Vec<PaymentLine>,
    refunds: Vec<RefundLine>,
    mails: Vec<MailLine>,
    next_statuses: Vec<&'static str>,
    can_cancel: bool,
    can_mark_paid: bool,
    can_refund: bool,
}

async fn detail_page(
    state: &AppState,
    principal: &Principal,
    id: OrderId,
    status: StatusCode,
    notice: Option<&str>,
    error: Option<String>,
) -> PageResult {
    let viewer = Viewer::Signed(principal.clone());
    let order = state.services.orders.get(&viewer, id).await?;
    let (payments, refunds) = state.services.payments.of_order(&viewer, id).await?;
    let mail_filter = MailFilter { status: None, recipient: Some(order.email.to_lowercase()) };
    let (mails, _) = state
        .services
        .outbox
        .list(principal, &mail_filter, Page::new(None, Some(100), 100).expect("a valid page"))
        .await?;
    let prefix = format!("order:{id}:");
    let address = match serde_json::to_value(&order.shipping_address).unwrap_or_default() {
        serde_json::Value::Object(map) => {
            map.into_iter().filter_map(|(k, v)| v.as_str().map(|s| (k, s.to_string()))).collect()
        }
        _ => Vec::new(),
    };
    let (method, payment_status) = (order.payment_method, order.payment_status);
    let next_statuses = OrderStatus::ALL
        .into_iter()
        .filter(|to| !matches!(to, OrderStatus::Cancelled | OrderStatus::Paid | OrderStatus::Refunded))
        .filter(|to| order.status.can_become_for(*to, method, payment_status))
        .map(OrderStatus::as_str)
        .collect();
    let page = OrderPage {
        layout: Layout::new(format!("Order #{id}"), "orders").with_notice(notice).with_error(error),
        order: OrderRow::from(&order),
        currency: order.currency.clone(),
        subtotal: order.totals.subtotal,
        discount_total: order.totals.discount_total,
        method: method.map(|m| m.to_string()).unwrap_or_else(|| "not chosen yet".into()),
        notes: order.notes.clone().unwrap_or_default(),
        address,
        lines: order
            .items
            .iter()
            .map(|i| Line {
                product_id: i.product_id.to_string(),
                name: i.name.clone(),
                quantity: i.quantity,
                unit_price: i.unit_price,
                discount: i.discount.to_f64(),
                unit_sell_price: i.unit_sell_price,
                line_total: i.line_total,
            })
            .collect(),
        events: order
            .events
            .iter()
            .map(|e| Event {
                at: when(e.at),
                from: e.from.map(|f| f.as_str().to_string()).unwrap_or_default(),
                to: e.to.as_str(),
                actor: e.actor.clone(),
                reason: e.reason.clone().unwrap_or_default(),
            })
            .collect(),
        payments: payments
            .iter()
            .map(|p| PaymentLine {
                id: p.id.to_string(),
                provider: p.provider.clone(),
                status: p.status.to_string(),
                amount: p.amount,
                captured: p.captured.map(|c| c.to_string()).unwrap_or_default(),
                refunded: p.refunded,
                review: if p.needs_review {
                    p.review_reason.clone().unwrap_or_else(|| "needs review".into())
                } else {
                    String::new()
                },
                created: when(p.created_at),
            })
            .collect(),
        refunds: refunds
            .iter()
            .map(|r| RefundLine {
                id: r.id.to_string(),
                amount: r.amount,
                status: r.status.as_str(),
                reason: r.reason.clone(),
                created: when(r.created_at),
            })
            .collect(),
        mails: mails
            .iter()
            .filter(|m| m.key.starts_with(&prefix))
            .map(|m| MailLine {
                kind: m.kind.clone(),
                to: m.to_address.clone(),
                status: m.status.as_str(),
                attempts: m.attempts,
                when: when(m.sent_at.unwrap_or(m.created_at)),
                error: m.last_error.clone().unwrap_or_default(),
            })
            .collect(),
        next_statuses,
        can_cancel: order.status.can_become(OrderStatus::Cancelled),
        can_mark_paid: payment_status == PaymentStatus::Unpaid
            && !matches!(order.status, OrderStatus::Cancelled | OrderStatus::Refunded),
        can_refund: payment_status == PaymentStatus::Paid,
    };
    render::html(status, &page)
}

async fn detail(
    State(state): State<AppState>,
    Extension(AdminUser(principal)): Extension<AdminUser>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> PageResult {
    let q = query(raw);
    detail_page(&state, &principal, order_id(&id)?, StatusCode::OK, q.optional("notice"), None).await
}

/// After an action: back to the order with a notice, or the order again
/// with the service's refusal above it (and nothing changed).
async fn after_action<T>(
    state: &AppState,
    principal: &Principal,
    id: OrderId,
    outcome: Result<T, Error>,
    notice: &str,
) -> PageResult {
    match outcome {
        Ok(_) => Ok(Redirect::to(&format!("/admin/orders/{id}?notice={notice}")).into_response()),
        Err(e @ (Error::Conflict(_) | Error::Validation(_) | Error::Upstream(_) | Error::InsufficientStock { .. })) => {
            let status = render::status_of(&e);
            detail_page(state, principal, id, status, None, Some(render::message_of(&e))).await
        }
        Err(other) => Err(other.into()),
    }
}

async fn set_status(
    State(state): State<AppState>,
    ip: ClientIp,
    Extension(AdminUser(principal)): Extension<AdminUser>,
    Path(id): Path<String>,
    form: Form,
) -> PageResult {
    let id = order_id(&id)?;
    let outcome = match OrderStatus::parse(form.text("status")) {
        Ok(to) => state.services.orders.set_status(&principal, id, to, &ip.context()).await,
        Err(e) => Err(Error::field("status", e)),
    };
    after_action(&state, &principal, id, outcome, "status").await
}

async fn cancel(
    State(state): State<AppState>,
    ip: ClientIp,
    Extension(AdminUser(principal)): Extension<AdminUser>,
    Path(id): Path<String>,
) -> PageResult {
    let id = order_id(&id)?;
    let outcome = state.services.payments.cancel_order(&Viewer::Signed(principal.clone()), id, &ip.context()).await;
    after_action(&state, &principal, id, outcome, "cancelled").await
}

async fn mark_paid(
    State(state): State<AppState>,
    ip: ClientIp,
    Extension(AdminUser(principal)): Extension<AdminUser>,
    Path(id): Path<String>,
) -> PageResult {
    let id = order_id(&id)?;
    let outcome = state.services.payments.mark_paid(&principal, id, &ip.context()).await;
    after_action(&state, &principal, id, outcome, "paid").await
}

/// A refund of `amount` (blank: all that is left), restocking as chosen
/// (`default`: the service's rule, only while the goods have not shipped).
async fn refund(
    State(state): State<AppState>,
    ip: ClientIp,
    Extension(AdminUser(principal)): Extension<AdminUser>,
    Path(id): Path<String>,
    form: Form,
) -> PageResult {
    let id = order_id(&id)?;
    let amount = match form.optional("amount").map(Money::from_decimal_str).transpose() {
        Ok(a) => a,
        Err(e) => {
            return after_action::<()>(&state, &principal, id, Err(Error::field("amount", e)), "refunded").await;
        }
    };
    let restock = match form.text("restock") {
        "yes" => Some(true),
        "no" => Some(false),
        _ => None,
    };
    let outcome = state.services.payments.refund(&principal, id, amount, restock, &ip.context()).await;
    after_action(&state, &principal, id, outcome, "refunded").await
}
