//! Carts: a signed-in user's, found by account, or a guest's, found by the
//! `cartKey` it was given. Prices are always shown live.

use std::sync::Arc;

use emporium_domain::ids::{CartId, ProductId, UserId};
use emporium_domain::orders::{MAX_ORDER_LINES, MAX_QUANTITY, PricedLine, Quantity, Totals};
use emporium_domain::time::Timestamp;
use emporium_domain::{Error, Result};
use emporium_store::{CartLine, CartProduct, LineEdit, LineEditOutcome, LineProblem, Store};

use crate::Principal;
use crate::tokens::{hash_token, random_token};

/// The cart a request works on; `key` is set for a guest's (to hand back).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CartHandle {
    pub id: CartId,
    pub key: Option<String>,
    /// Its lines as read when it was found (with it, in one query), or empty
    /// for a cart this request made; taken by the first use, and read again
    /// after a change.
    pub lines: Option<Vec<CartLine>>,
}

impl CartHandle {
    /// The cart's lines: the ones read with it, or read now.
    pub async fn take_lines(&mut self, store: &dyn Store) -> Result<Vec<CartLine>> {
        match self.lines.take() {
            Some(lines) => Ok(lines),
            None => Ok(store.cart_lines(self.id).await?),
        }
    }
}

/// Why a line cannot be bought as it stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineIssue {
    /// The product was removed from the catalog.
    Deleted,
    /// The product is marked unavailable.
    Unavailable,
    /// More is in the cart than in stock.
    InsufficientStock,
}

impl LineIssue {
    pub fn as_str(self) -> &'static str {
        match self {
            LineIssue::Deleted => "deleted",
            LineIssue::Unavailable => "unavailable",
            LineIssue::InsufficientStock => "insufficient_stock",
        }
    }
}

/// A cart as shown: every line flagged, not dropped, and totals over the
/// lines that can be bought.
#[derive(Debug, Clone)]
pub struct Cart {
    pub handle: CartHandle,
    pub lines: Vec<(CartLine, PricedLine, Option<LineIssue>)>,
    pub totals: Totals,
}

/// How a line's quantity changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuantityChange {
    /// Set to this; 0 removes the line.
    To(i64),
    /// Add (or, negative, take away); reaching 0 or less removes the line.
    By(i64),
}

#[derive(Clone)]
pub struct Carts {
    store: Arc<dyn Store>,
}

fn issue(line: &CartLine) -> Option<LineIssue> {
    if line.product.deleted {
        Some(LineIssue::Deleted)
    } else if !line.product.available {
        Some(LineIssue::Unavailable)
    } else if line.quantity > line.product.stock {
        Some(LineIssue::InsufficientStock)
    } else {
        None
    }
}

fn not_in_cart() -> Error {
    Error::NotFound("Product is not in the cart".into())
}

impl Carts {
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self { store }
    }

    /// The caller's cart: the user's, or the guest's by key. A guest without
    /// a key (or with one that is unknown or expired) gets a new cart and key.
    pub async fn resolve(&self, principal: Option<&Principal>, guest_key: Option<&str>) -> Result<CartHandle> {
        let now = Timestamp::now();
        if let Some(p) = principal {
            let (id, lines) = self.store.user_cart(p.user_id, now).await?;
            return Ok(CartHandle { id, key: None, lines: Some(lines) });
        }
        if let Some(key) = guest_key.filter(|k| !k.is_empty() && k.len() <= 128)
            && let Some((id, lines)) = self.store.guest_cart(&hash_token(key), now).await?
        {
            return Ok(CartHandle { id, key: Some(key.to_string()), lines: Some(lines) });
        }
        let key = random_token(32);
        let id = self.store.create_guest_cart(&hash_token(&key), now).await?;
        Ok(CartHandle { id, key: Some(key), lines: Some(Vec::new()) })
    }

    /// The cart if it exists, without making one (for checkout from a cart).
    pub async fn existing(&self, principal: Option<&Principal>, guest_key: Option<&str>) -> Result<Option<CartHandle>> {
        let now = Timestamp::now();
        Ok(match (principal, guest_key) {
            (Some(p), _) => {
                let (id, lines) = self.store.user_cart(p.user_id, now).await?;
                Some(CartHandle { id, key: None, lines: Some(lines) })
            }
            (None, Some(key)) => self.store.guest_cart(&hash_token(key), now).await?.map(|(id, lines)| CartHandle {
                id,
                key: Some(key.to_string()),
                lines: Some(lines),
            }),
            (None, None) => None,
        })
    }

    pub async fn view(&self, mut handle: CartHandle) -> Result<Cart> {
        let lines = handle.take_lines(self.store.as_ref()).await?;
        Ok(Self::priced(handle, lines))
    }

    /// Prices the lines as they stand and totals the ones that can be bought.
    fn priced(handle: CartHandle, lines: Vec<CartLine>) -> Cart {
        let lines: Vec<_> = lines
            .into_iter()
            .map(|line| {
                let priced = PricedLine {
                    unit_price: line.product.price,
                    discount: line.product.discount,
                    quantity: line.quantity,
                };
                let issue = issue(&line);
                (line, priced, issue)
            })
            .collect();
        let totals = Totals::of(lines.iter().filter(|(_, _, issue)| issue.is_none()).map(|(_, priced, _)| priced));
        Cart { handle, lines, totals }
    }

    /// Why the product cannot sit in a cart line `quantity` times.
    fn refusal(product_id: ProductId, product: &CartProduct, quantity: i64) -> Error {
        match product.problem(product_id, quantity) {
            Some(LineProblem::NotFound { .. }) => Error::NotFound("Product not found".into()),
            // The product's or the line's state is at fault, not the request:
            // 409, like too little stock (a request for at most MAX_QUANTITY
            // is well formed; what the line already holds makes it too many).
            Some(LineProblem::Unavailable { name, .. }) => Error::Conflict(format!("{name} is not available")),
            _ if quantity > MAX_QUANTITY => {
                Error::Conflict(format!("A cart line holds at most {MAX_QUANTITY} of a product"))
            }
            Some(LineProblem::Insufficient { name, requested, available, .. }) => Error::InsufficientStock {
                product_id: product_id.to_string(),
                product_name: name,
                requested,
                available,
            },
            // Refused, yet it could hold it as read: the line or product kept changing.
            Some(LineProblem::PriceChanged { .. }) | None => {
                Error::Conflict("The cart line or its product changed while it was edited; try again".into())
            }
        }
    }

    /// Applies one atomic edit to a line and returns the cart with the line
    /// as the edit left it (the rest as read with the cart, not read again).
    async fn edit(&self, mut handle: CartHandle, product_id: ProductId, edit: LineEdit) -> Result<Cart> {
        let mut lines = handle.take_lines(self.store.as_ref()).await?;
        let outcome = self.store.edit_cart_line(handle.id, product_id, edit, Timestamp::now()).await?;
        let position = lines.iter().position(|l| l.product_id == product_id);
        match outcome {
            LineEditOutcome::Written { quantity, product } => {
                let line = CartLine { product_id, quantity, product };
                match position {
                    Some(i) => lines[i] = line,
                    None => lines.push(line),
                }
            }
            LineEditOutcome::Removed => {
                if let Some(i) = position {
                    lines.remove(i);
                }
            }
            LineEditOutcome::NoProduct => return Err(Error::NotFound("Product not found".into())),
            LineEditOutcome::NotInCart => return Err(not_in_cart()),
            LineEditOutcome::CartFull => {
                return Err(Error::field(
                    "productId",
                    format!(
                        "the cart already holds {MAX_ORDER_LINES} different products, the most one order may have; \
                         remove one first"
                    ),
                ));
            }
            LineEditOutcome::Refused { quantity, product } => {
                return Err(Self::refusal(product_id, &product, quantity));
            }
        }
        Ok(Self::priced(handle, lines))
    }

    /// Adds to a line (making it if needed), in one step with checking that
    /// the line's new total is in stock: concurrent adds all count.
    pub async fn add(&self, handle: CartHandle, product_id: ProductId, quantity: Quantity) -> Result<Cart> {
        self.edit(handle, product_id, LineEdit::Add(quantity.get())).await
    }

    /// Sets a line, or changes it relatively (`quantity = quantity + n` in one
    /// step, so concurrent changes all count). A line set to 0, or changed to
    /// 0 or below, is removed.
    pub async fn change(&self, handle: CartHandle, product_id: ProductId, change: QuantityChange) -> Result<Cart> {
        match change {
            QuantityChange::To(0) => self.remove(handle, product_id).await,
            QuantityChange::To(n) => self.edit(handle, product_id, LineEdit::To(n)).await,
            QuantityChange::By(delta) => self.edit(handle, product_id, LineEdit::By(delta)).await,
        }
    }

    pub async fn remove(&self, handle: CartHandle, product_id: ProductId) -> Result<Cart> {
        if !self.store.remove_cart_line(handle.id, product_id, Timestamp::now()).await? {
            return Err(not_in_cart());
        }
        self.view(CartHandle { lines: None, ..handle }).await
    }

    pub async fn clear(&self, handle: CartHandle) -> Result<Cart> {
        self.store.clear_cart(handle.id, Timestamp::now()).await?;
        Ok(Self::priced(CartHandle { lines: None, ..handle }, Vec::new()))
    }

    /// Empties a user's cart once their order is paid, when the buyer comes
    /// back from the provider without their token (geekmobile's return).
    pub async fn clear_user_cart(&self, user_id: UserId) -> Result<()> {
        let now = Timestamp::now();
        let (id, _) = self.store.user_cart(user_id, now).await?;
        self.store.clear_cart(id, now).await?;
        Ok(())
    }

    /// At sign-in: the guest cart joins the user's, and its key is spent.
    pub async fn merge_into_user(&self, user_id: UserId, guest_key: &str) -> Result<bool> {
        let now = Timestamp::now();
        let (into, _) = self.store.user_cart(user_id, now).await?;
        Ok(self.store.merge_guest_cart(&hash_token(guest_key), into, now).await?)
    }

    /// Deletes guest carts untouched for `ttl`.
    pub async fn purge_guest_carts(&self, ttl: std::time::Duration) -> Result<u64> {
        Ok(self.store.purge_guest_carts(Timestamp::now().minus_secs(ttl.as_secs() as i64)).await?)
    }
}
