//! Cart and order SQL both backends share.

// Carts.
pub const INSERT_USER_CART: &str =
    "INSERT INTO carts (user_id, created_at, updated_at) VALUES ($1, $2, $2) ON CONFLICT (user_id) DO NOTHING";
pub const SELECT_USER_CART: &str = "SELECT id FROM carts WHERE user_id = $1";
/// A cart with its lines as `SELECT_CART_LINES` shows them, one row per line
/// (a single row of NULL line columns when it has none): finding a cart and
/// reading it is one round trip.
pub const SELECT_USER_CART_WITH_LINES: &str = "SELECT c.id AS cart_id, c.updated_at, ci.product_id, ci.quantity, p.name, p.price_minor, \
     p.discount_bp, p.images, p.stock, p.available, (p.deleted_at IS NOT NULL) AS deleted FROM carts c \
     LEFT JOIN cart_items ci ON ci.cart_id = c.id LEFT JOIN products p ON p.id = ci.product_id \
     WHERE c.user_id = $1 ORDER BY ci.added_at, ci.product_id";
pub const SELECT_GUEST_CART_WITH_LINES: &str = "SELECT c.id AS cart_id, c.updated_at, ci.product_id, ci.quantity, p.name, p.price_minor, \
     p.discount_bp, p.images, p.stock, p.available, (p.deleted_at IS NOT NULL) AS deleted FROM carts c \
     LEFT JOIN cart_items ci ON ci.cart_id = c.id LEFT JOIN products p ON p.id = ci.product_id \
     WHERE c.key_hash = $1 ORDER BY ci.added_at, ci.product_id";
pub const INSERT_GUEST_CART: &str =
    "INSERT INTO carts (key_hash, created_at, updated_at) VALUES ($1, $2, $2) RETURNING id";
pub const TOUCH_CART: &str = "UPDATE carts SET updated_at = $2 WHERE id = $1";
pub const SELECT_CART_LINES: &str = "SELECT ci.product_id, ci.quantity, p.name, p.price_minor, p.discount_bp, p.images, p.stock, p.available, \
     (p.deleted_at IS NOT NULL) AS deleted FROM cart_items ci JOIN products p ON p.id = ci.product_id \
     WHERE ci.cart_id = $1 ORDER BY ci.added_at, ci.product_id";
/// Removes the line if changing it by `$3` takes it to 0 or below.
pub const DELETE_EMPTIED_CART_LINE: &str =
    "DELETE FROM cart_items WHERE cart_id = $1 AND product_id = $2 AND quantity + $3 <= 0";
pub const SELECT_CART_LINE_QUANTITY: &str = "SELECT quantity FROM cart_items WHERE cart_id = $1 AND product_id = $2";
pub const COUNT_CART_LINES: &str = "SELECT COUNT(*) FROM cart_items WHERE cart_id = $1";
pub const UPSERT_CART_LINE: &str = "INSERT INTO cart_items (cart_id, product_id, quantity, added_at) VALUES ($1, $2, $3, $4) \
     ON CONFLICT (cart_id, product_id) DO UPDATE SET quantity = excluded.quantity";
pub const DELETE_CART_LINE: &str = "DELETE FROM cart_items WHERE cart_id = $1 AND product_id = $2";
pub const CLEAR_CART: &str = "DELETE FROM cart_items WHERE cart_id = $1";
pub const SELECT_GUEST_CART_ID: &str = "SELECT id FROM carts WHERE key_hash = $1";
pub const SELECT_MERGE_LINES: &str = "SELECT ci.product_id, ci.quantity, p.stock, COALESCE(mine.quantity, 0) AS existing \
     FROM cart_items ci JOIN products p ON p.id = ci.product_id \
     LEFT JOIN cart_items mine ON mine.cart_id = $2 AND mine.product_id = ci.product_id \
     WHERE ci.cart_id = $1 ORDER BY ci.added_at, ci.product_id";
pub const DELETE_CART: &str = "DELETE FROM carts WHERE id = $1";
pub const PURGE_GUEST_CARTS: &str = "DELETE FROM carts WHERE user_id IS NULL AND updated_at < $1";

// Orders.
pub const DELETE_EXPIRED_CLAIM: &str = "DELETE FROM idempotency_keys WHERE scope = $1 AND key = $2 AND created_at < $3";
pub const SELECT_CLAIM: &str = "SELECT request_hash, order_id FROM idempotency_keys WHERE scope = $1 AND key = $2";
pub const INSERT_CLAIM: &str =
    "INSERT INTO idempotency_keys (scope, key, request_hash, order_id, created_at) VALUES ($1, $2, $3, $4, $5)";
/// Takes `$2` of a live, available product only if that many are in stock
/// and it still has the price (`$4`) and discount (`$5`) the order was priced
/// at: the one statement that makes overselling impossible.
pub const TAKE_STOCK: &str = "UPDATE products SET stock = stock - $2, version = version + 1, updated_at = $3 \
     WHERE id = $1 AND deleted_at IS NULL AND available = TRUE AND stock >= $2 AND price_minor = $4 AND discount_bp = $5";
/// The columns of a cart line (see `SELECT_CART_LINES`), for products an
/// order names; the caller appends the `IN (…)` list.
pub const SELECT_PRODUCTS_TO_ORDER: &str = "SELECT p.id AS product_id, CAST(0 AS BIGINT) AS quantity, p.name, p.price_minor, p.discount_bp, p.images, \
     p.stock, p.available, (p.deleted_at IS NOT NULL) AS deleted FROM products p WHERE p.id IN";
pub const RETURN_STOCK: &str =
    "UPDATE products SET stock = stock + $2, version = version + 1, updated_at = $3 WHERE id = $1";
pub const INSERT_ORDER: &str = "INSERT INTO orders (user_id, email, email_key, status, payment_status, currency, subtotal_minor, \
     discount_total_minor, total_minor, shipping_address, notes, created_at, updated_at, version, access_token_hash) \
     VALUES ($1, $2, $3, 'pending', 'unpaid', $4, $5, $6, $7, $8, $9, $10, $10, 0, $11) RETURNING id";
pub const INSERT_ORDER_ITEM: &str = "INSERT INTO order_items (order_id, product_id, name, quantity, unit_price_minor, discount_bp, \
     unit_sell_price_minor, line_total_minor) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";
pub const INSERT_ORDER_EVENT: &str = "INSERT INTO order_events (order_id, from_status, to_status, actor_id, actor, reason, at) VALUES ($1, $2, $3, $4, $5, $6, $7)";
pub const ORDER_COLUMNS: &str = "id, user_id, email, status, payment_status, payment_method, currency, subtotal_minor, discount_total_minor, total_minor, \
     shipping_address, notes, access_token_hash, created_at, updated_at, version";
pub const SELECT_ORDER: &str = "SELECT id, user_id, email, status, payment_status, payment_method, currency, subtotal_minor, discount_total_minor, \
     total_minor, shipping_address, notes, access_token_hash, created_at, updated_at, version FROM orders WHERE id = $1";
pub const ITEM_COLUMNS: &str =
    "order_id, product_id, name, quantity, unit_price_minor, discount_bp, unit_sell_price_minor, line_total_minor";
pub const SELECT_ORDER_ITEMS: &str = "SELECT order_id, product_id, name, quantity, unit_price_minor, discount_bp, unit_sell_price_minor, \
     line_total_minor FROM order_items WHERE order_id = $1 ORDER BY id";
pub const SELECT_ORDER_EVENTS: &str =
    "SELECT from_status, to_status, actor_id, actor, reason, at FROM order_events WHERE order_id = $1 ORDER BY id";
/// `$1` user, `$2` status, `$3` since, `$4` until; each NULL for any.
/// `$5` a `like_pattern` of the search, `$6` the order number it may be; NULL for any.
/// `$7` a guest order's access-token hash (a dialect's guest listing its orders); NULL for any.
pub const ORDER_FILTER: &str = "($1 IS NULL OR user_id = $1) AND ($2 IS NULL OR status = $2) AND ($3 IS NULL OR created_at >= $3) AND ($4 IS NULL OR created_at < $4) \
     AND ($5 IS NULL OR CAST(id AS TEXT) = $6 OR email_key LIKE $5 ESCAPE '\\' OR lower(shipping_address) LIKE $5 ESCAPE '\\' \
     OR user_id IN (SELECT u.id FROM users u WHERE lower(u.full_name) LIKE $5 ESCAPE '\\')) \
     AND ($7 IS NULL OR (user_id IS NULL AND access_token_hash = $7))";
/// `$1` since: orders placed and what the paid ones came to.
pub const ORDER_FIGURES: &str = "SELECT COUNT(*), CAST(COALESCE(SUM(CASE WHEN payment_status = 'paid' THEN total_minor ELSE 0 END), 0) AS BIGINT) \
     FROM orders WHERE created_at >= $1";
pub const AWAITING_FULFILMENT: &str = "SELECT COUNT(*) FROM orders WHERE status IN ('paid', 'processing')";
pub const PAYMENTS_TO_REVIEW: &str =
    "SELECT id, order_id, review_reason FROM payments WHERE needs_review = TRUE ORDER BY id DESC LIMIT 20";
/// `$1` the threshold.
pub const LOW_STOCK: &str =
    "SELECT id FROM products WHERE deleted_at IS NULL AND stock <= $1 ORDER BY stock, id LIMIT 20";
pub const CHANGE_STATUS: &str = "UPDATE orders SET status = $3, payment_status = $4, updated_at = $5, version = version + 1 \
     WHERE id = $1 AND status = $2";
pub const SELECT_STATUS: &str = "SELECT status FROM orders WHERE id = $1";
pub const SELECT_ITEM_QUANTITIES: &str =
    "SELECT product_id, quantity FROM order_items WHERE order_id = $1 ORDER BY product_id";
pub const STALE_PENDING: &str = "SELECT id FROM orders WHERE status = 'pending' AND payment_status = 'unpaid' AND created_at < $1 \
     AND (payment_method IS NULL OR payment_method <> 'manual') \
     ORDER BY created_at, id LIMIT $2";
pub const PURGE_CLAIMS: &str = "DELETE FROM idempotency_keys WHERE created_at < $1";
/// Keeps an account's orders for the books, without the person in them.
pub const ANONYMISE_ORDERS: &str = "UPDATE orders SET email = 'anonymised@invalid', email_key = 'anonymised@invalid', shipping_address = $2, notes = NULL WHERE user_id = $1";
