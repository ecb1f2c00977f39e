//! A log file rotated by size: `name` is the live file, `name.1` the newest rotated one and
//! `name.N` the oldest kept; rotating drops `name.N`.

use std::ffi::OsString;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// When a file is rotated and how many rotated files are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RotationPolicy {
    /// Bytes; a line that would take the live file past this starts a new file. A single line
    /// longer than this still gets written, alone in its file.
    pub max_bytes: u64,
    /// Rotated files kept beside the live one (`name.1` .. `name.N`); 0 keeps none.
    pub keep: u32,
}

impl RotationPolicy {
    /// Bytes in a MiB, the unit of the `log_file_max_mb` / `error_log_max_mb` settings.
    const BYTES_PER_MIB: u64 = 1024 * 1024;

    pub fn from_mib(max_mib: u64, keep: u32) -> Self {
        Self {
            max_bytes: max_mib.saturating_mul(Self::BYTES_PER_MIB),
            keep,
        }
    }
}

pub(crate) struct RotatingFile {
    path: PathBuf,
    policy: RotationPolicy,
    /// `None` after a failed write or rotation: the next line reopens the file.
    file: Option<File>,
    /// Bytes in the live file, so a restart continues the size count where it stopped.
    written: u64,
}

impl RotatingFile {
    pub(crate) fn open(path: PathBuf, policy: RotationPolicy) -> io::Result<Self> {
        let file = open_append(&path)?;
        let written = file.metadata()?.len();
        Ok(Self {
            path,
            policy,
            file: Some(file),
            written,
        })
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Writes one whole line. A failed rotation is reported but the line still goes into the
    /// live file: an oversized file is better than a lost line.
    pub(crate) fn write_line(&mut self, line: &[u8]) -> io::Result<()> {
        let line_bytes = line.len() as u64;
        let full =
            self.written > 0 && self.written.saturating_add(line_bytes) > self.policy.max_bytes;
        let rotation_failure = if full { self.rotate().err() } else { None };
        let file = match self.file.as_mut() {
            Some(file) => file,
            None => {
                let file = open_append(&self.path)?;
                self.written = file.metadata()?.len();
                self.file.insert(file)
            }
        };
        if let Err(err) = file.write_all(line) {
            self.file = None;
            return Err(err);
        }
        self.written += line_bytes;
        rotation_failure.map_or(Ok(()), Err)
    }

    pub(crate) fn flush(&mut self) -> io::Result<()> {
        self.file.as_mut().map_or(Ok(()), Write::flush)
    }

    fn rotate(&mut self) -> io::Result<()> {
        self.file = None;
        if self.policy.keep == 0 {
            File::create(&self.path)?;
        } else {
            remove_if_present(&self.rotated_path(self.policy.keep))?;
            for index in (1..self.policy.keep).rev() {
                rename_if_present(&self.rotated_path(index), &self.rotated_path(index + 1))?;
            }
            fs::rename(&self.path, self.rotated_path(1))?;
        }
        self.file = Some(open_append(&self.path)?);
        self.written = 0;
        Ok(())
    }

    fn rotated_path(&self, index: u32) -> PathBuf {
        rotated_path(&self.path, index)
    }
}

/// `discord_monitor.jsonl` -> `discord_monitor.jsonl.{index}`.
pub(crate) fn rotated_path(path: &Path, index: u32) -> PathBuf {
    let mut name = OsString::from(path.as_os_str());
    name.push(format!(".{index}"));
    PathBuf::from(name)
}

fn open_append(path: &Path) -> io::Result<File> {
    OpenOptions::new().create(true).append(true).open(path)
}

fn remove_if_present(path: &Path) -> io::Result<()> {
    match fs::remove_file(path) {
        Err(err) if err.kind() != io::ErrorKind::NotFound => Err(err),
        _ => Ok(()),
    }
}

fn rename_if_present(from: &Path, to: &Path) -> io::Result<()> {
    match fs::rename(from, to) {
        Err(err) if err.kind() != io::ErrorKind::NotFound => Err(err),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(path: &Path) -> String {
        fs::read_to_string(path).unwrap()
    }

    #[test]
    fn keeps_exactly_the_configured_number_of_rotated_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("app.jsonl");
        let policy = RotationPolicy {
            max_bytes: 20,
            keep: 3,
        };
        let mut file = RotatingFile::open(path.clone(), policy).unwrap();
        for index in 0..20 {
            file.write_line(format!("line {index:02}\n").as_bytes())
                .unwrap();
        }
        // 9 bytes a line, 2 lines a file: 20 lines make 10 files, of which 1 live + 3 kept.
        assert_eq!(read(&path), "line 18\nline 19\n");
        assert_eq!(read(&rotated_path(&path, 1)), "line 16\nline 17\n");
        assert_eq!(read(&rotated_path(&path, 3)), "line 12\nline 13\n");
        assert!(!rotated_path(&path, 4).exists());
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 4);
    }

    #[test]
    fn reopening_continues_the_size_count() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("app.jsonl");
        let policy = RotationPolicy {
            max_bytes: 20,
            keep: 1,
        };
        RotatingFile::open(path.clone(), policy)
            .unwrap()
            .write_line(b"0123456789\n")
            .unwrap();
        let mut reopened = RotatingFile::open(path.clone(), policy).unwrap();
        reopened.write_line(b"abcdefghij\n").unwrap();
        assert_eq!(read(&path), "abcdefghij\n");
        assert_eq!(read(&rotated_path(&path, 1)), "0123456789\n");
    }

    #[test]
    fn keep_zero_truncates_instead_of_renaming() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("app.jsonl");
        let mut file = RotatingFile::open(
            path.clone(),
            RotationPolicy {
                max_bytes: 5,
                keep: 0,
            },
        )
        .unwrap();
        file.write_line(b"first\n").unwrap();
        file.write_line(b"second\n").unwrap();
        assert_eq!(read(&path), "second\n");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn failed_rotation_still_writes_the_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("app.jsonl");
        // A non-empty directory where the rotated file should go makes the rename fail.
        fs::create_dir_all(rotated_path(&path, 1).join("blocker")).unwrap();
        let mut file = RotatingFile::open(
            path.clone(),
            RotationPolicy {
                max_bytes: 5,
                keep: 1,
            },
        )
        .unwrap();
        file.write_line(b"first\n").unwrap();
        assert!(file.write_line(b"second\n").is_err());
        assert_eq!(read(&path), "first\nsecond\n");
    }

    #[test]
    fn mib_sizes_become_bytes() {
        assert_eq!(
            RotationPolicy::from_mib(100, 5),
            RotationPolicy {
                max_bytes: 104_857_600,
                keep: 5
            }
        );
    }
}
