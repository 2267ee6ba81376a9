//! geekmobile's endpoints, in the document's order: catalog, search,
//! payments, user auth, the user's basket and orders, admin products, admin
//! auth and admin management. Each reads its request, calls the same
//! service as the native API, and renders the document's body.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use emporium_api::AppState;
use emporium_api::extract::input::{Keywords, Line, List, Stock};
use emporium_api::extract::{Input, Optional, Required};
use emporium_api::{request_body, request_query};
use emporium_domain::Error;
use emporium_domain::account::{Email, FullName, LoginName, Password, Role};
use emporium_domain::address::{AddressInput, ShippingAddress};
use emporium_domain::catalog::{CategoryKey, ProductDraft, ProductFilter, ProductPatch, SearchQuery};
use emporium_domain::error::FieldErrors;
use emporium_domain::ids::{OrderId, ProductId};
use emporium_domain::money::{Money, Percent};
use emporium_domain::orders::Quantity;
use emporium_domain::paging::{MAX_LIMIT, Page};
use emporium_domain::payments::PaymentMethod;
use emporium_service::Principal;
use emporium_service::accounts::SignInFailure;
use emporium_service::orders::{OrderRequest, Viewer};
use emporium_service::payments::ReturnUrls;
use emporium_store::{OrderFilter, ProductRecord};
use serde_json::{Value, json};
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{ObjectBuilder, Schema, SchemaType};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{GeekError, GeekResult, Location};
use crate::extract::{AdminSecret, AdminToken, Ctx, Documented, GeekJson, GeekQuery, UserToken};
use crate::views;

const TAG: &str = "geekmobile";
/// The base path, for the return URLs handed to PayPal.
const BASE: &str = "/compat/geekmobile";

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(geek(routes!(all_products)))
        .routes(geek(routes!(unique_product)))
        .routes(geek(routes!(category_products)))
        .routes(geek(routes!(search)))
        .routes(geek(routes!(create_payment)))
        .routes(geek(routes!(execute_payment)))
        .routes(geek(routes!(cancel_payment_get, cancel_payment_post)))
        .routes(geek(routes!(sign_in)))
        .routes(geek(routes!(sign_up)))
        .routes(geek(routes!(renew)))
        .routes(geek(routes!(replace_basket)))
        .routes(geek(routes!(add_to_basket)))
        .routes(geek(routes!(consult_order)))
        .routes(geek(routes!(create_product, delete_product, update_product)))
        .routes(geek(routes!(admin_auth)))
        .routes(geek(routes!(delete_user)))
}

/// A route whose wrong methods answer 405 in geekmobile's shape (a fallback
/// of its own, so the native one is not put in its place).
fn geek(route: utoipa_axum::router::UtoipaMethodRouter<AppState>) -> utoipa_axum::router::UtoipaMethodRouter<AppState> {
    let (schemas, paths, methods) = route;
    let wrong_method = || async { GeekError::msg(StatusCode::METHOD_NOT_ALLOWED, "Method not allowed on this route") };
    (schemas, paths, methods.fallback(wrong_method))
}

fn ok(status: StatusCode, body: Value) -> Response {
    (status, Json(body)).into_response()
}

/// A 302 to the front end, as Express's `res.redirect` answers.
fn found(to: &str) -> Response {
    let mut response = StatusCode::FOUND.into_response();
    if let Ok(location) = HeaderValue::from_str(to) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    response
}

fn front_end(state: &AppState) -> String {
    let settings = state.services.payments.settings();
    settings.frontend_url.clone().unwrap_or_else(|| settings.public_url.clone()).trim_end_matches('/').to_string()
}

// -- values ------------------------------------------------------------------

/// Anything: a member the document sends that is not trusted (a basket
/// line's name, price, stock…) and is re-read from the catalog instead.
pub struct Ignored;

impl Input for Ignored {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(SchemaType::AnyValue)
            .description(Some("Ignored: the server reads it from the catalog"))
            .into()
    }
    fn from_json(_: Value) -> Result<Self, String> {
        Ok(Ignored)
    }
}

/// A product description: at least 6 characters, as the document requires.
pub struct LongDescription(String);

impl Input for LongDescription {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .min_length(Some(6))
            .max_length(Some(emporium_domain::catalog::MAX_DESCRIPTION))
            .into()
    }
    fn from_json(value: Value) -> Result<Self, String> {
        let text = emporium_api::extract::input::Description::from_json(value)?.0;
        if text.chars().count() < 6 { Err("must have at least 6 characters".into()) } else { Ok(LongDescription(text)) }
    }
}

/// An absolute http(s) image URL.
pub struct Thumbnail(String);

impl Input for Thumbnail {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .format(Some(utoipa::openapi::schema::SchemaFormat::Custom("uri".into())))
            .max_length(Some(2048))
            .into()
    }
    fn from_json(value: Value) -> Result<Self, String> {
        let raw = Line::<2048>::from_json(value)?.0;
        emporium_domain::catalog::parse_image_url(&raw).map(Thumbnail)
    }
}

/// The document's message for an id that is not one (Mongo's own words;
/// here, an id is a positive integer).
const BAD_ID: &str = "Argument passed in must be a string of 12 bytes or a string of 24 hex characters or an integer";
const NO_PRODUCT: &str = "There is no product with the provided id";

fn product_not_found(e: Error, msg: &'static str) -> GeekError {
    match e {
        Error::NotFound(_) => GeekError::msg(StatusCode::NOT_FOUND, msg),
        other => other.into(),
    }
}

// -- catalog -------------------------------------------------------------------

/// Every product of a listing, page by page (the document has no paging).
async fn every_product(state: &AppState, category: Option<&CategoryKey>) -> GeekResult<Vec<ProductRecord>> {
    let mut all = Vec::new();
    for number in 1.. {
        let page = Page::new(Some(number), Some(MAX_LIMIT as i64), MAX_LIMIT)
            .map_err(|_| Error::internal("listing too long to page through"))?;
        let listing = match category {
            Some(key) => state.services.catalog.category_products(key, ProductFilter::default(), page).await?,
            None => state.services.catalog.products(None, ProductFilter::default(), page).await?,
        };
        let (products, total) = &*listing;
        all.extend(products.iter().map(|p| (**p).clone()));
        if products.is_empty() || all.len() as u64 >= *total {
            break;
        }
    }
    Ok(all)
}

/// All products.
#[utoipa::path(get, path = "/api/products", tag = TAG, responses((status = 200, description = "`{ok, data: {products, results}}`")))]
async fn all_products(State(state): State<AppState>) -> GeekResult<Response> {
    let products: Vec<Value> = every_product(&state, None).await?.iter().map(views::product).collect();
    Ok(ok(StatusCode::OK, json!({ "ok": true, "data": { "results": products.len(), "products": products } })))
}

request_query! {
    /// `?id=`
    pub struct UniqueQuery {
        /// The product's id.
        "id" => id: Required<ProductId>,
    }
}

impl Documented for UniqueQuery {
    fn message(field: &str) -> Option<&'static str> {
        (field == "id").then_some(BAD_ID)
    }
}

/// One product by its id.
#[utoipa::path(get, path = "/api/products/unique", tag = TAG, params(UniqueQuery),
    responses((status = 200, description = "`{ok, data: {product}}`"), (status = 404, description = "`{ok: false, msg}`")))]
async fn unique_product(State(state): State<AppState>, GeekQuery(q): GeekQuery<UniqueQuery>) -> GeekResult<Response> {
    let product = state
        .services
        .catalog
        .product(q.id.get())
        .await
        .map_err(|e| product_not_found(e, "The product does not exist with the provided identifier"))?;
    Ok(ok(StatusCode::OK, json!({ "ok": true, "data": { "product": views::product(&product) } })))
}

/// The products of a category, by its slug in upper case (`COMPONENTS`).
#[utoipa::path(get, path = "/api/products/category/{category}", tag = TAG,
    params(("category" = String, Path, description = "The category's slug, in any case")),
    responses((status = 200, description = "`{ok, data: {category, products}}`"), (status = 404, description = "`errors.category`")))]
async fn category_products(State(state): State<AppState>, Path(category): Path<String>) -> GeekResult<Response> {
    let invalid = || {
        GeekError::field(Location::Params, "category", "The category param is mandatory and must be valid")
            .with_status(StatusCode::NOT_FOUND)
    };
    if category.chars().any(char::is_control) {
        return Err(invalid());
    }
    // Only a slug names a category here, as the document's names do.
    let key = match CategoryKey::parse(&category) {
        Ok(key @ CategoryKey::Slug(_)) => key,
        _ => return Err(invalid()),
    };
    let record = match state.services.catalog.category(&key).await {
        Ok(record) => record,
        Err(Error::NotFound(_)) => return Err(invalid()),
        Err(e) => return Err(e.into()),
    };
    let products: Vec<Value> = every_product(&state, Some(&key)).await?.iter().map(views::product).collect();
    Ok(ok(
        StatusCode::OK,
        json!({ "ok": true, "data": { "category": views::category_name(&record.slug), "products": products } }),
    ))
}

request_query! {
    /// `?query=`
    pub struct SearchParams {
        /// What to look for (the store's full-text search).
        "query" => query: Required<SearchQuery>,
    }
}

impl Documented for SearchParams {
    fn message(field: &str) -> Option<&'static str> {
        (field == "query").then_some("The \"query\" parameter must have at least 1 character")
    }
}

/// Full-text search over the catalog (the document's Algolia); the 100 best matches.
#[utoipa::path(get, path = "/api/search", tag = TAG, params(SearchParams),
    responses((status = 200, description = "`{ok, queries}`"), (status = 400, description = "`errors.query`")))]
async fn search(State(state): State<AppState>, GeekQuery(q): GeekQuery<SearchParams>) -> GeekResult<Response> {
    let query = q.query.get();
    if query.is_empty() {
        // Only spaces or punctuation: nothing to search for.
        let msg = SearchParams::message("query").unwrap_or_default();
        return Err(GeekError::field(Location::Query, "query", msg));
    }
    let filter = ProductFilter { search: Some(query), ..ProductFilter::default() };
    let page = Page::new(Some(1), Some(MAX_LIMIT as i64), MAX_LIMIT).map_err(|_| Error::internal("page"))?;
    let found = state.services.catalog.products(None, filter, page).await?;
    let queries: Vec<Value> = found.0.iter().map(|p| views::search_hit(p)).collect();
    Ok(ok(StatusCode::OK, json!({ "ok": true, "queries": queries })))
}

// -- payments ------------------------------------------------------------------

request_body! {
    /// The shipping address, in the document's names.
    pub struct GeekmobileAddressBody {
        "firstName" => first_name: Required<Line<100>>,
        "lastName" => last_name: Required<Line<100>>,
        "address1" => address1: Required<Line<200>>,
        "phoneNumber" => phone_number: Required<Line<30>>,
        "countryRegion" => country_region: Required<Line<56>>,
        "zip" => zip: Required<Line<20>>,
        "state" => state: Required<Line<100>>,
        "locality" => locality: Required<Line<100>>,
        "sublocality" => sublocality: Required<Line<200>>,
    }
}

request_body! {
    /// `{address: {…}}`
    pub struct GeekmobilePaymentBody {
        "address" => address: Required<GeekmobileAddressBody>,
    }
}

/// The document's name for each native address part, and its message.
const ADDRESS_PARTS: [(&str, &str, &str); 9] = [
    ("firstName", "firstName", "Name is required"),
    ("lastName", "lastName", "Name is required"),
    ("address1", "address1", "The address1 field is required"),
    ("phone", "phoneNumber", "The phoneNumber is required"),
    ("country", "countryRegion", "The countryRegion is required"),
    ("postcode", "zip", "Zip code is required"),
    ("state", "state", "State is required"),
    ("city", "locality", "Locality is required"),
    ("address2", "sublocality", "sublocality is required"),
];

impl Documented for GeekmobilePaymentBody {
    fn message(field: &str) -> Option<&'static str> {
        let part = field.strip_prefix("address.")?;
        ADDRESS_PARTS.iter().find(|(_, doc, _)| *doc == part).map(|(_, _, msg)| *msg)
    }
}

/// The document's address as a shipping address: `locality` is the city,
/// `sublocality` the second address line, `zip` the postcode.
pub fn address(body: GeekmobileAddressBody) -> GeekResult<ShippingAddress> {
    let input = AddressInput {
        first_name: Some(body.first_name.get().0),
        last_name: Some(body.last_name.get().0),
        address1: Some(body.address1.get().0),
        address2: Some(body.sublocality.get().0),
        city: Some(body.locality.get().0),
        state: Some(body.state.get().0),
        postcode: Some(body.zip.get().0),
        country: Some(body.country_region.get().0),
        phone: Some(body.phone_number.get().0),
    };
    let mut errors = FieldErrors::new();
    let parsed = ShippingAddress::parse(input, "address", &mut errors);
    // `sublocality` and `state` are required by the document but optional
    // natively, where blank means absent: refuse blanks here.
    if errors.is_empty() && (parsed.as_ref().is_some_and(|a| a.address2().is_none() || a.state().is_none())) {
        let mut fields = Vec::new();
        if parsed.as_ref().is_some_and(|a| a.address2().is_none()) {
            fields.push(("address.sublocality".to_string(), "sublocality is required".to_string()));
        }
        if parsed.as_ref().is_some_and(|a| a.state().is_none()) {
            fields.push(("address.state".to_string(), "State is required".to_string()));
        }
        return Err(GeekError::fields(Location::Body, fields));
    }
    match parsed {
        Some(address) => Ok(address),
        None => Err(GeekError::fields(
            Location::Body,
            errors
                .into_vec()
                .into_iter()
                .map(|e| {
                    let part = e.field.strip_prefix("address.").unwrap_or(&e.field);
                    let doc = ADDRESS_PARTS.iter().find(|(native, _, _)| *native == part).map_or(part, |p| p.1);
                    (format!("address.{doc}"), format!("{doc} {}", e.message))
                })
                .collect(),
        )),
    }
}

fn return_urls(state: &AppState) -> ReturnUrls {
    let public = state.services.payments.settings().public_url.trim_end_matches('/').to_string();
    ReturnUrls {
        success: format!("{public}{BASE}/api/payments/execute_payment"),
        cancel: format!("{public}{BASE}/api/payments/cancel_payment"),
    }
}

/// Turns the basket into a pending order with this address (stock taken as
/// for any order) and a PayPal order to approve. The basket stays as it is
/// until the payment is captured.
#[utoipa::path(post, path = "/api/payments", tag = TAG, request_body = GeekmobilePaymentBody,
    params(("x-token" = String, Header, description = "The user's access token")),
    responses((status = 201, description = "`{ok, order: {link: {href, rel: \"approve\", method: \"GET\"}}}`"),
        (status = 400, description = "A missing or bad token, or `errors` naming each missing address field")))]
async fn create_payment(
    State(state): State<AppState>,
    UserToken(principal): UserToken,
    Ctx(ctx): Ctx,
    GeekJson(body): GeekJson<GeekmobilePaymentBody>,
) -> GeekResult<Response> {
    let shipping_address = address(body.address.get())?;
    if !state.services.payments.configured().contains(&"paypal") {
        return Err(GeekError::msg(
            StatusCode::SERVICE_UNAVAILABLE,
            "PayPal payments are not configured on this server",
        ));
    }
    let cart = state.services.carts.view(state.services.carts.resolve(Some(&principal), None).await?).await?;
    let mut items = Vec::with_capacity(cart.lines.len());
    for (line, _, _) in &cart.lines {
        let quantity = Quantity::new(line.quantity).map_err(|e| Error::field("basket", e))?;
        items.push((line.product_id, quantity));
    }
    if items.is_empty() {
        return Err(GeekError::msg(StatusCode::BAD_REQUEST, "The basket is empty"));
    }
    let request = OrderRequest {
        items: Some(items),
        shipping_address,
        email: None,
        notes: None,
        idempotency_key: None,
        request_hash: String::new(),
    };
    let placed = state.services.orders.place(Some(&principal), None, request, &ctx).await?;
    let id = placed.order.id;
    let viewer = Viewer::Signed(principal);
    let checkout = state
        .services
        .payments
        .checkout_returning_to(&viewer, id, PaymentMethod::PayPal, Some(&return_urls(&state)), &ctx)
        .await;
    let checkout = match checkout {
        Ok(checkout) => checkout,
        Err(e) => {
            // No PayPal order to approve: close the attempt and give the
            // stock back now, not at the sweep.
            if let Err(undo) = state.services.payments.cancel_order(&viewer, id, &ctx).await {
                tracing::warn!(order = %id, error = %undo, "could not cancel an order whose PayPal checkout failed");
            }
            return Err(e.into());
        }
    };
    let href = checkout.payment.checkout_url.unwrap_or_default();
    Ok(ok(
        StatusCode::CREATED,
        json!({ "ok": true, "order": { "link": { "href": href, "rel": "approve", "method": "GET" } } }),
    ))
}

request_query! {
    /// PayPal's return: `?token=&PayerID=`
    pub struct ExecuteQuery {
        /// The PayPal order id.
        "token" => token: Required<Line<128>>,
        /// The buyer's PayPal id (not trusted: the capture is asked of PayPal).
        "PayerID" => payer_id: Optional<Line<128>>,
    }
}

impl Documented for ExecuteQuery {
    fn message(field: &str) -> Option<&'static str> {
        (field == "token").then_some("The token is required")
    }
}

fn bad_token(e: Error) -> GeekError {
    match e {
        Error::NotFound(_) | Error::Validation(_) => GeekError::msg(StatusCode::BAD_REQUEST, "The token is invalid"),
        other => other.into(),
    }
}

fn encoded(value: &str) -> String {
    form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

/// The buyer is back from PayPal: the order is captured through the payments
/// service (exactly once, whoever else brings the news), the basket
/// emptied, and the buyer sent to the front end's confirmation page.
#[utoipa::path(get, path = "/api/payments/execute_payment", tag = TAG, params(ExecuteQuery),
    responses((status = 302, description = "To `{EMPORIUM_FRONTEND_URL}/checkout/execute_payment?id={token}`"),
        (status = 400, description = "`The token is invalid`")))]
async fn execute_payment(State(state): State<AppState>, GeekQuery(q): GeekQuery<ExecuteQuery>) -> GeekResult<Response> {
    let token = q.token.get().0;
    let applied = state.services.payments.buyer_returned("paypal", &token).await.map_err(bad_token)?;
    if !views::is_purchase(&applied.order) {
        return Err(GeekError::msg(StatusCode::BAD_REQUEST, "The payment was not approved at PayPal"));
    }
    if let Some(user) = applied.order.user_id {
        state.services.carts.clear_user_cart(user).await?;
    }
    Ok(found(&format!("{}/checkout/execute_payment?id={}", front_end(&state), encoded(&token))))
}

request_query! {
    /// PayPal's cancel: `?token=`
    pub struct CancelQuery {
        /// The PayPal order id.
        "token" => token: Required<Line<128>>,
    }
}

impl Documented for CancelQuery {
    fn message(field: &str) -> Option<&'static str> {
        (field == "token").then_some("The token is required")
    }
}

/// The buyer gave up at PayPal (which sends them back with a GET).
#[utoipa::path(get, path = "/api/payments/cancel_payment", tag = TAG, params(CancelQuery),
    responses((status = 302, description = "To `{EMPORIUM_FRONTEND_URL}/cart`"), (status = 400, description = "A missing or bad token")))]
async fn cancel_payment_get(
    State(state): State<AppState>,
    GeekQuery(q): GeekQuery<CancelQuery>,
) -> GeekResult<Response> {
    cancel_payment(state, q).await
}

/// As the GET; the document says POST.
#[utoipa::path(post, path = "/api/payments/cancel_payment", tag = TAG, params(CancelQuery),
    responses((status = 302, description = "To `{EMPORIUM_FRONTEND_URL}/cart`"), (status = 400, description = "A missing or bad token")))]
async fn cancel_payment_post(
    State(state): State<AppState>,
    GeekQuery(q): GeekQuery<CancelQuery>,
) -> GeekResult<Response> {
    cancel_payment(state, q).await
}

/// Closes the PayPal order, cancels the order and restocks it.
async fn cancel_payment(state: AppState, q: CancelQuery) -> GeekResult<Response> {
    state.services.payments.buyer_abandoned("paypal", &q.token.get().0).await.map_err(bad_token)?;
    Ok(found(&format!("{}/cart", front_end(&state))))
}

// -- user auth -------------------------------------------------------------------

request_body! {
    /// `{email, password}`
    pub struct GeekmobileSignInBody {
        "email" => email: Required<Line<254>>,
        "password" => password: Required<Line<128>>,
    }
}

impl Documented for GeekmobileSignInBody {
    fn message(field: &str) -> Option<&'static str> {
        match field {
            "email" => Some("The email is required"),
            "password" => Some("The password is required"),
            _ => None,
        }
    }
}

const NO_SUCH_USER: &str = "The user does not exist with that email";
const WRONG_PASSWORD: &str = "Wrong password";

fn failure(failure: SignInFailure) -> GeekError {
    match failure {
        SignInFailure::UnknownAccount => GeekError::msg(StatusCode::BAD_REQUEST, NO_SUCH_USER),
        SignInFailure::WrongPassword => GeekError::msg(StatusCode::BAD_REQUEST, WRONG_PASSWORD),
    }
}

/// The user object: the basket and the purchases as they are now.
async fn user_object(state: &AppState, principal: &Principal, token: &str) -> GeekResult<Value> {
    let user = state.services.accounts.current_user(principal).await?;
    let cart = state.services.carts.view(state.services.carts.resolve(Some(principal), None).await?).await?;
    let basket = views::basket(state, &cart).await;
    let page = Page::new(Some(1), Some(MAX_LIMIT as i64), MAX_LIMIT).map_err(|_| Error::internal("page"))?;
    let viewer = Principal { role: Role::User, ..principal.clone() };
    let (orders, _) = state.services.orders.list(&viewer, OrderFilter::default(), page).await?;
    let mut purchases = Vec::new();
    for order in orders.iter().filter(|o| views::is_purchase(o)) {
        purchases.push(views::purchase(state, order).await);
    }
    Ok(views::user(&user, token, basket, purchases))
}

/// Signs in. The document tells an unknown e-mail from a wrong password;
/// both answers take the same time (an unknown account is checked against
/// a dummy hash) and count against the same sign-in limits.
#[utoipa::path(post, path = "/api/auth", tag = TAG, request_body = GeekmobileSignInBody,
    responses((status = 200, description = "`{ok, user: {token, name, email, basket, pucharses}}`"),
        (status = 400, description = "`The user does not exist with that email` or `Wrong password`")))]
async fn sign_in(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    GeekJson(body): GeekJson<GeekmobileSignInBody>,
) -> GeekResult<Response> {
    let login = LoginName::parse(&body.email.get().0).map_err(|e| GeekError::field(Location::Body, "email", e))?;
    let password = body.password.get().0;
    let (_, tokens) =
        state.services.accounts.login_reporting(&login, &password, false, &ctx).await?.map_err(failure)?;
    let principal = state.services.accounts.authenticate(&tokens.access_token).await?;
    let user = user_object(&state, &principal, &tokens.access_token).await?;
    Ok(ok(StatusCode::OK, json!({ "ok": true, "user": user })))
}

request_body! {
    /// `{name, email, password}`
    pub struct GeekmobileSignUpBody {
        "name" => name: Required<FullName>,
        "email" => email: Required<Email>,
        /// The shop's password policy: 8+ characters with upper and lower case, a digit and a symbol.
        "password" => password: Required<Password>,
    }
}

impl Documented for GeekmobileSignUpBody {
    fn message(field: &str) -> Option<&'static str> {
        match field {
            "name" => Some("The name is required"),
            "email" => Some("The email is required and must be valid"),
            "password" => Some(
                "The password must have at least 8 characters with an upper-case letter, a lower-case letter, a digit and a special character",
            ),
            _ => None,
        }
    }
}

/// Creates an account (counted against the registration budget per IP) and signs it in.
#[utoipa::path(post, path = "/api/auth/new", tag = TAG, request_body = GeekmobileSignUpBody,
    responses((status = 201, description = "`{ok, user: {token, name, email, basket: {products: []}, pucharses: []}}`"),
        (status = 400, description = "An account with this e-mail exists, or `errors`")))]
async fn sign_up(
    State(state): State<AppState>,
    ip: emporium_api::extract::ClientIp,
    GeekJson(body): GeekJson<GeekmobileSignUpBody>,
) -> GeekResult<Response> {
    state.check_auth_budget(ip).await?;
    let ctx = ip.context();
    let created = state
        .services
        .accounts
        .register_without_username(body.name.get(), body.email.get(), body.password.get(), Role::User, "self", &ctx)
        .await;
    let (user, tokens) = match created {
        Ok(done) => done,
        Err(Error::Conflict(_)) => {
            return Err(GeekError::msg(StatusCode::BAD_REQUEST, "Un usuario ya existe con ese usuario"));
        }
        Err(e) => return Err(e.into()),
    };
    let user = views::user(&user, &tokens.access_token, Vec::new(), Vec::new());
    Ok(ok(StatusCode::CREATED, json!({ "ok": true, "user": user })))
}

/// A fresh access token for the same session, with the user as sign-in shows it.
#[utoipa::path(get, path = "/api/auth/renew", tag = TAG,
    params(("x-token" = String, Header, description = "The user's access token")),
    responses((status = 200, description = "`{ok, user}`"), (status = 400, description = "A missing or bad token")))]
async fn renew(State(state): State<AppState>, UserToken(principal): UserToken) -> GeekResult<Response> {
    let token = state.services.accounts.reissue_access(&principal).await?;
    let user = user_object(&state, &principal, &token).await?;
    Ok(ok(StatusCode::OK, json!({ "ok": true, "user": user })))
}

// -- the user's basket and orders ----------------------------------------------

request_body! {
    /// A basket line: only `id_product` and `quantity` are read; the rest is
    /// re-read from the catalog.
    pub struct GeekmobileBasketLine {
        "id_product" => id_product: Required<ProductId>,
        "quantity" => quantity: Required<Quantity>,
        "name" => name: Optional<Ignored>,
        "thumbnail" => thumbnail: Optional<Ignored>,
        "value" => value: Optional<Ignored>,
        "stock" => stock: Optional<Ignored>,
        "description" => description: Optional<Ignored>,
        "category" => category: Optional<Ignored>,
        "keywords" => keywords: Optional<Ignored>,
        "id" => id: Optional<Ignored>,
    }
}

request_body! {
    /// `{newBasket: [...]}`
    pub struct GeekmobileBasketBody {
        "newBasket" => new_basket: Required<List<GeekmobileBasketLine, 0, 100>>,
    }
}

impl Documented for GeekmobileBasketBody {
    fn message(field: &str) -> Option<&'static str> {
        if field == "newBasket" {
            Some("newBasket cannot be empty")
        } else if field.ends_with(".id_product") {
            Some(BAD_ID)
        } else if field.ends_with(".quantity") {
            Some("The quantity must be an integer from 1 to 1000")
        } else {
            None
        }
    }
}

async fn basket_answer(state: &AppState, cart: &emporium_service::carts::Cart) -> Response {
    let products = views::basket(state, cart).await;
    ok(StatusCode::OK, json!({ "ok": true, "user": { "products": products } }))
}

/// Replaces the basket with these lines (each product checked first, so an
/// unknown one changes nothing).
#[utoipa::path(put, path = "/api/user/update/basket", tag = TAG, request_body = GeekmobileBasketBody,
    params(("x-token" = String, Header, description = "The user's access token")),
    responses((status = 200, description = "`{ok, user: {products}}`"), (status = 400, description = "`errors`"),
        (status = 404, description = "A product that does not exist")))]
async fn replace_basket(
    State(state): State<AppState>,
    UserToken(principal): UserToken,
    GeekJson(body): GeekJson<GeekmobileBasketBody>,
) -> GeekResult<Response> {
    let lines: Vec<(ProductId, Quantity)> =
        body.new_basket.get().0.into_iter().map(|l| (l.id_product.get(), l.quantity.get())).collect();
    for (id, _) in &lines {
        state.services.catalog.product(*id).await.map_err(|e| product_not_found(e, NO_PRODUCT))?;
    }
    let carts = &state.services.carts;
    let mut cart = carts.clear(carts.resolve(Some(&principal), None).await?).await?;
    for (id, quantity) in lines {
        cart = carts.add(cart.handle, id, quantity).await.map_err(|e| product_not_found(e, NO_PRODUCT))?;
    }
    Ok(basket_answer(&state, &cart).await)
}

request_body! {
    /// `{id}`
    pub struct GeekmobileAddBody {
        /// The product's id.
        "id" => id: Required<ProductId>,
    }
}

impl Documented for GeekmobileAddBody {
    fn message(field: &str) -> Option<&'static str> {
        (field == "id").then_some(BAD_ID)
    }
}

/// Adds one of a product to the basket.
#[utoipa::path(put, path = "/api/user/update/add", tag = TAG, request_body = GeekmobileAddBody,
    params(("x-token" = String, Header, description = "The user's access token")),
    responses((status = 200, description = "`{ok, user: {products}}`"), (status = 400, description = "`errors.id`"),
        (status = 404, description = "`There is no product with the provided id`")))]
async fn add_to_basket(
    State(state): State<AppState>,
    UserToken(principal): UserToken,
    GeekJson(body): GeekJson<GeekmobileAddBody>,
) -> GeekResult<Response> {
    let one = Quantity::new(1).map_err(Error::internal)?;
    let carts = &state.services.carts;
    let cart = carts
        .add(carts.resolve(Some(&principal), None).await?, body.id.get(), one)
        .await
        .map_err(|e| product_not_found(e, NO_PRODUCT))?;
    Ok(basket_answer(&state, &cart).await)
}

request_query! {
    /// `?orderId=`
    pub struct OrderQuery {
        /// The order's id.
        "orderId" => order_id: Required<Line<40>>,
    }
}

impl Documented for OrderQuery {
    fn message(field: &str) -> Option<&'static str> {
        (field == "orderId").then_some(BAD_ID)
    }
}

/// One of the caller's orders (an admin's token sees any).
#[utoipa::path(get, path = "/api/user/consult/order", tag = TAG, params(OrderQuery,
        ("x-token" = String, Header, description = "The user's access token")),
    responses((status = 200, description = "The purchase"), (status = 403, description = "Someone else's"),
        (status = 404, description = "`No order found`")))]
async fn consult_order(
    State(state): State<AppState>,
    UserToken(principal): UserToken,
    GeekQuery(q): GeekQuery<OrderQuery>,
) -> GeekResult<Response> {
    let no_order = || GeekError::msg(StatusCode::NOT_FOUND, "No order found");
    let id: OrderId = q.order_id.get().0.trim().parse().map_err(|_| no_order())?;
    let order = match state.services.orders.get_or_forbidden(&Viewer::Signed(principal), id).await {
        Ok(order) => order,
        Err(Error::NotFound(_)) => return Err(no_order()),
        Err(Error::Forbidden(_)) => {
            return Err(GeekError::msg(StatusCode::FORBIDDEN, "You are not authorized to read the transaction"));
        }
        Err(e) => return Err(e.into()),
    };
    Ok(ok(StatusCode::OK, views::purchase(&state, &order).await))
}

// -- admin products ------------------------------------------------------------

request_body! {
    /// A new product, in the document's names.
    pub struct GeekmobileProductBody {
        "name" => name: Required<emporium_api::extract::input::Name<200>>,
        "description" => description: Required<LongDescription>,
        "thumbnail" => thumbnail: Required<Thumbnail>,
        /// The selling price.
        "value" => value: Required<Money>,
        /// A category's slug, in any case (`DEVICES`).
        "category" => category: Required<Line<100>>,
        "keywords" => keywords: Optional<Keywords>,
        "stock" => stock: Required<Stock>,
    }
}

request_body! {
    /// A partial update: the members given change.
    pub struct GeekmobileProductPatchBody {
        "name" => name: Optional<emporium_api::extract::input::Name<200>>,
        "description" => description: Optional<LongDescription>,
        "thumbnail" => thumbnail: Optional<Thumbnail>,
        "value" => value: Optional<Money>,
        "category" => category: Optional<Line<100>>,
        "keywords" => keywords: Optional<Keywords>,
        "stock" => stock: Optional<Stock>,
    }
}

fn product_message(field: &str) -> Option<&'static str> {
    match field {
        "name" => Some("The name is required"),
        "description" => Some("The description is required and must have a minimum of 6 characters"),
        "thumbnail" => Some("the thumbnail must be a URL"),
        "value" => Some("The value is required and must be of type number"),
        "category" => Some("The category does not exist"),
        "stock" => Some("Stock is required and must be of type Number"),
        _ => None,
    }
}

impl Documented for GeekmobileProductBody {
    fn message(field: &str) -> Option<&'static str> {
        product_message(field)
    }
}

impl Documented for GeekmobileProductPatchBody {
    fn message(field: &str) -> Option<&'static str> {
        product_message(field)
    }
}

/// The category a product body names by its slug, or the document's error.
async fn category_id(state: &AppState, raw: &str) -> GeekResult<emporium_domain::ids::CategoryId> {
    let missing = || GeekError::field(Location::Body, "category", "The category does not exist");
    let key = match CategoryKey::parse(raw) {
        Ok(key @ CategoryKey::Slug(_)) => key,
        _ => return Err(missing()),
    };
    match state.services.catalog.find_category(&key).await? {
        Some(c) => Ok(c.id),
        None => Err(missing()),
    }
}

request_query! {
    /// `?id=`
    pub struct ProductIdQuery {
        /// The product's id.
        "id" => id: Required<ProductId>,
    }
}

impl Documented for ProductIdQuery {
    fn message(field: &str) -> Option<&'static str> {
        (field == "id").then_some(BAD_ID)
    }
}

/// Creates a product (the `value` is its price, with no discount).
#[utoipa::path(post, path = "/api/admin/products", tag = TAG, request_body = GeekmobileProductBody,
    params(("Authorization" = String, Header, description = "An admin's access token")),
    responses((status = 201, description = "`{ok, data: {msg, name, id}}`"), (status = 400, description = "`errors`"),
        (status = 401, description = "A missing or bad admin token")))]
async fn create_product(
    State(state): State<AppState>,
    AdminToken(admin): AdminToken,
    Ctx(ctx): Ctx,
    GeekJson(body): GeekJson<GeekmobileProductBody>,
) -> GeekResult<Response> {
    let category_id = category_id(&state, &body.category.get().0).await?;
    let draft = ProductDraft {
        name: body.name.get().0,
        description: body.description.get().0,
        price: body.value.get(),
        discount: Percent::ZERO,
        category_id: Some(category_id),
        images: vec![body.thumbnail.get().0],
        stock: body.stock.get().0,
        available: true,
        keywords: body.keywords.get().map(|k| k.0).unwrap_or_default(),
        sku: None,
    };
    let product = state.services.catalog.create_product(&admin, draft, &ctx).await?;
    Ok(ok(
        StatusCode::CREATED,
        json!({ "ok": true, "data": {
            "msg": "The product was successfully saved", "name": product.draft.name, "id": product.id.to_string(),
        } }),
    ))
}

/// Removes a product from the catalog (orders keep their lines).
#[utoipa::path(delete, path = "/api/admin/products", tag = TAG, params(ProductIdQuery,
        ("Authorization" = String, Header, description = "An admin's access token")),
    responses((status = 200, description = "`{ok, msg}`"), (status = 404, description = "`There is no product with the provided id`")))]
async fn delete_product(
    State(state): State<AppState>,
    AdminToken(admin): AdminToken,
    Ctx(ctx): Ctx,
    GeekQuery(q): GeekQuery<ProductIdQuery>,
) -> GeekResult<Response> {
    state
        .services
        .catalog
        .delete_product(&admin, q.id.get(), &ctx)
        .await
        .map_err(|e| product_not_found(e, NO_PRODUCT))?;
    Ok(ok(StatusCode::OK, json!({ "ok": true, "msg": "The product was successfully removed" })))
}

/// Changes the members given (the document's query line is a copy error:
/// it takes the product's `id`).
#[utoipa::path(patch, path = "/api/admin/products", tag = TAG, request_body = GeekmobileProductPatchBody, params(ProductIdQuery,
        ("Authorization" = String, Header, description = "An admin's access token")),
    responses((status = 200, description = "`{ok, data: {product}}`"), (status = 404, description = "`There is no product with the provided id`")))]
async fn update_product(
    State(state): State<AppState>,
    AdminToken(admin): AdminToken,
    Ctx(ctx): Ctx,
    GeekQuery(q): GeekQuery<ProductIdQuery>,
    GeekJson(body): GeekJson<GeekmobileProductPatchBody>,
) -> GeekResult<Response> {
    let category_id = match body.category.get() {
        Some(raw) => Some(Some(category_id(&state, &raw.0).await?)),
        None => None,
    };
    let patch = ProductPatch {
        name: body.name.get().map(|n| n.0),
        description: body.description.get().map(|d| d.0),
        // The document's `value` is the selling price: setting it drops any discount.
        discount: body.value.is_some().then_some(Percent::ZERO),
        price: body.value.get(),
        category_id,
        images: body.thumbnail.get().map(|t| vec![t.0]),
        stock: body.stock.get().map(|s| s.0),
        available: None,
        keywords: body.keywords.get().map(|k| k.0),
        sku: None,
    };
    let product = state
        .services
        .catalog
        .update_product(&admin, q.id.get(), patch, None, &ctx)
        .await
        .map_err(|e| product_not_found(e, NO_PRODUCT))?;
    Ok(ok(StatusCode::OK, json!({ "ok": true, "data": { "product": views::product(&product) } })))
}

// -- admin auth and management ---------------------------------------------------

request_body! {
    /// `{email, password}` signs an admin in; with `name`, creates one.
    pub struct GeekmobileAdminAuthBody {
        "name" => name: Optional<FullName>,
        "email" => email: Required<Line<254>>,
        "password" => password: Required<Line<128>>,
    }
}

impl Documented for GeekmobileAdminAuthBody {
    fn message(field: &str) -> Option<&'static str> {
        match field {
            "name" => Some("The name must be valid"),
            "email" => Some("The email is required"),
            "password" => Some("The password is required"),
            _ => None,
        }
    }
}

/// With the static admin secret in `Authorization`: signs an existing admin
/// in, or (with `name`) creates an admin account, audited.
#[utoipa::path(post, path = "/api/admin/auth", tag = TAG, request_body = GeekmobileAdminAuthBody,
    params(("Authorization" = String, Header, description = "EMPORIUM_GEEKMOBILE_ADMIN_SECRET")),
    responses((status = 200, description = "`{ok, user: {name, token}}` (and `uid` on creation)"),
        (status = 400, description = "No such admin, wrong password, or an existing account"),
        (status = 401, description = "A missing or wrong secret, or none configured")))]
async fn admin_auth(
    State(state): State<AppState>,
    _: AdminSecret,
    Ctx(ctx): Ctx,
    GeekJson(body): GeekJson<GeekmobileAdminAuthBody>,
) -> GeekResult<Response> {
    let raw_email = body.email.get().0;
    let password = body.password.get().0;
    if let Some(name) = body.name.get() {
        let mut errors = Vec::new();
        let email = Email::parse(&raw_email).map_err(|e| errors.push(("email".to_string(), format!("email {e}")))).ok();
        let password =
            Password::parse(&password).map_err(|e| errors.push(("password".to_string(), format!("password {e}")))).ok();
        let (Some(email), Some(password)) = (email, password) else {
            return Err(GeekError::fields(Location::Body, errors));
        };
        let created = state
            .services
            .accounts
            .register_without_username(name, email, password, Role::Admin, "geekmobile_admin_secret", &ctx)
            .await;
        let (user, tokens) = match created {
            Ok(done) => done,
            Err(Error::Conflict(_)) => {
                return Err(GeekError::msg(StatusCode::BAD_REQUEST, "The user already exists with that email"));
            }
            Err(e) => return Err(e.into()),
        };
        return Ok(ok(
            StatusCode::OK,
            json!({ "ok": true, "user": { "uid": user.id.to_string(), "name": user.full_name, "token": tokens.access_token } }),
        ));
    }
    let login = LoginName::parse(&raw_email).map_err(|e| GeekError::field(Location::Body, "email", e))?;
    let (user, tokens) =
        state.services.accounts.login_reporting(&login, &password, true, &ctx).await?.map_err(failure)?;
    Ok(ok(StatusCode::OK, json!({ "ok": true, "user": { "name": user.full_name, "token": tokens.access_token } })))
}

request_body! {
    /// `{email}`
    pub struct GeekmobileDeleteUserBody {
        "email" => email: Required<Email>,
    }
}

impl Documented for GeekmobileDeleteUserBody {
    fn message(field: &str) -> Option<&'static str> {
        (field == "email").then_some("The email is required and must be valid")
    }
}

/// Deletes an account by its e-mail (audited; the last admin stays).
#[utoipa::path(delete, path = "/api/admin/delete/user", tag = TAG, request_body = GeekmobileDeleteUserBody,
    params(("Authorization" = String, Header, description = "An admin's access token")),
    responses((status = 200, description = "`{ok, msg}`"), (status = 404, description = "`The user does not exist with that email`")))]
async fn delete_user(
    State(state): State<AppState>,
    AdminToken(admin): AdminToken,
    Ctx(ctx): Ctx,
    GeekJson(body): GeekJson<GeekmobileDeleteUserBody>,
) -> GeekResult<Response> {
    let no_user = || GeekError::msg(StatusCode::NOT_FOUND, NO_SUCH_USER);
    let user = state.services.admin.user_by_email(&admin, &body.email.get()).await?.ok_or_else(no_user)?;
    match state.services.admin.delete_user(&admin, user.id, &ctx).await {
        Ok(()) => Ok(ok(StatusCode::OK, json!({ "ok": true, "msg": "The user was deleted successfully" }))),
        Err(Error::NotFound(_)) => Err(no_user()),
        Err(e) => Err(e.into()),
    }
}
