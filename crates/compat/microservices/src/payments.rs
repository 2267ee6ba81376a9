//! Payment Service (API5): a Stripe Checkout Session for the caller's
//! latest pending order, through the native payments service — the order
//! is paid only when Stripe says so (its signed webhook, or Stripe's answer
//! when the buyer returns), exactly once.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use emporium_api::AppState;
use emporium_api::extract::input::{Int, Line};
use emporium_api::extract::{Optional, Required};
use emporium_api::{request_body, request_query};
use emporium_domain::ids::OrderId;
use emporium_domain::orders::{OrderStatus, PaymentStatus};
use emporium_domain::paging::Page;
use emporium_domain::payments::{AttemptStatus, PaymentMethod};
use emporium_service::payments::ReturnUrls;
use emporium_store::OrderFilter;
use serde::Serialize;
use serde_json::json;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{DrfDetail, DrfError, DrfFieldErrors, DrfResult};
use crate::extract::{DrfJson, DrfQuery, QueryCartKey, User, cart_key};
use crate::orders::viewer;
use crate::{BASE_PATH, TAG, drf};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(drf(routes!(create_checkout_session)))
        .routes(drf(routes!(payment_success)))
        .routes(drf(routes!(payment_canceled)))
}

request_body! {
    /// A guest's cart key; a signed-in user sends nothing. `order_id` (not
    /// in the document) picks one of the caller's pending orders instead of
    /// the latest.
    pub struct DrfCheckoutRequest {
        "cart_key" => cart_key: Optional<Line<128>>,
        "order_id" => order_id: Optional<Int<1, 999_999_999_999>>,
    }
}

#[derive(Serialize, ToSchema)]
pub struct DrfCheckoutSession {
    /// Stripe's hosted payment page.
    pub checkout_url: String,
}

fn no_order() -> DrfError {
    DrfError::detail(StatusCode::NOT_FOUND, "No pending order to pay.")
}

/// The caller's newest order still waiting for its payment.
async fn latest_pending(state: &AppState, user: &User, key: Option<&str>) -> DrfResult<OrderId> {
    let pending =
        |o: &emporium_store::OrderRecord| o.status == OrderStatus::Pending && o.payment_status == PaymentStatus::Unpaid;
    let first = Page::new(Some(1), Some(100), 100).map_err(|_| no_order())?;
    let orders = match (&user.0, key) {
        (Some(principal), _) => {
            let filter = OrderFilter {
                user_id: Some(principal.user_id),
                status: Some(OrderStatus::Pending),
                ..OrderFilter::default()
            };
            state.services.orders.list(principal, filter, first).await?.0
        }
        (None, Some(key)) => state.services.orders.guest_cart_orders(key, first).await?.0,
        (None, None) => return Err(DrfError::field("cart_key", "This field is required.")),
    };
    orders.iter().find(|o| pending(o)).map(|o| o.id).ok_or_else(no_order)
}

/// Where Stripe sends the buyer back to: this dialect's own pages.
fn return_urls(state: &AppState) -> ReturnUrls {
    let public = state.services.payments.settings().public_url.trim_end_matches('/').to_string();
    ReturnUrls {
        success: format!("{public}{BASE_PATH}/api/v1/payments/success/?session_id={{CHECKOUT_SESSION_ID}}"),
        cancel: format!("{public}{BASE_PATH}/api/v1/payments/cancel/"),
    }
}

/// Open (or return) a Stripe Checkout Session for the caller's latest pending order.
#[utoipa::path(post, path = "/api/v1/payments/create-checkout-session/", tag = TAG, request_body = DrfCheckoutRequest,
    security((), ("bearer" = [])),
    responses((status = 200, body = DrfCheckoutSession), (status = 400, body = DrfFieldErrors), (status = 401, body = DrfDetail),
        (status = 404, body = DrfDetail), (status = 409, body = DrfDetail), (status = 502, body = DrfDetail), (status = 503, body = DrfDetail)))]
async fn create_checkout_session(
    State(state): State<AppState>,
    ip: emporium_api::extract::ClientIp,
    user: User,
    query: QueryCartKey,
    DrfJson(body): DrfJson<DrfCheckoutRequest>,
) -> DrfResult<Response> {
    if !state.services.payments.configured().contains(&"stripe") {
        return Err(DrfError::detail(
            StatusCode::SERVICE_UNAVAILABLE,
            "Stripe payments are not configured on this server.",
        ));
    }
    let key = cart_key(body.cart_key.get(), query);
    let viewer = viewer(&state, &user, key.as_deref())?;
    let id = match body.order_id.get() {
        Some(Int(id)) => OrderId::new(id),
        None => latest_pending(&state, &user, key.as_deref()).await?,
    };
    let urls = return_urls(&state);
    let checkout = state
        .services
        .payments
        .checkout_returning_to(&viewer, id, PaymentMethod::Stripe, Some(&urls), &ip.context())
        .await?;
    let checkout_url = checkout.payment.checkout_url.ok_or_else(|| {
        DrfError::detail(StatusCode::BAD_GATEWAY, "Stripe did not return a checkout page; try again.")
    })?;
    Ok(axum::Json(DrfCheckoutSession { checkout_url }).into_response())
}

request_query! {
    /// What Stripe appends to the success URL.
    pub struct SuccessQuery {
        "session_id" => session_id: Required<Line<255>>,
    }
}

/// Where Stripe sends the buyer after paying. The session's state is read
/// from Stripe (never from this query) and applied: `{"status": "success"}`
/// once the order is paid, `{"status": "canceled"}` if the session ended
/// unpaid, and 202 `{"status": "pending"}` while Stripe has not confirmed.
#[utoipa::path(get, path = "/api/v1/payments/success/", tag = TAG, params(SuccessQuery),
    responses((status = 200, body = Object, example = json!({"status": "success"})),
        (status = 202, body = Object, example = json!({"status": "pending"})),
        (status = 400, body = DrfFieldErrors), (status = 404, body = DrfDetail), (status = 502, body = DrfDetail)))]
async fn payment_success(State(state): State<AppState>, DrfQuery(q): DrfQuery<SuccessQuery>) -> DrfResult<Response> {
    let applied = state.services.payments.buyer_returned("stripe", &q.session_id.get().0).await?;
    let (status, word) = if applied.order.payment_status == PaymentStatus::Paid {
        (StatusCode::OK, "success")
    } else if matches!(applied.payment.status, AttemptStatus::Failed | AttemptStatus::Canceled | AttemptStatus::Expired)
    {
        (StatusCode::OK, "canceled")
    } else {
        (StatusCode::ACCEPTED, "pending")
    };
    Ok((status, axum::Json(json!({ "status": word }))).into_response())
}

/// Where Stripe sends a buyer who gave up. Nothing is changed: the session
/// stays open until the order's time to be paid runs out (then the sweep
/// closes it and returns the stock), so the buyer may still come back.
#[utoipa::path(get, path = "/api/v1/payments/cancel/", tag = TAG,
    responses((status = 200, body = Object, example = json!({"status": "canceled"}))))]
async fn payment_canceled() -> Response {
    axum::Json(json!({ "status": "canceled" })).into_response()
}

#[allow(dead_code)]
fn _schemas(_: DrfDetail, _: DrfFieldErrors) {}
