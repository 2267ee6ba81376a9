//! Between the domain's [`Money`] (always hundredths of the major unit) and
//! the amounts a provider takes: integers in the currency's minor unit
//! (Stripe) or decimal strings at the currency's precision (PayPal).
//!
//! Nothing here rounds. An amount that the provider cannot take exactly
//! (100.50 JPY, 1.005 of anything) is an error: charging a different amount
//! than the order's total is never the right fallback.
//!
//! Hand-written rather than taken from an ISO 4217 crate because what matters
//! is each provider's own rules (Stripe keeps ISK as two-decimal but whole;
//! PayPal treats HUF and TWD as zero-decimal, unlike ISO 4217), which no
//! general crate encodes.

use emporium_domain::money::Money;

/// How a provider writes amounts in one currency.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Precision {
    /// Digits after the decimal point in the provider's minor unit: 0, 2 or 3.
    pub exponent: u32,
    /// The provider's minor-unit amount must be a multiple of this (Stripe:
    /// three-decimal currencies end in 0, ISK is whole krónur).
    pub step: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CurrencyError {
    #[error("{0} is not a currency code")]
    BadCode(String),
    #[error("{amount} {currency} cannot be paid exactly in {currency}")]
    NotRepresentable { amount: String, currency: String },
    #[error("{0} is not an amount")]
    BadAmount(String),
    #[error("the amount is too large")]
    Overflow,
}

/// Stripe's zero-decimal currencies, from Stripe's "Supported currencies" page.
const STRIPE_ZERO_DECIMAL: &[&str] =
    &["BIF", "CLP", "DJF", "GNF", "JPY", "KMF", "KRW", "MGA", "PYG", "RWF", "UGX", "VND", "VUV", "XAF", "XOF", "XPF"];
/// Stripe's three-decimal currencies; their minor-unit amounts must end in 0.
const STRIPE_THREE_DECIMAL: &[&str] = &["BHD", "JOD", "KWD", "OMR", "TND"];
/// Stripe's special case: ISK stays two-decimal in the API but amounts must
/// be whole krónur (multiples of 100).
const STRIPE_WHOLE_TWO_DECIMAL: &[&str] = &["ISK"];

/// The currencies PayPal takes payments in (PayPal's "Currency codes" page).
const PAYPAL_SUPPORTED: &[&str] = &[
    "AUD", "BRL", "CAD", "CHF", "CNY", "CZK", "DKK", "EUR", "GBP", "HKD", "HUF", "ILS", "JPY", "MXN", "MYR", "NOK",
    "NZD", "PHP", "PLN", "SEK", "SGD", "THB", "TWD", "USD",
];
/// PayPal's currencies that do not support decimals.
const PAYPAL_ZERO_DECIMAL: &[&str] = &["HUF", "JPY", "TWD"];

fn normalize(code: &str) -> Result<String, CurrencyError> {
    if code.len() == 3 && code.bytes().all(|b| b.is_ascii_alphabetic()) {
        Ok(code.to_ascii_uppercase())
    } else {
        Err(CurrencyError::BadCode(code.to_string()))
    }
}

/// Stripe's precision for `code` (any case). Currencies Stripe does not list
/// as special are two-decimal, as Stripe documents.
pub fn stripe_precision(code: &str) -> Result<Precision, CurrencyError> {
    let code = normalize(code)?;
    let code = code.as_str();
    Ok(if STRIPE_ZERO_DECIMAL.contains(&code) {
        Precision { exponent: 0, step: 1 }
    } else if STRIPE_THREE_DECIMAL.contains(&code) {
        Precision { exponent: 3, step: 10 }
    } else if STRIPE_WHOLE_TWO_DECIMAL.contains(&code) {
        Precision { exponent: 2, step: 100 }
    } else {
        Precision { exponent: 2, step: 1 }
    })
}

/// PayPal's precision for `code`, or `None` when PayPal does not take it.
pub fn paypal_precision(code: &str) -> Result<Option<Precision>, CurrencyError> {
    let code = normalize(code)?;
    let code = code.as_str();
    if !PAYPAL_SUPPORTED.contains(&code) {
        return Ok(None);
    }
    Ok(Some(if PAYPAL_ZERO_DECIMAL.contains(&code) {
        Precision { exponent: 0, step: 1 }
    } else {
        Precision { exponent: 2, step: 1 }
    }))
}

/// Whose rules say how a currency is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Rules {
    Stripe,
    PayPal,
}

/// `currency`'s precision under `rules`, or the refusal an adapter answers
/// with when the provider cannot take a payment in it.
pub(crate) fn precision(rules: Rules, currency: &str) -> Result<Precision, crate::ProviderError> {
    let rejected = |e: CurrencyError| crate::ProviderError::Rejected(e.to_string());
    match rules {
        Rules::Stripe => stripe_precision(currency).map_err(rejected),
        Rules::PayPal => paypal_precision(currency)
            .map_err(rejected)?
            .ok_or_else(|| crate::ProviderError::Rejected(format!("PayPal does not take payments in {currency}"))),
    }
}

fn not_representable(amount: Money, currency: &str) -> CurrencyError {
    CurrencyError::NotRepresentable { amount: amount.to_string(), currency: currency.to_ascii_uppercase() }
}

/// `amount` in the provider's minor units.
pub fn to_minor(amount: Money, precision: Precision, currency: &str) -> Result<i64, CurrencyError> {
    let hundredths = amount.minor();
    let minor = match precision.exponent {
        0 if hundredths % 100 == 0 => hundredths / 100,
        0 => return Err(not_representable(amount, currency)),
        2 => hundredths,
        3 => hundredths.checked_mul(10).ok_or(CurrencyError::Overflow)?,
        _ => unreachable!("precisions are 0, 2 or 3"),
    };
    if minor % precision.step != 0 {
        return Err(not_representable(amount, currency));
    }
    Ok(minor)
}

/// A provider's minor-unit amount as [`Money`].
pub fn from_minor(minor: i64, precision: Precision, currency: &str) -> Result<Money, CurrencyError> {
    let hundredths = match precision.exponent {
        0 => minor.checked_mul(100).ok_or(CurrencyError::Overflow)?,
        2 => minor,
        3 if minor % 10 == 0 => minor / 10,
        3 => {
            return Err(CurrencyError::NotRepresentable {
                amount: format!("{}.{:03}", minor / 1000, minor % 1000),
                currency: currency.to_ascii_uppercase(),
            });
        }
        _ => unreachable!("precisions are 0, 2 or 3"),
    };
    Ok(Money::from_minor(hundredths))
}

/// `amount` as a decimal string with exactly the currency's number of
/// decimals (`"1500"` JPY, `"15.00"` USD, `"1.500"` BHD).
pub fn to_decimal_string(amount: Money, precision: Precision, currency: &str) -> Result<String, CurrencyError> {
    let minor = to_minor(amount, precision, currency)?;
    Ok(match precision.exponent {
        0 => minor.to_string(),
        e => {
            let scale = 10_i64.pow(e);
            format!("{}.{:0width$}", minor / scale, minor % scale, width = e as usize)
        }
    })
}

/// Parses a provider's non-negative decimal string exactly into [`Money`].
/// Decimals past the second must be zeros (`"1.500"` is 1.50); anything
/// finer than a hundredth is an error, never rounded.
pub fn parse_decimal(value: &str, currency: &str) -> Result<Money, CurrencyError> {
    let bad = || CurrencyError::BadAmount(value.to_string());
    let (whole, frac) = value.split_once('.').unwrap_or((value, ""));
    if whole.is_empty() || !whole.bytes().all(|b| b.is_ascii_digit()) || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    if value.contains('.') && frac.is_empty() {
        return Err(bad());
    }
    let (cents, rest) = frac.split_at(frac.len().min(2));
    if rest.bytes().any(|b| b != b'0') {
        return Err(CurrencyError::NotRepresentable {
            amount: value.to_string(),
            currency: currency.to_ascii_uppercase(),
        });
    }
    let whole: i64 = whole.parse().map_err(|_| CurrencyError::Overflow)?;
    let cents: i64 = match cents.len() {
        0 => 0,
        1 => cents.parse::<i64>().map_err(|_| bad())? * 10,
        _ => cents.parse().map_err(|_| bad())?,
    };
    let hundredths = whole.checked_mul(100).and_then(|w| w.checked_add(cents)).ok_or(CurrencyError::Overflow)?;
    Ok(Money::from_minor(hundredths))
}

#[cfg(test)]
mod tests {
    #[test]
    fn one_precision_answers_for_either_provider_and_refuses_what_it_cannot_take() {
        use crate::ProviderError;
        assert_eq!(precision(Rules::Stripe, "jpy").unwrap(), Precision { exponent: 0, step: 1 });
        assert_eq!(precision(Rules::PayPal, "USD").unwrap(), Precision { exponent: 2, step: 1 });
        assert!(matches!(precision(Rules::Stripe, "US"), Err(ProviderError::Rejected(_))));
        assert!(
            matches!(precision(Rules::PayPal, "KWD"), Err(ProviderError::Rejected(m)) if m.contains("PayPal does not take"))
        );
    }

    use super::*;

    fn m(hundredths: i64) -> Money {
        Money::from_minor(hundredths)
    }

    #[test]
    fn stripe_minor_units_follow_the_currency() {
        let usd = stripe_precision("usd").unwrap();
        assert_eq!(to_minor(m(1999), usd, "usd").unwrap(), 1999);
        let jpy = stripe_precision("JPY").unwrap();
        assert_eq!(to_minor(m(150_000), jpy, "JPY").unwrap(), 1500);
        let bhd = stripe_precision("BHD").unwrap();
        assert_eq!(to_minor(m(1250), bhd, "BHD").unwrap(), 12_500);
        assert_eq!(from_minor(12_500, bhd, "bhd").unwrap(), m(1250));
        assert_eq!(from_minor(1500, jpy, "jpy").unwrap(), m(150_000));
        assert_eq!(from_minor(1999, usd, "usd").unwrap(), m(1999));
    }

    #[test]
    fn amounts_a_currency_cannot_carry_are_errors_not_rounded() {
        let jpy = stripe_precision("JPY").unwrap();
        assert_eq!(
            to_minor(m(10_050), jpy, "jpy"),
            Err(CurrencyError::NotRepresentable { amount: "100.50".into(), currency: "JPY".into() })
        );
        let isk = stripe_precision("ISK").unwrap();
        assert_eq!(to_minor(m(500), isk, "ISK").unwrap(), 500);
        assert!(to_minor(m(510), isk, "ISK").is_err());
        let kwd = stripe_precision("KWD").unwrap();
        assert!(from_minor(1235, kwd, "KWD").is_err());
        let paypal_jpy = paypal_precision("JPY").unwrap().unwrap();
        assert!(to_decimal_string(m(1), paypal_jpy, "JPY").is_err());
    }

    #[test]
    fn decimal_strings_carry_the_currency_precision() {
        let usd = paypal_precision("USD").unwrap().unwrap();
        assert_eq!(to_decimal_string(m(1500), usd, "USD").unwrap(), "15.00");
        assert_eq!(to_decimal_string(m(5), usd, "USD").unwrap(), "0.05");
        let huf = paypal_precision("HUF").unwrap().unwrap();
        assert_eq!(to_decimal_string(m(150_000), huf, "HUF").unwrap(), "1500");
        let bhd = stripe_precision("BHD").unwrap();
        assert_eq!(to_decimal_string(m(150), bhd, "BHD").unwrap(), "1.500");
    }

    #[test]
    fn parses_provider_decimals_exactly() {
        assert_eq!(parse_decimal("15.00", "USD").unwrap(), m(1500));
        assert_eq!(parse_decimal("15.5", "USD").unwrap(), m(1550));
        assert_eq!(parse_decimal("1500", "JPY").unwrap(), m(150_000));
        assert_eq!(parse_decimal("1.500", "BHD").unwrap(), m(150));
        assert!(matches!(parse_decimal("1.505", "BHD"), Err(CurrencyError::NotRepresentable { .. })));
        for bad in ["", ".5", "5.", "-1", "1e3", "1.2.3", "abc"] {
            assert!(matches!(parse_decimal(bad, "USD"), Err(CurrencyError::BadAmount(_))), "{bad}");
        }
    }

    #[test]
    fn paypal_takes_only_its_currencies_and_codes_are_checked() {
        assert_eq!(paypal_precision("BHD").unwrap(), None);
        assert_eq!(paypal_precision("twd").unwrap(), Some(Precision { exponent: 0, step: 1 }));
        assert!(matches!(stripe_precision("US"), Err(CurrencyError::BadCode(_))));
        assert!(matches!(stripe_precision("U$D"), Err(CurrencyError::BadCode(_))));
    }
}
