//! Process figures from `sysinfo`, measured against the limit that actually applies: the
//! container's cgroup memory limit when there is one, else `processing.memory_limit_mb`.
//! (The host's total memory is never the yardstick: inside a container it says nothing.)

use serde::Serialize;
use sysinfo::{Pid, ProcessRefreshKind, ProcessesToUpdate, RefreshKind, System};

/// Bytes per MiB, for `processing.memory_limit_mb`.
const BYTES_PER_MIB: f64 = 1024.0 * 1024.0;

#[derive(Debug, thiserror::Error)]
pub enum SystemStatsError {
    #[error("cannot read process figures: {0}")]
    Unavailable(String),
}

/// One reading of this process.
#[derive(Debug, Clone, Copy, Serialize, PartialEq)]
pub struct ProcessFigures {
    pub resident_memory_bytes: u64,
    pub virtual_memory_bytes: u64,
    /// Percent of one core since the previous reading (0 on the first).
    pub cpu_percent: f32,
    /// The memory limit in force, in bytes, and where it came from.
    pub memory_limit_bytes: u64,
    pub memory_limit_source: MemoryLimitSource,
    /// `resident_memory_bytes / memory_limit_bytes`, 0..1 (can exceed 1 before the OOM killer).
    pub memory_used_ratio: f64,
    pub threads: Option<usize>,
}

#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum MemoryLimitSource {
    Cgroup,
    Config,
}

/// Keeps a `sysinfo::System` between readings, since CPU usage is a difference of two.
pub struct ProcessSampler {
    system: System,
    pid: Pid,
    configured_limit_bytes: u64,
}

impl ProcessSampler {
    pub fn new(memory_limit_mb: f64) -> Result<Self, SystemStatsError> {
        let pid = sysinfo::get_current_pid()
            .map_err(|err| SystemStatsError::Unavailable(err.to_string()))?;
        let system = System::new_with_specifics(RefreshKind::nothing())
            .map_err(|err| SystemStatsError::Unavailable(err.to_string()))?;
        Ok(Self {
            system,
            pid,
            // Truncation is intended: the limit is a whole number of bytes.
            configured_limit_bytes: (memory_limit_mb.max(0.0) * BYTES_PER_MIB) as u64,
        })
    }

    pub fn sample(&mut self) -> Result<ProcessFigures, SystemStatsError> {
        self.system.refresh_processes_specifics(
            ProcessesToUpdate::Some(&[self.pid]),
            true,
            ProcessRefreshKind::nothing().with_memory().with_cpu(),
        );
        let process = self
            .system
            .process(self.pid)
            .ok_or_else(|| SystemStatsError::Unavailable("own process not found".to_owned()))?;
        let (memory_limit_bytes, memory_limit_source) = match self.system.cgroup_limits() {
            Some(limits) if limits.total_memory > 0 => {
                (limits.total_memory, MemoryLimitSource::Cgroup)
            }
            _ => (self.configured_limit_bytes, MemoryLimitSource::Config),
        };
        let resident = process.memory();
        Ok(ProcessFigures {
            resident_memory_bytes: resident,
            virtual_memory_bytes: process.virtual_memory(),
            cpu_percent: process.cpu_usage(),
            memory_limit_bytes,
            memory_limit_source,
            memory_used_ratio: if memory_limit_bytes == 0 {
                0.0
            } else {
                resident as f64 / memory_limit_bytes as f64
            },
            threads: process.tasks().map(|tasks| tasks.len()),
        })
    }
}

/// Readings closer together than this reuse the last one: several gauges read the same
/// scrape, and CPU usage over microseconds is noise. One second keeps `/metrics` and
/// `/health/detailed` fresh for any sane scrape interval.
const MIN_SAMPLE_INTERVAL: std::time::Duration = std::time::Duration::from_secs(1);

/// A [`ProcessSampler`] shared by the metrics gauges and the admin routes, read at most once
/// per `MIN_SAMPLE_INTERVAL` (1 s).
pub struct SharedProcessSampler {
    state: std::sync::Mutex<(ProcessSampler, Option<(std::time::Instant, ProcessFigures)>)>,
}

impl SharedProcessSampler {
    pub fn new(memory_limit_mb: f64) -> Result<Self, SystemStatsError> {
        Ok(Self {
            state: std::sync::Mutex::new((ProcessSampler::new(memory_limit_mb)?, None)),
        })
    }

    /// The latest reading, taken now unless one was taken within the last second.
    pub fn figures(&self) -> Result<ProcessFigures, SystemStatsError> {
        let mut state = self
            .state
            .lock()
            .map_err(|_| SystemStatsError::Unavailable("sampler lock poisoned".to_owned()))?;
        let (sampler, last) = &mut *state;
        if let Some((at, figures)) = last
            && at.elapsed() < MIN_SAMPLE_INTERVAL
        {
            return Ok(*figures);
        }
        let figures = sampler.sample()?;
        *last = Some((std::time::Instant::now(), figures));
        Ok(figures)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_own_process() {
        let mut sampler = ProcessSampler::new(1024.0).unwrap();
        let figures = sampler.sample().unwrap();
        assert!(figures.resident_memory_bytes > 0);
        assert!(figures.memory_limit_bytes > 0);
        assert!(figures.memory_used_ratio > 0.0);
        // A second reading works too (CPU usage needs two).
        sampler.sample().unwrap();
    }

    #[test]
    fn shared_readings_within_a_second_are_reused() {
        let shared = SharedProcessSampler::new(512.0).unwrap();
        let first = shared.figures().unwrap();
        let second = shared.figures().unwrap();
        assert_eq!(first, second);
        assert_eq!(first.memory_limit_source, MemoryLimitSource::Config);
    }
}
