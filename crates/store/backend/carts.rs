// The carts storage, written once and compiled into each backend crate with
// its own concrete sqlx types (`Backend`, `Db`, `Conn`; see that crate's lib.rs).

use async_trait::async_trait;
use emporium_domain::ids::{CartId, ProductId, UserId};
use emporium_domain::time::Timestamp;
use emporium_store::rows::{CartLineRow, CartWithLineRow, cart_with_lines};
use emporium_store::sql::orders as sql;
use emporium_store::{CartLine, CartProduct, CartStore, StoreResult};

use crate::Backend;

#[async_trait]
impl CartStore for Backend {
    async fn user_cart(&self, user_id: UserId, now: Timestamp) -> StoreResult<(CartId, Vec<CartLine>)> {
        let rows: Vec<CartWithLineRow> =
            sqlx::query_as(sql::SELECT_USER_CART_WITH_LINES).bind(user_id.get()).fetch_all(self.reader()).await?;
        if let Some((id, _, lines)) = cart_with_lines(rows)? {
            return Ok((id, lines));
        }
        let mut tx = self.cart_writer().begin().await?;
        sqlx::query(sql::INSERT_USER_CART).bind(user_id.get()).bind(now.millis()).execute(&mut *tx).await?;
        let id: i64 = sqlx::query_scalar(sql::SELECT_USER_CART).bind(user_id.get()).fetch_one(&mut *tx).await?;
        tx.commit().await?;
        Ok((CartId::new(id), Vec::new()))
    }

    async fn guest_cart(&self, key_hash: &str, now: Timestamp) -> StoreResult<Option<(CartId, Vec<CartLine>)>> {
        let rows: Vec<CartWithLineRow> =
            sqlx::query_as(sql::SELECT_GUEST_CART_WITH_LINES).bind(key_hash).fetch_all(self.reader()).await?;
        let Some((id, used_at, lines)) = cart_with_lines(rows)? else { return Ok(None) };
        if used_at < now.minus_secs(3600).millis() {
            sqlx::query(sql::TOUCH_CART).bind(id.get()).bind(now.millis()).execute(self.cart_writer()).await?;
        }
        Ok(Some((id, lines)))
    }

    async fn create_guest_cart(&self, key_hash: &str, now: Timestamp) -> StoreResult<CartId> {
        let id: i64 =
            sqlx::query_scalar(sql::INSERT_GUEST_CART).bind(key_hash).bind(now.millis()).fetch_one(self.cart_writer()).await?;
        Ok(CartId::new(id))
    }

    async fn cart_lines(&self, cart: CartId) -> StoreResult<Vec<CartLine>> {
        let rows: Vec<CartLineRow> =
            sqlx::query_as(sql::SELECT_CART_LINES).bind(cart.get()).fetch_all(self.reader()).await?;
        rows.into_iter().map(TryInto::try_into).collect()
    }

    async fn set_cart_line(&self, cart: CartId, product: ProductId, quantity: i64, now: Timestamp) -> StoreResult<()> {
        if quantity <= 0 {
            sqlx::query(sql::DELETE_CART_LINE).bind(cart.get()).bind(product.get()).execute(self.cart_writer()).await?;
        } else {
            sqlx::query(sql::UPSERT_CART_LINE)
                .bind(cart.get())
                .bind(product.get())
                .bind(quantity)
                .bind(now.millis())
                .execute(self.cart_writer())
                .await?;
        }
        Ok(())
    }

    async fn put_cart_line(
        &self,
        cart: CartId,
        product: ProductId,
        quantity: i64,
        now: Timestamp,
    ) -> StoreResult<Option<(CartProduct, bool)>> {
        crate::cart_lines::put_cart_line(self, cart, product, quantity, now).await
    }

    async fn remove_cart_line(&self, cart: CartId, product: ProductId, _now: Timestamp) -> StoreResult<bool> {
        let removed = sqlx::query(sql::DELETE_CART_LINE)
            .bind(cart.get())
            .bind(product.get())
            .execute(self.cart_writer())
            .await?
            .rows_affected();
        Ok(removed > 0)
    }

    async fn clear_cart(&self, cart: CartId, _now: Timestamp) -> StoreResult<()> {
        sqlx::query(sql::CLEAR_CART).bind(cart.get()).execute(self.cart_writer()).await?;
        Ok(())
    }

    async fn merge_guest_cart(&self, key_hash: &str, into: CartId, now: Timestamp) -> StoreResult<bool> {
        let mut tx = self.cart_writer().begin().await?;
        let Some(guest) =
            sqlx::query_scalar::<_, i64>(sql::SELECT_GUEST_CART_ID).bind(key_hash).fetch_optional(&mut *tx).await?
        else {
            return Ok(false);
        };
        let lines: Vec<(i64, i64, i64, i64)> =
            sqlx::query_as(sql::SELECT_MERGE_LINES).bind(guest).bind(into.get()).fetch_all(&mut *tx).await?;
        for (product, incoming, stock, existing) in lines {
            let merged = emporium_domain::orders::merged_quantity(existing, incoming, stock);
            if merged > 0 {
                sqlx::query(sql::UPSERT_CART_LINE)
                    .bind(into.get())
                    .bind(product)
                    .bind(merged)
                    .bind(now.millis())
                    .execute(&mut *tx)
                    .await?;
            }
        }
        sqlx::query(sql::DELETE_CART).bind(guest).execute(&mut *tx).await?;
        sqlx::query(sql::TOUCH_CART).bind(into.get()).bind(now.millis()).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn purge_guest_carts(&self, untouched_since: Timestamp) -> StoreResult<u64> {
        Ok(sqlx::query(sql::PURGE_GUEST_CARTS)
            .bind(untouched_since.millis())
            .execute(self.cart_writer())
            .await?
            .rows_affected())
    }
}
