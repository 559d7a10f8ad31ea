//! Periodic wallet syncs: the maintenance leader queues a sync job for every
//! wallet not synced within `sync.interval_seconds` that has no sync pending
//! or running. The wallets come from `wallets::schedule`, the jobs go in
//! through the queue's [`queue::enqueue_many`] (whose unique index skips a
//! wallet that already has a sync queued).

use std::time::Duration;

use crate::queue::{self, JobType, NewJob, QueueError, maintenance::Leader};
use crate::wallets::schedule::due_for_sync;

/// Most wallets one batch looks at (and queues).
pub const SYNC_BATCH: i64 = 5000;

/// Queues a sync job for every wallet due one, as `leader`. Wallets are
/// taken in id order, [`SYNC_BATCH`] at a time, so that each statement stays
/// well inside the leader's statement timeout however many wallets there
/// are; the lease is renewed before each batch. Returns how many were
/// queued.
pub async fn schedule_syncs(leader: &mut Leader, interval: Duration) -> Result<u64, QueueError> {
    let mut queued = 0;
    let mut after = None;
    loop {
        leader.renew().await?;
        let batch = due_for_sync(leader.conn(), interval, after, SYNC_BATCH).await?;
        let jobs: Vec<NewJob> = batch
            .due
            .into_iter()
            .map(|w| NewJob {
                wallet_address: Some(w.address),
                wallet_id: Some(w.id),
                user_id: w.user_id,
                data: serde_json::json!({ "scheduled": true }),
                ..NewJob::new(JobType::Sync)
            })
            .collect();
        queued += queue::enqueue_many_in(leader.conn(), &jobs).await?;
        match batch.last {
            Some(last) => after = Some(last),
            None => return Ok(queued),
        }
    }
}
