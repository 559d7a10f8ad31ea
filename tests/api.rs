//! The HTTP API on a real server and a real database: auth, roles, input
//! validation that changes nothing, the original admin page's endpoints, metrics, events,
//! and the OpenAPI document checked against the router.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::TestDb;
use common::admin::{address, audit_count, count, http, job, staff, wallet};
use common::api::{events_until, fingerprint, open_events, serve, token};
use reqwest::{Client, Method, StatusCode};
use serde_json::{Value, json};
use walletops::admin::{Role, tokens};
use walletops::api::{self, ROUTES};

struct Server {
    base: String,
    http: Client,
    db: TestDb,
    admin: String,
    operator: String,
    viewer: String,
    _stop: tokio::sync::oneshot::Sender<()>,
}

async fn server() -> Server {
    let db = common::fresh_db().await;
    let (admin_id, _, _) = staff(&db).await;
    let (admin, operator, viewer) = (
        token(&admin_id, Role::Admin).await,
        token(&admin_id, Role::Operator).await,
        token(&admin_id, Role::Viewer).await,
    );
    let (addr, stop) = serve(&db, "127.0.0.1:0".parse().unwrap(), api::Limits::default()).await;
    Server {
        base: format!("http://{addr}"),
        http: http(),
        db,
        admin,
        operator,
        viewer,
        _stop: stop,
    }
}

impl Server {
    async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Vec<u8>>,
    ) -> (StatusCode, String) {
        let mut req = self.http.request(
            Method::from_bytes(method.as_bytes()).unwrap(),
            format!("{}{path}", self.base),
        );
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.header("content-type", "application/json").body(b);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status();
        if path == "/api/events" {
            return (status, String::new());
        }
        (status, resp.text().await.unwrap())
    }

    async fn post(&self, path: &str, token: &str, body: Value) -> (StatusCode, Value) {
        let (s, text) = self
            .call(
                "POST",
                path,
                Some(token),
                Some(body.to_string().into_bytes()),
            )
            .await;
        (s, serde_json::from_str(&text).unwrap_or(Value::Null))
    }
}

fn error_of(text: &str) -> String {
    let v: Value = serde_json::from_str(text).unwrap_or_else(|_| panic!("not JSON: {text:?}"));
    v["error"]
        .as_str()
        .unwrap_or_else(|| panic!("no error field: {text}"))
        .to_string()
}

const POSTS: [&str; 4] = [
    "/api/admin/workers/control",
    "/api/admin/dispatch-job",
    "/api/admin/jobs/clear-failed",
    "/api/admin/reset-processing",
];

async fn seed_some_state(s: &Server) -> String {
    let (_, _, addr) = wallet(&s.db.pool, 1, "alice@example.com", "Alice").await;
    job(&s.db.pool, "failed", "sync", &address(50)).await;
    let stuck = job(&s.db.pool, "processing", "sync", &address(51)).await;
    sqlx::query("UPDATE job_logs SET locked_until = now() - interval '1 minute' WHERE id = $1")
        .bind(stuck)
        .execute(&s.db.pool)
        .await
        .unwrap();
    addr
}

#[tokio::test]
async fn every_route_but_healthz_needs_a_valid_token() {
    let s = server().await;
    seed_some_state(&s).await;
    let before = fingerprint(&s.db).await;

    let (status, body) = s.call("GET", "/healthz", None, None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.is_empty(), "healthz carries no data: {body}");

    for route in ROUTES.iter().filter(|r| r.auth) {
        for token in [None, Some("wo_0000"), Some(""), Some("' OR 1=1 --")] {
            let (status, body) = s
                .call(route.method, route.path, token, Some(b"{}".to_vec()))
                .await;
            assert_eq!(
                status,
                StatusCode::UNAUTHORIZED,
                "{} {} {token:?}",
                route.method,
                route.path
            );
            if route.path != "/api/events" {
                assert!(!error_of(&body).is_empty());
            }
        }
    }
    // A revoked token is as good as none.
    let (admin_id, _, _) = staff(&s.db).await;
    tokens::revoke(&admin_id.pool, &admin_id, "admin-token")
        .await
        .unwrap();
    let (status, _) = s
        .call("GET", "/api/workers/stats", Some(&s.admin), None)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let after = fingerprint(&s.db).await;
    // Only the revocation (one audit row) happened.
    assert_eq!(
        before.split('|').skip(1).collect::<Vec<_>>(),
        after.split('|').skip(1).collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn a_viewer_reads_and_is_refused_every_action() {
    let s = server().await;
    let addr = seed_some_state(&s).await;
    let before = fingerprint(&s.db).await;
    let some_job: uuid::Uuid = sqlx::query_scalar("SELECT id FROM job_logs LIMIT 1")
        .fetch_one(&s.db.pool)
        .await
        .unwrap();
    for route in ROUTES.iter().filter(|r| r.method == "GET" && r.auth) {
        // A read of one thing names it.
        let path = match route.operation_id {
            "jobDetail" => format!("{}?id={some_job}", route.path),
            _ => route.path.to_string(),
        };
        let (status, _) = s.call("GET", &path, Some(&s.viewer), None).await;
        assert_eq!(status, StatusCode::OK, "{path}");
    }
    let bodies = [
        json!({"action": "pause"}),
        json!({"address": addr, "jobType": "sync"}),
        json!({}),
        json!({}),
    ];
    let job: uuid::Uuid = sqlx::query_scalar("SELECT id FROM job_logs LIMIT 1")
        .fetch_one(&s.db.pool)
        .await
        .unwrap();
    let console_actions = [
        ("/api/admin/jobs/retry", json!({"jobId": job})),
        ("/api/admin/jobs/cancel", json!({"jobId": job})),
    ];
    for (path, body) in POSTS.into_iter().zip(bodies).chain(console_actions) {
        let (status, v) = s.post(path, &s.viewer, body).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}: {v}");
        assert!(v["error"].as_str().unwrap().contains("may not"), "{v}");
    }
    // An operator may not start or pause.
    let (status, _) = s
        .post(POSTS[0], &s.operator, json!({"action": "pause"}))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(fingerprint(&s.db).await, before);
}

#[tokio::test]
async fn malformed_oversized_and_invalid_bodies_change_nothing() {
    let s = server().await;
    let addr = seed_some_state(&s).await;
    let wallet_id: uuid::Uuid =
        sqlx::query_scalar("SELECT id FROM user_wallets WHERE address = $1")
            .bind(&addr)
            .fetch_one(&s.db.pool)
            .await
            .unwrap();
    let before = fingerprint(&s.db).await;

    // Every route that takes a body, the console's too.
    let posts: Vec<&str> = ROUTES
        .iter()
        .filter(|r| r.method == "POST")
        .map(|r| r.path)
        .collect();
    assert!(posts.len() > POSTS.len());
    for &path in &posts {
        for junk in [&b"{"[..], b"not json", b"{\"action\": }", b"\xff\xfe"] {
            let (status, body) = s
                .call("POST", path, Some(&s.admin), Some(junk.to_vec()))
                .await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{path} {junk:?}: {body}");
            assert!(error_of(&body).contains("invalid request body"));
        }
        let big = format!("{{\"pad\": \"{}\"}}", "x".repeat(api::BODY_LIMIT));
        let (status, body) = s
            .call("POST", path, Some(&s.admin), Some(big.into_bytes()))
            .await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{path}: {body}");
        error_of(&body);
    }

    // Only a JSON object, without duplicate keys: `[]` would otherwise read
    // as "no fields" and clear the failed jobs; a second "action" would win.
    for &path in &posts {
        for (junk, says) in [
            ("[]", "must be a JSON object"),
            ("\"x\"", "must be a JSON object"),
            ("1", "must be a JSON object"),
            ("null", "must be a JSON object"),
            (r#"{"action": "start", "action": "pause"}"#, "duplicate key"),
            (r#"{"jobType": "sync", "jobType": "sync"}"#, "duplicate key"),
        ] {
            let (status, body) = s
                .call("POST", path, Some(&s.admin), Some(junk.as_bytes().to_vec()))
                .await;
            assert_eq!(
                status,
                StatusCode::UNPROCESSABLE_ENTITY,
                "{path} {junk}: {body}"
            );
            assert!(error_of(&body).contains(says), "{path} {junk}: {body}");
        }
    }

    let sql = "'; DELETE FROM job_logs; --";
    let invalid = [
        (POSTS[0], json!({"action": "stop"})),
        (POSTS[0], json!({"action": sql})),
        (POSTS[0], json!({"action": "pause", "extra": 1})),
        (POSTS[0], json!({})),
        (
            POSTS[1],
            json!({"address": "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6u", "jobType": "sync"}),
        ),
        (POSTS[1], json!({"address": sql, "jobType": "sync"})),
        (POSTS[1], json!({"walletId": sql, "jobType": "sync"})),
        (POSTS[1], json!({"address": addr, "jobType": sql})),
        (POSTS[1], json!({"address": addr, "jobType": "gas_topup"})),
        (
            POSTS[1],
            json!({"address": addr, "userId": "nope", "jobType": "sync"}),
        ),
        (
            POSTS[1],
            json!({"address": addr, "userId": uuid::Uuid::new_v4(), "jobType": "sync"}),
        ),
        (
            POSTS[1],
            json!({"walletId": wallet_id, "address": address(2), "jobType": "sync"}),
        ),
        (POSTS[1], json!({"jobType": "sync"})),
        (POSTS[1], json!({"address": addr})),
        (POSTS[1], json!({"address": 5, "jobType": "sync"})),
        (
            POSTS[1],
            json!({"address": addr, "jobType": "sync", "priority": 9}),
        ),
        ("/api/admin/jobs/retry", json!({"jobId": sql})),
        ("/api/admin/jobs/cancel", json!({})),
        (
            "/api/admin/jobs/cancel",
            json!({"jobId": uuid::Uuid::new_v4(), "force": true}),
        ),
        (POSTS[2], json!({"all": true})),
        (POSTS[3], json!({"wallets": [sql]})),
    ];
    for (path, body) in invalid {
        let (status, v) = s.post(path, &s.admin, body.clone()).await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{path} {body}: {v}"
        );
        assert!(v["error"].is_string());
    }
    let (status, _) = s
        .post(
            POSTS[1],
            &s.admin,
            json!({"address": address(77), "jobType": "sync"}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "an unknown wallet");
    let (status, _) = s
        .post(
            "/api/admin/jobs/retry",
            &s.admin,
            json!({"jobId": uuid::Uuid::new_v4()}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "an unknown job");
    assert_eq!(fingerprint(&s.db).await, before);
}

#[tokio::test]
async fn the_seed_endpoints_act_and_audit() {
    let s = server().await;
    let addr = seed_some_state(&s).await;
    let audits = audit_count(&s.db.pool).await;

    let (status, v) = s.post(POSTS[0], &s.admin, json!({"action": "pause"})).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["paused"], true);
    let (status, _) = s.post(POSTS[0], &s.admin, json!({"action": "start"})).await;
    assert_eq!(status, StatusCode::OK);

    let (status, v) = s
        .post(
            POSTS[1],
            &s.operator,
            json!({"address": addr, "jobType": "consolidation"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    let job_id = v["job"]["id"].clone();
    let (status, v) = s
        .post(
            POSTS[1],
            &s.operator,
            json!({"address": addr, "jobType": "consolidation"}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{v}");
    assert_eq!(
        v["job"]["id"], job_id,
        "a duplicate dispatch returns the existing job"
    );
    let wallet_id = v["job"]["wallet_id"].clone();
    let (status, _) = s
        .post(
            POSTS[1],
            &s.operator,
            json!({"walletId": wallet_id, "jobType": "sync"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);

    // No body at all is fine for the maintenance endpoints.
    let (status, text) = s.call("POST", POSTS[2], Some(&s.operator), None).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert_eq!(serde_json::from_str::<Value>(&text).unwrap()["deleted"], 1);
    let (status, text) = s.call("POST", POSTS[3], Some(&s.operator), None).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert_eq!(serde_json::from_str::<Value>(&text).unwrap()["jobs"], 1);

    let actions: Vec<String> = sqlx::query_scalar(
        "SELECT action_type FROM admin_actions ORDER BY created_at, id OFFSET $1",
    )
    .bind(audits)
    .fetch_all(&s.db.pool)
    .await
    .unwrap();
    assert_eq!(
        actions,
        [
            "workers.pause",
            "workers.start",
            "job.dispatch",
            "job.dispatch",
            "jobs.clear_failed",
            "jobs.reset_processing"
        ]
    );
    let via: Vec<String> = sqlx::query_scalar(
        "SELECT DISTINCT details -> 'actor' ->> 'token_name' FROM admin_actions
          WHERE details -> 'actor' ? 'token_name'",
    )
    .fetch_all(&s.db.pool)
    .await
    .unwrap();
    assert!(via.contains(&"operator-token".to_string()), "{via:?}");

    let (status, text) = s
        .call("GET", "/api/workers/stats", Some(&s.viewer), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let stats: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(stats["counts"]["total"]["pending"], 3, "{stats}");
    assert_eq!(stats["health"]["status"], "Down", "no worker runs");
    assert!(stats["recent_actions"].as_array().unwrap().len() >= 6);
    // Nothing mined yet: zero burned, no per-sweep figure, and the place
    // for delegation's burn equivalent.
    for window in ["today", "last_7_days"] {
        let c = &stats["costs"][window];
        assert_eq!(
            (&c["burned"], &c["sweeps"]),
            (&json!(0), &json!(0)),
            "{stats}"
        );
        assert!(c["burned_per_sweep"].is_null(), "{stats}");
    }
    // No worker has read the energy price: nothing to price the energy at.
    assert!(stats["costs"]["burn_equivalent"].is_null(), "{stats}");

    let (status, text) = s.call("GET", "/metrics", Some(&s.viewer), None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        text.contains("walletops_jobs{status=\"pending\",type=\"consolidation\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("walletops_health{status=\"Down\"} 1"),
        "{text}"
    );
    assert!(text.contains("# TYPE walletops_workers gauge"));
    for line in [
        "walletops_trx_burned_sun{window=\"today\"} 0",
        "walletops_trx_burned_sun{window=\"7d\"} 0",
        "walletops_sweeps_mined{window=\"today\"} 0",
        "# TYPE walletops_trx_burned_per_sweep_sun gauge",
        "walletops_energy_used{window=\"7d\",source=\"stake\"} 0",
    ] {
        assert!(text.contains(line), "{line} in {text}");
    }
    // The audit chain's head, to be kept elsewhere, and its state.
    let head = walletops::admin::audit_chain::head(&s.db.pool)
        .await
        .unwrap()
        .unwrap();
    assert!(
        text.contains(&format!("walletops_audit_head_seq {}", head.seq)),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "walletops_audit_head{{seq=\"{}\",hash=\"{}\"}} 1",
            head.seq, head.hash
        )),
        "{text}"
    );
    assert!(text.contains("walletops_audit_chain_ok 1"), "{text}");
    assert!(text.contains("walletops_audit_unacknowledged 0"), "{text}");
}

#[tokio::test]
async fn unknown_routes_and_methods_answer_json() {
    let s = server().await;
    let (status, body) = s.call("GET", "/api/nope", Some(&s.admin), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    error_of(&body);
    let (status, body) = s
        .call("DELETE", "/api/admin/dispatch-job", Some(&s.admin), None)
        .await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    error_of(&body);
}

#[tokio::test]
async fn the_openapi_document_describes_exactly_the_routes_that_answer() {
    let s = server().await;
    let (status, text) = s
        .call("GET", "/api/openapi.json", Some(&s.viewer), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let doc: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(doc, api::openapi_document());
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let described: BTreeSet<(String, String)> = doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, ops)| {
            ops.as_object()
                .unwrap()
                .keys()
                .map(move |m| (m.to_uppercase(), path.clone()))
        })
        .collect();
    let routed: BTreeSet<(String, String)> = ROUTES
        .iter()
        .map(|r| (r.method.to_string(), r.path.to_string()))
        .collect();
    assert_eq!(described, routed);
    // Every described route is served: none answers 404 or 405.
    for (method, path) in &described {
        let (status, _) = s.call(method, path, Some(&s.viewer), None).await;
        assert!(
            status != StatusCode::NOT_FOUND && status != StatusCode::METHOD_NOT_ALLOWED,
            "{method} {path}: {status}"
        );
    }
    // And the original admin page's five endpoints are among them.
    for (m, p) in [
        ("POST", "/api/admin/workers/control"),
        ("POST", "/api/admin/dispatch-job"),
        ("POST", "/api/admin/jobs/clear-failed"),
        ("POST", "/api/admin/reset-processing"),
        ("GET", "/api/workers/stats"),
    ] {
        assert!(routed.contains(&(m.to_string(), p.to_string())), "{m} {p}");
    }
}

#[tokio::test]
async fn events_stream_pause_jobs_and_admin_actions_live() {
    let s = server().await;
    let mut resp = open_events(&s.base, &s.viewer).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    // Give the server's LISTEN a moment to be in place, then act.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (status, _) = s.post(POSTS[0], &s.admin, json!({"action": "pause"})).await;
    assert_eq!(status, StatusCode::OK);
    let addr = seed_some_state(&s).await;
    let (status, _) = s
        .post(
            POSTS[1],
            &s.operator,
            json!({"address": addr, "jobType": "sync"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let seen = events_until(
        &mut resp,
        &[
            "event: control",
            "event: admin",
            "event: jobs",
            "\"job.dispatch\"",
        ],
        Duration::from_secs(3),
    )
    .await;
    assert!(seen.contains("\"workers.pause\""), "{seen}");
    // The control event carries the paused state as read, not the notification.
    assert!(seen.contains(r#"{"paused":true}"#), "{seen}");
}

#[tokio::test]
async fn concurrent_clear_failed_from_two_clients_is_audited_consistently() {
    let s = server().await;
    sqlx::query(
        "INSERT INTO job_logs (job_type, status, wallet_address, finished_at)
         SELECT 'gas-topup', 'failed', 'T' || g, now() FROM generate_series(1, 2000) g",
    )
    .execute(&s.db.pool)
    .await
    .unwrap();
    let (a, b) = tokio::join!(
        s.post(POSTS[2], &s.admin, json!({})),
        s.post(POSTS[2], &s.operator, json!({}))
    );
    assert_eq!((a.0, b.0), (StatusCode::OK, StatusCode::OK));
    let deleted = a.1["deleted"].as_i64().unwrap() + b.1["deleted"].as_i64().unwrap();
    assert_eq!(deleted, 2000);
    let audited: i64 = sqlx::query_scalar(
        "SELECT sum((details ->> 'rows')::bigint)::bigint FROM admin_actions WHERE action_type = 'jobs.clear_failed'",
    )
    .fetch_one(&s.db.pool)
    .await
    .unwrap();
    assert_eq!(audited, 2000);
    assert_eq!(
        count(
            &s.db.pool,
            "SELECT count(*) FROM admin_actions WHERE action_type = 'jobs.clear_failed'"
        )
        .await,
        2
    );
    assert_eq!(count(&s.db.pool, "SELECT count(*) FROM job_logs").await, 0);
}
