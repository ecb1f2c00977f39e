//! A Python virtual environment for the tests that drive third-party Python programs
//! (discord.py against discord-sim, an aiosmtpd SMTP server for the email alerts), so that
//! `cargo test` needs nothing installed beyond Python 3 itself.
//!
//! [`python`] returns the environment's interpreter. The first call on a machine creates the
//! environment under the workspace's target directory (`$CARGO_TARGET_DIR/test-venv`, else
//! `target/test-venv`): `python3 -m venv`, then `pip install` of the pinned
//! `requirements.txt` beside this crate's manifest, which needs network access to PyPI that
//! once. Test binaries, and the tests inside each, run in parallel: creation happens under an
//! exclusive file lock (`test-venv.lock` beside the environment), and a stamp written last
//! records a hash of the requirements, so a half-made environment is never used and a changed
//! pin rebuilds it.

use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};
use std::sync::OnceLock;

/// The interpreter the environment is made from, looked up on PATH.
const BASE_PYTHON: &str = "python3";

/// Compiled in, so the stamp's hash and the installed set come from the same text: the
/// environment gets its own copy to install from.
const REQUIREMENTS: &str = include_str!("../requirements.txt");

const VENV_DIR_NAME: &str = "test-venv";

/// Inside the environment; written last, it says the environment is complete and for which
/// requirements.
const STAMP_FILE: &str = "requirements.stamp";

/// The copy of [`REQUIREMENTS`] that pip installs from, kept for whoever looks inside.
const REQUIREMENTS_FILE: &str = "requirements.txt";

/// Why the environment could not be made.
#[derive(Debug, thiserror::Error)]
pub enum VenvError {
    #[error(
        "cannot run `{command}`: the tests that drive third-party Python programs need \
         Python 3.11 or newer, with its venv module, as `{BASE_PYTHON}` on PATH"
    )]
    Spawn {
        command: String,
        #[source]
        source: io::Error,
    },
    #[error("`{command}` failed ({status})\n--- stdout\n{stdout}\n--- stderr\n{stderr}")]
    Failed {
        command: String,
        status: ExitStatus,
        stdout: String,
        stderr: String,
    },
    #[error("cannot {action} {}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// The interpreter of the tests' Python environment, with every package of
/// `requirements.txt` installed; creates the environment on first use.
///
/// # Panics
/// When the environment cannot be made (no `python3`, no venv module, pip failed): the
/// message names the command and carries its output. One attempt per test process; later
/// calls repeat the first failure.
pub fn python() -> &'static Path {
    static PYTHON: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    let made = PYTHON.get_or_init(|| {
        Venv::new(target_dir().join(VENV_DIR_NAME))
            .ensure(BASE_PYTHON, REQUIREMENTS)
            .map_err(|err| report(&err))
    });
    match made {
        Ok(python) => python,
        Err(message) => panic!("the tests' Python environment could not be made: {message}"),
    }
}

/// `CARGO_TARGET_DIR` when set (relative to the workspace root when relative: test processes
/// run in their package's directory, not where cargo was started), else the workspace's
/// `target/`.
fn target_dir() -> PathBuf {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("this crate lives at crates/test-python in the workspace");
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) if !dir.is_empty() => workspace.join(dir),
        _ => workspace.join("target"),
    }
}

/// The error and its sources on one line each, for a panic message.
fn report(err: &VenvError) -> String {
    let mut text = err.to_string();
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        text.push_str(&format!("\ncaused by: {cause}"));
        source = cause.source();
    }
    text
}

struct Venv {
    dir: PathBuf,
}

impl Venv {
    fn new(dir: PathBuf) -> Venv {
        Venv { dir }
    }

    fn python(&self) -> PathBuf {
        if cfg!(windows) {
            self.dir.join("Scripts").join("python.exe")
        } else {
            self.dir.join("bin").join("python")
        }
    }

    /// Outside the environment's directory, which a rebuild deletes.
    fn lock_path(&self) -> PathBuf {
        let mut name = self.dir.file_name().unwrap_or_default().to_owned();
        name.push(".lock");
        self.dir.with_file_name(name)
    }

    /// Returns the interpreter, first making the environment from `base_python` unless it is
    /// already complete for `requirements`.
    fn ensure(&self, base_python: &str, requirements: &str) -> Result<PathBuf, VenvError> {
        let parent = self.dir.parent().unwrap_or(Path::new("."));
        fs::create_dir_all(parent).map_err(io_error("create", parent))?;
        let lock_path = self.lock_path();
        let lock = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(io_error("open", &lock_path))?;
        // Held until `lock` drops at the end of this function: a second process waits here
        // while the first installs, then finds the stamp.
        lock.lock().map_err(io_error("lock", &lock_path))?;

        let stamp = stamp(requirements);
        if self.is_complete(&stamp) {
            return Ok(self.python());
        }
        if self.dir.exists() {
            fs::remove_dir_all(&self.dir).map_err(io_error("remove", &self.dir))?;
        }
        run(Command::new(base_python)
            .args(["-m", "venv"])
            .arg(&self.dir))?;
        let requirements_path = self.dir.join(REQUIREMENTS_FILE);
        fs::write(&requirements_path, requirements)
            .map_err(io_error("write", &requirements_path))?;
        run(Command::new(self.python())
            .args([
                "-m",
                "pip",
                "install",
                "--disable-pip-version-check",
                "--no-input",
                "-r",
            ])
            .arg(&requirements_path))?;
        // Written whole, then renamed into place: a reader never sees half a stamp.
        let stamp_path = self.dir.join(STAMP_FILE);
        let partial = self.dir.join(format!("{STAMP_FILE}.partial"));
        fs::write(&partial, &stamp).map_err(io_error("write", &partial))?;
        fs::rename(&partial, &stamp_path).map_err(io_error("write", &stamp_path))?;
        Ok(self.python())
    }

    fn is_complete(&self, stamp: &str) -> bool {
        // `exists` follows the interpreter's symlink: a base Python removed since makes the
        // environment unusable, and it is rebuilt.
        fs::read_to_string(self.dir.join(STAMP_FILE)).is_ok_and(|found| found == stamp)
            && self.python().exists()
    }
}

/// What the stamp holds for `requirements`: FNV-1a, whose value never changes between
/// toolchains (unlike std's `DefaultHasher`).
fn stamp(requirements: &str) -> String {
    const OFFSET_BASIS: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    let hash = requirements.bytes().fold(OFFSET_BASIS, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(PRIME)
    });
    format!("requirements fnv1a64 {hash:016x}\n")
}

fn run(command: &mut Command) -> Result<(), VenvError> {
    let described = describe(command);
    let output = command.output().map_err(|source| VenvError::Spawn {
        command: described.clone(),
        source,
    })?;
    if output.status.success() {
        return Ok(());
    }
    Err(VenvError::Failed {
        command: described,
        status: output.status,
        stdout: String::from_utf8_lossy(&output.stdout)
            .trim_end()
            .to_owned(),
        stderr: String::from_utf8_lossy(&output.stderr)
            .trim_end()
            .to_owned(),
    })
}

fn describe(command: &Command) -> String {
    std::iter::once(command.get_program())
        .chain(command.get_args())
        .map(|part| part.to_string_lossy())
        .collect::<Vec<_>>()
        .join(" ")
}

fn io_error(action: &'static str, path: &Path) -> impl FnOnce(io::Error) -> VenvError {
    let path = path.to_owned();
    move |source| VenvError::Io {
        action,
        path,
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MISSING_PYTHON: &str = "no-such-python3-for-test-python";

    /// A directory that looks like a complete environment for `requirements`.
    fn complete_venv(root: &Path, requirements: &str) -> Venv {
        let venv = Venv::new(root.join(VENV_DIR_NAME));
        let python = venv.python();
        fs::create_dir_all(python.parent().unwrap()).unwrap();
        fs::write(&python, "").unwrap();
        fs::write(venv.dir.join(STAMP_FILE), stamp(requirements)).unwrap();
        venv
    }

    #[test]
    fn a_complete_environment_is_used_without_running_anything() {
        let root = tempfile::tempdir().unwrap();
        let venv = complete_venv(root.path(), "aiosmtpd==1.4.6\n");
        let python = venv.ensure(MISSING_PYTHON, "aiosmtpd==1.4.6\n").unwrap();
        assert_eq!(python, venv.python());
        assert!(root.path().join("test-venv.lock").exists());
    }

    #[test]
    fn a_changed_pin_rebuilds_the_environment() {
        let root = tempfile::tempdir().unwrap();
        let venv = complete_venv(root.path(), "aiosmtpd==1.4.5\n");
        let err = venv
            .ensure(MISSING_PYTHON, "aiosmtpd==1.4.6\n")
            .unwrap_err();
        assert!(
            matches!(&err, VenvError::Spawn { command, .. } if command.starts_with(MISSING_PYTHON)),
            "{err:?}"
        );
        assert!(!venv.dir.exists(), "the stale environment is removed first");
    }

    #[test]
    fn a_missing_python_is_named_in_the_message() {
        let root = tempfile::tempdir().unwrap();
        let err = Venv::new(root.path().join(VENV_DIR_NAME))
            .ensure(MISSING_PYTHON, REQUIREMENTS)
            .unwrap_err();
        let message = report(&err);
        assert!(
            message.starts_with(&format!("cannot run `{MISSING_PYTHON} -m venv ")),
            "{message}"
        );
        assert!(message.contains("caused by: "), "{message}");
    }

    #[cfg(unix)]
    #[test]
    fn a_failing_command_is_reported_with_its_output() {
        use std::os::unix::fs::PermissionsExt;

        let root = tempfile::tempdir().unwrap();
        let fake = root.path().join("fake-python3");
        fs::write(
            &fake,
            "#!/bin/sh\necho 'creating'\necho 'ensurepip is not available' >&2\nexit 3\n",
        )
        .unwrap();
        fs::set_permissions(&fake, fs::Permissions::from_mode(0o755)).unwrap();
        let err = Venv::new(root.path().join(VENV_DIR_NAME))
            .ensure(fake.to_str().unwrap(), REQUIREMENTS)
            .unwrap_err();
        let message = report(&err);
        assert!(
            message.starts_with(&format!("`{} -m venv ", fake.display())),
            "{message}"
        );
        assert!(message.contains("exit status: 3"), "{message}");
        assert!(
            message.contains("--- stdout\ncreating\n--- stderr\nensurepip is not available"),
            "{message}"
        );
    }

    #[test]
    fn the_stamp_is_stable_across_toolchains() {
        // FNV-1a test vectors.
        assert_eq!(stamp(""), "requirements fnv1a64 cbf29ce484222325\n");
        assert_eq!(stamp("a"), "requirements fnv1a64 af63dc4c8601ec8c\n");
    }
}
