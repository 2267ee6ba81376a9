//! E-mail: what a message says (templates, in [`messages`]), how it is put
//! together (multipart/alternative, a stable `Message-ID`, headers that user
//! data cannot break out of) and how it leaves (a [`MailTransport`]: SMTP, or
//! `.eml` files for a machine without a mail server).
//!
//! One place to read how a message is made and sent, as vaultwarden keeps
//! its `mail.rs` beside its templates.

mod messages;
mod transport;

pub use messages::{Mailer, MailerSettings, QueuedMail, RenderError};
pub use transport::{FileTransport, MailTransport, SendError, SmtpSettings, SmtpTransport, TlsMode};

/// A message ready to go: its envelope is taken from its headers.
#[derive(Debug, Clone)]
pub struct BuiltMail {
    pub message: lettre::Message,
    /// The `Message-ID`, without angle brackets.
    pub message_id: String,
}

impl BuiltMail {
    /// The message as it travels (RFC 5322 text).
    pub fn formatted(&self) -> Vec<u8> {
        self.message.formatted()
    }
}
