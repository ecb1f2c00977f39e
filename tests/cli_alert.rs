//! Alerts through the real binary, against a loopback webhook receiver: `alert test`, and the
//! running service's ops alert rules.

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::mpsc;
use std::thread;

use support::{Service, run_cli};

/// Answers every request with 204 and hands each JSON body to the test.
fn receiver() -> (u16, mpsc::Receiver<serde_json::Value>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (sender, bodies) = mpsc::channel();
    thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            let mut reader = BufReader::new(stream);
            let mut length = 0;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some((name, value)) = line.split_once(':')
                    && name.eq_ignore_ascii_case("content-length")
                {
                    length = value.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0; length];
            if reader.read_exact(&mut body).is_err() {
                continue;
            }
            let mut stream = reader.into_inner();
            let _ = stream.write_all(
                b"HTTP/1.1 204 No Content\r\nconnection: close\r\ncontent-length: 0\r\n\r\n",
            );
            if let Ok(body) = serde_json::from_slice(&body) {
                let _ = sender.send(body);
            }
        }
    });
    (port, bodies)
}

#[test]
fn alert_test_reports_each_route_and_fails_when_one_fails() {
    let (port, bodies) = receiver();
    // Reserved then freed: nothing listens there.
    let dead_port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = tempfile::tempdir().unwrap();
    let config = serde_json::json!({"alerts": {"routes": [
        {"name": "hook", "kind": "webhook", "url": format!("http://127.0.0.1:{port}/hook"),
         "hmac_secret": "zq-cli-hmac"},
        {"name": "dead", "kind": "discord_webhook",
         "url": format!("http://127.0.0.1:{dead_port}/api/webhooks/1/zq-cli-token")}
    ]}});
    let path = dir.path().join("config.json");
    std::fs::write(&path, config.to_string()).unwrap();
    let path = path.to_str().unwrap();

    let out = run_cli(dir.path(), &["--config", path, "alert", "test"], &[]);
    assert_eq!(out.code(), 1, "{out:?}");
    assert!(out.stdout.contains("ok      hook"), "{out:?}");
    assert!(out.stdout.contains("FAILED  dead: "), "{out:?}");
    assert!(
        !out.stdout.contains("zq-cli-token"),
        "the URL's token is never shown: {out:?}"
    );
    let body = bodies
        .recv_timeout(std::time::Duration::from_secs(30))
        .unwrap();
    assert_eq!(body["phase"], "test");
    assert_eq!(body["fields"]["route"], "hook");

    let out = run_cli(
        dir.path(),
        &[
            "--config", path, "alert", "test", "--route", "hook", "--json",
        ],
        &[],
    );
    assert_eq!(out.code(), 0, "{out:?}");
    let answer: serde_json::Value = serde_json::from_str(out.stdout.trim()).unwrap();
    assert_eq!(
        answer,
        serde_json::json!({"results": [{"route": "hook", "ok": true, "error": null}]})
    );

    let out = run_cli(
        dir.path(),
        &["--config", path, "alert", "test", "--route", "nope"],
        &[],
    );
    assert_eq!(out.code(), 1, "{out:?}");
    assert!(out.stderr.contains("no route named `nope`"), "{out:?}");
}

/// The HealthActor evaluates the ops rules in the running service and the alerts reach the
/// route: memory use above a threshold set below any real process's use, and a backup that
/// cannot be written (its directory is a file).
#[actix_rt::test]
async fn the_running_service_sends_ops_alerts_to_its_routes() {
    let (port, bodies) = receiver();
    let dir = tempfile::tempdir().unwrap();
    // `demo` keeps its backups in ./demo-data/backups: make that a file.
    std::fs::create_dir(dir.path().join("demo-data")).unwrap();
    std::fs::write(dir.path().join("demo-data/backups"), "not a directory").unwrap();
    let config = serde_json::json!({
        "alerts": {
            "routes": [{"name": "hook", "kind": "webhook",
                        "url": format!("http://127.0.0.1:{port}/hook"),
                        "min_severity": "warning"}],
            "rules_interval_secs": 1,
            "memory_percent": 0.001,
            "memory_sustain_secs": 0
        },
        // Hours: about two seconds, so the first backup is attempted soon after start.
        "database": {"backup_interval_hours": 0.0005}
    });
    std::fs::write(dir.path().join("config.json"), config.to_string()).unwrap();
    let mut service = Service::start_in(dir, &["demo"], &[]);
    service.wait_serving().await;
    let alerts = thread::spawn(move || {
        let mut seen = std::collections::BTreeMap::new();
        while !(seen.contains_key("memory_high") && seen.contains_key("backup_failed")) {
            let body: serde_json::Value = bodies
                .recv_timeout(std::time::Duration::from_secs(90))
                .unwrap_or_else(|_| panic!("ops alerts within 90 s; got {seen:?}"));
            let event = body["event"].as_str().unwrap_or_default().to_owned();
            seen.insert(event, body);
        }
        seen
    })
    .join()
    .unwrap();
    let memory = &alerts["memory_high"];
    assert_eq!(memory["phase"], "firing");
    assert_eq!(memory["severity"], "warning");
    assert!(memory["body"].as_str().unwrap().contains('%'), "{memory}");
    let backup = &alerts["backup_failed"];
    assert_eq!(backup["phase"], "firing");
    assert!(
        backup["body"]
            .as_str()
            .unwrap()
            .contains("demo-data/backups"),
        "the reason names the path: {backup}"
    );
    assert!(service.terminate().success());
    service.finish();
}
