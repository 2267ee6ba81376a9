//! `/cart`: a signed-in user's cart by token, a guest's by `X-Cart-Key`.

use axum::extract::State;
use axum::http::HeaderValue;
use axum::response::{IntoResponse, Response};
use emporium_domain::Error;
use emporium_domain::error::FieldErrors;
use emporium_domain::ids::ProductId;
use emporium_domain::orders::MAX_QUANTITY;
use emporium_domain::orders::Quantity;
use emporium_service::carts::{Cart, CartHandle, QuantityChange};
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{ObjectBuilder, Schema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::envelope::{Envelope, Reply};
use crate::error::{ApiResult, ErrorEnvelope};
use crate::extract::input::{Int, ProductRef, one_of};
use crate::extract::{CartKey, Input, Json, MaybeAuth, Optional, PathText, ProductIdPath, Required, Slot};
use crate::request_body;
use crate::views::CartView;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_cart, clear_cart))
        .routes(routes!(add_cart_item))
        .routes(routes!(update_cart_item, remove_cart_item))
}

async fn handle(state: &AppState, auth: &MaybeAuth, key: &CartKey) -> ApiResult<CartHandle> {
    Ok(state.services.carts.resolve(auth.0.as_ref(), key.0.as_deref()).await?)
}

/// The cart envelope, with the guest's key also in `X-Cart-Key`.
fn reply(state: &AppState, cart: &Cart, message: &str) -> Response {
    let view = CartView::new(cart, state.services.orders.currency());
    let key = view.cart_key.clone();
    let mut response = Reply::ok(view, message).into_response();
    if let Some(key) = key.and_then(|k| HeaderValue::from_str(&k).ok()) {
        response.headers_mut().insert("x-cart-key", key);
    }
    response
}

/// A product id from a path or body: anything but a positive integer is not a product.
pub(crate) fn product_id(raw: &str) -> Result<ProductId, Error> {
    raw.parse().map_err(|_| Error::NotFound("Product not found".into()))
}

/// The caller's cart, with live prices. A guest's first call makes one and returns its `cartKey`.
#[utoipa::path(get, path = "/cart", tag = "cart", params(("X-Cart-Key" = Option<String>, Header, description = "a guest's cart key")),
    security((), ("bearer" = [])),
    responses((status = 200, body = Envelope<CartView>), (status = 401, body = ErrorEnvelope)))]
async fn get_cart(State(state): State<AppState>, auth: MaybeAuth, key: CartKey) -> ApiResult<Response> {
    let cart = state.services.carts.view(handle(&state, &auth, &key).await?).await?;
    Ok(reply(&state, &cart, "Cart fetched successfully"))
}

request_body! {
    /// A product to add.
    pub struct AddItemRequest {
        "productId" => product_id: Required<ProductRef>,
        /// Added to what the cart already holds.
        "quantity" => quantity: Required<Quantity>,
    }
}

/// Add a product. The line's new quantity must be in stock (409 INSUFFICIENT_STOCK otherwise).
#[utoipa::path(post, path = "/cart/items", tag = "cart", request_body = AddItemRequest, params(("X-Cart-Key" = Option<String>, Header)),
    security((), ("bearer" = [])),
    responses((status = 200, body = Envelope<CartView>), (status = 400, body = ErrorEnvelope), (status = 401, body = ErrorEnvelope),
        (status = 404, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope)))]
async fn add_cart_item(
    State(state): State<AppState>,
    auth: MaybeAuth,
    key: CartKey,
    Json(body): Json<AddItemRequest>,
) -> ApiResult<Response> {
    let product = product_id(&body.product_id.get().0)?;
    let quantity = body.quantity.get();
    let cart = state.services.carts.add(handle(&state, &auth, &key).await?, product, quantity).await?;
    Ok(reply(&state, &cart, "Item added to cart"))
}

/// A quantity to set: 0 to 10000 (0 removes the line).
type SetQuantity = Int<0, MAX_QUANTITY>;
/// A change: -10000 to 10000, never 0.
type Change = Int<{ -MAX_QUANTITY }, MAX_QUANTITY>;

request_body! {
    /// Send `quantity` or `change`, not both.
    pub struct UpdateItemRequest {
        /// Set the quantity (0 removes the line).
        "quantity" => quantity: Optional<SetQuantity>,
        /// Add or subtract (never 0); reaching 0 removes the line.
        "change" => change: Optional<Change>,
    }
    check = check_update;
    schema = update_schema;
}

fn check_update(body: &UpdateItemRequest, errors: &mut FieldErrors) {
    match (&body.quantity.0, &body.change.0) {
        (Some(_), Some(_)) => errors.push("quantity", "send quantity or change, not both"),
        (None, Some(Int(0))) => {
            errors.push("change", format!("must be a non-zero integer from -{MAX_QUANTITY} to {MAX_QUANTITY}"))
        }
        (None, None) if errors.is_empty() => errors.push("quantity", "quantity or change is required"),
        _ => {}
    }
}

/// Exactly one of `quantity` and `change`; a change is never 0.
fn update_schema(_: ObjectBuilder) -> RefOr<Schema> {
    let only = |name: &str, schema: RefOr<Schema>| crate::extract::object_schema(&[(name, schema, true, "")]).into();
    let change = one_of([Int::<{ -MAX_QUANTITY }, -1>::schema(), Int::<1, MAX_QUANTITY>::schema()]);
    one_of([
        only("quantity", <Required<SetQuantity> as Slot>::schema()),
        only("change", crate::extract::input::describe(change, "Add or subtract; reaching 0 removes the line")),
    ])
}

/// Set a line's quantity, or change it by ±n.
#[utoipa::path(patch, path = "/cart/items/{productId}", tag = "cart", request_body = UpdateItemRequest,
    params(ProductIdPath, ("X-Cart-Key" = Option<String>, Header)), security((), ("bearer" = [])),
    responses((status = 200, body = Envelope<CartView>), (status = 400, body = ErrorEnvelope), (status = 401, body = ErrorEnvelope),
        (status = 404, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope)))]
async fn update_cart_item(
    State(state): State<AppState>,
    auth: MaybeAuth,
    key: CartKey,
    PathText(product): PathText,
    Json(body): Json<UpdateItemRequest>,
) -> ApiResult<Response> {
    let change = match (body.quantity.get(), body.change.get()) {
        (Some(Int(q)), _) => QuantityChange::To(q),
        (None, Some(Int(c))) => QuantityChange::By(c),
        (None, None) => unreachable!("the request was checked to have one of them"),
    };
    let product = product_id(&product)?;
    let cart = state.services.carts.change(handle(&state, &auth, &key).await?, product, change).await?;
    Ok(reply(&state, &cart, "Cart updated successfully"))
}

/// Remove a line.
#[utoipa::path(delete, path = "/cart/items/{productId}", tag = "cart", params(ProductIdPath, ("X-Cart-Key" = Option<String>, Header)),
    security((), ("bearer" = [])),
    responses((status = 200, body = Envelope<CartView>), (status = 401, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope)))]
async fn remove_cart_item(
    State(state): State<AppState>,
    auth: MaybeAuth,
    key: CartKey,
    PathText(product): PathText,
) -> ApiResult<Response> {
    let product = product_id(&product)?;
    let cart = state.services.carts.remove(handle(&state, &auth, &key).await?, product).await?;
    Ok(reply(&state, &cart, "Item removed from cart"))
}

/// Empty the cart.
#[utoipa::path(delete, path = "/cart", tag = "cart", params(("X-Cart-Key" = Option<String>, Header)),
    security((), ("bearer" = [])),
    responses((status = 200, body = Envelope<CartView>), (status = 401, body = ErrorEnvelope)))]
async fn clear_cart(State(state): State<AppState>, auth: MaybeAuth, key: CartKey) -> ApiResult<Response> {
    let cart = state.services.carts.clear(handle(&state, &auth, &key).await?).await?;
    Ok(reply(&state, &cart, "Cart cleared"))
}
