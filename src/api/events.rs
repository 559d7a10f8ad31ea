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
use tokio::sync::broadcast;

use super::AppState;
use super::auth::Caller;
use super::error::ApiError;
use crate::admin::{AdminError, Permission, audit, control};
use crate::db::listen::{Channel, ListenEvent, Listener};

/// Audit rows an `admin` event carries: the newest, as read.
const RECENT_ACTIONS: i64 = 10;

/// One event: its name and data, read from the database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub event: &'static str,
    pub data: String,
}

/// The event name the stream gives a channel's notifications.
fn event_name(channel: Channel) -> &'static str {
    match channel {
        Channel::Jobs => "jobs",
        Channel::JobStates => "job-states",
        Channel::Control => "control",
        Channel::Config => "config",
        Channel::Admin => "admin",
        Channel::Proposals => "proposal",
    }
}

/// Listens to the database on every channel and broadcasts each
/// notification until the server stops; a lost connection is retried with
/// backoff.
pub async fn pump(pool: PgPool, tx: broadcast::Sender<Notice>) {
    let mut listener = Listener::new(pool.clone(), &Channel::ALL);
    loop {
        match listener.next().await {
            // Nothing to tell until something changes.
            ListenEvent::Connected | ListenEvent::Closed => {}
            ListenEvent::Notified(first) => {
                // One read per channel per burst, however many notifications came.
                let mut woken = BTreeSet::from([event_name(first)]);
                while let Some(channel) = listener.next_buffered() {
                    woken.insert(event_name(channel));
                }
                for event in woken {
                    // No subscriber is fine: nobody is watching.
                    let _ = tx.send(reread(&pool, event).await);
                }
            }
            ListenEvent::Lost(e) => {
                tracing::warn!(error = %e, "events: listener lost; reconnecting");
            }
        }
    }
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
