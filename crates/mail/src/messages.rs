//! The messages a shop sends, and how each becomes a MIME message.
//!
//! Every message is `multipart/alternative` with a plain-text and an HTML
//! part rendered from askama templates (`templates/`, checked when this
//! crate compiles; the HTML ones escape every value). User data reaches the
//! headers only through lettre's typed headers, after control characters are
//! replaced, so a name or address can never add a header or a recipient.

use std::time::{Duration, SystemTime};

use askama::Template;
use emporium_domain::mail::{MailContent, OrderFacts, ResetLink};
use emporium_domain::money::Money;
use emporium_domain::time::Timestamp;
use lettre::message::{Mailbox, MultiPart};
use lettre::{Address, Message};

use crate::BuiltMail;

/// A message as the outbox holds it.
#[derive(Debug, Clone)]
pub struct QueuedMail {
    pub id: i64,
    pub key: String,
    pub created_at: Timestamp,
    pub to_address: String,
    pub to_name: Option<String>,
    pub content: MailContent,
}

#[derive(Debug, Clone)]
pub struct MailerSettings {
    /// `Shop <shop@example.com>` or a bare address.
    pub from: String,
    pub shop_name: String,
    /// Where the links in mails point (the shop's front end).
    pub frontend_url: String,
}

/// Why a message cannot be built. Retrying does not help: the outbox marks
/// such a message dead at once.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("recipient address {0:?} is not valid")]
    Recipient(String),
    #[error("rendering the template failed: {0}")]
    Template(#[from] askama::Error),
    #[error("building the message failed: {0}")]
    Build(#[from] lettre::error::Error),
}

/// Renders queued messages for one shop.
#[derive(Debug, Clone)]
pub struct Mailer {
    from: Mailbox,
    shop_name: String,
    frontend: url::Url,
    /// The right-hand side of every `Message-ID`.
    id_domain: String,
}

impl Mailer {
    /// Checks the sender and the front-end URL once, at start.
    pub fn new(settings: MailerSettings) -> anyhow::Result<Self> {
        let from: Mailbox = settings
            .from
            .parse()
            .map_err(|e| anyhow::anyhow!("EMPORIUM_MAIL_FROM: {:?} is not a mailbox: {e}", settings.from))?;
        let mut frontend = url::Url::parse(&settings.frontend_url)
            .map_err(|e| anyhow::anyhow!("EMPORIUM_FRONTEND_URL: {:?} is not a URL: {e}", settings.frontend_url))?;
        if !matches!(frontend.scheme(), "http" | "https") || frontend.cannot_be_a_base() {
            anyhow::bail!("EMPORIUM_FRONTEND_URL: {:?} must be an http(s) URL", settings.frontend_url);
        }
        if !frontend.path().ends_with('/') {
            let path = format!("{}/", frontend.path());
            frontend.set_path(&path);
        }
        let id_domain = from.email.domain().to_string();
        Ok(Self { from, shop_name: header_text(&settings.shop_name), frontend, id_domain })
    }

    pub fn from_address(&self) -> &Mailbox {
        &self.from
    }

    /// The stable `Message-ID` of a queued message: the same on every retry,
    /// so a receiver can drop the duplicate a crash between "accepted" and
    /// "marked sent" may cause.
    pub fn message_id(&self, mail: &QueuedMail) -> String {
        let key: String =
            mail.key.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '.' }).collect();
        format!("{key}.{}.{}@{}", mail.id, mail.created_at.millis(), self.id_domain)
    }

    pub fn build(&self, mail: &QueuedMail) -> Result<BuiltMail, RenderError> {
        let address: Address = mail.to_address.parse().map_err(|_| RenderError::Recipient(mail.to_address.clone()))?;
        let name = mail.to_name.as_deref().map(header_text).filter(|n| !n.is_empty());
        let to = Mailbox::new(name, address);
        let (subject, text, html) = self.render(&mail.content)?;
        let message_id = self.message_id(mail);
        let sent = SystemTime::UNIX_EPOCH + Duration::from_millis(mail.created_at.millis().max(0) as u64);
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(header_text(&subject))
            .message_id(Some(format!("<{message_id}>")))
            .date(sent)
            .multipart(MultiPart::alternative_plain_html(text, html))?;
        Ok(BuiltMail { message, message_id })
    }

    fn link(&self, path: &str, query: Option<(&str, &str)>) -> String {
        let mut url = self.frontend.join(path).unwrap_or_else(|_| self.frontend.clone());
        if let Some((k, v)) = query {
            url.query_pairs_mut().append_pair(k, v);
        }
        url.to_string()
    }

    /// A reset mail's link, in the shape the client that asked for it expects.
    fn reset_link(&self, link: &ResetLink, token: &str) -> String {
        match link {
            ResetLink::Native => self.link("reset-password", Some(("token", token))),
            ResetLink::Django { uidb64 } => {
                let mut url = self.frontend.join("reset-password/confirm/").unwrap_or_else(|_| self.frontend.clone());
                url.query_pairs_mut().append_pair("uidb64", uidb64).append_pair("token", token);
                url.to_string()
            }
        }
    }

    /// Subject, text and HTML of one message.
    fn render(&self, content: &MailContent) -> Result<(String, String, String), RenderError> {
        let shop = self.shop_name.as_str();
        let account = |subject: String, name: &str, paragraphs: Vec<String>, action: Option<(&str, String)>| {
            let view = AccountMail {
                shop,
                name,
                paragraphs,
                action: action.map(|(label, url)| Action { label: label.to_string(), url }),
            };
            Ok::<_, RenderError>((subject, AccountText { m: &view }.render()?, AccountHtml { m: &view }.render()?))
        };
        match content {
            MailContent::Welcome { name, username } => account(
                format!("Welcome to {shop}"),
                name,
                vec![format!("your account {username} is ready. Thank you for joining {shop}.")],
                Some(("Visit the shop", self.link("", None))),
            ),
            MailContent::PasswordReset { name, token, valid_minutes, link } => account(
                format!("Reset your {shop} password"),
                name,
                vec![
                    format!(
                        "someone (we hope you) asked to reset the password of your {shop} account. The link below works once, for {valid_minutes} minutes."
                    ),
                    "If you did not ask for this, ignore this message: your password stays as it is.".to_string(),
                ],
                Some(("Choose a new password", self.reset_link(link, token))),
            ),
            MailContent::PasswordChanged { name } => account(
                format!("Your {shop} password was changed"),
                name,
                vec![
                    "the password of your account was just changed, and every device signed in to it was signed out."
                        .to_string(),
                    "If this was not you, reset your password now and contact us.".to_string(),
                ],
                Some(("Reset your password", self.link("forgot-password", None))),
            ),
            MailContent::OrderPlaced { order, access_token } => self.order_with_token(
                format!("{shop}: order #{} received", order.order_id),
                order,
                access_token.as_deref(),
                vec![
                    format!(
                        "thank you for your order #{}. We have received it and reserved your items.",
                        order.order_id
                    ),
                    "It is awaiting payment: we will write again once the payment is confirmed.".to_string(),
                ],
            ),
            MailContent::OrderPaid { order } => self.order(
                format!("{shop}: payment received for order #{}", order.order_id),
                order,
                vec![format!(
                    "we have received your payment of {} for order #{}. We are preparing it for shipping.",
                    money(order.total_minor, &order.currency),
                    order.order_id
                )],
            ),
            MailContent::OrderShipped { order } => self.order(
                format!("{shop}: order #{} has shipped", order.order_id),
                order,
                vec![format!("your order #{} is on its way to the address below.", order.order_id)],
            ),
            MailContent::OrderCancelled { order, reason } => {
                let mut paragraphs = vec![format!("your order #{} was cancelled.", order.order_id)];
                if let Some(reason) = reason {
                    paragraphs.push(format!("Reason: {reason}."));
                }
                self.order(format!("{shop}: order #{} cancelled", order.order_id), order, paragraphs)
            }
            MailContent::OrderRefunded { order } => self.order(
                format!("{shop}: refund issued for order #{}", order.order_id),
                order,
                vec![format!(
                    "we have refunded {} for order #{}. Depending on your bank it may take a few days to appear.",
                    money(order.total_minor, &order.currency),
                    order.order_id
                )],
            ),
        }
    }

    fn order(
        &self,
        subject: String,
        order: &OrderFacts,
        paragraphs: Vec<String>,
    ) -> Result<(String, String, String), RenderError> {
        self.order_with_token(subject, order, None, paragraphs)
    }

    /// An order mail; a guest's order's link carries its access token, the
    /// only thing that opens it without an account.
    fn order_with_token(
        &self,
        subject: String,
        order: &OrderFacts,
        access_token: Option<&str>,
        paragraphs: Vec<String>,
    ) -> Result<(String, String, String), RenderError> {
        let currency = order.currency.as_str();
        let lines = order
            .items
            .iter()
            .map(|l| Line {
                name: l.name.clone(),
                quantity: l.quantity,
                unit_price: money(l.unit_sell_price_minor, currency),
                discount: (l.discount_bp > 0)
                    .then(|| format!("{} less {}", money(l.unit_price_minor, currency), percent(l.discount_bp))),
                line_total: money(l.line_total_minor, currency),
            })
            .collect();
        let address = &order.shipping_address;
        let view = OrderMail {
            shop: &self.shop_name,
            name: format!("{} {}", address.first_name(), address.last_name()),
            paragraphs,
            order_id: order.order_id,
            lines,
            subtotal: money(order.subtotal_minor, currency),
            discount: (order.discount_total_minor > 0).then(|| money(order.discount_total_minor, currency)),
            total: money(order.total_minor, currency),
            address: address.lines(),
            link: self.link(&format!("orders/{}", order.order_id), access_token.map(|t| ("token", t))),
        };
        Ok((subject, OrderText { m: &view }.render()?, OrderHtml { m: &view }.render()?))
    }
}

/// Text safe for a header: no control characters (so no CR/LF), trimmed.
fn header_text(s: &str) -> String {
    s.chars().map(|c| if c.is_control() { ' ' } else { c }).collect::<String>().trim().to_string()
}

fn money(minor: i64, currency: &str) -> String {
    format!("{} {currency}", Money::from_minor(minor))
}

fn percent(bp: i64) -> String {
    if bp % 100 == 0 { format!("{}%", bp / 100) } else { format!("{}.{:02}%", bp / 100, bp % 100) }
}

struct Action {
    label: String,
    url: String,
}

struct AccountMail<'a> {
    shop: &'a str,
    name: &'a str,
    paragraphs: Vec<String>,
    action: Option<Action>,
}

#[derive(Template)]
#[template(path = "account.txt")]
struct AccountText<'a> {
    m: &'a AccountMail<'a>,
}

#[derive(Template)]
#[template(path = "account.html")]
struct AccountHtml<'a> {
    m: &'a AccountMail<'a>,
}

struct Line {
    name: String,
    quantity: i64,
    unit_price: String,
    discount: Option<String>,
    line_total: String,
}

struct OrderMail<'a> {
    shop: &'a str,
    name: String,
    paragraphs: Vec<String>,
    order_id: i64,
    lines: Vec<Line>,
    subtotal: String,
    discount: Option<String>,
    total: String,
    address: Vec<String>,
    link: String,
}

#[derive(Template)]
#[template(path = "order.txt")]
struct OrderText<'a> {
    m: &'a OrderMail<'a>,
}

#[derive(Template)]
#[template(path = "order.html")]
struct OrderHtml<'a> {
    m: &'a OrderMail<'a>,
}

#[cfg(test)]
mod tests {
    use emporium_domain::address::{AddressInput, ShippingAddress};
    use emporium_domain::error::FieldErrors;
    use emporium_domain::mail::OrderLineFacts;

    use super::*;

    fn mailer() -> Mailer {
        Mailer::new(MailerSettings {
            from: "Emporium <shop@example.com>".into(),
            shop_name: "Emporium".into(),
            frontend_url: "https://shop.example.com/app".into(),
        })
        .unwrap()
    }

    fn queued(to_name: Option<&str>, content: MailContent) -> QueuedMail {
        QueuedMail {
            id: 7,
            key: "order:12:placed".into(),
            created_at: Timestamp::from_millis(1_700_000_000_000),
            to_address: "jane@example.com".into(),
            to_name: to_name.map(String::from),
            content,
        }
    }

    fn order() -> OrderFacts {
        let input = AddressInput {
            first_name: Some("<b>Jane</b>".into()),
            last_name: Some("Doe".into()),
            address1: Some("1 Main St".into()),
            city: Some("Springfield".into()),
            postcode: Some("12345".into()),
            country: Some("US".into()),
            phone: Some("+1 555 123 4567".into()),
            ..AddressInput::default()
        };
        let shipping_address = ShippingAddress::parse(input, "", &mut FieldErrors::new()).unwrap();
        OrderFacts {
            order_id: 12,
            currency: "USD".into(),
            items: vec![OrderLineFacts {
                name: "Mug <script>alert(1)</script>".into(),
                quantity: 2,
                unit_price_minor: 1000,
                discount_bp: 1000,
                unit_sell_price_minor: 900,
                line_total_minor: 1800,
            }],
            subtotal_minor: 2000,
            discount_total_minor: 200,
            total_minor: 1800,
            shipping_address,
        }
    }

    fn text(mail: &BuiltMail) -> String {
        String::from_utf8(mail.formatted()).unwrap()
    }

    /// The decoded body of the part with this content type.
    fn part(mail: &BuiltMail, content_type: &str) -> String {
        let raw = text(mail);
        let start = raw.find(&format!("Content-Type: {content_type}")).expect("part present");
        let body_start = start + raw[start..].find("\r\n\r\n").unwrap() + 4;
        let body_end = body_start + raw[body_start..].find("\r\n--").unwrap();
        let decoded =
            quoted_printable::decode(&raw[body_start..body_end], quoted_printable::ParseMode::Robust).unwrap();
        String::from_utf8(decoded).unwrap()
    }

    #[test]
    fn every_message_is_text_and_html_with_a_stable_message_id() {
        let m = mailer();
        let mail = queued(Some("Jane"), MailContent::OrderPlaced { order: order(), access_token: None });
        let built = m.build(&mail).unwrap();
        let raw = text(&built);
        assert!(raw.contains("multipart/alternative"), "{raw}");
        assert!(raw.contains("text/plain") && raw.contains("text/html"), "{raw}");
        assert!(raw.contains(&format!("Message-ID: <{}>", built.message_id)), "{raw}");
        assert_eq!(built.message_id, m.build(&mail).unwrap().message_id);
        assert_eq!(built.message_id, "order.12.placed.7.1700000000000@example.com");
    }

    #[test]
    fn html_escapes_user_data() {
        let built =
            mailer().build(&queued(None, MailContent::OrderPlaced { order: order(), access_token: None })).unwrap();
        let html = part(&built, "text/html");
        assert!(!html.contains("<script>") && !html.contains("<b>Jane"), "{html}");
        assert!(html.contains("&#60;script&#62;") && html.contains("&#60;b&#62;Jane"), "{html}");
        assert!(part(&built, "text/plain").contains("2 x Mug <script>"));
    }

    #[test]
    fn the_order_confirmation_never_claims_a_payment() {
        let built =
            mailer().build(&queued(None, MailContent::OrderPlaced { order: order(), access_token: None })).unwrap();
        let raw = part(&built, "text/plain").to_lowercase();
        assert!(raw.contains("awaiting payment"), "{raw}");
        assert!(!raw.contains("payment received") && !raw.contains("received your payment"), "{raw}");
        assert!(raw.contains("18.00 usd") && raw.contains("20.00 usd"), "{raw}");
    }

    #[test]
    fn crlf_in_a_name_cannot_add_a_header() {
        let m = mailer();
        let mail = queued(Some("Eve\r\nBcc: victim@evil.example"), MailContent::PasswordChanged { name: "Eve".into() });
        let raw = text(&m.build(&mail).unwrap());
        let headers = raw.split("\r\n\r\n").next().unwrap();
        assert!(!headers.lines().any(|l| l.to_ascii_lowercase().starts_with("bcc:")), "{headers}");
        let mut bad = queued(None, MailContent::PasswordChanged { name: "Eve".into() });
        bad.to_address = "eve@example.com\r\nRCPT TO:<victim@evil.example>".into();
        assert!(matches!(m.build(&bad), Err(RenderError::Recipient(_))));
    }

    #[test]
    fn reset_links_come_from_the_frontend_url() {
        let mail = queued(
            Some("Jane"),
            MailContent::PasswordReset {
                name: "Jane".into(),
                token: "abc_DEF-123".into(),
                valid_minutes: 30,
                link: ResetLink::Native,
            },
        );
        let built = mailer().build(&mail).unwrap();
        for content_type in ["text/plain", "text/html"] {
            let body = part(&built, content_type);
            assert!(body.contains("https://shop.example.com/app/reset-password?token=abc_DEF-123"), "{body}");
        }
    }

    #[test]
    fn a_django_style_reset_link_carries_uidb64_and_token() {
        let mail = queued(
            Some("Jane"),
            MailContent::PasswordReset {
                name: "Jane".into(),
                token: "abc_DEF-123".into(),
                valid_minutes: 30,
                link: ResetLink::Django { uidb64: "MTI".into() },
            },
        );
        let body = part(&mailer().build(&mail).unwrap(), "text/plain");
        assert!(
            body.contains("https://shop.example.com/app/reset-password/confirm/?uidb64=MTI&token=abc_DEF-123"),
            "{body}"
        );
    }
}
