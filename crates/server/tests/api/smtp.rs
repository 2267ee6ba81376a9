//! A real SMTP server for the mail tests: `tests/smtp_sink.py` (aiosmtpd)
//! run as a child process on a free loopback port. Where neither
//! `EMPORIUM_TEST_SMTP_PYTHON` nor a Python with aiosmtpd is found, the mail
//! cases print a notice and pass without running, as the PostgreSQL cases do.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde::Deserialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SinkMode {
    Plain,
    /// STARTTLS required, with a self-signed certificate made for the test.
    StartTls,
    /// Accepts connections and never says a word.
    Stall,
}

/// One message the sink accepted.
#[derive(Debug, Clone, Deserialize)]
pub struct Received {
    pub mail_from: String,
    pub rcpt_tos: Vec<String>,
    pub tls: bool,
    pub raw: String,
    pub subject: String,
    pub message_id: String,
    pub content_type: String,
    pub text: Option<String>,
    pub html: Option<String>,
    pub received_at: f64,
}

impl Received {
    pub fn text(&self) -> &str {
        self.text.as_deref().unwrap_or_default()
    }
    pub fn html(&self) -> &str {
        self.html.as_deref().unwrap_or_default()
    }
    pub fn is_to(&self, address: &str) -> bool {
        self.rcpt_tos.iter().any(|r| r.eq_ignore_ascii_case(address))
    }
}

pub struct SmtpSink {
    python: String,
    dir: tempfile::TempDir,
    port: u16,
    mode: SinkMode,
    /// PEM certificate the sink presents (STARTTLS mode).
    cert: Option<PathBuf>,
    child: Option<Child>,
}

fn has_aiosmtpd(python: &str) -> bool {
    Command::new(python)
        .args(["-c", "import aiosmtpd"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The Python that runs the sink, if there is one with aiosmtpd.
fn python() -> Option<String> {
    if let Ok(python) = std::env::var("EMPORIUM_TEST_SMTP_PYTHON").map(|p| p.trim().to_string())
        && !python.is_empty()
    {
        assert!(has_aiosmtpd(&python), "EMPORIUM_TEST_SMTP_PYTHON={python} cannot import aiosmtpd");
        return Some(python);
    }
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/py/bin/python");
    [venv.display().to_string(), "python3".to_string()].into_iter().find(|p| has_aiosmtpd(p))
}

impl SmtpSink {
    /// Starts a sink, or prints why it cannot and returns `None`.
    pub async fn start(mode: SinkMode) -> Option<Self> {
        let Some(python) = python() else {
            eprintln!(
                "no Python with aiosmtpd (set EMPORIUM_TEST_SMTP_PYTHON, or run .ci/run once): skipping this SMTP case"
            );
            return None;
        };
        let dir = tempfile::tempdir().expect("temp dir");
        let cert = match mode {
            SinkMode::StartTls => {
                let mut params = rcgen::CertificateParams::new(vec!["localhost".to_string()]).unwrap();
                params.subject_alt_names.push(rcgen::SanType::IpAddress([127, 0, 0, 1].into()));
                let key = rcgen::KeyPair::generate().unwrap();
                let cert = params.self_signed(&key).unwrap();
                let cert_path = dir.path().join("cert.pem");
                std::fs::write(&cert_path, cert.pem()).unwrap();
                std::fs::write(dir.path().join("key.pem"), key.serialize_pem()).unwrap();
                Some(cert_path)
            }
            _ => None,
        };
        let mut sink = Self { python, dir, port: 0, mode, cert, child: None };
        sink.launch().await;
        Some(sink)
    }

    async fn launch(&mut self) {
        let port_file = self.dir.path().join("port");
        let _ = std::fs::remove_file(&port_file);
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/smtp_sink.py");
        let mode = match self.mode {
            SinkMode::Plain => "plain",
            SinkMode::StartTls => "starttls",
            SinkMode::Stall => "stall",
        };
        let mut command = Command::new(&self.python);
        command
            .arg(script)
            .arg("--dir")
            .arg(self.dir.path())
            .arg("--port-file")
            .arg(&port_file)
            .arg("--port")
            .arg(self.port.to_string())
            .arg("--mode")
            .arg(mode)
            .stdout(Stdio::null());
        if self.mode == SinkMode::StartTls {
            command
                .arg("--cert")
                .arg(self.dir.path().join("cert.pem"))
                .arg("--key")
                .arg(self.dir.path().join("key.pem"));
        }
        let mut child = command.spawn().expect("the SMTP sink starts");
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        let port = loop {
            if let Ok(text) = std::fs::read_to_string(&port_file)
                && let Ok(port) = text.trim().parse::<u16>()
            {
                break port;
            }
            if let Ok(Some(status)) = child.try_wait() {
                panic!("the SMTP sink exited early: {status}");
            }
            assert!(tokio::time::Instant::now() < deadline, "the SMTP sink did not start");
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        self.port = port;
        self.child = Some(child);
    }

    /// The plain `EMPORIUM_SMTP_URL` of this sink.
    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    pub fn cert_path(&self) -> &Path {
        self.cert.as_deref().expect("a STARTTLS sink has a certificate")
    }

    /// Takes the server down; its port stops answering.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Brings it back on the same port.
    pub async fn restart(&mut self) {
        self.stop();
        self.launch().await;
    }

    /// Every message accepted so far, oldest first.
    pub fn received(&self) -> Vec<Received> {
        let mut names: Vec<PathBuf> = std::fs::read_dir(self.dir.path())
            .unwrap()
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        names.sort();
        names.iter().map(|p| serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()).collect()
    }

    /// Every MAIL FROM and RCPT TO the sink was sent.
    pub fn conversation(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("conversation.log")).unwrap_or_default()
    }

    /// Polls until `done` holds for what has arrived.
    pub async fn wait_until(&self, what: &str, done: impl Fn(&[Received]) -> bool) -> Vec<Received> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let received = self.received();
            if done(&received) {
                return received;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "timed out waiting for {what}; received: {:?}",
                received.iter().map(|r| (&r.rcpt_tos, &r.subject)).collect::<Vec<_>>()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits for the first message to `to` whose subject contains `subject`.
    pub async fn mail_to(&self, to: &str, subject: &str) -> Received {
        let received = self
            .wait_until(&format!("a mail to {to} about {subject:?}"), |r| {
                r.iter().any(|m| m.is_to(to) && m.subject.contains(subject))
            })
            .await;
        received.into_iter().find(|m| m.is_to(to) && m.subject.contains(subject)).unwrap()
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        self.stop();
    }
}
