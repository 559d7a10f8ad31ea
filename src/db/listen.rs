//! LISTEN with reconnection, for every process that follows the database's
//! notifications (workers, the console, the API's event stream), and the
//! one list of the channels the database notifies on.
//!
//! A notification is a hint, never a fact (anyone who may connect may
//! NOTIFY any channel): listeners re-read the database on one, and re-read
//! everything after a (re)connect, since notifications sent meanwhile are
//! gone.

use std::time::Duration;

use sqlx::PgPool;
use sqlx::postgres::PgListener;

/// First wait before reconnecting after a failure; it doubles up to
/// [`RECONNECT_CAP`] while failures continue.
const RECONNECT_FIRST: Duration = Duration::from_millis(250);
/// Longest wait between reconnection attempts.
pub const RECONNECT_CAP: Duration = Duration::from_secs(10);

/// Every channel the database notifies on (triggers and functions of the
/// migrations send them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Channel {
    /// New or newly pending jobs (once per statement): workers wake.
    Jobs,
    /// Jobs changed status or were deleted (once per statement).
    JobStates,
    /// `system_config` changed; the payload is the key, or `*`.
    Config,
    /// Pause and start.
    Control,
    /// An admin action was recorded.
    Admin,
    /// A configuration proposal was made, approved or applied.
    Proposals,
}

impl Channel {
    pub const ALL: [Channel; 6] = [
        Channel::Jobs,
        Channel::JobStates,
        Channel::Config,
        Channel::Control,
        Channel::Admin,
        Channel::Proposals,
    ];

    /// The channel's name in PostgreSQL.
    pub const fn name(self) -> &'static str {
        match self {
            Channel::Jobs => "walletops_jobs",
            Channel::JobStates => "walletops_job_states",
            Channel::Config => "walletops_config",
            Channel::Control => "walletops_control",
            Channel::Admin => "walletops_admin",
            Channel::Proposals => "walletops_proposals",
        }
    }

    pub fn from_name(name: &str) -> Option<Channel> {
        Channel::ALL.into_iter().find(|c| c.name() == name)
    }
}

/// What [`Listener::next`] yields.
#[derive(Debug)]
pub enum ListenEvent {
    /// Listening (again): anything may have changed since the last event.
    Connected,
    /// A notification on this channel.
    Notified(Channel),
    /// The server closed the connection (a restart, a shutdown, a killed
    /// session); the next call reconnects. Said at once, before the
    /// reconnection, which may wait out a database that is gone.
    Closed,
    /// The connection failed or was lost; the next call reconnects after a
    /// backoff.
    Lost(sqlx::Error),
}

/// A LISTEN connection on some channels that reconnects by itself: a stream
/// of [`ListenEvent`]s, one per [`Listener::next`] call, that never ends.
pub struct Listener {
    pool: PgPool,
    channels: Vec<Channel>,
    conn: Option<PgListener>,
    backoff: Duration,
    /// No reconnection attempt before this time (after a failure).
    retry_at: Option<tokio::time::Instant>,
}

impl Listener {
    /// Listens on `channels` of `pool`'s database; connects on the first
    /// [`Listener::next`].
    pub fn new(pool: PgPool, channels: &[Channel]) -> Self {
        Self {
            pool,
            channels: channels.to_vec(),
            conn: None,
            backoff: RECONNECT_FIRST,
            retry_at: None,
        }
    }

    /// The next event: waits for a notification, or (re)connects.
    pub async fn next(&mut self) -> ListenEvent {
        loop {
            let Some(conn) = self.conn.as_mut() else {
                if let Some(t) = self.retry_at.take() {
                    tokio::time::sleep_until(t).await;
                }
                match self.connect().await {
                    Ok(conn) => {
                        self.conn = Some(conn);
                        return ListenEvent::Connected;
                    }
                    Err(e) => return self.lost(e),
                }
            };
            match conn.try_recv().await {
                Ok(Some(n)) => {
                    self.backoff = RECONNECT_FIRST;
                    // Another channel can only come from a NOTIFY on a
                    // channel this connection did not ask for: ignored.
                    if let Some(channel) = Channel::from_name(n.channel()) {
                        return ListenEvent::Notified(channel);
                    }
                }
                // Lost: reconnect at the next call (anything may have been missed).
                Ok(None) => {
                    self.conn = None;
                    return ListenEvent::Closed;
                }
                Err(e) => {
                    self.conn = None;
                    return self.lost(e);
                }
            }
        }
    }

    /// A notification already received, without waiting: for draining a
    /// burst into one re-read.
    pub fn next_buffered(&mut self) -> Option<Channel> {
        let conn = self.conn.as_mut()?;
        while let Some(n) = conn.next_buffered() {
            if let Some(channel) = Channel::from_name(n.channel()) {
                return Some(channel);
            }
        }
        None
    }

    async fn connect(&self) -> Result<PgListener, sqlx::Error> {
        let mut conn = PgListener::connect_with(&self.pool).await?;
        // Reconnecting inside `try_recv` would hide the drop for as long as
        // the pool waits for a server that is gone: this type reconnects.
        conn.eager_reconnect(false);
        conn.listen_all(self.channels.iter().map(|c| c.name()))
            .await?;
        Ok(conn)
    }

    fn lost(&mut self, e: sqlx::Error) -> ListenEvent {
        self.retry_at = Some(tokio::time::Instant::now() + self.backoff);
        self.backoff = (self.backoff * 2).min(RECONNECT_CAP);
        ListenEvent::Lost(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channel_names_round_trip() {
        for c in Channel::ALL {
            assert_eq!(Channel::from_name(c.name()), Some(c));
        }
        assert_eq!(Channel::from_name("walletops_other"), None);
    }
}
