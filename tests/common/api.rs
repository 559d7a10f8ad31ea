//! The API server the HTTP and console tests run against, its tokens, its
//! event stream, and what an action through it could change.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::sync::oneshot;
use walletops::admin::{Role, tokens};
use walletops::api::{self, Limits};

use super::TestDb;
use super::admin::{Op, serve_login};

/// `walletops serve`'s server on `addr` (port 0: any) under `limits`,
/// connected as a serve login (no operator: every change must be proven by
/// the caller's token); the address it listens on, and a sender that stops
/// it when dropped.
pub async fn serve(
    db: &TestDb,
    addr: SocketAddr,
    limits: Limits,
) -> (SocketAddr, oneshot::Sender<()>) {
    let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let (_, pool) = serve_login(db).await;
    tokio::spawn(async move {
        api::serve(listener, pool, limits, async {
            let _ = stopped.await;
        })
        .await
        .unwrap();
    });
    (addr, stop)
}

/// A new token with `role`, named `{role}-token`, made by `by`.
pub async fn token(by: &Op, role: Role) -> String {
    tokens::create(&by.pool, by, role, &format!("{role}-token"), None)
        .await
        .unwrap()
        .token
        .expose()
        .to_string()
}

/// Opens the event stream of the server at `base` with `token`.
pub async fn open_events(base: &str, token: &str) -> reqwest::Response {
    super::admin::http()
        .get(format!("{base}/api/events"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

/// Reads the event stream `resp` until what arrived holds every one of
/// `wanted`, and returns all of it; panics with what did arrive if that
/// takes longer than `within` or the stream ends.
pub async fn events_until(
    resp: &mut reqwest::Response,
    wanted: &[&str],
    within: Duration,
) -> String {
    let mut seen = String::new();
    let deadline = tokio::time::Instant::now() + within;
    while !wanted.iter().all(|e| seen.contains(e)) {
        let chunk = tokio::time::timeout_at(deadline, resp.chunk())
            .await
            .unwrap_or_else(|_| panic!("missing events after {within:?}: {seen}"))
            .unwrap()
            .expect("stream open");
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    seen
}

/// Everything an action could change, as one string: the audit row count
/// first, then digests of the jobs, the configuration and the wallets.
pub async fn fingerprint(db: &TestDb) -> String {
    sqlx::query_scalar(
        "SELECT concat_ws('|',
            (SELECT count(*) FROM admin_actions),
            (SELECT md5(coalesce(string_agg(j::text, ',' ORDER BY id), '')) FROM job_logs j),
            (SELECT md5(string_agg(key || '=' || value::text, ',' ORDER BY key)) FROM system_config),
            (SELECT md5(coalesce(string_agg(w::text, ',' ORDER BY id), '')) FROM user_wallets w))",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap()
}
