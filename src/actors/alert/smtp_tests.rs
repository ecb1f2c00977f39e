//! Email alerts sent to a real SMTP server: aiosmtpd (PyPI), started by
//! `tests/thirdparty/aiosmtpd_server.py`, with STARTTLS + AUTH and with implicit TLS + AUTH
//! (a test CA and leaf certificate generated at test time, trusted through `tls_ca_file`),
//! and plain. The script runs in the tests' pinned Python environment (`test_python`),
//! created on first use.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use serde_json::Value;

use super::Severity;
use super::config::{EmailTarget, RouteTarget, SmtpTls};
use super::messages::{Alert, TestRoutes};
use super::tests::{Service, route, settings, wait_until};
use crate::config::Secret;

const SERVER_SCRIPT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/thirdparty/aiosmtpd_server.py"
);

/// The server process; closing its stdin (on drop) ends it.
struct SmtpServer {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
}

impl SmtpServer {
    /// `tls`: `None` plain without AUTH; otherwise that TLS mode with AUTH `auth`.
    fn start(tls: Option<(SmtpTls, (&str, &str))>) -> SmtpServer {
        let dir = tempfile::tempdir().unwrap();
        let mut command = Command::new(test_python::python());
        command.arg(SERVER_SCRIPT).arg(dir.path());
        if let Some((mode, (user, password))) = tls {
            let flag = if mode == SmtpTls::Implicit {
                "--implicit"
            } else {
                "--starttls"
            };
            command.args([flag, user, password]);
        }
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start aiosmtpd_server.py");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line
            .trim()
            .strip_prefix("READY ")
            .and_then(|port| port.parse().ok())
            .unwrap_or_else(|| panic!("aiosmtpd_server.py did not start: {line:?}"));
        SmtpServer { child, port, dir }
    }

    fn ca_file(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    fn received(&self) -> Vec<Value> {
        let mut messages: Vec<(u32, Value)> = std::fs::read_dir(self.dir.path())
            .unwrap()
            .filter_map(|entry| {
                let path = entry.ok()?.path();
                let number = path
                    .file_name()?
                    .to_str()?
                    .strip_suffix(".json")?
                    .parse()
                    .ok()?;
                Some((number, read_json(&path)))
            })
            .collect();
        messages.sort_by_key(|(number, _)| *number);
        messages.into_iter().map(|(_, message)| message).collect()
    }
}

fn read_json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.wait();
    }
}

fn email(server: &SmtpServer, tls: SmtpTls, auth: Option<(&str, &str)>) -> RouteTarget {
    RouteTarget::Email(EmailTarget {
        // The leaf certificate names localhost.
        smtp_host: "localhost".to_owned(),
        smtp_port: server.port,
        tls,
        tls_ca_file: (tls != SmtpTls::None).then(|| server.ca_file()),
        username: auth.map(|(user, _)| user.to_owned()),
        password: auth.map(|(_, password)| Secret::new(password)),
        from: "discord-monitor@example.org".to_owned(),
        to: vec![
            "ops@example.org".to_owned(),
            "oncall@example.org".to_owned(),
        ],
    })
}

fn assert_alert_mail(message: &Value) {
    assert_eq!(message["mail_from"], "discord-monitor@example.org");
    assert_eq!(
        message["rcpt_tos"],
        serde_json::json!(["ops@example.org", "oncall@example.org"])
    );
    let data = message["data"].as_str().unwrap();
    assert!(
        data.contains("Subject: [CRITICAL] Database integrity check failed"),
        "{data}"
    );
    assert!(
        data.contains("To: ops@example.org, oncall@example.org"),
        "{data}"
    );
    assert!(data.contains("multipart/alternative"), "{data}");
    assert!(data.contains("Content-Type: text/plain"), "{data}");
    assert!(data.contains("Content-Type: text/html"), "{data}");
    assert!(data.contains("<h2 style="), "html part: {data}");
    assert!(
        data.contains("&lt;db.sqlite&gt;"),
        "escaped in html: {data}"
    );
}

fn integrity_alert() -> Alert {
    Alert::new(
        "db_integrity",
        Severity::Critical,
        "Database integrity check failed",
        "PRAGMA integrity_check reported 3 problems in <db.sqlite>.",
    )
    .with_field("problems", "3")
}

#[actix_rt::test]
async fn mail_goes_out_over_starttls_with_auth() {
    let credentials = ("alerts", "zq-smtp-test-password");
    let auth = Some(credentials);
    let server = SmtpServer::start(Some((SmtpTls::Starttls, credentials)));
    let dir = tempfile::tempdir().unwrap();
    let service = Service::start(
        &dir.path().join("db.sqlite"),
        settings(vec![route("mail", email(&server, SmtpTls::Starttls, auth))]),
    );
    service
        .alerts
        .send(integrity_alert())
        .await
        .unwrap()
        .unwrap();
    wait_until("the mail", || async { !server.received().is_empty() }).await;
    let message = &server.received()[0];
    assert_alert_mail(message);
    assert_eq!(message["authenticated"], true);

    // A wrong password is reported by `alert test`, not hidden.
    let wrong = email(&server, SmtpTls::Starttls, Some(("alerts", "wrong")));
    let other = Service::start(
        &dir.path().join("other.sqlite"),
        settings(vec![route("mail", wrong)]),
    );
    let results = other
        .alerts
        .send(TestRoutes { route: None })
        .await
        .unwrap()
        .unwrap();
    assert!(!results[0].ok);
    let error = results[0].error.as_deref().unwrap();
    assert!(
        error.contains("535"),
        "the server's refusal is reported: {error}"
    );
    assert!(!error.contains("wrong"), "{error}");
    other.stop().await;
    service.stop().await;
}

#[actix_rt::test]
async fn mail_goes_out_over_implicit_tls() {
    let credentials = ("alerts", "zq-smtp-test-password");
    let server = SmtpServer::start(Some((SmtpTls::Implicit, credentials)));
    let dir = tempfile::tempdir().unwrap();
    let service = Service::start(
        &dir.path().join("db.sqlite"),
        settings(vec![route(
            "mail",
            email(&server, SmtpTls::Implicit, Some(credentials)),
        )]),
    );
    service
        .alerts
        .send(integrity_alert())
        .await
        .unwrap()
        .unwrap();
    wait_until("the mail", || async { !server.received().is_empty() }).await;
    let message = &server.received()[0];
    assert_alert_mail(message);
    assert_eq!(message["authenticated"], true);
    service.stop().await;
}

#[actix_rt::test]
async fn mail_goes_out_plain_to_a_local_relay() {
    let server = SmtpServer::start(None);
    let dir = tempfile::tempdir().unwrap();
    let service = Service::start(
        &dir.path().join("db.sqlite"),
        settings(vec![route("mail", email(&server, SmtpTls::None, None))]),
    );
    service
        .alerts
        .send(integrity_alert())
        .await
        .unwrap()
        .unwrap();
    wait_until("the mail", || async { !server.received().is_empty() }).await;
    let message = &server.received()[0];
    assert_alert_mail(message);
    assert_ne!(message["authenticated"], true);
    service.stop().await;
}
