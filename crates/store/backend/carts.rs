// The carts storage, written once and compiled into each backend crate with
// its own concrete sqlx types (`Backend`, `Db`, `Conn`; see that crate's lib.rs).

use async_trait::async_trait;
use emporium_domain::ids::{CartId, ProductId, UserId};
use emporium_domain::time::Timestamp;
use emporium_store::rows::{CartLineRow, CartWithLineRow, cart_with_lines};
use emporium_store::sql::orders as sql;
use emporium_domain::orders::{MAX_ORDER_LINES, MAX_QUANTITY};
use emporium_store::{CartLine, CartStore, LineEdit, LineEditOutcome, OrderStore, StoreResult};

use crate::Backend;

/// How often an edit is tried while the line or its product changes between
/// the edit's write and the look at why it was refused.
const EDIT_ATTEMPTS: u32 = 3;

/// Why an edit wrote nothing.
enum Refusal {
    /// As things are now, it cannot be done: this is the answer.
    Final(LineEditOutcome),
    /// As things are now, it could be: something changed in between. The
    /// answer if it keeps happening.
    Raced(LineEditOutcome),
}

impl Backend {
    /// Reads the line and its product as they are now, to say why an edit
    /// was refused, in the order the service names problems.
    async fn why_not_edited(&self, cart: CartId, product: ProductId, edit: LineEdit) -> StoreResult<Refusal> {
        let found = self.products_to_order(&[product]).await?.into_iter().next().map(|(_, p)| p);
        let existing: Option<i64> = sqlx::query_scalar(sql::SELECT_CART_LINE_QUANTITY)
            .bind(cart.get())
            .bind(product.get())
            .fetch_optional(self.reader())
            .await?;
        let (found, wanted) = match (found, edit, existing) {
            (None, LineEdit::Add(_), _) => return Ok(Refusal::Final(LineEditOutcome::NoProduct)),
            (None, _, _) | (_, LineEdit::By(_) | LineEdit::To(_), None) => {
                return Ok(Refusal::Final(LineEditOutcome::NotInCart));
            }
            (Some(found), LineEdit::Add(n), existing) => (found, existing.unwrap_or(0).saturating_add(n)),
            (Some(found), LineEdit::By(change), Some(existing)) => (found, existing.saturating_add(change)),
            (Some(found), LineEdit::To(n), Some(_)) => (found, n),
        };
        if wanted > 0 && (found.problem(product, wanted).is_some() || wanted > MAX_QUANTITY) {
            return Ok(Refusal::Final(LineEditOutcome::Refused { quantity: wanted, product: found }));
        }
        if matches!(edit, LineEdit::Add(_)) && existing.is_none() {
            let lines: i64 =
                sqlx::query_scalar(sql::COUNT_CART_LINES).bind(cart.get()).fetch_one(self.reader()).await?;
            if lines >= MAX_ORDER_LINES as i64 {
                return Ok(Refusal::Final(LineEditOutcome::CartFull));
            }
        }
        Ok(Refusal::Raced(LineEditOutcome::Refused { quantity: wanted, product: found }))
    }
}

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

    async fn edit_cart_line(
        &self,
        cart: CartId,
        product: ProductId,
        edit: LineEdit,
        now: Timestamp,
    ) -> StoreResult<LineEditOutcome> {
        let mut attempt = 1;
        loop {
            if let Some(done) = crate::cart_lines::write_line(self, cart, product, edit, now).await? {
                return Ok(done);
            }
            if let LineEdit::By(change) = edit
                && change < 0
            {
                let removed = sqlx::query(sql::DELETE_EMPTIED_CART_LINE)
                    .bind(cart.get())
                    .bind(product.get())
                    .bind(change)
                    .execute(self.cart_writer())
                    .await?
                    .rows_affected();
                if removed > 0 {
                    return Ok(LineEditOutcome::Removed);
                }
            }
            match self.why_not_edited(cart, product, edit).await? {
                Refusal::Final(outcome) => return Ok(outcome),
                Refusal::Raced(outcome) if attempt >= EDIT_ATTEMPTS => return Ok(outcome),
                Refusal::Raced(_) => attempt += 1,
            }
        }
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
        Self::lock_cart(&mut tx, into).await?;
        let Some(guest) =
            sqlx::query_scalar::<_, i64>(sql::SELECT_GUEST_CART_ID).bind(key_hash).fetch_optional(&mut *tx).await?
        else {
            return Ok(false);
        };
        let mut line_count: i64 = sqlx::query_scalar(sql::COUNT_CART_LINES).bind(into.get()).fetch_one(&mut *tx).await?;
        let lines: Vec<(i64, i64, i64, i64)> =
            sqlx::query_as(sql::SELECT_MERGE_LINES).bind(guest).bind(into.get()).fetch_all(&mut *tx).await?;
        let (offered, mut dropped) = (lines.len(), 0usize);
        for (product, incoming, stock, existing) in lines {
            let merged = emporium_domain::orders::merged_quantity(existing, incoming, stock);
            // A line `into` lacks is new (lines hold at least 1). Once `into`
            // holds the most lines a cart may, the guest's remaining new lines
            // (the last added) are dropped with the guest cart.
            let new_line = existing == 0;
            if new_line && line_count >= MAX_ORDER_LINES as i64 {
                dropped += 1;
                continue;
            }
            if merged > 0 {
                line_count += i64::from(new_line);
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
        if dropped > 0 {
            // Not silent: the buyer's guest lines are gone. Ids and counts
            // only; the cart key is a secret.
            tracing::warn!(
                cart = into.get(),
                guest_lines = offered,
                dropped,
                max_lines = MAX_ORDER_LINES,
                "merging a guest cart into a full cart dropped its new lines"
            );
        }
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
