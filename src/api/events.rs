//! `GET /api/events`: a server-sent event stream of job changes, pause and
//! start, configuration changes and admin actions, fed by the database's
//! notifications (one LISTEN connection per server, fanned out to clients).

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::Stream;
use sqlx::PgPool;
use sqlx::postgres::PgListener;
use tokio::sync::broadcast;

use super::AppState;
use super::auth::Caller;
use super::error::ApiError;
use crate::admin::{
    ADMIN_CHANNEL, CONFIG_CHANNEL, CONTROL_CHANNEL, JOB_STATES_CHANNEL, JOBS_CHANNEL, Permission,
};

/// One notification: the SSE event name and its payload.
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
                Ok(n) => {
                    let event = CHANNELS
                        .iter()
                        .find(|(c, _)| *c == n.channel())
                        .map_or("other", |(_, e)| *e);
                    // No subscriber is fine: nobody is watching.
                    let _ = tx.send(Notice {
                        event,
                        data: n.payload().to_string(),
                    });
                }
                Err(e) => {
                    tracing::warn!(error = %e, "events: listener failed; reconnecting");
                    break;
                }
            }
        }
    }
}

pub async fn events(
    State(state): State<AppState>,
    Caller(identity): Caller,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    identity.authorize(Permission::Read)?;
    let rx = state.events.subscribe();
    let stopping = state.stopping.clone();
    let stream =
        futures_util::stream::unfold((rx, stopping), |(mut rx, mut stopping)| async move {
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
            Some((Ok(event), (rx, stopping)))
        });
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}
