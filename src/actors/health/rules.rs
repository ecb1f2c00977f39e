//! Operational alert rules (the deployment guide's "Default Alerts"): pure evaluation of an
//! [`OpsSnapshot`] against [`OpsThresholds`], turning each condition's transitions into
//! [`Alert`]s. Each rule fires once its condition has held for its sustain time and resolves
//! when it no longer holds; while firing it is raised again at every evaluation, which the
//! AlertActor's dedup collapses into one alert plus a reminder per cooldown.
//!
//! A figure that is unknown in a snapshot (`None`) leaves its rule as it was: a sampler that
//! fails once neither fires nor resolves anything.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use crate::actors::alert::config::AlertsConfig;
use crate::actors::alert::{Alert, Severity};

/// Thresholds of the rules; defaults are the deployment guide's.
#[derive(Debug, Clone, PartialEq)]
pub struct OpsThresholds {
    /// Fraction (0..1) of the memory limit in force (cgroup, else `processing.memory_limit_mb`).
    pub memory_ratio: f64,
    pub memory_sustain: Duration,
    /// Fraction (0..1) of the CPU the process may use (cgroup quota, else the host's cores).
    pub cpu_ratio: f64,
    pub cpu_sustain: Duration,
    /// Discord API errors (4xx/5xx/429 answers and gateway reconnects) per minute.
    pub discord_errors_per_minute: f64,
    /// A pipeline with work waiting and no progress for this long is stalled.
    pub pipeline_stall: Duration,
    /// Fraction of the daily LLM budget that raises the warning (the critical one is 1.0).
    pub llm_budget_warning_ratio: f64,
}

impl OpsThresholds {
    pub fn from_config(config: &AlertsConfig) -> Self {
        OpsThresholds {
            memory_ratio: config.memory_percent / 100.0,
            memory_sustain: Duration::from_secs(config.memory_sustain_secs),
            cpu_ratio: config.cpu_percent / 100.0,
            cpu_sustain: Duration::from_secs(config.cpu_sustain_secs),
            discord_errors_per_minute: config.discord_errors_per_minute,
            pipeline_stall: Duration::from_secs(config.pipeline_stall_secs),
            llm_budget_warning_ratio: config.llm_budget_warning_percent / 100.0,
        }
    }
}

/// What the rules look at; `None` means "not known this time".
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OpsSnapshot {
    pub memory_used_ratio: Option<f64>,
    /// `cgroup` or `config`: which limit `memory_used_ratio` is measured against.
    pub memory_limit_source: Option<&'static str>,
    pub cpu_used_ratio: Option<f64>,
    /// Cumulative count of Discord API errors since the process started.
    pub discord_errors_total: Option<u64>,
    /// `Some(None)`: the last database check passed; `Some(Some(problem))`: it failed.
    pub database_problem: Option<Option<String>>,
    /// How long work has waited without progress (zero when the pipeline moves or is idle).
    pub pipeline_stalled_for: Option<Duration>,
    /// Today's LLM spend as a fraction of `llm.daily_cost_limit`.
    pub llm_budget_used_ratio: Option<f64>,
    /// Components whose restart budget is spent, with their last error; `None` when the
    /// health report could not be read.
    pub failed_components: Option<BTreeMap<String, String>>,
    /// `Some(None)`: the last backup succeeded; `Some(Some(error))`: it failed.
    pub backup_problem: Option<Option<String>>,
}

/// Dedup keys (and event names) of the rules; component failures add `:<component>`.
pub mod keys {
    pub const MEMORY_HIGH: &str = "memory_high";
    pub const CPU_HIGH: &str = "cpu_high";
    pub const DISCORD_ERROR_SPIKE: &str = "discord_error_spike";
    pub const DATABASE_PROBLEM: &str = "database_problem";
    pub const PIPELINE_STALLED: &str = "pipeline_stalled";
    pub const LLM_BUDGET_WARNING: &str = "llm_budget_warning";
    pub const LLM_BUDGET_EXHAUSTED: &str = "llm_budget_exhausted";
    pub const COMPONENT_FAILED: &str = "component_failed";
    pub const BACKUP_FAILED: &str = "backup_failed";
}

/// The window over which the Discord error rate is measured.
const ERROR_RATE_WINDOW: Duration = Duration::from_secs(60);
/// Shortest span of samples that gives a meaningful rate: two readings a second apart would
/// turn a burst of three errors into 180 per minute.
const ERROR_RATE_MIN_SPAN: Duration = Duration::from_secs(20);

#[derive(Debug, Default)]
struct RuleState {
    /// When the condition started to hold (for the sustain time).
    holding_since: Option<Instant>,
    firing: bool,
}

/// The rules and their state between evaluations.
#[derive(Debug)]
pub struct OpsRules {
    thresholds: OpsThresholds,
    states: BTreeMap<String, RuleState>,
    error_samples: VecDeque<(Instant, u64)>,
}

impl OpsRules {
    pub fn new(thresholds: OpsThresholds) -> Self {
        OpsRules {
            thresholds,
            states: BTreeMap::new(),
            error_samples: VecDeque::new(),
        }
    }

    /// Keys of the rules firing now.
    pub fn firing(&self) -> Vec<&str> {
        self.states
            .iter()
            .filter(|(_, state)| state.firing)
            .map(|(key, _)| key.as_str())
            .collect()
    }

    /// The alerts `snapshot` raises or resolves at `now`.
    pub fn evaluate(&mut self, snapshot: &OpsSnapshot, now: Instant) -> Vec<Alert> {
        let mut out = Vec::new();
        let t = self.thresholds.clone();

        let memory = snapshot.memory_used_ratio;
        let source = snapshot.memory_limit_source.unwrap_or("config");
        self.rule(
            keys::MEMORY_HIGH,
            memory.map(|m| m > t.memory_ratio),
            t.memory_sustain,
            now,
            &mut out,
            || {
                Alert::new(
                    keys::MEMORY_HIGH,
                    Severity::Warning,
                    format!("Memory above {:.0}% of its limit", t.memory_ratio * 100.0),
                    format!(
                        "The process uses {:.1}% of the memory limit ({source} limit).",
                        memory.unwrap_or_default() * 100.0
                    ),
                )
                .with_field(
                    "used_percent",
                    format!("{:.1}", memory.unwrap_or_default() * 100.0),
                )
                .with_field("limit_source", source)
            },
        );

        let cpu = snapshot.cpu_used_ratio;
        self.rule(
            keys::CPU_HIGH,
            cpu.map(|c| c > t.cpu_ratio),
            t.cpu_sustain,
            now,
            &mut out,
            || {
                Alert::new(
                    keys::CPU_HIGH,
                    Severity::Warning,
                    format!(
                        "CPU above {:.0}% for {} s",
                        t.cpu_ratio * 100.0,
                        t.cpu_sustain.as_secs()
                    ),
                    format!(
                        "The process uses {:.1}% of the CPU it may use.",
                        cpu.unwrap_or_default() * 100.0
                    ),
                )
                .with_field(
                    "used_percent",
                    format!("{:.1}", cpu.unwrap_or_default() * 100.0),
                )
            },
        );

        let rate = snapshot
            .discord_errors_total
            .and_then(|total| self.error_rate(total, now));
        self.rule(
            keys::DISCORD_ERROR_SPIKE,
            rate.map(|r| r > t.discord_errors_per_minute),
            Duration::ZERO,
            now,
            &mut out,
            || {
                Alert::new(
                    keys::DISCORD_ERROR_SPIKE,
                    Severity::Error,
                    "Discord API errors spiking",
                    format!(
                        "{:.0} Discord API errors per minute (4xx/5xx/429 answers and gateway \
                         reconnects); the threshold is {:.0}.",
                        rate.unwrap_or_default(),
                        t.discord_errors_per_minute
                    ),
                )
                .with_field("per_minute", format!("{:.0}", rate.unwrap_or_default()))
            },
        );

        let database = snapshot.database_problem.clone();
        self.rule(
            keys::DATABASE_PROBLEM,
            database.as_ref().map(Option::is_some),
            Duration::ZERO,
            now,
            &mut out,
            || {
                Alert::new(
                    keys::DATABASE_PROBLEM,
                    Severity::Critical,
                    "Database integrity problem",
                    format!(
                        "{}\n\nIf `discord-monitor db integrity` confirms damage, stop the \
                         service and run `discord-monitor db repair` (it saves a copy first).",
                        database.clone().flatten().unwrap_or_default()
                    ),
                )
            },
        );

        let stalled = snapshot.pipeline_stalled_for;
        self.rule(
            keys::PIPELINE_STALLED,
            stalled.map(|s| s >= t.pipeline_stall),
            Duration::ZERO,
            now,
            &mut out,
            || {
                Alert::new(
                    keys::PIPELINE_STALLED,
                    Severity::Error,
                    "Processing pipeline stalled",
                    format!(
                        "Work has waited {} s without progress.",
                        stalled.unwrap_or_default().as_secs()
                    ),
                )
                .with_field(
                    "stalled_secs",
                    stalled.unwrap_or_default().as_secs().to_string(),
                )
            },
        );

        let budget = snapshot.llm_budget_used_ratio;
        let budget_alert = |key: &str, severity, title: String| {
            Alert::new(
                key,
                severity,
                title,
                format!(
                    "LLM calls have used {:.0}% of today's budget (llm.daily_cost_limit).",
                    budget.unwrap_or_default() * 100.0
                ),
            )
            .with_field(
                "used_percent",
                format!("{:.0}", budget.unwrap_or_default() * 100.0),
            )
        };
        self.rule(
            keys::LLM_BUDGET_WARNING,
            budget.map(|b| b >= t.llm_budget_warning_ratio),
            Duration::ZERO,
            now,
            &mut out,
            || {
                budget_alert(
                    keys::LLM_BUDGET_WARNING,
                    Severity::Warning,
                    format!("LLM budget at {:.0}%", t.llm_budget_warning_ratio * 100.0),
                )
            },
        );
        self.rule(
            keys::LLM_BUDGET_EXHAUSTED,
            budget.map(|b| b >= 1.0),
            Duration::ZERO,
            now,
            &mut out,
            || {
                budget_alert(
                    keys::LLM_BUDGET_EXHAUSTED,
                    Severity::Critical,
                    "LLM budget exhausted".to_owned(),
                )
            },
        );

        if let Some(failed) = &snapshot.failed_components {
            let prefix = format!("{}:", keys::COMPONENT_FAILED);
            let known: Vec<String> = self
                .states
                .keys()
                .filter(|key| key.starts_with(&prefix))
                .cloned()
                .collect();
            // Failed now, plus those that failed before (so that they resolve).
            let mut all: Vec<String> = failed.keys().cloned().collect();
            all.extend(
                known
                    .iter()
                    .filter_map(|key| key.strip_prefix(&prefix))
                    .map(str::to_owned),
            );
            all.sort();
            all.dedup();
            for name in all {
                let error = failed.get(&name).cloned();
                let key = format!("{prefix}{name}");
                self.rule(
                    &key,
                    Some(error.is_some()),
                    Duration::ZERO,
                    now,
                    &mut out,
                    || {
                        Alert::new(
                            keys::COMPONENT_FAILED,
                            Severity::Critical,
                            format!("Component `{name}` failed"),
                            format!(
                                "`{name}` spent its restart budget and is no longer restarted. \
                                 Last error: {}",
                                error.clone().unwrap_or_default()
                            ),
                        )
                        .with_key(key.clone())
                        .with_field("component", name.clone())
                    },
                );
            }
        }

        let backup = snapshot.backup_problem.clone();
        self.rule(
            keys::BACKUP_FAILED,
            backup.as_ref().map(Option::is_some),
            Duration::ZERO,
            now,
            &mut out,
            || {
                Alert::new(
                    keys::BACKUP_FAILED,
                    Severity::Error,
                    "Database backup failed",
                    backup.clone().flatten().unwrap_or_default(),
                )
            },
        );
        out
    }

    /// Advances one rule. `holds`: `None` unknown (no change), else whether the condition
    /// holds now.
    fn rule(
        &mut self,
        key: &str,
        holds: Option<bool>,
        sustain: Duration,
        now: Instant,
        out: &mut Vec<Alert>,
        alert: impl FnOnce() -> Alert,
    ) {
        let Some(holds) = holds else {
            return;
        };
        let state = self.states.entry(key.to_owned()).or_default();
        if holds {
            let since = *state.holding_since.get_or_insert(now);
            if now.saturating_duration_since(since) >= sustain {
                state.firing = true;
                out.push(alert());
            }
        } else {
            state.holding_since = None;
            if std::mem::take(&mut state.firing) {
                out.push(alert().resolved());
            }
        }
    }

    /// Errors per minute over the last [`ERROR_RATE_WINDOW`], once the samples span at least
    /// [`ERROR_RATE_MIN_SPAN`].
    fn error_rate(&mut self, total: u64, now: Instant) -> Option<f64> {
        self.error_samples.push_back((now, total));
        while self
            .error_samples
            .front()
            .is_some_and(|(at, _)| now.saturating_duration_since(*at) > ERROR_RATE_WINDOW)
        {
            self.error_samples.pop_front();
        }
        let (first_at, first_total) = *self.error_samples.front()?;
        let span = now.saturating_duration_since(first_at);
        if span < ERROR_RATE_MIN_SPAN {
            return None;
        }
        Some(total.saturating_sub(first_total) as f64 * 60.0 / span.as_secs_f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn thresholds() -> OpsThresholds {
        OpsThresholds {
            memory_ratio: 0.85,
            memory_sustain: Duration::ZERO,
            cpu_ratio: 0.9,
            cpu_sustain: Duration::from_secs(60),
            discord_errors_per_minute: 30.0,
            pipeline_stall: Duration::from_secs(600),
            llm_budget_warning_ratio: 0.8,
        }
    }

    /// (key, resolved) of each alert.
    fn summary(alerts: &[Alert]) -> Vec<(String, bool)> {
        alerts
            .iter()
            .map(|alert| (alert.dedup_key.clone(), alert.resolved))
            .collect()
    }

    fn fired(key: &str) -> Vec<(String, bool)> {
        vec![(key.to_owned(), false)]
    }

    fn resolved(key: &str) -> Vec<(String, bool)> {
        vec![(key.to_owned(), true)]
    }

    /// Drives one rule: quiet, firing (twice: re-raised while it holds), resolved, quiet.
    fn fires_and_resolves(key: &str, quiet: OpsSnapshot, alarming: OpsSnapshot) {
        let mut rules = OpsRules::new(thresholds());
        let start = Instant::now();
        let at = |secs| start + Duration::from_secs(secs);
        assert!(rules.evaluate(&quiet, at(0)).is_empty(), "{key} quiet");
        assert_eq!(summary(&rules.evaluate(&alarming, at(1))), fired(key));
        assert_eq!(summary(&rules.evaluate(&alarming, at(2))), fired(key));
        assert_eq!(rules.firing(), [key]);
        assert_eq!(summary(&rules.evaluate(&quiet, at(3))), resolved(key));
        assert!(rules.evaluate(&quiet, at(4)).is_empty());
        assert!(rules.firing().is_empty());
    }

    #[test]
    fn memory_fires_above_its_limit_and_resolves() {
        let snapshot = |ratio| OpsSnapshot {
            memory_used_ratio: Some(ratio),
            memory_limit_source: Some("cgroup"),
            ..OpsSnapshot::default()
        };
        fires_and_resolves(keys::MEMORY_HIGH, snapshot(0.5), snapshot(0.9));
        let mut rules = OpsRules::new(thresholds());
        let alert = &rules.evaluate(&snapshot(0.9), Instant::now())[0];
        assert_eq!(alert.severity, Severity::Warning);
        assert!(
            alert.body.contains("90.0%") && alert.body.contains("cgroup"),
            "{}",
            alert.body
        );
    }

    #[test]
    fn cpu_fires_only_when_sustained() {
        let snapshot = |ratio| OpsSnapshot {
            cpu_used_ratio: Some(ratio),
            ..OpsSnapshot::default()
        };
        let mut rules = OpsRules::new(thresholds());
        let start = Instant::now();
        let at = |secs| start + Duration::from_secs(secs);
        assert!(rules.evaluate(&snapshot(0.95), at(0)).is_empty());
        assert!(rules.evaluate(&snapshot(0.95), at(30)).is_empty());
        // A dip restarts the clock.
        assert!(rules.evaluate(&snapshot(0.5), at(40)).is_empty());
        assert!(rules.evaluate(&snapshot(0.95), at(50)).is_empty());
        assert!(rules.evaluate(&snapshot(0.95), at(100)).is_empty());
        assert_eq!(
            summary(&rules.evaluate(&snapshot(0.95), at(110))),
            fired(keys::CPU_HIGH)
        );
        // An unknown reading changes nothing.
        assert!(rules.evaluate(&OpsSnapshot::default(), at(115)).is_empty());
        assert_eq!(rules.firing(), [keys::CPU_HIGH]);
        assert_eq!(
            summary(&rules.evaluate(&snapshot(0.2), at(120))),
            resolved(keys::CPU_HIGH)
        );
    }

    #[test]
    fn discord_error_spike_is_a_rate() {
        let snapshot = |total| OpsSnapshot {
            discord_errors_total: Some(total),
            ..OpsSnapshot::default()
        };
        let mut rules = OpsRules::new(thresholds());
        let start = Instant::now();
        let at = |secs| start + Duration::from_secs(secs);
        // A large total that does not grow is no spike; the first samples give no rate yet.
        assert!(rules.evaluate(&snapshot(10_000), at(0)).is_empty());
        assert!(rules.evaluate(&snapshot(10_005), at(10)).is_empty());
        assert!(rules.evaluate(&snapshot(10_010), at(30)).is_empty());
        // 60 errors within the next 30 s: 70 in 60 s, above 30 a minute.
        assert_eq!(
            summary(&rules.evaluate(&snapshot(10_070), at(60))),
            fired(keys::DISCORD_ERROR_SPIKE)
        );
        // Quiet for a minute: the window slides past the burst.
        assert!(
            !rules
                .evaluate(&snapshot(10_070), at(90))
                .iter()
                .any(|a| a.resolved)
        );
        assert_eq!(
            summary(&rules.evaluate(&snapshot(10_071), at(125))),
            resolved(keys::DISCORD_ERROR_SPIKE)
        );
    }

    #[test]
    fn database_pipeline_and_backup_fire_and_resolve() {
        fires_and_resolves(
            keys::DATABASE_PROBLEM,
            OpsSnapshot {
                database_problem: Some(None),
                ..OpsSnapshot::default()
            },
            OpsSnapshot {
                database_problem: Some(Some("3 pages corrupt".to_owned())),
                ..OpsSnapshot::default()
            },
        );
        fires_and_resolves(
            keys::PIPELINE_STALLED,
            OpsSnapshot {
                pipeline_stalled_for: Some(Duration::from_secs(30)),
                ..OpsSnapshot::default()
            },
            OpsSnapshot {
                pipeline_stalled_for: Some(Duration::from_secs(900)),
                ..OpsSnapshot::default()
            },
        );
        fires_and_resolves(
            keys::BACKUP_FAILED,
            OpsSnapshot {
                backup_problem: Some(None),
                ..OpsSnapshot::default()
            },
            OpsSnapshot {
                backup_problem: Some(Some("disk full".to_owned())),
                ..OpsSnapshot::default()
            },
        );
    }

    #[test]
    fn llm_budget_warns_at_80_and_is_critical_at_100() {
        let snapshot = |ratio| OpsSnapshot {
            llm_budget_used_ratio: Some(ratio),
            ..OpsSnapshot::default()
        };
        fires_and_resolves(keys::LLM_BUDGET_WARNING, snapshot(0.1), snapshot(0.85));
        let mut rules = OpsRules::new(thresholds());
        let now = Instant::now();
        let alerts = rules.evaluate(&snapshot(1.0), now);
        assert_eq!(
            summary(&alerts),
            [
                (keys::LLM_BUDGET_WARNING.to_owned(), false),
                (keys::LLM_BUDGET_EXHAUSTED.to_owned(), false)
            ]
        );
        assert_eq!(alerts[1].severity, Severity::Critical);
        // A new UTC day: both resolve.
        assert_eq!(
            rules
                .evaluate(&snapshot(0.0), now)
                .iter()
                .filter(|a| a.resolved)
                .count(),
            2
        );
    }

    #[test]
    fn a_failed_component_fires_and_resolves_on_its_own_key() {
        let snapshot = |failed: &[&str]| OpsSnapshot {
            failed_components: Some(
                failed
                    .iter()
                    .map(|name| ((*name).to_owned(), "connection refused".to_owned()))
                    .collect(),
            ),
            ..OpsSnapshot::default()
        };
        fires_and_resolves(
            "component_failed:gateway",
            snapshot(&[]),
            snapshot(&["gateway"]),
        );
        let mut rules = OpsRules::new(thresholds());
        let now = Instant::now();
        let alerts = rules.evaluate(&snapshot(&["gateway", "ingest"]), now);
        assert_eq!(alerts.len(), 2);
        assert_eq!(alerts[0].event, keys::COMPONENT_FAILED);
        assert!(alerts[0].body.contains("connection refused"));
        assert_eq!(
            summary(&rules.evaluate(&snapshot(&["ingest"]), now)),
            [
                ("component_failed:gateway".to_owned(), true),
                ("component_failed:ingest".to_owned(), false)
            ]
        );
    }
}
