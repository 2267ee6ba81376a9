//! Postal addresses, as shipping addresses and a user's default address.

use crate::error::FieldErrors;

/// A validated shipping address. Built only through [`ShippingAddress::parse`].
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ShippingAddress {
    first_name: String,
    last_name: String,
    address1: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    address2: Option<String>,
    city: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    state: Option<String>,
    postcode: String,
    country: String,
    phone: String,
}

/// The raw, unchecked parts of an address as a client sent them.
#[derive(Debug, Default, Clone)]
pub struct AddressInput {
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub address1: Option<String>,
    pub address2: Option<String>,
    pub city: Option<String>,
    pub state: Option<String>,
    pub postcode: Option<String>,
    pub country: Option<String>,
    pub phone: Option<String>,
}

fn required(errors: &mut FieldErrors, prefix: &str, name: &str, value: Option<String>, max: usize) -> String {
    let field = format!("{prefix}.{name}");
    match value.map(|v| v.trim().to_string()) {
        None => {
            errors.push(field, "is required");
            String::new()
        }
        Some(v) if v.is_empty() => {
            errors.push(field, "must not be empty");
            String::new()
        }
        Some(v) if v.chars().count() > max => {
            errors.push(field, format!("must be at most {max} characters"));
            String::new()
        }
        Some(v) => v,
    }
}

fn optional(errors: &mut FieldErrors, prefix: &str, name: &str, value: Option<String>, max: usize) -> Option<String> {
    let v = value.map(|v| v.trim().to_string()).filter(|v| !v.is_empty())?;
    if v.chars().count() > max {
        errors.push(format!("{prefix}.{name}"), format!("must be at most {max} characters"));
        return None;
    }
    Some(v)
}

impl ShippingAddress {
    /// Checks every part, recording each problem under `prefix.part`.
    pub fn parse(input: AddressInput, prefix: &str, errors: &mut FieldErrors) -> Option<Self> {
        let before = errors.len();
        let address = Self {
            first_name: required(errors, prefix, "firstName", input.first_name, 100),
            last_name: required(errors, prefix, "lastName", input.last_name, 100),
            address1: required(errors, prefix, "address1", input.address1, 200),
            address2: optional(errors, prefix, "address2", input.address2, 200),
            city: required(errors, prefix, "city", input.city, 100),
            state: optional(errors, prefix, "state", input.state, 100),
            postcode: required(errors, prefix, "postcode", input.postcode, 20),
            country: required(errors, prefix, "country", input.country, 56),
            phone: required(errors, prefix, "phone", input.phone, 30),
        };
        if !address.phone.is_empty()
            && let Err(e) = crate::account::Phone::parse(&address.phone)
        {
            errors.push(format!("{prefix}.phone"), e);
        }
        (errors.len() == before).then_some(address)
    }

    /// What stays of an address once the person it belonged to is erased.
    pub fn redacted() -> Self {
        let r = || "[redacted]".to_string();
        Self {
            first_name: r(),
            last_name: r(),
            address1: r(),
            address2: None,
            city: r(),
            state: None,
            postcode: r(),
            country: r(),
            phone: r(),
        }
    }

    /// The address of an order placed through an API document that has no
    /// address at all (the promarket and flask-orders dialects, to be paid
    /// and sent by arrangement): it says so, rather than inventing one.
    pub fn to_be_arranged() -> Self {
        let r = || "[to be arranged]".to_string();
        Self {
            first_name: r(),
            last_name: r(),
            address1: r(),
            address2: None,
            city: r(),
            state: None,
            postcode: r(),
            country: r(),
            phone: r(),
        }
    }

    pub fn first_name(&self) -> &str {
        &self.first_name
    }
    pub fn last_name(&self) -> &str {
        &self.last_name
    }
    pub fn address1(&self) -> &str {
        &self.address1
    }
    pub fn address2(&self) -> Option<&str> {
        self.address2.as_deref()
    }
    pub fn state(&self) -> Option<&str> {
        self.state.as_deref()
    }
    pub fn city(&self) -> &str {
        &self.city
    }
    pub fn postcode(&self) -> &str {
        &self.postcode
    }
    pub fn phone(&self) -> &str {
        &self.phone
    }
    pub fn country(&self) -> &str {
        &self.country
    }

    /// The address as it is written on a parcel, one line each.
    pub fn lines(&self) -> Vec<String> {
        let mut lines = vec![format!("{} {}", self.first_name, self.last_name), self.address1.clone()];
        lines.extend(self.address2.clone());
        let region = match &self.state {
            Some(state) => format!("{} {} {}", self.postcode, self.city, state),
            None => format!("{} {}", self.postcode, self.city),
        };
        lines.push(region);
        lines.push(self.country.clone());
        lines
    }
}
