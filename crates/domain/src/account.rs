//! Accounts: who may sign in, and the rules their details must follow.

use std::fmt;

/// An e-mail address, kept as typed; compared and made unique by [`Email::key`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    /// In characters, as JSON Schema's `maxLength` counts them.
    pub const MAX_LEN: usize = 254;

    pub fn parse(raw: &str) -> Result<Self, String> {
        let s = raw.trim();
        if s.is_empty() {
            return Err("is required".into());
        }
        if s.chars().count() > Self::MAX_LEN {
            return Err("must be at most 254 characters".into());
        }
        let Some((local, domain)) = s.rsplit_once('@') else {
            return Err("must be a valid email address".into());
        };
        let valid = !local.is_empty()
            && local.chars().count() <= 64
            && !domain.is_empty()
            && domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !domain.contains("..")
            && !s.chars().any(|c| c.is_whitespace() || c.is_control())
            && !local.contains('@')
            && domain.chars().all(|c| c.is_alphanumeric() || c == '-' || c == '.');
        if !valid {
            return Err("must be a valid email address".into());
        }
        Ok(Self(s.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The case-insensitive form that uniqueness and sign-in use.
    pub fn key(&self) -> String {
        self.0.to_lowercase()
    }
}

/// A username: 3–30 letters, digits, `_`, `.` or `-`, starting with a letter or digit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Username(String);

impl Username {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let s = raw.trim();
        let len = s.chars().count();
        if !(3..=30).contains(&len) {
            return Err("must be 3 to 30 characters".into());
        }
        if !s.chars().next().is_some_and(|c| c.is_ascii_alphanumeric()) {
            return Err("must start with a letter or digit".into());
        }
        if !s.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')) {
            return Err("may contain only letters, digits, '_', '.' and '-'".into());
        }
        if s.contains('@') {
            return Err("must not contain '@'".into());
        }
        Ok(Self(s.to_string()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
    pub fn key(&self) -> String {
        self.0.to_lowercase()
    }
}

/// A person's display name, 1–100 characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FullName(String);

impl FullName {
    pub const MAX_LEN: usize = 100;

    pub fn parse(raw: &str) -> Result<Self, String> {
        let s = raw.trim();
        if s.is_empty() {
            return Err("must not be empty".into());
        }
        if s.chars().count() > Self::MAX_LEN {
            return Err("must be at most 100 characters".into());
        }
        if s.chars().any(char::is_control) {
            return Err("must not contain control characters".into());
        }
        Ok(Self(s.to_string()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A phone number: 7–30 characters of digits, spaces and `+ - ( ) .`, with at least 7 digits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Phone(String);

impl Phone {
    pub const MAX_LEN: usize = 30;

    pub fn parse(raw: &str) -> Result<Self, String> {
        let s = raw.trim();
        let digits = s.chars().filter(char::is_ascii_digit).count();
        let allowed = s.chars().all(|c| c.is_ascii_digit() || matches!(c, ' ' | '+' | '-' | '(' | ')' | '.'));
        if !allowed || !(7..=15).contains(&digits) || s.len() > Self::MAX_LEN {
            return Err("must be a phone number of 7 to 15 digits".into());
        }
        Ok(Self(s.to_string()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A password that meets the policy. It never prints itself.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

impl Password {
    pub const MIN_LEN: usize = 8;
    pub const MAX_LEN: usize = 128;

    /// At least 8 characters with an upper-case letter, a lower-case letter, a
    /// digit and a special character. At most 128, so hashing cost stays bounded.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let len = raw.chars().count();
        if len < Self::MIN_LEN {
            return Err("must be at least 8 characters".into());
        }
        if len > Self::MAX_LEN {
            return Err("must be at most 128 characters".into());
        }
        let mut missing = Vec::new();
        if !raw.chars().any(char::is_uppercase) {
            missing.push("an upper-case letter");
        }
        if !raw.chars().any(char::is_lowercase) {
            missing.push("a lower-case letter");
        }
        if !raw.chars().any(|c| c.is_ascii_digit()) {
            missing.push("a digit");
        }
        if !raw.chars().any(|c| !c.is_alphanumeric() && !c.is_whitespace()) {
            missing.push("a special character");
        }
        if !missing.is_empty() {
            return Err(format!("must contain {}", missing.join(", ")));
        }
        Ok(Self(raw.to_string()))
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password([redacted])")
    }
}

/// What a user may do. Nobody becomes an admin by registering.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    User,
    Admin,
}

impl Role {
    pub fn parse(raw: &str) -> Result<Self, String> {
        match raw {
            "user" => Ok(Role::User),
            "admin" => Ok(Role::Admin),
            _ => Err("must be one of: user, admin".into()),
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Role::User => "user",
            Role::Admin => "admin",
        }
    }
}

impl serde::Serialize for Role {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// How a user signs in: by e-mail when it has an `@`, otherwise by username.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoginName {
    Email(String),
    Username(String),
}

impl LoginName {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let s = raw.trim();
        if s.is_empty() {
            return Err("is required".into());
        }
        if s.chars().count() > Email::MAX_LEN {
            return Err("must be at most 254 characters".into());
        }
        Ok(if s.contains('@') { LoginName::Email(s.to_lowercase()) } else { LoginName::Username(s.to_lowercase()) })
    }

    /// The key the account is looked up and rate-limited by.
    pub fn key(&self) -> &str {
        match self {
            LoginName::Email(k) | LoginName::Username(k) => k,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn email_rules() {
        assert_eq!(Email::parse(" John@Example.com ").unwrap().key(), "john@example.com");
        for bad in ["", "john", "john@", "@x.com", "a b@x.com", "a@x", "a@.x.com", "a@x..com"] {
            assert!(Email::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn password_policy_names_what_is_missing() {
        assert!(Password::parse("SecurePass123!").is_ok());
        assert_eq!(Password::parse("short1!").unwrap_err(), "must be at least 8 characters");
        assert_eq!(Password::parse("alllowercase1!").unwrap_err(), "must contain an upper-case letter");
        assert_eq!(Password::parse("NoDigitsHere!").unwrap_err(), "must contain a digit");
        assert_eq!(Password::parse("NoSpecial123").unwrap_err(), "must contain a special character");
        assert_eq!(format!("{:?}", Password::parse("SecurePass123!").unwrap()), "Password([redacted])");
    }

    #[test]
    fn username_rules() {
        assert!(Username::parse("john_doe").is_ok());
        for bad in ["jo", "_john", "john doe", "jöhn", "a@b.c"] {
            assert!(Username::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn login_name_picks_email_or_username() {
        assert_eq!(LoginName::parse("John@X.com").unwrap(), LoginName::Email("john@x.com".into()));
        assert_eq!(LoginName::parse("John").unwrap(), LoginName::Username("john".into()));
    }
}
