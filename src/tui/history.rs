//! The charts' memory: jobs finished and queue depth per minute and job
//! type, filled at start from the database's recent history and extended
//! at each refresh, so the charts read from the first minute and a refresh
//! reads only the minutes since the last one.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use chrono::{DateTime, DurationRound, Utc};

use super::model::{HistoryMinute, JOB_TYPES, JobType};
use crate::admin::console::HISTORY_MINUTES;

/// Minutes the charts show (and the history keeps).
pub const CHART_MINUTES: usize = HISTORY_MINUTES as usize;

/// What a chart plots.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    Completed,
    Failed,
    Pending,
    Processing,
}

impl Metric {
    fn of(self, m: &HistoryMinute) -> u64 {
        match self {
            Metric::Completed => m.completed,
            Metric::Failed => m.failed,
            Metric::Pending => m.pending,
            Metric::Processing => m.processing,
        }
    }
}

/// Per minute (its start), per job type.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct History {
    minutes: BTreeMap<DateTime<Utc>, Vec<HistoryMinute>>,
}

impl History {
    /// Takes in a refresh's minutes: a minute read again replaces what was
    /// known of it (its finished jobs grow until it ends). Minutes older
    /// than the charts show are dropped.
    pub fn record(&mut self, samples: &[HistoryMinute]) {
        for s in samples {
            let minute = self.minutes.entry(s.minute).or_default();
            match minute.iter_mut().find(|m| m.job_type == s.job_type) {
                Some(m) => *m = *s,
                None => minute.push(*s),
            }
        }
        if let Some(newest) = self.minutes.keys().next_back().copied() {
            let keep_from = newest - chrono::Duration::minutes(CHART_MINUTES as i64 - 1);
            self.minutes = self.minutes.split_off(&keep_from);
        }
    }

    /// The `minutes` minutes up to the one holding `end`, oldest first: per
    /// job type (in [`JOB_TYPES`] order) the metric, `None` where nothing
    /// is known of a minute.
    pub fn series(
        &self,
        end: DateTime<Utc>,
        minutes: usize,
        metric: Metric,
    ) -> Vec<(JobType, Vec<Option<u64>>)> {
        let last = end
            .duration_trunc(chrono::Duration::minutes(1))
            .unwrap_or(end);
        let starts: Vec<DateTime<Utc>> = (0..minutes)
            .rev()
            .map(|ago| last - chrono::Duration::minutes(ago as i64))
            .collect();
        JOB_TYPES
            .iter()
            .map(|t| {
                let points = starts
                    .iter()
                    .map(|start| {
                        self.minutes
                            .get(start)?
                            .iter()
                            .find(|m| m.job_type == *t)
                            .map(|m| metric.of(m))
                    })
                    .collect();
                (*t, points)
            })
            .collect()
    }
}

/// When a backend last read the history, so that the next read asks only
/// the minutes since (and the minute before, whose count may have grown
/// after it was read); the whole chart when it never read or long ago.
#[derive(Debug, Default)]
pub struct ReadClock(Mutex<Option<Instant>>);

impl ReadClock {
    /// Minutes the next read should cover.
    pub fn minutes(&self) -> u32 {
        let last = *self.0.lock().unwrap_or_else(|e| e.into_inner());
        minutes_since(last.map(|at| at.elapsed()))
    }

    /// A read succeeded now.
    pub fn mark(&self) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = Some(Instant::now());
    }
}

fn minutes_since(elapsed: Option<Duration>) -> u32 {
    match elapsed {
        None => HISTORY_MINUTES,
        Some(d) => u32::try_from(d.as_secs() / 60 + 2)
            .unwrap_or(u32::MAX)
            .min(HISTORY_MINUTES),
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::tui::state::{Event, update};
    use crate::tui::testing::{app, press, snapshot};

    fn sample(minute: DateTime<Utc>, job_type: JobType, completed: u64) -> HistoryMinute {
        HistoryMinute {
            minute,
            job_type,
            completed,
            failed: 0,
            pending: completed * 2,
            processing: 1,
        }
    }

    #[test]
    fn reads_cover_the_time_since_the_last_one() {
        assert_eq!(minutes_since(None), 30);
        assert_eq!(minutes_since(Some(Duration::from_secs(5))), 2);
        assert_eq!(minutes_since(Some(Duration::from_secs(130))), 4);
        assert_eq!(minutes_since(Some(Duration::from_secs(3600))), 30);
    }

    #[test]
    fn a_minute_read_again_replaces_the_old_figures_and_old_minutes_go() {
        let t0 = Utc.with_ymd_and_hms(2026, 12, 7, 14, 0, 0).unwrap();
        let mut h = History::default();
        let at = |m: i64| t0 + chrono::Duration::minutes(m);
        h.record(&[
            sample(at(0), JobType::Sync, 3),
            sample(at(1), JobType::Sync, 4),
        ]);
        h.record(&[
            sample(at(1), JobType::Sync, 9),
            sample(at(2), JobType::Sync, 1),
        ]);
        let sync = |h: &History, end, n| {
            h.series(end, n, Metric::Completed)
                .into_iter()
                .find(|(t, _)| *t == JobType::Sync)
                .unwrap()
                .1
        };
        let end = at(2) + chrono::Duration::seconds(20);
        assert_eq!(sync(&h, end, 4), vec![None, Some(3), Some(9), Some(1)]);
        // A frozen view ends at its own snapshot: later minutes stay out.
        assert_eq!(sync(&h, at(1), 2), vec![Some(3), Some(9)]);
        h.record(&[sample(at(40), JobType::Sync, 5)]);
        assert_eq!(h.minutes.len(), 1, "minutes beyond the chart are dropped");
    }

    #[test]
    fn every_refresh_extends_the_history_and_a_frozen_view_plots_up_to_its_time() {
        let mut app = app();
        press(&mut app, &["f"]);
        let mut later = snapshot();
        later.taken_at += chrono::Duration::minutes(1);
        let minute = later
            .taken_at
            .duration_trunc(chrono::Duration::minutes(1))
            .unwrap();
        later.history = vec![sample(minute, JobType::Sync, 99)];
        update(&mut app, Event::Snapshot(Ok(later)));
        let shown = app.snapshot.as_ref().unwrap().taken_at;
        let sync = |end| {
            app.history
                .series(end, 1, Metric::Completed)
                .into_iter()
                .find(|(t, _)| *t == JobType::Sync)
                .unwrap()
                .1
        };
        assert_eq!(sync(minute), vec![Some(99)], "recorded while frozen");
        assert_ne!(
            sync(shown),
            vec![Some(99)],
            "the frozen view ends at its own minute"
        );
    }
}
