//! The API's connection loop, built for hostile clients.
//!
//! `axum::serve` gives hyper no timer, so no timeout of hyper's ever fires,
//! and it accepts without bound: an idle or slowloris client held a
//! connection for as long as it liked. This loop serves each connection
//! with hyper's HTTP/1 connection itself and watches it:
//!
//! - a request head (request line and headers) must be complete within
//!   [`Limits::header_timeout`]: on a new connection counted from accept, on
//!   a kept-alive one from the first byte of the next request;
//! - a kept-alive connection may wait [`Limits::idle_timeout`] for that
//!   first byte; while a response is written (an event stream too), a
//!   connection on which no byte moves either way for that long is closed;
//! - a handler must answer within [`Limits::request_timeout`] (503 after);
//!   meanwhile the connection is left alone, so the 503 can be sent;
//! - at most [`Limits::max_connections`] connections are served at once;
//!   one more is answered 503 and closed at once, without touching the
//!   connections being served.
//!
//! hyper's own `header_read_timeout` is not used: it runs from the end of
//! the previous response, so it cannot tell a kept-alive connection waiting
//! for its next request from a client sending its headers a byte at a time.
//! The request body's deadline is the handlers' (see `body::RawBody`),
//! and the event stream's cap is in `events`.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::{Pin, pin};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::{Request, StatusCode};
use axum::response::{IntoResponse, Response};
use hyper::body::{Frame, Incoming, SizeHint};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tower_service::Service;

use super::error::ApiError;

/// What one client may take of the server. `walletops serve` sets these
/// from its flags; the defaults suit an admin API used by a few consoles
/// and scripts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// A request head must be complete this long after accept, or after
    /// the first byte of a kept-alive connection's next request.
    pub header_timeout: Duration,
    /// A request body must be read completely within this.
    pub body_timeout: Duration,
    /// A kept-alive connection may wait this long for its next request; a
    /// connection whose response moves no byte for this long is closed.
    pub idle_timeout: Duration,
    /// A handler must answer within this (an event stream: its headers).
    pub request_timeout: Duration,
    /// Connections served at once; one more is refused with 503.
    pub max_connections: usize,
    /// Event streams (`/api/events`) open at once; one more is refused with 503.
    pub max_event_streams: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            request_timeout: Duration::from_secs(30),
            max_connections: 256,
            max_event_streams: 32,
        }
    }
}

/// Accepts and serves connections until `shutdown` completes, then lets
/// the connections finish their requests (idle ones close at once).
pub async fn run(
    listener: TcpListener,
    app: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()> {
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let (stop, stopping) = watch::channel(false);
    let mut connections = JoinSet::new();
    let mut refusals = Refusals::default();
    let mut shutdown = pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            _ = &mut shutdown => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => continue,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors and the like: wait rather than spin.
                    tracing::warn!(error = %e, "cannot accept a connection; retrying shortly");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        match slots.clone().try_acquire_owned() {
            Ok(slot) => {
                connections.spawn(serve_connection(
                    stream,
                    peer,
                    app.clone(),
                    limits,
                    stopping.clone(),
                    slot,
                ));
            }
            Err(_) => {
                refuse(&stream, limits.max_connections);
                refusals.count(peer, limits.max_connections);
            }
        }
    }
    drop(listener);
    let _ = stop.send(true);
    while connections.join_next().await.is_some() {}
    Ok(())
}

/// Refused connections, logged at most every [`Refusals::EVERY`]: a client
/// connecting in a loop must not fill the disk with log lines.
#[derive(Default)]
struct Refusals {
    since_logged: u64,
    logged_at: Option<Instant>,
}

impl Refusals {
    const EVERY: Duration = Duration::from_secs(10);

    fn count(&mut self, peer: SocketAddr, max: usize) {
        self.since_logged += 1;
        if self.logged_at.is_none_or(|at| at.elapsed() >= Self::EVERY) {
            tracing::warn!(
                %peer,
                max,
                refused = self.since_logged,
                "connections refused: the server serves its maximum (count since the last such line)"
            );
            self.since_logged = 0;
            self.logged_at = Some(Instant::now());
        }
    }
}

/// Answers 503 and closes, without waiting on the client: the answer fits
/// in the socket's send buffer of a new connection, and a client that
/// cannot take it gets a closed connection, which says the same.
fn refuse(stream: &TcpStream, max: usize) {
    let body = format!(
        "{{\"error\":\"the server is serving its maximum of {max} connections; try again shortly\"}}"
    );
    let answer = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n\
         content-length: {}\r\nretry-after: 1\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.try_write(answer.as_bytes());
}

async fn serve_connection(
    stream: TcpStream,
    peer: SocketAddr,
    app: Router,
    limits: Limits,
    mut stopping: watch::Receiver<bool>,
    _slot: OwnedSemaphorePermit,
) {
    let activity = Arc::new(Activity::new());
    let io = TokioIo::new(Watched {
        io: stream,
        activity: activity.clone(),
    });
    let service = {
        let activity = activity.clone();
        hyper::service::service_fn(move |request: Request<Incoming>| {
            activity.request_started();
            let done = ResponseDone(activity.clone());
            let answer = app.clone().call(request);
            let handling = Handling(activity.clone());
            async move {
                let response = match tokio::time::timeout(limits.request_timeout, answer).await {
                    Ok(Ok(response)) => response,
                    Ok(Err(never)) => match never {},
                    Err(_) => timed_out(limits.request_timeout),
                };
                drop(handling);
                Ok::<_, Infallible>(response.map(|body| WatchedBody { body, _done: done }))
            }
        })
    };
    let mut builder = hyper::server::conn::http1::Builder::new();
    // The watchdog below keeps the time; see the module's comment.
    builder.header_read_timeout(None);
    let mut connection = pin!(builder.serve_connection(io, service));
    let mut watchdog = pin!(watchdog(&activity, limits));
    let mut draining = false;
    loop {
        tokio::select! {
            result = connection.as_mut() => {
                if let Err(e) = result {
                    tracing::debug!(%peer, error = %e, "connection ended with an error");
                }
                return;
            }
            reason = &mut watchdog => {
                // Dropping the connection closes the socket. Debug only:
                // an attacker would otherwise write the log.
                tracing::debug!(%peer, reason, "connection closed by the server");
                return;
            }
            _ = stopping.wait_for(|s| *s), if !draining => {
                draining = true;
                connection.as_mut().graceful_shutdown();
            }
        }
    }
}

fn timed_out(limit: Duration) -> Response {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        format!(
            "the request took longer than {} s and was stopped; whether it changed anything \
             is not known: look at the audit trail before trying again",
            limit.as_secs_f64()
        ),
    )
    .into_response()
}

/// Where a connection is, as far as the watchdog needs to know.
#[derive(Debug, Clone, Copy)]
enum Phase {
    /// Waiting for the first byte of the next request, since then.
    Idle(Instant),
    /// A request head is arriving; the connection opened or its first byte came then.
    Head(Instant),
    /// Requests whose responses are not yet written, of which `handling`
    /// still wait for their handler; a byte last moved then.
    Busy {
        requests: usize,
        handling: usize,
        moved: Instant,
    },
}

/// A connection's phase, updated by its socket and its service.
struct Activity {
    phase: Mutex<Phase>,
    /// Wakes the watchdog when the phase changes.
    changed: Notify,
}

impl Activity {
    fn new() -> Self {
        Self {
            phase: Mutex::new(Phase::Head(Instant::now())),
            changed: Notify::new(),
        }
    }

    fn phase(&self) -> std::sync::MutexGuard<'_, Phase> {
        // The phase is a plain value: a panic elsewhere cannot leave it half-written.
        self.phase.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn read_some(&self) {
        let mut phase = self.phase();
        match &mut *phase {
            Phase::Idle(_) => {
                *phase = Phase::Head(Instant::now());
                self.changed.notify_one();
            }
            Phase::Busy { moved, .. } => *moved = Instant::now(),
            Phase::Head(_) => {}
        }
    }

    fn wrote_some(&self) {
        if let Phase::Busy { moved, .. } = &mut *self.phase() {
            *moved = Instant::now();
        }
    }

    fn request_started(&self) {
        let mut phase = self.phase();
        let (requests, handling) = match *phase {
            Phase::Busy {
                requests, handling, ..
            } => (requests + 1, handling + 1),
            _ => (1, 1),
        };
        *phase = Phase::Busy {
            requests,
            handling,
            moved: Instant::now(),
        };
        self.changed.notify_one();
    }

    /// A handler answered (or was stopped): its response is being written.
    fn answered(&self) {
        if let Phase::Busy {
            handling, moved, ..
        } = &mut *self.phase()
        {
            *handling = handling.saturating_sub(1);
            *moved = Instant::now();
        }
        self.changed.notify_one();
    }

    fn response_done(&self) {
        let mut phase = self.phase();
        *phase = match *phase {
            Phase::Busy {
                requests,
                handling,
                moved,
            } if requests > 1 => Phase::Busy {
                requests: requests - 1,
                handling,
                moved,
            },
            _ => Phase::Idle(Instant::now()),
        };
        self.changed.notify_one();
    }

    /// When the connection is to be closed if nothing happens, and why;
    /// none while a handler runs (the request timeout bounds it).
    fn deadline(&self, limits: &Limits) -> Option<(Instant, &'static str)> {
        match *self.phase() {
            Phase::Idle(since) => Some((since + limits.idle_timeout, "idle between requests")),
            Phase::Head(since) => Some((since + limits.header_timeout, "request head too slow")),
            Phase::Busy {
                handling: 0, moved, ..
            } => Some((moved + limits.idle_timeout, "response stalled")),
            Phase::Busy { .. } => None,
        }
    }
}

/// Resolves, with the reason, once the connection has passed its deadline.
async fn watchdog(activity: &Activity, limits: Limits) -> &'static str {
    loop {
        let Some((deadline, _)) = activity.deadline(&limits) else {
            activity.changed.notified().await;
            continue;
        };
        tokio::select! {
            _ = tokio::time::sleep_until(deadline) => {
                // Traffic may have moved the deadline while we slept.
                if let Some((deadline, reason)) = activity.deadline(&limits)
                    && deadline <= Instant::now()
                {
                    return reason;
                }
            }
            _ = activity.changed.notified() => {}
        }
    }
}

/// Marks the handler done when dropped: when it answered, or when hyper
/// gave up on it.
struct Handling(Arc<Activity>);

impl Drop for Handling {
    fn drop(&mut self) {
        self.0.answered();
    }
}

/// Marks the response written when hyper drops its body (fully sent, or
/// the connection gone).
struct ResponseDone(Arc<Activity>);

impl Drop for ResponseDone {
    fn drop(&mut self) {
        self.0.response_done();
    }
}

struct WatchedBody {
    body: Body,
    _done: ResponseDone,
}

impl http_body::Body for WatchedBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.get_mut().body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// The socket, reporting each read and write to the connection's [`Activity`].
struct Watched {
    io: TcpStream,
    activity: Arc<Activity>,
}

impl AsyncRead for Watched {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.io).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            this.activity.read_some();
        }
        polled
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.io).poll_write(cx, buf);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            this.activity.wrote_some();
        }
        polled
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.io).poll_write_vectored(cx, bufs);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            this.activity.wrote_some();
        }
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits {
        header_timeout: Duration::from_secs(10),
        body_timeout: Duration::from_secs(10),
        idle_timeout: Duration::from_secs(60),
        request_timeout: Duration::from_secs(30),
        max_connections: 1,
        max_event_streams: 1,
    };

    /// How long the watchdog lets `activity` be, and why it then closes.
    async fn closes_after(activity: &Activity) -> (Duration, &'static str) {
        let start = Instant::now();
        let reason = watchdog(activity, LIMITS).await;
        (start.elapsed(), reason)
    }

    #[tokio::test(start_paused = true)]
    async fn each_phase_has_its_deadline() {
        // A new connection: the header timeout from accept.
        let activity = Activity::new();
        let (after, reason) = closes_after(&activity).await;
        assert_eq!(
            (after, reason),
            (LIMITS.header_timeout, "request head too slow")
        );

        // Answered and written: idle, then the next head's first byte
        // starts the header timeout.
        let activity = Activity::new();
        activity.request_started();
        activity.answered();
        activity.response_done();
        let (after, reason) = closes_after(&activity).await;
        assert_eq!(
            (after, reason),
            (LIMITS.idle_timeout, "idle between requests")
        );
        let activity = Arc::new(Activity::new());
        activity.request_started();
        activity.answered();
        activity.response_done();
        let byte = {
            let activity = activity.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_secs(30)).await;
                activity.read_some();
            })
        };
        let (after, reason) = closes_after(&activity).await;
        assert_eq!(
            (after, reason),
            (
                Duration::from_secs(30) + LIMITS.header_timeout,
                "request head too slow"
            )
        );
        byte.await.unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn a_running_handler_is_left_alone_and_a_stalled_response_is_not() {
        let activity = Arc::new(Activity::new());
        activity.request_started();
        let writer = {
            let activity = activity.clone();
            tokio::spawn(async move {
                // The handler takes twice the idle timeout (the request
                // timeout is the server's, not the watchdog's)...
                tokio::time::sleep(LIMITS.idle_timeout * 2).await;
                activity.answered();
                // ...then its response (an event stream) moves for a while, and stalls.
                for _ in 0..5 {
                    tokio::time::sleep(Duration::from_secs(15)).await;
                    activity.wrote_some();
                }
            })
        };
        let (after, reason) = closes_after(&activity).await;
        assert_eq!(reason, "response stalled");
        assert_eq!(
            after,
            LIMITS.idle_timeout * 2 + Duration::from_secs(75) + LIMITS.idle_timeout
        );
        writer.await.unwrap();
    }
}
