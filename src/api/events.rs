//! `GET /api/events`: a server-sent event stream of job changes, pause and
//! start, configuration changes and admin actions, woken by the database's
//! notifications (one LISTEN connection per server, fanned out to clients).
//!
//! A notification is a hint, never a fact: anyone who can connect to the
//! database can `NOTIFY` any channel with any payload. So its payload is
//! never forwarded: on a notification the server reads the database once
//! and sends what it read (the paused state, the newest audit rows), or,
//! for jobs and configuration, only the name of what changed, for the
//! client to re-read through the API.

use std::collections::BTreeSet;
use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::Stream;
use serde_json::json;
use sqlx::PgPool;
use sqlx::postgres::PgListener;
use tokio::sync::broadcast;

use super::AppState;
use super::auth::Caller;
use super::error::ApiError;
use crate::admin::{
    ADMIN_CHANNEL, AdminError, CONFIG_CHANNEL, CONTROL_CHANNEL, JOB_STATES_CHANNEL, JOBS_CHANNEL,
    Permission, audit, control,
};

/// Audit rows an `admin` event carries: the newest, as read.
const RECENT_ACTIONS: i64 = 10;

/// One event: its name and data, read from the database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub event: &'static str,
    pub data: String,
}

/// (channel, event name) pairs the stream carries.
const CHANNELS: [(&str, &str); 6] = [
    (JOBS_CHANNEL, "jobs"),
    (JOB_STATES_CHANNEL, "job-states"),
    (CONTROL_CHANNEL, "control"),
    (CONFIG_CHANNEL, "config"),
    (ADMIN_CHANNEL, "admin"),
    (crate::admin::proposals::PROPOSALS_CHANNEL, "proposal"),
];

/// Listens to the database and broadcasts each notification until the
/// sender has no more subscribers and the server stops. A lost connection
/// is retried with backoff (sqlx's listener reconnects by itself; this
/// covers a failed first connect).
pub async fn pump(pool: PgPool, tx: broadcast::Sender<Notice>) {
    let mut backoff = Duration::from_millis(250);
    loop {
        let listener = async {
            let mut l = PgListener::connect_with(&pool).await?;
            l.listen_all(CHANNELS.iter().map(|(c, _)| *c)).await?;
            Ok::<_, sqlx::Error>(l)
        }
        .await;
        let mut listener = match listener {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!(error = %e, "events: cannot listen; retrying");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(10));
                continue;
            }
        };
        backoff = Duration::from_millis(250);
        loop {
            match listener.recv().await {
                Ok(first) => {
                    // One read per channel per burst, however many notifications came.
                    let mut woken = BTreeSet::from([event_name(first.channel())]);
                    while let Some(n) = listener.next_buffered() {
                        woken.insert(event_name(n.channel()));
                    }
                    for event in woken {
                        // No subscriber is fine: nobody is watching.
                        let _ = tx.send(reread(&pool, event).await);
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "events: listener failed; reconnecting");
                    break;
                }
            }
        }
    }
}

fn event_name(channel: &str) -> &'static str {
    CHANNELS
        .iter()
        .find(|(c, _)| *c == channel)
        .map_or("other", |(_, e)| *e)
}

/// What the clients are told after a notification on `event`'s channel.
async fn reread(pool: &PgPool, event: &'static str) -> Notice {
    let read = async {
        Ok::<_, AdminError>(match event {
            "control" => json!({"paused": control::is_paused(pool).await?}),
            "admin" => json!({"recent_actions": audit::list(pool, None, RECENT_ACTIONS).await?}),
            _ => json!({"changed": event}),
        })
    };
    let data = read.await.unwrap_or_else(|e| {
        tracing::warn!(error = %e, event, "events: cannot re-read after a notification");
        json!({"changed": event})
    });
    Notice {
        event,
        data: data.to_string(),
    }
}

pub async fn events(
    State(state): State<AppState>,
    Caller(identity): Caller,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    identity.authorize(Permission::Read)?;
    // Held by the stream: dropped, and the slot freed, when the client goes.
    let slot = state
        .event_streams
        .clone()
        .try_acquire_owned()
        .map_err(|_| {
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                format!(
                    "{} event streams are open, the most this server allows; try again later",
                    state.limits.max_event_streams
                ),
            )
        })?;
    let rx = state.events.subscribe();
    let stopping = state.stopping.clone();
    let stream = futures_util::stream::unfold(
        (rx, stopping, slot),
        |(mut rx, mut stopping, slot)| async move {
            let received = tokio::select! {
                r = rx.recv() => r,
                // The server is stopping: end the stream so shutdown need not wait for the client.
                _ = stopping.wait_for(|s| *s) => return None,
            };
            let event = match received {
                Ok(n) => Event::default().event(n.event).data(n.data),
                // A slow client missed notifications; tell it to refresh.
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    Event::default().event("lagged").data("")
                }
                Err(broadcast::error::RecvError::Closed) => return None,
            };
            Some((Ok(event), (rx, stopping, slot)))
        },
    );
    // Comments often enough that the server's idle timeout never takes a
    // quiet stream for a stalled one.
    let every = (state.limits.idle_timeout / 2).min(Duration::from_secs(15));
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(every)))
}
