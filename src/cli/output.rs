//! [`Output`]: where every command's results go. A reader that goes away early
//! (`discord-monitor config show | head -1`) is not an error: the write fails with
//! [`OutputError::Closed`] and the binary ends quietly with exit 0, where `println!` would
//! panic.

use std::fmt;
use std::io::{self, Write};

use serde::Serialize;

/// Standard output (or, in tests, any writer), written with `write!`/`writeln!`.
pub struct Output<W: Write = io::Stdout> {
    inner: W,
}

#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    /// The reader closed the pipe: nobody wants the rest.
    #[error("stdout is closed")]
    Closed,

    #[error("cannot write to stdout")]
    Write(#[source] io::Error),

    #[error("cannot serialize the output as JSON")]
    Json(#[source] serde_json::Error),
}

impl From<io::Error> for OutputError {
    fn from(err: io::Error) -> Self {
        if err.kind() == io::ErrorKind::BrokenPipe {
            OutputError::Closed
        } else {
            OutputError::Write(err)
        }
    }
}

/// Whether `err` is a closed stdout, which ends a command quietly.
pub fn is_closed(err: &anyhow::Error) -> bool {
    matches!(err.downcast_ref::<OutputError>(), Some(OutputError::Closed))
}

impl Output {
    pub fn stdout() -> Self {
        Output::new(io::stdout())
    }
}

impl<W: Write> Output<W> {
    pub fn new(inner: W) -> Self {
        Output { inner }
    }

    /// What `write!(out, ..)` and `writeln!(out, ..)` call.
    pub fn write_fmt(&mut self, args: fmt::Arguments<'_>) -> Result<(), OutputError> {
        Ok(self.inner.write_fmt(args)?)
    }

    pub fn write_bytes(&mut self, bytes: &[u8]) -> Result<(), OutputError> {
        Ok(self.inner.write_all(bytes)?)
    }

    /// `value` as indented JSON, then a newline.
    pub fn json_pretty(&mut self, value: &impl Serialize) -> Result<(), OutputError> {
        let text = serde_json::to_string_pretty(value).map_err(OutputError::Json)?;
        writeln!(self, "{text}")
    }

    /// Stdout holds back a last line without a newline until flushed.
    pub fn flush(&mut self) -> Result<(), OutputError> {
        Ok(self.inner.flush()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A pipe whose reader has gone.
    struct ClosedPipe;

    impl Write for ClosedPipe {
        fn write(&mut self, _: &[u8]) -> io::Result<usize> {
            Err(io::ErrorKind::BrokenPipe.into())
        }

        fn flush(&mut self) -> io::Result<()> {
            Err(io::ErrorKind::BrokenPipe.into())
        }
    }

    #[test]
    fn a_closed_pipe_is_told_apart_from_other_write_errors() {
        let mut out = Output::new(ClosedPipe);
        let err = anyhow::Error::from(writeln!(out, "line").unwrap_err());
        assert!(is_closed(&err), "{err:#}");
        let context = anyhow::Error::from(out.flush().unwrap_err()).context("printing");
        assert!(is_closed(&context), "{context:#}");

        let full = OutputError::from(io::Error::from(io::ErrorKind::StorageFull));
        assert!(!is_closed(&full.into()));
    }

    #[test]
    fn lines_and_json_reach_the_writer() {
        let mut out = Output::new(Vec::new());
        writeln!(out, "a {}", 1).unwrap();
        out.json_pretty(&serde_json::json!({"b": 2})).unwrap();
        out.write_bytes(b"c").unwrap();
        assert_eq!(
            String::from_utf8(out.inner).unwrap(),
            "a 1\n{\n  \"b\": 2\n}\nc"
        );
    }
}
