//! Orders: placing them, who may see them, and their lifecycle.

use std::sync::Arc;
use std::time::Duration;

use emporium_domain::account::Email;
use emporium_domain::address::ShippingAddress;
use emporium_domain::ids::{CartId, OrderId, ProductId, UserId};
use emporium_domain::orders::{OrderStatus, PricedLine, Quantity, Totals, merge_lines};
use emporium_domain::paging::Page;
use emporium_domain::time::Timestamp;
use emporium_domain::{Error, Result};
use emporium_store::{
    EarlierOrder, IdempotencyClaim, LineProblem, NewOrder, OrderFilter, OrderItemRecord, OrderRecord, PlaceOutcome,
    StatusChange, StatusOutcome, Store, StoreError,
};
use serde_json::json;

use crate::carts::CartHandle;
use crate::read_model::ReadModel;
use crate::{Principal, RequestContext, tokens};

/// How long an `Idempotency-Key` is remembered.
pub const IDEMPOTENCY_WINDOW: Duration = Duration::from_secs(24 * 3600);

/// Who is asking about an order.
#[derive(Debug, Clone)]
pub enum Viewer {
    Signed(Principal),
    /// A guest proves an order is theirs with the access token it was given
    /// when the order was placed (an e-mail proves nothing: it is no secret).
    Guest {
        token: String,
    },
}

/// An order as the buyer asked for it, parsed.
#[derive(Debug, Clone)]
pub struct OrderRequest {
    /// Explicit lines; `None` takes the caller's cart.
    pub items: Option<Vec<(ProductId, Quantity)>>,
    pub shipping_address: ShippingAddress,
    /// Required for guests; defaults to the account's for users.
    pub email: Option<Email>,
    pub notes: Option<String>,
    pub idempotency_key: Option<String>,
    /// A digest of the request, to tell a retry from a different order.
    pub request_hash: String,
}

/// A placed order, and whether this request placed it (or replayed it).
pub struct Placed {
    pub order: OrderRecord,
    pub replayed: bool,
    /// A guest order's access token, for the buyer: the only time it is
    /// given out. A replay of a keyed request gives the same one again (see
    /// `Orders::replay`).
    pub access_token: Option<String>,
}

#[derive(Clone)]
pub struct Orders {
    store: Arc<dyn Store>,
    currency: String,
    /// Orders change stock, which the catalog read model shows: each one is
    /// applied there before the order is answered.
    catalog: Arc<ReadModel>,
    /// Every order event queues a mail (in the store); this wakes the sender.
    mail_queued: Arc<tokio::sync::Notify>,
    /// Derives a keyed guest order's access token (see `Orders::replay`).
    order_tokens: tokens::OrderTokenKey,
}

fn not_found() -> Error {
    Error::NotFound("Order not found".into())
}

fn refusal(problem: LineProblem) -> Error {
    match problem {
        LineProblem::NotFound { product_id } => Error::NotFound(format!("Product {product_id} not found")),
        // The product's state, not the request, is at fault: 409, like too little stock.
        LineProblem::Unavailable { name, .. } => Error::Conflict(format!("{name} is not available")),
        LineProblem::Insufficient { product_id, name, requested, available } => {
            Error::InsufficientStock { product_id: product_id.to_string(), product_name: name, requested, available }
        }
        LineProblem::PriceChanged { product_id } => {
            Error::Conflict(format!("The price of product {product_id} changed while the order was placed; try again"))
        }
    }
}

/// How often an order is priced and tried: each retry follows a price change
/// committed since the last pricing, so only a product repriced four times
/// while one order is placed makes that order give up (with a 409).
const PRICING_ATTEMPTS: u32 = 5;

/// Where an order's lines come from.
enum LineSource {
    /// Explicit lines, merged and sorted by product id.
    Items(Vec<(ProductId, Quantity)>),
    Cart(CartHandle),
}

impl LineSource {
    fn cart(&self) -> Option<CartId> {
        match self {
            LineSource::Items(_) => None,
            LineSource::Cart(cart) => Some(cart.id),
        }
    }
}

impl Orders {
    pub fn new(
        store: Arc<dyn Store>,
        currency: String,
        catalog: Arc<ReadModel>,
        mail_queued: Arc<tokio::sync::Notify>,
        order_tokens: tokens::OrderTokenKey,
    ) -> Self {
        Self { store, currency, catalog, mail_queued, order_tokens }
    }

    /// The store's one currency (ISO 4217).
    pub fn currency(&self) -> &str {
        &self.currency
    }

    /// Places an order from explicit lines or from the caller's cart. Stock
    /// for every line is taken in one transaction, or none is.
    pub async fn place(
        &self,
        principal: Option<&Principal>,
        cart: Option<CartHandle>,
        request: OrderRequest,
        ctx: &RequestContext,
    ) -> Result<Placed> {
        self.place_with(principal, cart, request, None, ctx).await
    }

    /// Places a guest's order from the cart `cart_key` names, with an access
    /// token derived from that key (see [`Orders::guest_cart_viewer`]): for
    /// APIs, like the `microservices` dialect, where the cart key is what a
    /// guest shows to see the orders it made.
    pub async fn place_from_guest_cart(
        &self,
        cart: CartHandle,
        cart_key: &str,
        request: OrderRequest,
        ctx: &RequestContext,
    ) -> Result<Placed> {
        let token = self.cart_key_token(cart_key);
        self.place_with(None, Some(cart), request, Some(token), ctx).await
    }

    /// An order token derived from a guest cart's key: the same for every
    /// order made from that cart, unguessable without the key and the
    /// server's secret.
    fn cart_key_token(&self, cart_key: &str) -> String {
        self.order_tokens.order_token("guest-cart", cart_key, "")
    }

    /// Who a guest holding `cart_key` is, for the orders made from that cart.
    pub fn guest_cart_viewer(&self, cart_key: &str) -> Viewer {
        Viewer::Guest { token: self.cart_key_token(cart_key) }
    }

    /// The orders made from the guest cart `cart_key` names, newest first.
    pub async fn guest_cart_orders(&self, cart_key: &str, page: Page) -> Result<(Vec<OrderRecord>, u64)> {
        let filter = OrderFilter {
            guest_token_hash: Some(tokens::hash_token(&self.cart_key_token(cart_key))),
            ..OrderFilter::default()
        };
        Ok(self.store.list_orders(&filter, page).await?)
    }

    async fn place_with(
        &self,
        principal: Option<&Principal>,
        cart: Option<CartHandle>,
        request: OrderRequest,
        guest_token: Option<String>,
        ctx: &RequestContext,
    ) -> Result<Placed> {
        let email = match (&request.email, principal) {
            (Some(email), _) => email.as_str().to_string(),
            (None, Some(p)) => {
                self.store
                    .user_by_id(p.user_id)
                    .await?
                    .ok_or_else(|| Error::Unauthenticated("Account not found".into()))?
                    .email
            }
            (None, None) => return Err(Error::field("email", "is required for guest orders")),
        };
        let mut source = match request.items {
            // Each line was checked on reading; what is left is lines of one
            // product adding up past what one line may hold.
            Some(items) => LineSource::Items(merge_lines(items).map_err(|e| {
                Error::Conflict(format!("Once lines of one product are added together, a quantity {e}"))
            })?),
            // No cart is an empty cart: the request is well formed, the cart's state cannot serve it.
            None => LineSource::Cart(cart.ok_or_else(|| Error::Conflict("The cart is empty".into()))?),
        };
        let scope = match principal {
            Some(p) => format!("user:{}", p.user_id),
            None => format!("guest:{}", email.to_lowercase()),
        };
        // A guest's token for a keyed request is derived from the request, so
        // a retry can give it again; without a key there is no retry to serve.
        let access_token = match (principal, &request.idempotency_key) {
            (Some(_), _) => None,
            (None, _) if guest_token.is_some() => guest_token,
            (None, Some(key)) => Some(self.order_tokens.order_token(&scope, key, &request.request_hash)),
            (None, None) => Some(tokens::order_access_token()),
        };
        let mut order = NewOrder {
            user_id: principal.map(|p| p.user_id),
            email,
            currency: self.currency.clone(),
            shipping_address: request.shipping_address,
            notes: request.notes,
            access_token_hash: access_token.as_deref().map(tokens::hash_token),
            access_token: access_token.clone(),
            items: Vec::new(),
            totals: Totals::default(),
            from_cart: source.cart(),
            idempotency: request.idempotency_key.map(|key| IdempotencyClaim {
                scope,
                key,
                request_hash: request.request_hash,
                not_before: Timestamp::now().minus_secs(IDEMPOTENCY_WINDOW.as_secs() as i64),
            }),
            actor: if principal.is_some() { "user".into() } else { "guest".into() },
            now: Timestamp::now(),
            audit: ctx.audit(principal.map(|p| p.user_id), "order.created", Some(("order", String::new())), json!({})),
        };
        // A retry finds its first order before anything else is checked: the
        // stock may be gone and the cart emptied by that very order.
        if let Some(claim) = &order.idempotency
            && let Some(earlier) = self.store.earlier_order(claim).await?
        {
            return self.replay(earlier, claim);
        }
        let mut attempt = 1;
        loop {
            // Priced from the products as they are now; the store takes the
            // stock only at these prices, so a change in between is noticed
            // (and the order priced again), never charged wrongly.
            let (items, totals) = self.price(&mut source).await?;
            order.items = items;
            order.totals = totals;
            order.now = Timestamp::now();
            order.audit.at = order.now;
            let outcome = match (self.store.place_order(&order).await, &order.idempotency) {
                // A concurrent request with the same key claimed it first;
                // nothing this one wrote remains. Answer with that order.
                (Err(StoreError::UniqueViolation), Some(claim)) => {
                    let earlier = self.store.earlier_order(claim).await?;
                    return self.replay(earlier.ok_or_else(|| anyhow::anyhow!("a claimed key has no order"))?, claim);
                }
                (outcome, _) => outcome?,
            };
            match outcome {
                PlaceOutcome::Placed(order) => {
                    self.stock_changed().await;
                    self.mail_queued.notify_one();
                    return Ok(Placed { order: *order, replayed: false, access_token });
                }
                PlaceOutcome::Refused(LineProblem::PriceChanged { .. }) | PlaceOutcome::Contended
                    if attempt < PRICING_ATTEMPTS =>
                {
                    attempt += 1;
                }
                PlaceOutcome::Refused(problem) => return Err(refusal(problem)),
                PlaceOutcome::Contended => {
                    return Err(Error::Conflict("The products changed while the order was placed; try again".into()));
                }
            }
        }
    }

    /// The answer to a request whose key already stands for an order.
    ///
    /// A guest retries because the first answer, and the access token in it,
    /// may never have arrived. A keyed guest order's token is derived from the
    /// request and the server's secret, so the replay gives that same token
    /// again: nothing rotates, and a double-click leaves both answers' token
    /// working. Only if the derivation no longer matches the stored hash (the
    /// JWT secret changed since) is no token given.
    fn replay(&self, earlier: EarlierOrder, claim: &IdempotencyClaim) -> Result<Placed> {
        match earlier {
            EarlierOrder::Same(order) => {
                let access_token = order
                    .user_id
                    .is_none()
                    .then(|| self.order_tokens.order_token(&claim.scope, &claim.key, &claim.request_hash))
                    .filter(|token| {
                        order
                            .access_token_hash
                            .as_deref()
                            .is_some_and(|hash| tokens::secrets_match(hash, &tokens::hash_token(token)))
                    });
                Ok(Placed { order: *order, replayed: true, access_token })
            }
            EarlierOrder::OtherRequest => {
                Err(Error::Conflict("This Idempotency-Key was already used for a different order request".into()))
            }
        }
    }

    /// The order's lines priced from the products as they are now, or why
    /// one of them cannot be bought.
    async fn price(&self, source: &mut LineSource) -> Result<(Vec<OrderItemRecord>, Totals)> {
        let (lines, products) = match source {
            LineSource::Items(lines) => {
                let ids: Vec<ProductId> = lines.iter().map(|(p, _)| *p).collect();
                (lines.clone(), self.store.products_to_order(&ids).await?)
            }
            LineSource::Cart(cart) => {
                let cart_lines = cart.take_lines(self.store.as_ref()).await?;
                if cart_lines.is_empty() {
                    // A well-formed request the cart's current state cannot serve.
                    return Err(Error::Conflict("The cart is empty".into()));
                }
                let requested = cart_lines
                    .iter()
                    .map(|l| Quantity::new(l.quantity).map(|q| (l.product_id, q)))
                    .collect::<Result<Vec<_>, String>>()
                    .map_err(|e| Error::field("items", e))?;
                let lines = merge_lines(requested).map_err(|e| Error::field("items", e))?;
                (lines, cart_lines.into_iter().map(|l| (l.product_id, l.product)).collect())
            }
        };
        let mut priced = Vec::with_capacity(lines.len());
        for (product_id, quantity) in lines {
            let quantity = quantity.get();
            let Some((_, product)) = products.iter().find(|(id, _)| *id == product_id) else {
                return Err(refusal(LineProblem::NotFound { product_id }));
            };
            if let Some(problem) = product.problem(product_id, quantity) {
                return Err(refusal(problem));
            }
            priced.push((
                product_id,
                product.name.clone(),
                PricedLine { unit_price: product.price, discount: product.discount, quantity },
            ));
        }
        let totals = Totals::of(priced.iter().map(|(_, _, line)| line));
        let items = priced.into_iter().map(|(id, name, line)| OrderItemRecord::snapshot(id, name, &line)).collect();
        Ok((items, totals))
    }

    fn may_see(viewer: &Viewer, order: &OrderRecord) -> bool {
        match viewer {
            Viewer::Signed(p) => p.is_admin() || order.user_id == Some(p.user_id),
            Viewer::Guest { token } => {
                order.user_id.is_none()
                    && order
                        .access_token_hash
                        .as_deref()
                        .is_some_and(|hash| tokens::secrets_match(hash, &tokens::hash_token(token)))
            }
        }
    }

    /// The order, if the viewer may see it; 404 otherwise, never someone else's data.
    pub async fn get(&self, viewer: &Viewer, id: OrderId) -> Result<OrderRecord> {
        let order = self.store.order(id).await?.ok_or_else(not_found)?;
        if Self::may_see(viewer, &order) { Ok(order) } else { Err(not_found()) }
    }

    /// The order, telling a viewer who may not see it (403) from one asking
    /// about no order (404), for an API document that requires it
    /// (geekmobile); it reveals only that an order id exists, never its data.
    pub async fn get_or_forbidden(&self, viewer: &Viewer, id: OrderId) -> Result<OrderRecord> {
        let order = self.store.order(id).await?.ok_or_else(not_found)?;
        if Self::may_see(viewer, &order) {
            Ok(order)
        } else {
            Err(Error::Forbidden("This order belongs to someone else".into()))
        }
    }

    /// A user's own orders; an admin's view of all, filterable by user.
    pub async fn list(
        &self,
        principal: &Principal,
        mut filter: OrderFilter,
        page: Page,
    ) -> Result<(Vec<OrderRecord>, u64)> {
        if !principal.is_admin() {
            match filter.user_id {
                Some(other) if other != principal.user_id => {
                    return Err(Error::Forbidden("Only admins can list other users' orders".into()));
                }
                _ => filter.user_id = Some(principal.user_id),
            }
        }
        Ok(self.store.list_orders(&filter, page).await?)
    }

    /// The admin dashboard's figures: orders and sales since midnight UTC and
    /// over the last seven days, what waits to be shipped, payments flagged
    /// for review, and products with at most `low_stock` left.
    pub async fn figures(&self, principal: &Principal, low_stock: i64) -> Result<emporium_store::OrderFigures> {
        crate::admin::require_admin(principal)?;
        let now = Timestamp::now();
        let today = Timestamp::from_millis(now.millis() - now.millis().rem_euclid(24 * 3600 * 1000));
        let week = now.minus_secs(7 * 24 * 3600);
        Ok(self.store.order_figures(today, week, low_stock).await?)
    }

    /// Cancels an order (its owner or an admin) and puts its stock back.
    pub async fn cancel(&self, viewer: &Viewer, id: OrderId, ctx: &RequestContext) -> Result<OrderRecord> {
        self.get(viewer, id).await?;
        let (actor_id, actor) = match viewer {
            Viewer::Signed(p) if p.is_admin() => (Some(p.user_id), "admin"),
            Viewer::Signed(p) => (Some(p.user_id), "user"),
            Viewer::Guest { .. } => (None, "guest"),
        };
        self.move_to(id, OrderStatus::Cancelled, actor_id, actor, Some("cancelled by request".into()), ctx).await
    }

    /// An admin's status change.
    pub async fn set_status(
        &self,
        principal: &Principal,
        id: OrderId,
        to: OrderStatus,
        ctx: &RequestContext,
    ) -> Result<OrderRecord> {
        crate::admin::require_admin(principal)?;
        self.move_to(id, to, Some(principal.user_id), "admin", None, ctx).await
    }

    /// Moves an order to `to` if the lifecycle allows it from where it is
    /// now, restocking when the goods come back. A concurrent change is
    /// re-read and re-judged, so a stock return happens exactly once.
    async fn move_to(
        &self,
        id: OrderId,
        to: OrderStatus,
        actor_id: Option<UserId>,
        actor: &str,
        reason: Option<String>,
        ctx: &RequestContext,
    ) -> Result<OrderRecord> {
        loop {
            let order = self.store.order(id).await?.ok_or_else(not_found)?;
            order.status.transition_for(to, order.payment_method, order.payment_status)?;
            let change = StatusChange {
                from: order.status,
                to,
                payment_status: to.payment_status(order.payment_status),
                restock: OrderStatus::restocks(order.status, to),
                actor_id,
                actor: actor.to_string(),
                reason: reason.clone(),
                now: Timestamp::now(),
                audit: ctx.audit(
                    actor_id,
                    "order.status_changed",
                    Some(("order", id.to_string())),
                    json!({ "from": order.status.as_str(), "to": to.as_str(), "by": actor }),
                ),
            };
            match self.store.change_order_status(id, &change).await? {
                StatusOutcome::Changed(order) => {
                    if change.restock {
                        self.stock_changed().await;
                    }
                    self.mail_queued.notify_one();
                    return Ok(*order);
                }
                StatusOutcome::Moved(_) => continue,
                StatusOutcome::NotFound => return Err(not_found()),
            }
        }
    }

    /// Cancels unpaid orders left pending longer than `ttl`, returning their
    /// stock. Safe on several servers at once: each cancellation is
    /// conditional on the order still being pending, so exactly one wins.
    /// (The server's sweep goes through `Payments::expire_unpaid`, which
    /// also closes each order's checkout session first.)
    pub async fn expire_unpaid(&self, ttl: Duration) -> Result<u64> {
        let mut cancelled = 0;
        for id in self.stale_unpaid(ttl).await? {
            if self.expire_order(id).await? {
                cancelled += 1;
            }
        }
        Ok(cancelled)
    }

    /// Unpaid pending orders older than `ttl`, oldest first (never manual ones).
    pub async fn stale_unpaid(&self, ttl: Duration) -> Result<Vec<OrderId>> {
        let placed_before = Timestamp::from_millis(Timestamp::now().millis() - ttl.as_millis() as i64);
        Ok(self.store.stale_pending_orders(placed_before, 200).await?)
    }

    /// Cancels one unpaid order that is past its time, if it still is
    /// pending and unpaid; true if this call cancelled it.
    pub async fn expire_order(&self, id: OrderId) -> Result<bool> {
        self.cancel_unpaid(id, "not paid in time").await
    }

    /// Cancels an unpaid order whose buyer gave up at the payment provider
    /// (the provider's cancel link carries no session, only the checkout's
    /// reference), restocking it; true if this call cancelled it.
    pub async fn abandon_order(&self, id: OrderId) -> Result<bool> {
        self.cancel_unpaid(id, "the buyer cancelled at the payment provider").await
    }

    async fn cancel_unpaid(&self, id: OrderId, reason: &str) -> Result<bool> {
        let ctx = RequestContext::default();
        let change = StatusChange {
            from: OrderStatus::Pending,
            to: OrderStatus::Cancelled,
            payment_status: emporium_domain::orders::PaymentStatus::Unpaid,
            restock: true,
            actor_id: None,
            actor: "system".into(),
            reason: Some(reason.into()),
            now: Timestamp::now(),
            audit: ctx.audit(
                None,
                "order.status_changed",
                Some(("order", id.to_string())),
                json!({ "from": "pending", "to": "cancelled", "by": "system" }),
            ),
        };
        if let StatusOutcome::Changed(_) = self.store.change_order_status(id, &change).await? {
            self.stock_changed().await;
            self.mail_queued.notify_one();
            return Ok(true);
        }
        Ok(false)
    }

    /// The stock an order holds changed outside this service (a payment revived it).
    pub(crate) async fn stock_changed(&self) {
        if let Err(error) = self.catalog.sync().await {
            tracing::warn!(%error, "the catalog read model could not apply a stock change yet");
        }
    }

    /// An order event was written outside this service (a payment applied),
    /// and with it, perhaps, a mail: wake the sender.
    pub(crate) fn event_recorded(&self) {
        self.mail_queued.notify_one();
    }

    pub async fn purge_idempotency_keys(&self) -> Result<u64> {
        Ok(self.store.purge_idempotency_keys(Timestamp::now().minus_secs(IDEMPOTENCY_WINDOW.as_secs() as i64)).await?)
    }
}
