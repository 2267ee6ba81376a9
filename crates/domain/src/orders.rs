//! Carts and orders: quantities, totals, and the order status machine.

use std::fmt;

use crate::error::Error;
use crate::ids::ProductId;
use crate::money::{Money, Percent};
use crate::payments::PaymentMethod;

/// The most of one product a cart line or order line may hold.
pub const MAX_QUANTITY: i64 = 10_000;
/// The most lines one order may have.
pub const MAX_ORDER_LINES: usize = 100;

/// How many of a product: a whole number from 1 to [`MAX_QUANTITY`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Quantity(i64);

impl Quantity {
    pub fn new(n: i64) -> Result<Self, String> {
        if (1..=MAX_QUANTITY).contains(&n) {
            Ok(Self(n))
        } else {
            Err(format!("must be an integer from 1 to {MAX_QUANTITY}"))
        }
    }
    pub const fn get(self) -> i64 {
        self.0
    }
}

/// Where an order is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OrderStatus {
    Pending,
    Paid,
    Processing,
    Shipped,
    Delivered,
    Cancelled,
    Refunded,
}

impl OrderStatus {
    pub const ALL: [OrderStatus; 7] = [
        OrderStatus::Pending,
        OrderStatus::Paid,
        OrderStatus::Processing,
        OrderStatus::Shipped,
        OrderStatus::Delivered,
        OrderStatus::Cancelled,
        OrderStatus::Refunded,
    ];

    pub fn parse(raw: &str) -> Result<Self, String> {
        crate::one_of(Self::ALL, raw, Self::as_str)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            OrderStatus::Pending => "pending",
            OrderStatus::Paid => "paid",
            OrderStatus::Processing => "processing",
            OrderStatus::Shipped => "shipped",
            OrderStatus::Delivered => "delivered",
            OrderStatus::Cancelled => "cancelled",
            OrderStatus::Refunded => "refunded",
        }
    }

    /// The one place the order lifecycle is decided:
    /// `pending → paid → processing → shipped → delivered`;
    /// `pending | paid | processing → cancelled`; `paid | delivered → refunded`.
    pub fn can_become(self, next: OrderStatus) -> bool {
        use OrderStatus::*;
        matches!(
            (self, next),
            (Pending, Paid)
                | (Paid, Processing)
                | (Processing, Shipped)
                | (Shipped, Delivered)
                | (Pending | Paid | Processing, Cancelled)
                | (Paid | Delivered, Refunded)
        )
    }

    /// The lifecycle as it applies to one order: besides the moves of
    /// [`can_become`](Self::can_become), an unpaid order to be paid outside
    /// the site (`manual`: cash on delivery, bank transfer) may be processed
    /// before it is paid, and from there shipped and delivered as usual; an
    /// admin marks it paid whenever the money arrives.
    pub fn can_become_for(self, next: OrderStatus, method: Option<PaymentMethod>, payment: PaymentStatus) -> bool {
        self.can_become(next)
            || (method == Some(PaymentMethod::Manual)
                && payment == PaymentStatus::Unpaid
                && (self, next) == (OrderStatus::Pending, OrderStatus::Processing))
    }

    /// Checks a change, naming both statuses when it is not allowed.
    pub fn transition(self, next: OrderStatus) -> Result<OrderStatus, Error> {
        self.transition_for(next, None, PaymentStatus::Unpaid)
    }

    /// Checks a change for an order paid by `method`, naming both statuses when it is not allowed.
    pub fn transition_for(
        self,
        next: OrderStatus,
        method: Option<PaymentMethod>,
        payment: PaymentStatus,
    ) -> Result<OrderStatus, Error> {
        if self.can_become_for(next, method, payment) {
            Ok(next)
        } else {
            Err(Error::Conflict(format!("An order cannot go from {self} to {next}")))
        }
    }

    /// Whether a change puts the goods back on the shelf: a cancellation, or a
    /// refund of goods that never left (`paid → refunded`). A refund after
    /// delivery does not: the goods are with the buyer until returned.
    pub fn restocks(from: OrderStatus, to: OrderStatus) -> bool {
        matches!((from, to), (_, OrderStatus::Cancelled) | (OrderStatus::Paid, OrderStatus::Refunded))
    }

    /// The payment state that goes with a status.
    pub fn payment_status(self, before: PaymentStatus) -> PaymentStatus {
        match self {
            OrderStatus::Paid => PaymentStatus::Paid,
            OrderStatus::Refunded => PaymentStatus::Refunded,
            _ => before,
        }
    }
}

impl fmt::Display for OrderStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PaymentStatus {
    Unpaid,
    Paid,
    Refunded,
}

impl PaymentStatus {
    pub fn parse(raw: &str) -> Result<Self, String> {
        match raw {
            "unpaid" => Ok(Self::Unpaid),
            "paid" => Ok(Self::Paid),
            "refunded" => Ok(Self::Refunded),
            _ => Err("must be one of: unpaid, paid, refunded".into()),
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unpaid => "unpaid",
            Self::Paid => "paid",
            Self::Refunded => "refunded",
        }
    }
}

/// One priced line: what the buyer pays for `quantity` of a product at the
/// price and discount in force (a cart shows it live; an order snapshots it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PricedLine {
    pub unit_price: Money,
    pub discount: Percent,
    pub quantity: i64,
}

impl PricedLine {
    pub fn unit_sell_price(&self) -> Money {
        self.unit_price.discounted(self.discount)
    }
    /// The full price of the line before discount.
    pub fn gross(&self) -> Money {
        self.unit_price.checked_mul(self.quantity).expect("bounded price × bounded quantity fits in i64")
    }
    pub fn line_total(&self) -> Money {
        self.unit_sell_price().checked_mul(self.quantity).expect("bounded price × bounded quantity fits in i64")
    }
}

/// Subtotal (before discounts), discount total and total, in minor units.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Totals {
    pub subtotal: Money,
    pub discount_total: Money,
    pub total: Money,
}

impl Totals {
    pub fn of<'a>(lines: impl IntoIterator<Item = &'a PricedLine>) -> Self {
        let (mut subtotal, mut total) = (0_i64, 0_i64);
        for line in lines {
            subtotal += line.gross().minor();
            total += line.line_total().minor();
        }
        Totals {
            subtotal: Money::from_minor(subtotal),
            discount_total: Money::from_minor(subtotal - total),
            total: Money::from_minor(total),
        }
    }
}

/// A guest cart's line merged into a user's cart at sign-in: quantities
/// are added, capped at the stock, but never below what the user already had.
pub fn merged_quantity(existing: i64, incoming: i64, stock: i64) -> i64 {
    existing.max(existing.saturating_add(incoming).min(stock)).min(MAX_QUANTITY)
}

/// Order lines as asked for: one per product (repeats are added together),
/// in product-id order so concurrent orders lock rows in the same order.
pub fn merge_lines(
    lines: impl IntoIterator<Item = (ProductId, Quantity)>,
) -> Result<Vec<(ProductId, Quantity)>, String> {
    let mut merged: Vec<(ProductId, i64)> = Vec::new();
    for (product, quantity) in lines {
        match merged.iter_mut().find(|(p, _)| *p == product) {
            Some((_, q)) => *q += quantity.get(),
            None => merged.push((product, quantity.get())),
        }
    }
    if merged.is_empty() {
        return Err("must contain at least one item".into());
    }
    if merged.len() > MAX_ORDER_LINES {
        return Err(format!("must contain at most {MAX_ORDER_LINES} different products"));
    }
    merged.sort_by_key(|(p, _)| *p);
    merged.into_iter().map(|(p, q)| Quantity::new(q).map(|q| (p, q))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use OrderStatus::*;

    #[test]
    fn lifecycle_allows_exactly_the_documented_moves() {
        let allowed = [
            (Pending, Paid),
            (Paid, Processing),
            (Processing, Shipped),
            (Shipped, Delivered),
            (Pending, Cancelled),
            (Paid, Cancelled),
            (Processing, Cancelled),
            (Paid, Refunded),
            (Delivered, Refunded),
        ];
        for from in OrderStatus::ALL {
            for to in OrderStatus::ALL {
                assert_eq!(from.can_become(to), allowed.contains(&(from, to)), "{from} -> {to}");
            }
        }
        let err = Shipped.transition(Cancelled).unwrap_err().to_string();
        assert!(err.contains("shipped") && err.contains("cancelled"), "{err}");
    }

    #[test]
    fn only_unpaid_manual_orders_may_be_processed_before_payment() {
        use PaymentStatus::*;
        let manual = Some(PaymentMethod::Manual);
        assert!(Pending.can_become_for(Processing, manual, Unpaid));
        assert!(Processing.can_become_for(Shipped, manual, Unpaid));
        assert!(Shipped.can_become_for(Delivered, manual, Unpaid));
        for other in [None, Some(PaymentMethod::Stripe), Some(PaymentMethod::PayPal), Some(PaymentMethod::Test)] {
            assert!(!Pending.can_become_for(Processing, other, Unpaid), "{other:?}");
        }
        assert!(!Pending.can_become_for(Shipped, manual, Unpaid));
        assert!(!Shipped.can_become_for(Cancelled, manual, Unpaid));
        // Everything else is the usual lifecycle.
        for from in OrderStatus::ALL {
            for to in OrderStatus::ALL {
                if (from, to) != (Pending, Processing) {
                    assert_eq!(from.can_become_for(to, manual, Unpaid), from.can_become(to), "{from} -> {to}");
                }
            }
        }
        let err = Pending.transition_for(Processing, Some(PaymentMethod::Stripe), Unpaid).unwrap_err().to_string();
        assert!(err.contains("pending") && err.contains("processing"), "{err}");
    }

    #[test]
    fn restocking_follows_the_goods() {
        assert!(OrderStatus::restocks(Pending, Cancelled));
        assert!(OrderStatus::restocks(Paid, Refunded));
        assert!(!OrderStatus::restocks(Delivered, Refunded));
        assert!(!OrderStatus::restocks(Paid, Processing));
    }

    #[test]
    fn totals_are_exact() {
        let lines = [
            PricedLine {
                unit_price: Money::from_minor(1999),
                discount: Percent::from_basis_points(1000).unwrap(),
                quantity: 3,
            },
            PricedLine { unit_price: Money::from_minor(500), discount: Percent::ZERO, quantity: 2 },
        ];
        // 19.99 less 10% = 17.991 -> 17.99; ×3 = 53.97; plus 10.00.
        let t = Totals::of(&lines);
        assert_eq!((t.subtotal.minor(), t.total.minor(), t.discount_total.minor()), (6997, 6397, 600));
    }

    #[test]
    fn lines_merge_and_sort() {
        let q = |n| Quantity::new(n).unwrap();
        let merged =
            merge_lines([(ProductId::new(9), q(1)), (ProductId::new(2), q(2)), (ProductId::new(9), q(3))]).unwrap();
        assert_eq!(merged, vec![(ProductId::new(2), q(2)), (ProductId::new(9), q(4))]);
        assert!(merge_lines([]).is_err());
        assert!(merge_lines([(ProductId::new(1), q(MAX_QUANTITY)), (ProductId::new(1), q(1))]).is_err());
        assert!(Quantity::new(0).is_err() && Quantity::new(-1).is_err() && Quantity::new(i64::MAX).is_err());
    }
}
