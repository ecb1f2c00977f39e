//! The daily budget: today's booked cost (read from the ledger at start, so restarts keep it),
//! reservations for calls in flight, the refusal of paid calls that would cross
//! `daily_cost_limit`, and the 80% / 100% alerts. $0 targets are never refused. The day is the
//! UTC calendar day; the totals reset when it changes.

/// Fraction of the limit at which the first alert goes out.
pub const WARNING_FRACTION: f64 = 0.8;

/// Which threshold a booking crossed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BudgetLevel {
    /// 80% of the daily limit spent.
    Warning,
    /// The daily limit reached: paid targets are refused until UTC midnight.
    Exhausted,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Budget {
    limit_usd: f64,
    day: String,
    spent_usd: f64,
    reserved_usd: f64,
    warned: bool,
    exhausted: bool,
}

/// `YYYY-MM-DD` of now, UTC.
pub fn utc_day() -> String {
    chrono::Utc::now().format("%Y-%m-%d").to_string()
}

impl Budget {
    /// `spent_usd`: what the ledger holds for `day` already.
    pub fn new(limit_usd: f64, day: String, spent_usd: f64) -> Self {
        let mut budget = Self {
            limit_usd,
            day,
            spent_usd,
            reserved_usd: 0.0,
            warned: false,
            exhausted: false,
        };
        // Thresholds crossed before a restart were alerted then.
        budget.warned = budget.spent_usd >= limit_usd * WARNING_FRACTION;
        budget.exhausted = budget.spent_usd >= limit_usd;
        budget
    }

    pub fn limit_usd(&self) -> f64 {
        self.limit_usd
    }

    pub fn spent_usd(&self) -> f64 {
        self.spent_usd
    }

    pub fn day(&self) -> &str {
        &self.day
    }

    fn roll(&mut self, today: &str) {
        if self.day != today {
            self.day = today.to_owned();
            self.spent_usd = 0.0;
            self.warned = false;
            self.exhausted = false;
        }
    }

    /// Reserves `estimate_usd` for a call; false when a paid call would cross the limit.
    pub fn try_reserve(&mut self, today: &str, estimate_usd: f64, free: bool) -> bool {
        self.roll(today);
        if free {
            return true;
        }
        if self.spent_usd + self.reserved_usd + estimate_usd > self.limit_usd {
            return false;
        }
        self.reserved_usd += estimate_usd;
        true
    }

    /// Replaces a reservation by the real cost; answers the threshold crossed, if any.
    pub fn book(&mut self, today: &str, reserved_usd: f64, cost_usd: f64) -> Option<BudgetLevel> {
        self.reserved_usd = (self.reserved_usd - reserved_usd).max(0.0);
        self.roll(today);
        self.spent_usd += cost_usd;
        if !self.exhausted && self.limit_usd > 0.0 && self.spent_usd >= self.limit_usd {
            self.exhausted = true;
            self.warned = true;
            return Some(BudgetLevel::Exhausted);
        }
        if !self.warned
            && self.limit_usd > 0.0
            && self.spent_usd >= self.limit_usd * WARNING_FRACTION
        {
            self.warned = true;
            return Some(BudgetLevel::Warning);
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_paid_calls_that_would_cross_and_alerts_once() {
        let mut budget = Budget::new(1.0, "d1".into(), 0.5);
        assert!(budget.try_reserve("d1", 0.2, false));
        assert_eq!(budget.book("d1", 0.2, 0.35), Some(BudgetLevel::Warning));
        assert!(!budget.try_reserve("d1", 0.2, false));
        assert!(budget.try_reserve("d1", 5.0, true), "free targets pass");
        assert!(budget.try_reserve("d1", 0.1, false));
        assert_eq!(budget.book("d1", 0.1, 0.15), Some(BudgetLevel::Exhausted));
        assert_eq!(budget.book("d1", 0.0, 0.0), None);
        assert!(
            budget.try_reserve("d2", 0.9, false),
            "a new day starts at zero"
        );
    }

    #[test]
    fn restarts_do_not_repeat_alerts() {
        let mut budget = Budget::new(1.0, "d1".into(), 0.9);
        assert_eq!(budget.book("d1", 0.0, 0.01), None);
    }
}
