//! The HTTP server under hostile clients, on real sockets against a real
//! server and database: slowloris and idle connections are closed within
//! their timeouts while other clients are served, a slow body gets 408, a
//! slow handler 503, connections and event streams are capped, and a
//! notification's payload never reaches a client as fact.

mod common;

use std::time::{Duration, Instant};

use common::TestDb;
use common::admin::{http, staff};
use common::api::{events_until, fingerprint, open_events, serve, token};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use walletops::admin::Role;
use walletops::api::Limits;

struct Server {
    addr: std::net::SocketAddr,
    base: String,
    db: TestDb,
    admin: String,
    viewer: String,
    _stop: tokio::sync::oneshot::Sender<()>,
}

async fn server(limits: Limits) -> Server {
    let db = common::fresh_db().await;
    let (admin_id, _, _) = staff(&db).await;
    let (admin, viewer) = (
        token(&admin_id, Role::Admin).await,
        token(&admin_id, Role::Viewer).await,
    );
    let (addr, stop) = serve(&db, "127.0.0.1:0".parse().unwrap(), limits).await;
    Server {
        addr,
        base: format!("http://{addr}"),
        db,
        admin,
        viewer,
        _stop: stop,
    }
}

const SHORT: Limits = Limits {
    header_timeout: Duration::from_secs(1),
    body_timeout: Duration::from_secs(1),
    idle_timeout: Duration::from_secs(2),
    request_timeout: Duration::from_secs(2),
    max_connections: 64,
    max_event_streams: 2,
};

/// How late past its deadline the server may close a connection.
const SLACK: Duration = Duration::from_millis(700);

/// Waits for the server to close `stream` (end of file or reset), reading
/// and returning whatever it sent before; panics after `within`.
async fn closed_within(stream: &mut tokio::net::tcp::OwnedReadHalf, within: Duration) -> String {
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Err(_) => panic!(
                "still open after {within:?}; read so far: {:?}",
                String::from_utf8_lossy(&seen)
            ),
            Ok(Ok(0)) | Ok(Err(_)) => return String::from_utf8_lossy(&seen).into_owned(),
            Ok(Ok(n)) => seen.extend_from_slice(&buf[..n]),
        }
    }
}

/// Asserts `stream` stays open (sends nothing, no end of file) for `span`.
async fn open_for(stream: &mut tokio::net::tcp::OwnedReadHalf, span: Duration) {
    let mut buf = [0u8; 64];
    if let Ok(r) = tokio::time::timeout(span, stream.read(&mut buf)).await {
        panic!("closed or answered too early: {r:?}");
    }
}

/// Serves `n` ordinary requests one after another, each answered quickly.
async fn others_are_served(s: &Server, n: usize) {
    let client = http();
    for _ in 0..n {
        let started = Instant::now();
        let resp = client
            .get(format!("{}/api/workers/stats", s.base))
            .bearer_auth(&s.viewer)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        assert!(
            started.elapsed() < Duration::from_millis(800),
            "a request took {:?} beside the attackers",
            started.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn slowloris_and_idle_connections_are_closed_while_others_are_served() {
    let s = server(SHORT).await;
    let started = Instant::now();

    // Slowloris: a request head one byte every 150 ms, never finished.
    let slow = TcpStream::connect(s.addr).await.unwrap();
    let (mut slow_read, mut slow_write) = slow.into_split();
    let trickle = tokio::spawn(async move {
        for byte in
            b"GET /api/workers/stats HTTP/1.1\r\nHost: x\r\nX-Pad: aaaaaaaaaaaaaaaaaaaaaaaaaaa"
        {
            if slow_write.write_all(&[*byte]).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(150)).await;
        }
    });
    // Idle: connects and sends nothing.
    let (mut idle_read, _idle_write) = TcpStream::connect(s.addr).await.unwrap().into_split();

    let (slow_seen, idle_seen, ()) = tokio::join!(
        closed_within(&mut slow_read, SHORT.header_timeout + SLACK),
        closed_within(&mut idle_read, SHORT.header_timeout + SLACK),
        others_are_served(&s, 5),
    );
    assert!(
        slow_seen.is_empty() && idle_seen.is_empty(),
        "no answer to half a request"
    );
    assert!(
        started.elapsed() >= SHORT.header_timeout - Duration::from_millis(100),
        "closed before the timeout: {:?}",
        started.elapsed()
    );
    trickle.abort();
}

#[tokio::test]
async fn a_kept_alive_connection_waits_the_idle_timeout_but_its_next_head_the_header_timeout() {
    let s = server(SHORT).await;
    let request = format!(
        "GET /api/workers/stats HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\n\r\n",
        s.viewer
    );
    // Idle after one answered request: open past the header timeout,
    // closed by the idle timeout.
    let (mut read, mut write) = TcpStream::connect(s.addr).await.unwrap().into_split();
    write.write_all(request.as_bytes()).await.unwrap();
    let mut buf = vec![0u8; 65536];
    let n = read.read(&mut buf).await.unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    // Let the rest of the answer arrive.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let answered = Instant::now();
    let _ = tokio::time::timeout(Duration::from_millis(50), read.read(&mut buf)).await;
    open_for(&mut read, SHORT.header_timeout + Duration::from_millis(200)).await;
    closed_within(&mut read, SHORT.idle_timeout + SLACK).await;
    let idle_for = answered.elapsed();
    assert!(
        idle_for >= SHORT.idle_timeout - Duration::from_millis(300),
        "{idle_for:?}"
    );

    // The next request's head started but stalled: the header timeout, from its first byte.
    let (mut read, mut write) = TcpStream::connect(s.addr).await.unwrap().into_split();
    write.write_all(request.as_bytes()).await.unwrap();
    let n = read.read(&mut buf).await.unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    tokio::time::sleep(Duration::from_millis(300)).await;
    let _ = tokio::time::timeout(Duration::from_millis(50), read.read(&mut buf)).await;
    write.write_all(b"GET /healthz HT").await.unwrap();
    let stalled = Instant::now();
    closed_within(&mut read, SHORT.header_timeout + SLACK).await;
    assert!(
        stalled.elapsed() < SHORT.idle_timeout,
        "{:?}",
        stalled.elapsed()
    );
}

#[tokio::test]
async fn a_slow_body_gets_408_and_a_slow_handler_503_and_neither_changes_anything() {
    let s = server(SHORT).await;
    let before = fingerprint(&s.db).await;

    // Headers promise 40 bytes; 10 come, then nothing.
    let (mut read, mut write) = TcpStream::connect(s.addr).await.unwrap().into_split();
    write
        .write_all(
            format!(
                "POST /api/admin/workers/control HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\n\
                 Content-Type: application/json\r\nContent-Length: 40\r\n\r\n{{\"action\"",
                s.admin
            )
            .as_bytes(),
        )
        .await
        .unwrap();
    let started = Instant::now();
    let answer = closed_within(&mut read, SHORT.body_timeout + SLACK).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("did not arrive within 1 s"), "{answer}");
    assert!(started.elapsed() >= SHORT.body_timeout - Duration::from_millis(100));

    // A handler stuck behind a lock is answered 503 at the request timeout.
    let mut locker = s.db.pool.begin().await.unwrap();
    sqlx::query("LOCK TABLE system_config IN ACCESS EXCLUSIVE MODE")
        .execute(&mut *locker)
        .await
        .unwrap();
    let started = Instant::now();
    let resp = http()
        .post(format!("{}/api/admin/workers/control", s.base))
        .bearer_auth(&s.admin)
        .json(&json!({"action": "pause"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    let v: Value = resp.json().await.unwrap();
    assert!(
        v["error"].as_str().unwrap().contains("longer than 2 s"),
        "{v}"
    );
    assert!(started.elapsed() < SHORT.request_timeout + SLACK);
    locker.rollback().await.unwrap();
    // The abandoned handler's transaction is rolled back, not committed late.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(fingerprint(&s.db).await, before);
}

#[tokio::test]
async fn connections_beyond_the_cap_are_refused_without_harming_those_served() {
    let limits = Limits {
        header_timeout: Duration::from_secs(10),
        max_connections: 4,
        ..SHORT
    };
    let s = server(limits).await;
    // One client with a kept-alive connection, served before the flood.
    let client = http();
    let stats = async || {
        client
            .get(format!("{}/api/workers/stats", s.base))
            .bearer_auth(&s.viewer)
            .send()
            .await
            .map(|r| r.status())
    };
    assert_eq!(stats().await.unwrap(), StatusCode::OK);
    // Three idle connections fill the other slots.
    let mut hogs = Vec::new();
    for _ in 0..3 {
        hogs.push(TcpStream::connect(s.addr).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    // A fifth connection is answered 503 at once.
    let started = Instant::now();
    let (mut read, mut write) = TcpStream::connect(s.addr).await.unwrap().into_split();
    let _ = write
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await;
    let answer = closed_within(&mut read, Duration::from_secs(1)).await;
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 503"),
        "{answer}"
    );
    assert!(started.elapsed() < Duration::from_secs(1));
    // The kept-alive client is still served on its connection.
    for _ in 0..3 {
        assert_eq!(stats().await.unwrap(), StatusCode::OK);
    }
    // A slot freed is a slot served.
    drop(hogs.pop());
    tokio::time::sleep(Duration::from_millis(200)).await;
    let resp = http()
        .get(format!("{}/healthz", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
}

async fn open_stream(s: &Server) -> reqwest::Response {
    open_events(&s.base, &s.viewer).await
}

#[tokio::test]
async fn event_streams_are_capped_and_a_closed_one_frees_its_slot() {
    let s = server(SHORT).await;
    let first = open_stream(&s).await;
    let second = open_stream(&s).await;
    assert_eq!(
        (first.status(), second.status()),
        (StatusCode::OK, StatusCode::OK)
    );
    let third = open_stream(&s).await;
    assert_eq!(third.status(), StatusCode::SERVICE_UNAVAILABLE);
    let v: Value = third.json().await.unwrap();
    assert!(
        v["error"].as_str().unwrap().contains("2 event streams"),
        "{v}"
    );
    // Ordinary requests are not counted against the streams.
    others_are_served(&s, 2).await;
    drop(first);
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let again = open_stream(&s).await;
        if again.status() == StatusCode::OK {
            break;
        }
        assert!(Instant::now() < deadline, "the slot was not freed");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_quiet_event_stream_outlives_the_idle_timeout() {
    let s = server(SHORT).await;
    let mut stream = open_stream(&s).await;
    assert_eq!(stream.status(), StatusCode::OK);
    // Nothing happens for over twice the idle timeout: keep-alive comments
    // keep the stream open.
    let quiet_until = tokio::time::Instant::now() + SHORT.idle_timeout * 2 + SLACK;
    let mut comments = 0;
    while tokio::time::Instant::now() < quiet_until {
        match tokio::time::timeout_at(quiet_until, stream.chunk()).await {
            Err(_) => break,
            Ok(chunk) => {
                let chunk = chunk.unwrap().expect("the stream stays open");
                assert!(chunk.starts_with(b":"), "only keep-alives: {chunk:?}");
                comments += 1;
            }
        }
    }
    assert!(comments >= 2, "{comments} keep-alives");
}

#[tokio::test]
async fn a_forged_notification_reaches_no_client_as_fact() {
    let s = server(SHORT).await;
    let mut stream = open_stream(&s).await;
    assert_eq!(stream.status(), StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(300)).await;
    // Anyone who can connect to the database can NOTIFY any channel.
    for (channel, payload) in [
        (
            "walletops_admin",
            r#"{"action_type":"workers.pause","admin_email":"FORGED@evil"}"#,
        ),
        (
            "walletops_control",
            r#"{"key":"workers.paused","value":true,"FORGED":1}"#,
        ),
        ("walletops_config", "FORGED"),
        ("walletops_jobs", "FORGED"),
    ] {
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(channel)
            .bind(payload)
            .execute(&s.db.pool)
            .await
            .unwrap();
    }
    let seen = events_until(
        &mut stream,
        &[
            "event: admin",
            "event: control",
            "event: config",
            "event: jobs",
        ],
        Duration::from_secs(3),
    )
    .await;
    assert!(!seen.contains("FORGED"), "a payload was forwarded: {seen}");
    // What the database says, not what the notification claimed.
    assert!(seen.contains(r#"{"paused":false}"#), "{seen}");
    assert!(seen.contains(r#"{"recent_actions":[{"#), "{seen}");
    assert!(seen.contains(r#"{"changed":"jobs"}"#), "{seen}");
}
