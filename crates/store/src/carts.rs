//! Shopping carts: a user's, found by account, or a guest's, found by key.

use async_trait::async_trait;
use emporium_domain::ids::{CartId, ProductId, UserId};
use emporium_domain::money::{Money, Percent};
use emporium_domain::time::Timestamp;

use crate::{LineProblem, StoreResult};

/// A cart line's product as it is now, live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CartProduct {
    pub name: String,
    pub price: Money,
    pub discount: Percent,
    pub image: Option<String>,
    pub stock: i64,
    pub available: bool,
    /// Removed from the catalog since it was added.
    pub deleted: bool,
}

impl CartProduct {
    /// Why a cart line or an order line cannot hold `quantity` of it right
    /// now, if it cannot: it must be live, available and that many must be
    /// in stock. (The cart and checkout statements state the same rule in
    /// SQL, as the guard of their writes.)
    pub fn problem(&self, product_id: ProductId, quantity: i64) -> Option<LineProblem> {
        if self.deleted {
            Some(LineProblem::NotFound { product_id })
        } else if !self.available {
            Some(LineProblem::Unavailable { product_id, name: self.name.clone() })
        } else if quantity > self.stock {
            Some(LineProblem::Insufficient {
                product_id,
                name: self.name.clone(),
                requested: quantity,
                available: self.stock,
            })
        } else {
            None
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CartLine {
    pub product_id: ProductId,
    pub quantity: i64,
    pub product: CartProduct,
}

/// How one cart line is to change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineEdit {
    /// Add this many (> 0) to the line, making it if the cart has none of
    /// the product yet (and has room for another line).
    Add(i64),
    /// Change an existing line by this much, either way; a line taken to 0
    /// or below is removed.
    By(i64),
    /// Set an existing line to this many (> 0).
    To(i64),
}

/// What an edit of a cart line did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LineEditOutcome {
    /// The line now holds `quantity` (the quantity this edit produced) of the
    /// product, shown as it is now.
    Written { quantity: i64, product: CartProduct },
    /// A `By` took the line to 0 or below, so it was removed.
    Removed,
    /// `Add` of a product that does not exist.
    NoProduct,
    /// `By` or `To` on a product the cart does not hold.
    NotInCart,
    /// `Add` of a new line to a cart that already has `MAX_ORDER_LINES`.
    CartFull,
    /// Nothing changed: the line would have held `quantity`, and the product,
    /// as it is now, cannot hold that many (or the line was changed by
    /// others on every attempt).
    Refused { quantity: i64, product: CartProduct },
}

#[async_trait]
pub trait CartStore {
    /// The user's cart with its lines (as `cart_lines`), made on first use.
    async fn user_cart(&self, user_id: UserId, now: Timestamp) -> StoreResult<(CartId, Vec<CartLine>)>;
    /// The guest cart with this key hash and its lines (as `cart_lines`), if
    /// it exists. Marks it as used (at most hourly: the purge counts in days,
    /// and a write per read is not free).
    async fn guest_cart(&self, key_hash: &str, now: Timestamp) -> StoreResult<Option<(CartId, Vec<CartLine>)>>;
    async fn create_guest_cart(&self, key_hash: &str, now: Timestamp) -> StoreResult<CartId>;
    /// Lines in the order they were added.
    async fn cart_lines(&self, cart: CartId) -> StoreResult<Vec<CartLine>>;
    /// Changes one line in a single atomic step, guarded by the rule of
    /// `CartProduct::problem` (live, available, in stock) and the bounds
    /// (`MAX_QUANTITY` per line, `MAX_ORDER_LINES` lines per cart), checked
    /// against the line as it is when written, never as read before: two
    /// concurrent edits both count. Nothing changes unless it is `Written`
    /// or `Removed`.
    async fn edit_cart_line(
        &self,
        cart: CartId,
        product: ProductId,
        edit: LineEdit,
        now: Timestamp,
    ) -> StoreResult<LineEditOutcome>;
    /// `false` when the product was not in the cart.
    async fn remove_cart_line(&self, cart: CartId, product: ProductId, now: Timestamp) -> StoreResult<bool>;
    async fn clear_cart(&self, cart: CartId, now: Timestamp) -> StoreResult<()>;
    /// Moves a guest cart's lines into `into` (quantities added, capped at
    /// stock, never below what `into` had; new lines only while `into` has
    /// fewer than `MAX_ORDER_LINES`) and deletes the guest cart, so its key
    /// is spent. `false` when there is no such guest cart.
    async fn merge_guest_cart(&self, key_hash: &str, into: CartId, now: Timestamp) -> StoreResult<bool>;
    /// Deletes guest carts not used since `untouched_since`; returns how many.
    async fn purge_guest_carts(&self, untouched_since: Timestamp) -> StoreResult<u64>;
}
