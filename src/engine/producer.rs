//! The producer: claims due jobs in batches while the process has room
//! (`concurrency` running plus jobs claimed ahead of a slot, up to
//! `prefetch`), and waits for a notification, the next due time, or the
//! poll interval when the queue is empty.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use sqlx::PgPool;
use tokio::sync::watch;
use tokio::task::{self, JoinSet};
use tracing::{debug, info};

use super::executor::Executor;
use super::held::Holdings;
use super::listener::Wakeups;
use super::status::Status;
use super::{Backoff, EngineOptions};
use crate::queue::{self, QueueConfig, QueueError};

/// Claims running at once in one process.
const MAX_CLAIMS_IN_FLIGHT: usize = 2;

pub(super) struct Producer {
    /// One connection for claims, with asynchronous commit: a claim lost in
    /// a server crash is just a pending job again, and the next durable
    /// commit (the job's outcome) flushes it anyway. Saves a WAL flush wait
    /// per claim.
    pub claim_pool: PgPool,
    pub pool: PgPool,
    pub options: EngineOptions,
    pub executor: Arc<Executor>,
    pub held: Arc<Holdings>,
    pub status: Arc<Status>,
    pub wake: Arc<Wakeups>,
    pub config: watch::Receiver<QueueConfig>,
    pub stop: watch::Receiver<bool>,
}

/// What one claim brought back: how many jobs it took (already held and
/// started), and when to look again if the queue had fewer than asked (the
/// next due time or the poll interval; the fallback for lost notifications).
struct Claimed {
    result: Result<usize, QueueError>,
    retry_in: Option<Duration>,
}

/// Claims in flight with the slots each reserved. A claim that ends in any
/// way, a panic included, gives its reservation back.
#[derive(Default)]
struct Claims {
    tasks: JoinSet<Claimed>,
    reserved: HashMap<task::Id, usize>,
}

impl Claims {
    fn len(&self) -> usize {
        self.tasks.len()
    }

    fn is_empty(&self) -> bool {
        self.tasks.is_empty()
    }

    /// Slots promised to claims in flight.
    fn reserved(&self) -> usize {
        self.reserved.values().sum()
    }

    fn spawn<F>(&mut self, want: usize, claim: F)
    where
        F: Future<Output = Claimed> + Send + 'static,
    {
        let id = self.tasks.spawn(claim).id();
        self.reserved.insert(id, want);
    }

    /// The next claim to end, its reservation returned; `Err` if it
    /// panicked (or was cancelled). Never resolves while none is in flight.
    async fn next(&mut self) -> Result<Claimed, task::JoinError> {
        let Some(done) = self.tasks.join_next_with_id().await else {
            return std::future::pending().await;
        };
        let id = match &done {
            Ok((id, _)) => *id,
            Err(e) => e.id(),
        };
        self.reserved.remove(&id);
        done.map(|(_, claimed)| claimed)
    }
}

impl Producer {
    /// Claims while there is room and the queue is not paused, until a stop
    /// (and the claims then in flight are in). Up to
    /// [`MAX_CLAIMS_IN_FLIGHT`] claims run at once, so that the next batch
    /// is on its way while the last one is being registered.
    pub async fn run(mut self) {
        let mut claims = Claims::default();
        // After a short or failed claim: no new claim before this time,
        // unless a notification comes.
        let mut quiet_until: Option<tokio::time::Instant> = None;
        let mut backoff = Backoff::new();
        loop {
            let stopping = *self.stop.borrow();
            if stopping && claims.is_empty() {
                return;
            }
            let config = self.config.borrow_and_update().clone();
            if self.status.set_paused(config.paused) {
                if config.paused {
                    info!(worker_id = %self.status.worker_id(), "paused: claiming nothing");
                } else {
                    info!(worker_id = %self.status.worker_id(), "resumed");
                }
            }
            if quiet_until.is_some_and(|t| t <= tokio::time::Instant::now()) {
                quiet_until = None;
            }
            while !stopping
                && !config.paused
                && quiet_until.is_none()
                && claims.len() < MAX_CLAIMS_IN_FLIGHT
            {
                let room = self
                    .options
                    .prefetch
                    .saturating_sub(self.held.len() + claims.reserved());
                // Small leftovers wait for a fuller batch unless nothing
                // else is on its way.
                if room == 0 || (room < self.options.concurrency && !claims.is_empty()) {
                    break;
                }
                let want = room.min(self.options.claim_batch as usize);
                claims.spawn(want, self.claim(want, config.lease));
            }
            tokio::select! {
                done = claims.next(), if !claims.is_empty() => match done {
                    Ok(Claimed { result: Ok(count), retry_in }) => {
                        backoff = Backoff::new();
                        self.status.clear_error();
                        if count > 0 {
                            debug!(claimed = count, "claimed jobs");
                        }
                        if let Some(wait) = retry_in.filter(|w| !w.is_zero()) {
                            quiet_until = Some(tokio::time::Instant::now() + wait);
                        }
                    }
                    Ok(Claimed { result: Err(e), .. }) => {
                        self.status.set_error("claim failed", &e);
                        quiet_until = Some(tokio::time::Instant::now() + backoff.next());
                    }
                    Err(e) => {
                        self.status.set_error("claim task failed", &e);
                        quiet_until = Some(tokio::time::Instant::now() + backoff.next());
                    }
                },
                _ = self.held.room() => {}
                _ = self.wake.jobs.notified() => quiet_until = None,
                _ = sleep_until_opt(quiet_until) => quiet_until = None,
                _ = self.config.changed() => {}
                _ = self.stop.wait_for(|s| *s), if !stopping => {}
            }
        }
    }

    /// One claim of up to `want` jobs. Free slots go to its first jobs,
    /// which start in the claim itself; the rest wait for a slot and a
    /// start mark.
    fn claim(
        &self,
        want: usize,
        lease: Duration,
    ) -> impl Future<Output = Claimed> + Send + 'static {
        let mut slots = self.executor.free_slots(want);
        let claim_pool = self.claim_pool.clone();
        let pool = self.pool.clone();
        let executor = self.executor.clone();
        let worker_id = self.status.worker_id();
        let poll = self.options.poll_interval;
        async move {
            // Claimed jobs start here, before the next-due lookup below: a
            // job picked up from idle must not wait for it.
            let result = queue::claim_ahead(
                &claim_pool,
                worker_id,
                want as u32,
                slots.len() as u32,
                lease,
            )
            .await
            .map(|jobs| {
                let claimed = jobs.len();
                for job in jobs {
                    let slot = job.started_at.and_then(|_| slots.pop());
                    executor.hold(job, slot);
                }
                claimed
            });
            let retry_in = match &result {
                Ok(claimed) if *claimed < want => Some(match queue::next_due(&pool).await {
                    Ok(Some(due)) => (due - Utc::now())
                        .to_std()
                        .unwrap_or(Duration::ZERO)
                        .min(poll),
                    _ => poll,
                }),
                _ => None,
            };
            Claimed { result, retry_in }
        }
    }
}

/// Sleeps until `t`; never resolves for `None`.
async fn sleep_until_opt(t: Option<tokio::time::Instant>) {
    match t {
        Some(t) => tokio::time::sleep_until(t).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claimed() -> Claimed {
        Claimed {
            result: Ok(0),
            retry_in: None,
        }
    }

    #[tokio::test]
    async fn a_claim_that_panics_returns_its_reserved_slots() {
        let mut claims = Claims::default();
        claims.spawn(7, async { panic!("claim task panicked") });
        claims.spawn(5, async {
            tokio::time::sleep(Duration::from_millis(50)).await;
            claimed()
        });
        assert_eq!(claims.reserved(), 12);
        let first = claims.next().await;
        assert!(first.is_err_and(|e| e.is_panic()));
        assert_eq!(
            claims.reserved(),
            5,
            "the panicked claim's 7 slots are back"
        );
        assert!(claims.next().await.is_ok());
        assert_eq!((claims.reserved(), claims.len()), (0, 0));
    }
}
