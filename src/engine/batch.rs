//! Batching of per-job requests into one statement: what the completer does
//! with outcomes and the executor with start marks.

use std::future::Future;

use tokio::sync::mpsc;
use tokio::task::JoinSet;

/// Takes requests from `rx` until it closes: everything waiting when a
/// statement can start (up to `max_batch`) goes to one call of `write`, with
/// up to `max_in_flight` calls at once. Waits for the calls in flight before
/// returning.
pub(super) async fn in_batches<T, F, Fut>(
    mut rx: mpsc::UnboundedReceiver<T>,
    max_batch: usize,
    max_in_flight: usize,
    write: F,
) where
    F: Fn(Vec<T>) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let mut in_flight: JoinSet<()> = JoinSet::new();
    loop {
        while in_flight.len() >= max_in_flight {
            in_flight.join_next().await;
        }
        let first = tokio::select! {
            r = rx.recv() => match r {
                Some(r) => r,
                None => break,
            },
            Some(_) = in_flight.join_next(), if !in_flight.is_empty() => continue,
        };
        let mut batch = vec![first];
        while batch.len() < max_batch {
            match rx.try_recv() {
                Ok(r) => batch.push(r),
                Err(_) => break,
            }
        }
        in_flight.spawn(write(batch));
    }
    while in_flight.join_next().await.is_some() {}
}
