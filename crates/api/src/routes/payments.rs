//! Payments: opening an order's checkout, the providers' webhooks and return
//! URLs, admin marking paid and refunding, and the test provider's own page.
//! Every handler only parses and renders; `Payments` applies the rule.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use emporium_domain::Error;
use emporium_domain::money::Money;
use emporium_domain::payments::PaymentMethod;
use emporium_service::payments::Applied;
use emporium_store::{PaymentRecord, RefundRecord};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::envelope::{Envelope, Reply};
use crate::error::{ApiResult, ErrorEnvelope};
use crate::extract::input::Line;
use crate::extract::{
    AdminAuth, ClientIp, IdPath, Json, MaybeAuth, Optional, OptionalJson, OrderToken, PathText, Query, Required,
};
use crate::routes::orders::{GivenOrderToken, GuestQuery, order_id, viewer};
use crate::views::OrderView;
use crate::{request_body, request_query};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(start_checkout))
        .routes(routes!(list_order_payments))
        .routes(routes!(mark_order_paid))
        .routes(routes!(refund_order))
        .routes(routes!(stripe_webhook))
        .routes(routes!(stripe_return))
        .routes(routes!(paypal_return))
        .routes(routes!(paypal_cancel_get, paypal_cancel_post))
}

/// The test provider's page, outside `/api/v1` (it is HTML for people, not API).
pub fn test_page_routes() -> axum::Router<AppState> {
    axum::Router::new()
        .route("/payments/test/{reference}", axum::routing::get(test_payment_page))
        .route("/payments/test/{reference}/pay", axum::routing::post(test_payment_pay))
        .route("/payments/test/{reference}/cancel", axum::routing::post(test_payment_cancel))
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CheckoutView {
    pub payment_id: String,
    /// stripe, paypal, test or manual.
    pub provider: String,
    /// pending, captured, failed, canceled or expired.
    pub status: String,
    /// Where to send the buyer to pay (absent for manual payment).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checkout_url: Option<String>,
    /// When the checkout stops accepting payment: never after the order's own expiry.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PaymentView {
    #[serde(rename = "_id")]
    pub id: String,
    pub order_id: String,
    pub provider: String,
    /// pending, captured, failed, canceled or expired.
    pub status: String,
    pub amount: f64,
    pub currency: String,
    pub checkout_url: Option<String>,
    pub expires_at: Option<String>,
    /// What the provider says it captured.
    pub captured: Option<f64>,
    pub refunded: f64,
    /// The captured amount or currency differed from the order's total.
    pub needs_review: bool,
    pub review_reason: Option<String>,
    pub failure_reason: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    #[serde(rename = "__v")]
    pub version: i64,
}

impl From<&PaymentRecord> for PaymentView {
    fn from(p: &PaymentRecord) -> Self {
        Self {
            id: p.id.to_string(),
            order_id: p.order_id.to_string(),
            provider: p.provider.clone(),
            status: p.status.as_str().to_string(),
            amount: p.amount.to_major_f64(),
            currency: p.currency.clone(),
            checkout_url: p.checkout_url.clone(),
            expires_at: p.expires_at.map(|t| t.to_rfc3339()),
            captured: p.captured.map(|c| c.to_major_f64()),
            refunded: p.refunded.to_major_f64(),
            needs_review: p.needs_review,
            review_reason: p.review_reason.clone(),
            failure_reason: p.failure_reason.clone(),
            created_at: p.created_at.to_rfc3339(),
            updated_at: p.updated_at.to_rfc3339(),
            version: p.version,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RefundView {
    #[serde(rename = "_id")]
    pub id: String,
    pub payment_id: String,
    pub amount: f64,
    /// pending (sent, not yet confirmed), succeeded or failed.
    pub status: String,
    pub reference: Option<String>,
    pub reason: String,
    pub restock: bool,
    pub created_at: String,
    pub updated_at: String,
}

impl From<&RefundRecord> for RefundView {
    fn from(r: &RefundRecord) -> Self {
        Self {
            id: r.id.to_string(),
            payment_id: r.payment_id.to_string(),
            amount: r.amount.to_major_f64(),
            status: r.status.as_str().to_string(),
            reference: r.reference.clone(),
            reason: r.reason.clone(),
            restock: r.restock,
            created_at: r.created_at.to_rfc3339(),
            updated_at: r.updated_at.to_rfc3339(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OrderPaymentsView {
    pub payments: Vec<PaymentView>,
    pub refunds: Vec<RefundView>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RefundedView {
    pub order: OrderView,
    pub refund: RefundView,
}

/// What a provider's return or webhook did, when no front end is configured to redirect to.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PaymentResultView {
    pub payment_id: String,
    pub order_id: String,
    /// The attempt's status: pending, captured, failed, canceled or expired.
    pub status: String,
    pub order_status: String,
    pub payment_status: String,
}

impl From<&Applied> for PaymentResultView {
    fn from(a: &Applied) -> Self {
        Self {
            payment_id: a.payment.id.to_string(),
            order_id: a.order.id.to_string(),
            status: a.payment.status.as_str().to_string(),
            order_status: a.order.status.as_str().to_string(),
            payment_status: a.order.payment_status.as_str().to_string(),
        }
    }
}

request_body! {
    /// How to pay, and (for guests) the order token.
    pub struct CheckoutRequest {
        /// `manual`, or a provider this server is configured with (`stripe`,
        /// `paypal`, `test`): the document lists exactly those.
        "provider" => provider: Required<PaymentMethod>,
        /// For guests: the order token from the answer that placed the order
        /// (or send it as `X-Order-Token`).
        "token" => token: Optional<GivenOrderToken>,
    }
}

/// Open the order's checkout (its owner, an admin, or the guest who placed
/// it). Only a pending, unpaid order. One live attempt per order: asking
/// again for the same provider returns the live attempt (200); asking for
/// another closes the live one at its provider and opens a new one (201).
/// `manual` records that the order is paid outside the site. A provider this
/// server is not configured with: 400 naming it. The provider down: 502, and
/// nothing changed.
#[utoipa::path(post, path = "/orders/{id}/checkout", tag = "payments", request_body = CheckoutRequest, security((), ("bearer" = [])),
    params(IdPath, ("X-Order-Token" = Option<String>, Header, description = "a guest's order token")),
    responses((status = 201, body = Envelope<CheckoutView>), (status = 200, body = Envelope<CheckoutView>), (status = 400, body = ErrorEnvelope),
        (status = 404, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope), (status = 502, body = ErrorEnvelope)))]
async fn start_checkout(
    State(state): State<AppState>,
    ip: ClientIp,
    auth: MaybeAuth,
    OrderToken(header): OrderToken,
    PathText(id): PathText,
    Json(body): Json<CheckoutRequest>,
) -> ApiResult<Reply<CheckoutView>> {
    let viewer = viewer(auth, header.or(body.token.get().map(|t| t.0)))?;
    let method = body.provider.get();
    let checkout = state.services.payments.checkout(&viewer, order_id(&id)?, method, &ip.context()).await?;
    let p = &checkout.payment;
    let view = CheckoutView {
        payment_id: p.id.to_string(),
        provider: p.provider.clone(),
        status: p.status.as_str().to_string(),
        checkout_url: p.checkout_url.clone(),
        expires_at: p.expires_at.map(|t| t.to_rfc3339()),
    };
    Ok(if checkout.created {
        Reply::created(view, "Checkout started successfully")
    } else {
        Reply::ok(view, "Checkout already in progress")
    })
}

/// The order's payment attempts and refunds, to whoever may see the order.
#[utoipa::path(get, path = "/orders/{id}/payments", tag = "payments", security((), ("bearer" = [])),
    params(IdPath, GuestQuery, ("X-Order-Token" = Option<String>, Header, description = "a guest's order token")),
    responses((status = 200, body = Envelope<OrderPaymentsView>), (status = 400, body = ErrorEnvelope), (status = 401, body = ErrorEnvelope),
        (status = 404, body = ErrorEnvelope)))]
async fn list_order_payments(
    State(state): State<AppState>,
    auth: MaybeAuth,
    OrderToken(header): OrderToken,
    PathText(id): PathText,
    Query(q): Query<GuestQuery>,
) -> ApiResult<Reply<OrderPaymentsView>> {
    let token = q.token.get().map(|t| t.0);
    let (payments, refunds) =
        state.services.payments.of_order(&viewer(auth, header.or(token))?, order_id(&id)?).await?;
    let view = OrderPaymentsView {
        payments: payments.iter().map(PaymentView::from).collect(),
        refunds: refunds.iter().map(RefundView::from).collect(),
    };
    Ok(Reply::ok(view, "Payments fetched successfully"))
}

/// Record that a manual order's money arrived (admin). The order becomes
/// paid; a manual order already processing or shipped keeps its status.
#[utoipa::path(post, path = "/orders/{id}/mark-paid", tag = "payments", security(("bearer" = [])), params(IdPath),
    request_body = Option<MarkPaidRequest>,
    responses((status = 200, body = Envelope<OrderView>), (status = 400, body = ErrorEnvelope), (status = 401, body = ErrorEnvelope), (status = 403, body = ErrorEnvelope),
        (status = 404, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope)))]
async fn mark_order_paid(
    State(state): State<AppState>,
    ip: ClientIp,
    AdminAuth(principal): AdminAuth,
    PathText(id): PathText,
    OptionalJson(_no_input): OptionalJson<MarkPaidRequest>,
) -> ApiResult<Reply<OrderView>> {
    let applied = state.services.payments.mark_paid(&principal, order_id(&id)?, &ip.context()).await?;
    Ok(Reply::ok(OrderView::from(&applied.order), "Order marked paid successfully"))
}

request_body! {
    /// Nothing: marking paid takes no input (an empty object, or no body).
    pub struct MarkPaidRequest {}
}

request_body! {
    /// How much to refund, and whether the goods go back in stock.
    pub struct RefundRequest {
        /// How much to refund; all that is left of the payment when absent.
        "amount" => amount: Optional<Money>,
        /// Put the goods back in stock (on a full refund). Defaults to true only while they have not shipped.
        "restock" => restock: Optional<bool>,
    }
}

/// Refund (part of) the order's payment through the provider that captured
/// it (admin); never more than is left of it. A full refund moves the order
/// to `refunded`.
#[utoipa::path(post, path = "/orders/{id}/refund", tag = "payments", security(("bearer" = [])), params(IdPath), request_body = Option<RefundRequest>,
    responses((status = 200, body = Envelope<RefundedView>), (status = 400, body = ErrorEnvelope), (status = 401, body = ErrorEnvelope),
        (status = 403, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope), (status = 502, body = ErrorEnvelope)))]
async fn refund_order(
    State(state): State<AppState>,
    ip: ClientIp,
    AdminAuth(principal): AdminAuth,
    PathText(id): PathText,
    OptionalJson(body): OptionalJson<RefundRequest>,
) -> ApiResult<Reply<RefundedView>> {
    let (amount, restock) = (body.amount.get(), body.restock.get());
    let (order, refund) =
        state.services.payments.refund(&principal, order_id(&id)?, amount, restock, &ip.context()).await?;
    let view = RefundedView { order: OrderView::from(&order), refund: RefundView::from(&refund) };
    Ok(Reply::ok(view, "Refund issued successfully"))
}

/// Stripe's webhook endpoint (point Stripe at it). The raw body is verified
/// against `Stripe-Signature`; a bad or missing signature, a tampered body or
/// a stale timestamp get 400 and change nothing; a redelivery gets 200.
#[utoipa::path(post, path = "/payments/stripe/webhook", tag = "payments", request_body(content = String, content_type = "application/json"),
    params(("Stripe-Signature" = String, Header)),
    responses((status = 200, body = Envelope<Option<PaymentResultView>>), (status = 400, body = ErrorEnvelope),
        (status = 404, body = ErrorEnvelope, description = "this server takes no Stripe payments"), (status = 502, body = ErrorEnvelope)))]
async fn stripe_webhook(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Reply<Option<PaymentResultView>>> {
    // A delivery without a signature is malformed whatever this server's
    // providers are: refused before anything else is looked at.
    if !headers.contains_key("stripe-signature") {
        return Err(Error::field("Stripe-Signature", "is required").into());
    }
    let applied = state.services.payments.webhook("stripe", &headers, &body).await?;
    Ok(Reply::ok(applied.as_ref().map(PaymentResultView::from), "Webhook received"))
}

request_query! {
    pub struct StripeReturnQuery {
        /// The Checkout Session's id, as Stripe appends it.
        "session_id" => session_id: Required<ProviderRef>,
    }
}

/// A provider's reference as it comes back in a return URL: one line.
type ProviderRef = Line<255>;

/// Where Stripe sends the buyer after paying: the session's state is read
/// from Stripe and applied, then the buyer is redirected to the front end
/// (`/checkout/success?order=…`, or `/cart` if it did not go through), or
/// answered with JSON when no front-end URL is configured.
#[utoipa::path(get, path = "/payments/stripe/return", tag = "payments", params(StripeReturnQuery),
    responses((status = 200, body = Envelope<PaymentResultView>), (status = 303, description = "to the front end"), (status = 400, body = ErrorEnvelope),
        (status = 404, body = ErrorEnvelope), (status = 502, body = ErrorEnvelope)))]
async fn stripe_return(State(state): State<AppState>, Query(q): Query<StripeReturnQuery>) -> ApiResult<Response> {
    let applied = state.services.payments.buyer_returned("stripe", &q.session_id.get().0).await?;
    Ok(back_to_shop(&state, &applied))
}

request_query! {
    pub struct PayPalReturnQuery {
        /// The PayPal order's id, as PayPal appends it.
        "token" => token: Required<ProviderRef>,
        /// Read and ignored: who paid is PayPal's to say when asked.
        "PayerID" => payer_id: Optional<ProviderRef>,
    }
}

request_query! {
    pub struct PayPalCancelQuery {
        /// The PayPal order's id, as PayPal appends it.
        "token" => token: Required<ProviderRef>,
    }
}

/// Where PayPal sends the buyer after approving: the order is captured
/// (once, however often this is called) and the capture's state applied.
#[utoipa::path(get, path = "/payments/paypal/return", tag = "payments", params(PayPalReturnQuery),
    responses((status = 200, body = Envelope<PaymentResultView>), (status = 303, description = "to the front end"), (status = 400, body = ErrorEnvelope),
        (status = 404, body = ErrorEnvelope), (status = 502, body = ErrorEnvelope)))]
async fn paypal_return(State(state): State<AppState>, Query(q): Query<PayPalReturnQuery>) -> ApiResult<Response> {
    // Who paid is PayPal's to say when asked; the query's PayerID proves nothing.
    let applied = state.services.payments.buyer_returned("paypal", &q.token.get().0).await?;
    Ok(back_to_shop(&state, &applied))
}

/// Where PayPal sends a buyer who gives up: the attempt is closed.
#[utoipa::path(get, path = "/payments/paypal/cancel", tag = "payments", params(PayPalCancelQuery),
    responses((status = 200, body = Envelope<PaymentResultView>), (status = 303, description = "to the front end"), (status = 400, body = ErrorEnvelope),
        (status = 404, body = ErrorEnvelope), (status = 502, body = ErrorEnvelope)))]
async fn paypal_cancel_get(State(state): State<AppState>, Query(q): Query<PayPalCancelQuery>) -> ApiResult<Response> {
    paypal_cancel(state, q).await
}

/// As `GET /payments/paypal/cancel`.
#[utoipa::path(post, path = "/payments/paypal/cancel", tag = "payments", params(PayPalCancelQuery),
    responses((status = 200, body = Envelope<PaymentResultView>), (status = 303, description = "to the front end"), (status = 400, body = ErrorEnvelope),
        (status = 404, body = ErrorEnvelope), (status = 502, body = ErrorEnvelope)))]
async fn paypal_cancel_post(State(state): State<AppState>, Query(q): Query<PayPalCancelQuery>) -> ApiResult<Response> {
    paypal_cancel(state, q).await
}

async fn paypal_cancel(state: AppState, q: PayPalCancelQuery) -> ApiResult<Response> {
    let applied = state.services.payments.buyer_cancelled("paypal", &q.token.get().0).await?;
    Ok(back_to_shop(&state, &applied))
}

/// A 303 to the front end, or the result as JSON when there is none.
fn back_to_shop(state: &AppState, applied: &Applied) -> Response {
    use emporium_domain::payments::AttemptStatus;
    let payments = &state.services.payments;
    if payments.settings().frontend_url.is_none() {
        return Reply::ok(PaymentResultView::from(applied), "Payment status applied").into_response();
    }
    let went_through = matches!(applied.payment.status, AttemptStatus::Captured | AttemptStatus::Pending);
    let to = if went_through {
        payments.success_url(applied.order.id)
    } else {
        payments.buyer_gave_up_url(applied.order.id)
    };
    Redirect::to(&to).into_response()
}

/// Escapes text for HTML: the page shows product names buyers and admins typed.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn page(status: StatusCode, title: &str, body: &str) -> Response {
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title} · Emporium test payment</title><style>body{{font-family:sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem}}\
         form{{display:inline-block;margin-right:1rem}}button{{font-size:1.1rem;padding:.5rem 1.5rem}}.note{{color:#a40}}</style></head>\
         <body><h1>{title}</h1>{body}<p class=\"note\">Emporium's test payment page: no money moves. Anyone who can open this page can pay with it.</p></body></html>",
        title = escape(title),
    );
    (status, [(header::CACHE_CONTROL, "no-store")], Html(html)).into_response()
}

fn error_page(e: Error) -> Response {
    match e {
        Error::NotFound(m) => page(StatusCode::NOT_FOUND, "Not found", &format!("<p>{}</p>", escape(&m))),
        Error::Conflict(m) => page(StatusCode::CONFLICT, "Cannot do that", &format!("<p>{}</p>", escape(&m))),
        Error::Validation(_) => page(StatusCode::NOT_FOUND, "Not found", "<p>Test payments are not enabled.</p>"),
        other => crate::error::ApiError::from(other).into_response(),
    }
}

async fn test_payment_page(State(state): State<AppState>, Path(reference): Path<String>) -> Response {
    let session = match state.services.payments.test_session(&reference).await {
        Ok(s) => s,
        Err(e) => return error_page(e),
    };
    let status = emporium_service::payments::describe(&session);
    let amount = format!("{} {}", session.amount, escape(&session.currency));
    let reference = escape(&session.reference);
    let body = if status == "open" {
        format!(
            "<p>Order <strong>{order}</strong>: <strong>{amount}</strong></p>\
             <form method=\"post\" action=\"/payments/test/{reference}/pay\"><button type=\"submit\">Pay {amount}</button></form>\
             <form method=\"post\" action=\"/payments/test/{reference}/cancel\"><button type=\"submit\">Cancel</button></form>",
            order = escape(&session.order_id),
        )
    } else {
        format!("<p>Order <strong>{}</strong>: this payment is {status}.</p>", escape(&session.order_id))
    };
    page(StatusCode::OK, "Pay for your order", &body)
}

async fn test_payment_pay(State(state): State<AppState>, Path(reference): Path<String>) -> Response {
    match state.services.payments.test_pay(&reference).await {
        Ok(applied) => after_test_page(&state, &applied, "Payment received"),
        Err(e) => error_page(e),
    }
}

async fn test_payment_cancel(State(state): State<AppState>, Path(reference): Path<String>) -> Response {
    match state.services.payments.test_cancel(&reference).await {
        Ok(applied) => after_test_page(&state, &applied, "Payment cancelled"),
        Err(e) => error_page(e),
    }
}

/// Back to the front end when there is one, or a page saying what happened.
fn after_test_page(state: &AppState, applied: &Applied, title: &str) -> Response {
    if state.services.payments.settings().frontend_url.is_some() {
        return back_to_shop(state, applied);
    }
    let body = format!(
        "<p>Order <strong>{}</strong> is <strong>{}</strong> ({}).</p>",
        applied.order.id,
        applied.order.status,
        applied.order.payment_status.as_str()
    );
    page(StatusCode::OK, title, &body)
}
