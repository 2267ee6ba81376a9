//! How messages leave: SMTP (plain for a local relay, STARTTLS, implicit
//! TLS), or `.eml` files in a directory when no SMTP server is configured.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use async_trait::async_trait;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

use crate::BuiltMail;

/// Why a send failed, as far as retrying is concerned.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// Worth trying again later: the server is down, slow, or said 4xx.
    #[error("{0}")]
    Temporary(String),
    /// The server refused this message for good (5xx).
    #[error("{0}")]
    Permanent(String),
}

/// Delivers one built message.
#[async_trait]
pub trait MailTransport: Send + Sync {
    async fn send(&self, mail: &BuiltMail) -> Result<(), SendError>;
    /// Where mail goes, for the start-up log (no secrets).
    fn describe(&self) -> String;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsMode {
    /// `smtp://`: no TLS, for a relay on the same host or network.
    None,
    /// `smtp://…?tls=required`: STARTTLS, refused if the server cannot.
    StartTls,
    /// `smtps://`: TLS from the first byte.
    Implicit,
}

/// `EMPORIUM_SMTP_URL`, parsed.
///
/// `smtp://[user:password@]host[:port][?tls=required][&ca_file=/path.pem]`,
/// `smtps://[user:password@]host[:port][?ca_file=/path.pem]`. Certificates
/// are checked against Mozilla's roots; `ca_file` adds one more trusted
/// certificate (PEM), which is how a self-signed server is accepted. There
/// is deliberately no switch that turns verification off.
#[derive(Clone, PartialEq, Eq)]
pub struct SmtpSettings {
    pub host: String,
    pub port: u16,
    pub tls: TlsMode,
    pub username: Option<String>,
    password: Option<String>,
    pub ca_file: Option<PathBuf>,
}

impl fmt::Debug for SmtpSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpSettings")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "[redacted]"))
            .field("ca_file", &self.ca_file)
            .finish()
    }
}

impl SmtpSettings {
    pub fn parse(raw: &str) -> anyhow::Result<Self> {
        let bad = |why: &str| anyhow::anyhow!("EMPORIUM_SMTP_URL: {why}");
        let url = url::Url::parse(raw.trim()).map_err(|e| bad(&format!("not a URL ({e})")))?;
        let implicit = match url.scheme() {
            "smtp" => false,
            "smtps" => true,
            other => return Err(bad(&format!("unsupported scheme {other:?}; use smtp:// or smtps://"))),
        };
        let host = url.host_str().filter(|h| !h.is_empty()).ok_or_else(|| bad("has no host"))?;
        let host = host.trim_start_matches('[').trim_end_matches(']').to_string();
        let mut tls = if implicit { TlsMode::Implicit } else { TlsMode::None };
        let mut ca_file = None;
        for (key, value) in url.query_pairs() {
            match (key.as_ref(), value.as_ref()) {
                ("tls", "required") if !implicit => tls = TlsMode::StartTls,
                ("tls", "none") if !implicit => tls = TlsMode::None,
                ("tls", other) => {
                    return Err(bad(&format!(
                        "tls={other:?} is not supported here; use tls=required on smtp://, or smtps://"
                    )));
                }
                ("ca_file", path) if !path.is_empty() => ca_file = Some(PathBuf::from(path)),
                (other, _) => return Err(bad(&format!("unknown parameter {other:?}"))),
            }
        }
        if ca_file.is_some() && tls == TlsMode::None {
            return Err(bad("ca_file needs TLS (tls=required or smtps://)"));
        }
        let port = url.port().unwrap_or(match tls {
            TlsMode::Implicit => 465,
            TlsMode::StartTls => 587,
            TlsMode::None => 25,
        });
        let decode = |s: &str| percent_encoding::percent_decode_str(s).decode_utf8_lossy().into_owned();
        let username = Some(decode(url.username())).filter(|u| !u.is_empty());
        let password = url.password().map(decode);
        if password.is_some() && username.is_none() {
            return Err(bad("has a password but no user name"));
        }
        Ok(Self { host, port, tls, username, password, ca_file })
    }
}

/// SMTP through lettre, one connection per message (no pool: a broken or
/// stalled connection never outlives the message it failed).
pub struct SmtpTransport {
    inner: AsyncSmtpTransport<Tokio1Executor>,
    describe: String,
}

impl SmtpTransport {
    /// `hello_name` is the domain given in EHLO; `timeout` bounds every
    /// command of the conversation.
    pub fn new(settings: &SmtpSettings, hello_name: &str, timeout: Duration) -> anyhow::Result<Self> {
        let tls_parameters = || -> anyhow::Result<TlsParameters> {
            let mut builder = TlsParameters::builder(settings.host.clone());
            if let Some(path) = &settings.ca_file {
                let pem = std::fs::read(path)
                    .map_err(|e| anyhow::anyhow!("EMPORIUM_SMTP_URL: cannot read ca_file {}: {e}", path.display()))?;
                let certificate = Certificate::from_pem(&pem).map_err(|e| {
                    anyhow::anyhow!("EMPORIUM_SMTP_URL: ca_file {} is not a PEM certificate: {e}", path.display())
                })?;
                builder = builder.add_root_certificate(certificate);
            }
            builder.build_rustls().map_err(|e| anyhow::anyhow!("EMPORIUM_SMTP_URL: TLS setup failed: {e}"))
        };
        let tls = match settings.tls {
            TlsMode::None => Tls::None,
            TlsMode::StartTls => Tls::Required(tls_parameters()?),
            TlsMode::Implicit => Tls::Wrapper(tls_parameters()?),
        };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(settings.host.clone())
            .port(settings.port)
            .tls(tls)
            .hello_name(ClientId::Domain(hello_name.to_string()))
            .timeout(Some(timeout));
        if let (Some(user), Some(password)) = (&settings.username, &settings.password) {
            builder = builder.credentials(Credentials::new(user.clone(), password.clone()));
        }
        let mode = match settings.tls {
            TlsMode::None => "plain",
            TlsMode::StartTls => "STARTTLS",
            TlsMode::Implicit => "TLS",
        };
        Ok(Self { inner: builder.build(), describe: format!("SMTP {}:{} ({mode})", settings.host, settings.port) })
    }
}

#[async_trait]
impl MailTransport for SmtpTransport {
    async fn send(&self, mail: &BuiltMail) -> Result<(), SendError> {
        match self.inner.send(mail.message.clone()).await {
            Ok(_) => Ok(()),
            Err(e) if e.is_permanent() => Err(SendError::Permanent(e.to_string())),
            Err(e) => Err(SendError::Temporary(e.to_string())),
        }
    }

    fn describe(&self) -> String {
        self.describe.clone()
    }
}

/// Writes each message as an `.eml` file (openable by any mail client), for
/// development and for a shop without a mail server.
pub struct FileTransport {
    dir: PathBuf,
}

impl FileTransport {
    pub fn new(dir: impl Into<PathBuf>) -> anyhow::Result<Self> {
        let dir = dir.into();
        std::fs::create_dir_all(&dir)
            .map_err(|e| anyhow::anyhow!("cannot create mail directory {}: {e}", dir.display()))?;
        Ok(Self { dir })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

#[async_trait]
impl MailTransport for FileTransport {
    async fn send(&self, mail: &BuiltMail) -> Result<(), SendError> {
        // The Message-ID is unique and stable: a retried message overwrites
        // its own file instead of leaving a second one.
        let name: String = mail
            .message_id
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '.' | '-') { c } else { '_' })
            .collect();
        let path = self.dir.join(format!("{name}.eml"));
        let bytes = mail.formatted();
        let written = path.clone();
        tokio::task::spawn_blocking(move || std::fs::write(&written, bytes))
            .await
            .map_err(|e| SendError::Temporary(e.to_string()))?
            .map_err(|e| SendError::Temporary(format!("cannot write {}: {e}", path.display())))?;
        tracing::info!(path = %path.display(), "mail written (no EMPORIUM_SMTP_URL set)");
        Ok(())
    }

    fn describe(&self) -> String {
        format!(".eml files in {}", self.dir.display())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smtp_urls_parse() {
        let plain = SmtpSettings::parse("smtp://127.0.0.1:2525").unwrap();
        assert_eq!((plain.host.as_str(), plain.port, plain.tls), ("127.0.0.1", 2525, TlsMode::None));
        let starttls = SmtpSettings::parse("smtp://user%40x:p%40ss@mail.example.com?tls=required").unwrap();
        assert_eq!((starttls.port, starttls.tls), (587, TlsMode::StartTls));
        assert_eq!(starttls.username.as_deref(), Some("user@x"));
        assert_eq!(starttls.password.as_deref(), Some("p@ss"));
        assert!(!format!("{starttls:?}").contains("p@ss"));
        let implicit = SmtpSettings::parse("smtps://mail.example.com?ca_file=/etc/ca.pem").unwrap();
        assert_eq!((implicit.port, implicit.tls), (465, TlsMode::Implicit));
        assert_eq!(implicit.ca_file.as_deref(), Some(Path::new("/etc/ca.pem")));
    }

    #[test]
    fn bad_smtp_urls_name_the_setting() {
        for bad in [
            "http://mail.example.com",
            "smtp://",
            "smtp://h?tls=maybe",
            "smtp://h?insecure=true",
            "smtp://h?ca_file=/x.pem",
            "smtp://:pw@h",
        ] {
            let err = SmtpSettings::parse(bad).unwrap_err().to_string();
            assert!(err.starts_with("EMPORIUM_SMTP_URL:"), "{bad}: {err}");
        }
    }
}
