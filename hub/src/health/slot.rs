//! One camera's health state: the agent's latest report, a day of its free-space
//! readings (for the disk forecast), and the health problems active now.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;

use wire::health::AgentHealth;

/// Free-space samples kept: one a minute for a day.
pub const MAX_SAMPLES: usize = 1440;
const SAMPLE_EVERY_MS: i64 = 60_000;

/// An agent's report as the hub received it.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentReport {
    pub health: AgentHealth,
    pub received_ms: i64,
}

#[derive(Debug, Default)]
struct State {
    latest: Option<AgentReport>,
    /// (unix ms, free bytes), oldest first.
    free: VecDeque<(i64, u64)>,
    problems: BTreeMap<&'static str, bool>,
}

/// Kept on each camera.
#[derive(Debug, Default)]
pub struct HealthSlot {
    state: Mutex<State>,
}

impl HealthSlot {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Keeps a report received at `now_ms`.
    pub fn report(&self, health: AgentHealth, now_ms: i64) {
        let mut s = self.lock();
        if let Some(free) = health.disk_free_bytes
            && s.free
                .back()
                .is_none_or(|(t, _)| now_ms - t >= SAMPLE_EVERY_MS)
        {
            if s.free.len() == MAX_SAMPLES {
                s.free.pop_front();
            }
            s.free.push_back((now_ms, free));
        }
        s.latest = Some(AgentReport {
            health,
            received_ms: now_ms,
        });
    }

    pub fn latest(&self) -> Option<AgentReport> {
        self.lock().latest.clone()
    }

    /// Free-space samples, oldest first.
    pub fn free_samples(&self) -> Vec<(i64, u64)> {
        self.lock().free.iter().copied().collect()
    }

    /// Sets problem `code`; returns whether that changed it (a new one counts as a
    /// change only when active).
    pub fn set_problem(&self, code: &'static str, active: bool) -> bool {
        let mut s = self.lock();
        let before = s.problems.insert(code, active).unwrap_or(false);
        before != active
    }

    /// Problems active now.
    pub fn problems(&self) -> Vec<&'static str> {
        self.lock()
            .problems
            .iter()
            .filter(|(_, a)| **a)
            .map(|(c, _)| *c)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_once_a_minute_and_problems_change() {
        let s = HealthSlot::default();
        let h = |free| AgentHealth {
            disk_free_bytes: Some(free),
            ..Default::default()
        };
        s.report(h(100), 0);
        s.report(h(99), 30_000);
        s.report(h(98), 60_000);
        assert_eq!(s.free_samples(), vec![(0, 100), (60_000, 98)]);
        assert_eq!(s.latest().unwrap().health.disk_free_bytes, Some(98));
        assert!(!s.set_problem("offline", false));
        assert!(s.set_problem("offline", true));
        assert!(!s.set_problem("offline", true));
        assert_eq!(s.problems(), vec!["offline"]);
        assert!(s.set_problem("offline", false));
        assert!(s.problems().is_empty());
    }
}
