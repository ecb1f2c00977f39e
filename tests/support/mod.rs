//! Shared helpers for the integration tests: start the real `discord-monitor` binary on a
//! loopback port with its data in a temporary directory, talk to it over HTTP, stop it with
//! SIGTERM, and check that nothing it printed or logged contains a test secret.
#![allow(dead_code)] // each test binary uses a different subset

pub mod fake_llm;
pub mod fake_triage;

use std::io::Read;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use tempfile::TempDir;

pub mod pipeline;

/// Distinctive values used as credentials in tests; none may ever appear in output or logs.
pub const DISCORD_TOKEN: &str = "dmtest-discord-token-7f3a9c";
pub const ADMIN_TOKEN: &str = "dmtest-admin-token-51e0b2";
pub const GOOGLE_API_KEY: &str = "dmtest-google-key-c4d8e1";
pub const EMAIL_PASSWORD: &str = "dmtest-email-password-93ab77";
pub const SLACK_WEBHOOK_URL: &str = "https://hooks.slack.com/services/dmtest-slack-hook-0a1b2c";
pub const ALL_SECRETS: &[&str] = &[
    DISCORD_TOKEN,
    ADMIN_TOKEN,
    GOOGLE_API_KEY,
    EMAIL_PASSWORD,
    SLACK_WEBHOOK_URL,
    "dmtest-",
];

/// Long enough for a cold start on a busy 2-core CI machine; a healthy start takes well
/// under a second.
pub const STARTUP_TIMEOUT: Duration = Duration::from_secs(60);

/// Shutdown deadline the tests allow: the service's own is 20 s by default.
pub const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(40);

pub fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_discord-monitor")
}

/// A loopback port that was free a moment ago.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .expect("bind an ephemeral loopback port")
}

/// Runs the binary to completion (for CLI commands), with only the given environment.
pub fn run_cli(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> CliOutput {
    let output = base_command(dir, env)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run discord-monitor");
    let result = CliOutput {
        status: output.status,
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    };
    assert_no_secrets(&result.stdout, "CLI stdout");
    assert_no_secrets(&result.stderr, "CLI stderr");
    result
}

/// Runs the binary with a stdout pipe whose reader is already gone, as with `| head -1`
/// once head has its line, but every time: the first write to stdout fails with EPIPE.
/// Stdout is empty in the answer.
pub fn run_cli_closed_stdout(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> CliOutput {
    let (reader, writer) = std::io::pipe().expect("create a pipe");
    drop(reader);
    let child = base_command(dir, env)
        .args(args)
        .stdin(Stdio::null())
        .stdout(writer)
        .stderr(Stdio::piped())
        .spawn()
        .expect("run discord-monitor");
    let output = child.wait_with_output().expect("wait for discord-monitor");
    let result = CliOutput {
        status: output.status,
        stdout: String::new(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    };
    assert_no_secrets(&result.stderr, "CLI stderr");
    result
}

#[derive(Debug)]
pub struct CliOutput {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl CliOutput {
    pub fn code(&self) -> i32 {
        self.status.code().unwrap_or(-1)
    }
}

fn base_command(dir: &Path, env: &[(&str, &str)]) -> Command {
    let mut command = Command::new(binary());
    command.current_dir(dir).env_clear();
    // Keep PATH so the binary's own child lookups behave; nothing else leaks in from the host.
    if let Some(path) = std::env::var_os("PATH") {
        command.env("PATH", path);
    }
    for (name, value) in env {
        command.env(name, value);
    }
    command
}

/// A running service in its own temporary directory.
pub struct Service {
    child: Option<Child>,
    pub port: u16,
    pub dir: TempDir,
    stdout_path: PathBuf,
    stderr_path: PathBuf,
}

impl Service {
    /// Starts `discord-monitor <args>` with `config` written to `config.json` in a fresh
    /// directory, the admin API on a free port, and only `env` in the environment.
    pub fn start(args: &[&str], config: &Value, env: &[(&str, &str)]) -> Service {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(
            dir.path().join("config.json"),
            serde_json::to_vec_pretty(config).unwrap(),
        )
        .unwrap();
        Self::start_in(dir, args, env)
    }

    pub fn start_in(dir: TempDir, args: &[&str], env: &[(&str, &str)]) -> Service {
        let stdout_path = dir.path().join("stdout.log");
        let stderr_path = dir.path().join("stderr.log");
        let mut service = Service {
            child: None,
            port: 0,
            dir,
            stdout_path,
            stderr_path,
        };
        service.spawn(args, env);
        service
    }

    /// Starts the binary in this service's directory, appending to its stdout/stderr files so
    /// that a restarted service's earlier output is still checked by [`Service::finish`].
    fn spawn(&mut self, args: &[&str], env: &[(&str, &str)]) {
        assert!(self.child.is_none(), "the service is still running");
        let port = free_port();
        let port_text = port.to_string();
        let mut env: Vec<(&str, &str)> = env.to_vec();
        if !env.iter().any(|(name, _)| *name == "HEALTH_CHECK_PORT") {
            env.push(("HEALTH_CHECK_PORT", &port_text));
        }
        env.push(("HEALTH_CHECK_HOST", "127.0.0.1"));
        let append = |path: &Path| {
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .unwrap()
        };
        let child = base_command(self.dir.path(), &env)
            .args(args)
            .stdin(Stdio::null())
            .stdout(append(&self.stdout_path))
            .stderr(append(&self.stderr_path))
            .spawn()
            .expect("spawn discord-monitor");
        self.port = env
            .iter()
            .find(|(name, _)| *name == "HEALTH_CHECK_PORT")
            .and_then(|(_, value)| value.parse().ok())
            .unwrap_or(port);
        self.child = Some(child);
    }

    /// `kill -9`: the process gets no chance to flush, close or checkpoint anything.
    pub fn kill_hard(&mut self) {
        let mut child = self.child.take().expect("service still running");
        send_signal(child.id(), "KILL");
        let status = child.wait().expect("wait for the killed service");
        assert_eq!(
            std::os::unix::process::ExitStatusExt::signal(&status),
            Some(9),
            "the service should have died of SIGKILL, got {status}"
        );
    }

    /// Whether the process is still running (it has not exited on its own).
    pub fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|child| child.try_wait().expect("poll the service").is_none())
    }

    /// Starts the binary again in the same directory (same config, data and logs), on a new
    /// admin port.
    pub fn restart(&mut self, args: &[&str], env: &[(&str, &str)]) {
        self.spawn(args, env);
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{}", self.port, path)
    }

    /// Waits until `/health` answers (the process is serving), failing with its output if it
    /// exits or never answers.
    pub async fn wait_serving(&mut self) {
        self.wait_for("/health", |status| status == 200).await;
    }

    /// Waits until `/health/ready` answers 200.
    pub async fn wait_ready(&mut self) {
        self.wait_for("/health/ready", |status| status == 200).await;
    }

    async fn wait_for(&mut self, path: &str, done: impl Fn(u16) -> bool) {
        let client = client();
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        loop {
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!(
                    "discord-monitor exited with {status} before {path} answered\nstderr:\n{}\nstdout:\n{}",
                    self.stderr(),
                    self.stdout()
                );
            }
            if let Ok(response) = client.get(self.url(path)).send().await
                && done(response.status().as_u16())
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{path} not answering after {STARTUP_TIMEOUT:?}\nstderr:\n{}",
                self.stderr()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub fn stdout(&self) -> String {
        std::fs::read_to_string(&self.stdout_path).unwrap_or_default()
    }

    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }

    /// Sends SIGTERM and waits for the exit; returns the status.
    pub fn terminate(&mut self) -> ExitStatus {
        self.signal("TERM")
    }

    /// Sends SIGINT (what Ctrl-C sends) and waits for the exit; returns the status.
    pub fn interrupt(&mut self) -> ExitStatus {
        self.signal("INT")
    }

    fn signal(&mut self, signal: &str) -> ExitStatus {
        let child = self.child.as_mut().expect("service still running");
        send_signal(child.id(), signal);
        let deadline = Instant::now() + SHUTDOWN_TIMEOUT;
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                self.child = None;
                return status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!(
                    "discord-monitor did not stop within {SHUTDOWN_TIMEOUT:?} of SIG{signal}\nstderr:\n{}",
                    self.stderr()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Every log line the service wrote: stdout plus the JSON files under `log_dir`.
    pub fn all_output(&self) -> String {
        let mut text = self.stdout();
        text.push_str(&self.stderr());
        for file in files_under(self.dir.path()) {
            let is_log = file
                .extension()
                .is_some_and(|ext| ext == "jsonl" || ext == "log")
                || file.to_string_lossy().contains(".jsonl.");
            if is_log {
                let mut content = String::new();
                if let Ok(mut handle) = std::fs::File::open(&file) {
                    let _ = handle.read_to_string(&mut content);
                }
                text.push_str(&content);
            }
        }
        text
    }

    /// Stops the service (if running) and checks that none of its output holds a secret.
    pub fn finish(mut self) -> String {
        if self.child.is_some() {
            let status = self.terminate();
            assert!(
                status.success(),
                "exit status {status}; stderr:\n{}",
                self.stderr()
            );
        }
        let output = self.all_output();
        assert_no_secrets(&output, "service output and log files");
        output
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(next) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&next) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
            } else {
                found.push(path);
            }
        }
    }
    found
}

fn send_signal(pid: u32, signal: &str) {
    let status = Command::new("kill")
        .args([&format!("-{signal}"), &pid.to_string()])
        .status()
        .expect("run kill");
    assert!(status.success(), "kill -{signal} {pid} failed");
}

/// Fails the test if `text` contains any test secret, or the token discord-sim hands out
/// (the demo's Discord token).
pub fn assert_no_secrets(text: &str, what: &str) {
    let sim_token = discord_sim::default_token();
    for secret in ALL_SECRETS.iter().copied().chain([sim_token.as_str()]) {
        if let Some(position) = text.find(secret) {
            let start = position.saturating_sub(200);
            let end = (position + 200).min(text.len());
            panic!(
                "{what} contains the test secret {secret:?}:\n...{}...",
                text.get(start..end).unwrap_or("<non-utf8 boundary>")
            );
        }
    }
}

pub fn client() -> reqwest::Client {
    discord_monitor::tls::install_crypto_provider();
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("build HTTP client")
}

/// GET returning (status, body as JSON or as a string value).
pub async fn get_json(url: &str, token: Option<&str>) -> (u16, Value) {
    let mut request = client().get(url).header("Accept", "application/json");
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    let text = response.text().await.expect("body");
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, body)
}

pub async fn get_text(url: &str) -> (u16, String, String) {
    let response = client().get(url).send().await.expect("request");
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    (status, content_type, response.text().await.expect("body"))
}

/// A plain text message in guild 7 by `alice`, created in id order.
pub fn message(id: u64, channel_id: u64, content: &str) -> discord_monitor::actors::db::NewMessage {
    discord_monitor::actors::db::NewMessage {
        id,
        channel_id,
        guild_id: Some(7),
        author_id: 99,
        author_name: "alice".to_owned(),
        author_is_bot: false,
        content: content.to_owned(),
        created_at_ms: 1_700_000_000_000 + i64::try_from(id).unwrap(),
        edited_at_ms: None,
        kind: 0,
        attachments: Vec::new(),
        embeds: Vec::new(),
        reply_to_message_id: None,
        reply_to_channel_id: None,
        source: discord_monitor::actors::db::MessageSource::Gateway,
    }
}
