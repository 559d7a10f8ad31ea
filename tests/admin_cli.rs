//! The admin CLI as a real process against a real database: exit codes,
//! one-line refusals, JSON output, and `walletops serve` itself.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Output, Stdio};
use std::time::Duration;

use common::TestDb;
use common::admin::{
    LoginRole, address, audit_count, count, job, last_audit, login_name, url_as, wallet,
};
use serde_json::Value;

/// Runs walletops connected as `operator`'s own database login (made by
/// [`setup`]), or as the database owner when None.
fn run(db: &TestDb, operator: Option<&str>, args: &[&str]) -> Output {
    let url = match operator {
        Some(email) => url_as(&db.url, &login_name(db, email)),
        None => db.url.clone(),
    };
    let mut cmd = common::walletops();
    cmd.env("DATABASE_URL", url.expose()).args(args);
    cmd.output().expect("run walletops")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Succeeds, or fails the test with what the command said.
fn ok(o: Output) -> String {
    assert!(
        o.status.success(),
        "exit {:?}: {}{}",
        o.status.code(),
        stdout(&o),
        stderr(&o)
    );
    stdout(&o)
}

/// Fails with one clear line on stderr.
fn refused(o: Output, needle: &str) {
    assert!(!o.status.success(), "should fail: {}", stdout(&o));
    let err = stderr(&o);
    let last = err.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("error: ") && last.contains(needle),
        "{err}"
    );
}

/// Three operators, each with a login of its own (one login per person).
async fn setup() -> TestDb {
    let db = common::fresh_db().await;
    for (email, role) in [
        ("boss@example.com", "admin"),
        ("ops@example.com", "operator"),
        ("wall@example.com", "viewer"),
    ] {
        let login = login_name(&db, email);
        let out = ok(run(
            &db,
            None,
            &["operators", "add", email, "--role", role, "--login", &login],
        ));
        assert!(
            out.contains(&format!("acting as database login {login}")),
            "{out}"
        );
    }
    db
}

#[tokio::test]
async fn status_exit_codes_follow_health() {
    let db = setup().await;
    let out = run(&db, None, &["status", "--json"]);
    assert_eq!(out.status.code(), Some(2), "no worker: Down");
    let v: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(v["health"]["status"], "Down");
    assert!(
        v["health"]["reasons"][0]
            .as_str()
            .unwrap()
            .contains("no live worker")
    );

    sqlx::query(
        "INSERT INTO workers (id, host, pid, version) VALUES (gen_random_uuid(), 'h', 1, 'v')",
    )
    .execute(&db.pool)
    .await
    .unwrap();
    let out = run(&db, None, &["status"]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert!(stdout(&out).starts_with("Healthy"));

    ok(run(&db, Some("boss@example.com"), &["workers", "pause"]));
    let out = run(&db, None, &["status"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).contains("workers are paused"));

    // No database: unknown.
    let mut cmd = common::walletops();
    let out = cmd
        .env("DATABASE_URL", "postgres://nobody@127.0.0.1:1/none")
        .args(["status", "--json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    let v: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(v["status"], "Unknown");
}

#[tokio::test]
async fn actions_need_an_operator_with_the_right_role() {
    let db = setup().await;
    let before = audit_count(&db.pool).await;
    // The owner's login is no operator; nor is a login the owner never linked.
    refused(run(&db, None, &["workers", "pause"]), "is not an operator");
    let stranger = LoginRole::create(&db.url, "walletops_admin").await;
    let out = common::walletops()
        .env("DATABASE_URL", stranger.url.expose())
        .args(["workers", "pause"])
        .output()
        .unwrap();
    refused(out, "is not an operator");
    stranger.drop_role().await;
    // The environment cannot pick another operator: it may only assert.
    let mut claim = common::walletops();
    claim
        .env(
            "DATABASE_URL",
            url_as(&db.url, &login_name(&db, "ops@example.com")).expose(),
        )
        .env("WALLETOPS_OPERATOR", "boss@example.com")
        .args(["workers", "pause"]);
    refused(
        claim.output().unwrap(),
        "says boss@example.com, but this connection is operator ops@example.com",
    );
    let mut claim = common::walletops();
    claim
        .env(
            "DATABASE_URL",
            url_as(&db.url, &login_name(&db, "ops@example.com")).expose(),
        )
        .args([
            "--operator",
            "boss@example.com",
            "config",
            "set",
            "gas.topup_sun",
            "5",
        ]);
    refused(claim.output().unwrap(), "says boss@example.com");
    refused(
        run(&db, Some("ops@example.com"), &["workers", "pause"]),
        "may not start or pause",
    );
    refused(
        run(&db, Some("wall@example.com"), &["jobs", "clear-failed"]),
        "may not clear failed jobs",
    );
    refused(
        run(
            &db,
            Some("ops@example.com"),
            &["config", "set", "gas.topup_sun", "5"],
        ),
        "may not change",
    );
    assert_eq!(
        audit_count(&db.pool).await,
        before,
        "refusals write no audit row"
    );

    let out = ok(run(&db, Some("boss@example.com"), &["workers", "pause"]));
    assert_eq!(out.trim(), "workers paused");
    assert_eq!(last_audit(&db.pool).await.0, "workers.pause");
    let out = ok(run(&db, Some("boss@example.com"), &["workers", "start"]));
    assert_eq!(out.trim(), "workers started");
}

#[tokio::test]
async fn dispatch_and_job_maintenance() {
    let db = setup().await;
    let (_, _, addr) = wallet(&db.pool, 1, "alice@example.com", "Alice").await;
    let out = ok(run(
        &db,
        Some("ops@example.com"),
        &[
            "dispatch",
            "--type",
            "gas-topup",
            "--wallet",
            &addr,
            "--json",
        ],
    ));
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["created"], true);
    let id = v["job"]["id"].as_str().unwrap().to_string();
    let out = ok(run(
        &db,
        Some("ops@example.com"),
        &["dispatch", "--type", "gas-topup", "--wallet", &addr],
    ));
    assert!(
        out.contains("already has a gas-topup job in progress"),
        "{out}"
    );

    // Bad input is refused by the parser, before anything is touched.
    for (job_type, wallet, why) in [
        ("gas", addr.as_str(), "unknown job type"),
        ("sync", "T' OR 1=1", "invalid value"),
    ] {
        let o = run(
            &db,
            Some("ops@example.com"),
            &["dispatch", "--type", job_type, "--wallet", wallet],
        );
        assert_eq!(o.status.code(), Some(2), "a usage error");
        assert!(stderr(&o).contains(why), "{}", stderr(&o));
    }
    refused(
        run(
            &db,
            Some("ops@example.com"),
            &["dispatch", "--type", "sync", "--wallet", &address(99)],
        ),
        "not found",
    );

    let out = ok(run(
        &db,
        None,
        &["jobs", "list", "--status", "pending", "--json"],
    ));
    let jobs: Vec<Value> = serde_json::from_str(&out).unwrap();
    assert_eq!(jobs.len(), 1);
    ok(run(&db, Some("ops@example.com"), &["jobs", "cancel", &id]));
    ok(run(&db, Some("ops@example.com"), &["jobs", "retry", &id]));
    refused(
        run(&db, Some("ops@example.com"), &["jobs", "retry", &id]),
        "cannot retry",
    );
    job(&db.pool, "failed", "sync", &address(5)).await;
    let out = ok(run(&db, Some("ops@example.com"), &["jobs", "clear-failed"]));
    assert_eq!(out.trim(), "deleted 1 failed jobs");
    let out = ok(run(
        &db,
        Some("ops@example.com"),
        &["jobs", "reset-processing"],
    ));
    assert!(out.contains("took back 0 jobs"), "{out}");

    let out = ok(run(&db, None, &["audit", "--json"]));
    let audit: Vec<Value> = serde_json::from_str(&out).unwrap();
    let types: Vec<&str> = audit
        .iter()
        .map(|a| a["action_type"].as_str().unwrap())
        .collect();
    for t in [
        "job.dispatch",
        "job.cancel",
        "job.retry",
        "jobs.clear_failed",
        "jobs.reset_processing",
    ] {
        assert!(types.contains(&t), "{types:?}");
    }
    let out = ok(run(
        &db,
        None,
        &["audit", "--since", "2999-01-01T00:00:00Z", "--json"],
    ));
    assert_eq!(out.trim(), "[]");
}

/// Every job row as text, to prove that an action changed nothing.
async fn job_rows(db: &TestDb) -> Vec<String> {
    sqlx::query_scalar("SELECT j::text FROM job_logs j ORDER BY id")
        .fetch_all(&db.pool)
        .await
        .unwrap()
}

/// Retrying a job whose wallet already has a pending or processing job of
/// its type is refused with the other job's id and type, and changes
/// nothing. (It answered "current transaction is aborted": the retry read
/// the job again inside the transaction its unique violation had aborted.)
#[tokio::test]
async fn retry_names_the_active_duplicate_and_changes_nothing() {
    let db = setup().await;
    let wallet = address(7);
    let failed = job(&db.pool, "failed", "consolidation", &wallet).await;
    let active = job(&db.pool, "processing", "consolidation", &wallet).await;
    let rows = job_rows(&db).await;
    let audit = audit_count(&db.pool).await;

    let o = run(
        &db,
        Some("ops@example.com"),
        &["jobs", "retry", &failed.to_string()],
    );
    let err = stderr(&o);
    assert!(!err.contains("transaction is aborted"), "{err}");
    refused(
        o,
        &format!("already has a consolidation job in progress: {active}"),
    );
    assert_eq!(job_rows(&db).await, rows, "the refused retry changed a job");
    assert_eq!(
        audit_count(&db.pool).await,
        audit,
        "a refusal writes no audit row"
    );

    // Once the other job has ended, the same retry goes through.
    sqlx::query("UPDATE job_logs SET status = 'completed', finished_at = now() WHERE id = $1")
        .bind(active)
        .execute(&db.pool)
        .await
        .unwrap();
    ok(run(
        &db,
        Some("ops@example.com"),
        &["jobs", "retry", &failed.to_string()],
    ));
    let status: String = sqlx::query_scalar("SELECT status FROM job_logs WHERE id = $1")
        .bind(failed)
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(status, "pending");
}

#[tokio::test]
async fn config_and_tokens() {
    let db = setup().await;
    let out = ok(run(&db, None, &["config", "get", "workers.paused"]));
    assert_eq!(out.trim(), "false");
    ok(run(
        &db,
        Some("boss@example.com"),
        &["config", "set", "gas.min_balance_sun", "5"],
    ));
    assert_eq!(
        ok(run(&db, None, &["config", "get", "gas.min_balance_sun"])).trim(),
        "5"
    );
    let before = audit_count(&db.pool).await;
    refused(
        run(
            &db,
            Some("boss@example.com"),
            &["config", "set", "gas.min_balance_sun", "-1"],
        ),
        "integer",
    );
    refused(
        run(
            &db,
            Some("boss@example.com"),
            &["config", "set", "gas.min_balance_sun", "five"],
        ),
        "must be JSON",
    );
    assert_eq!(audit_count(&db.pool).await, before);
    let list: Vec<Value> =
        serde_json::from_str(&ok(run(&db, None, &["config", "list", "--json"]))).unwrap();
    assert!(
        list.iter()
            .any(|e| e["key"] == "health.failure_rate_min_jobs")
    );

    let token = ok(run(
        &db,
        Some("boss@example.com"),
        &["tokens", "create", "--role", "viewer", "--name", "wall"],
    ));
    let token = token.trim();
    assert!(
        token.starts_with("wo_") && !token.contains(' '),
        "the token alone: {token}"
    );
    let listed = ok(run(&db, None, &["tokens", "list"]));
    assert!(
        listed.contains("wall") && !listed.contains(token),
        "{listed}"
    );
    refused(
        run(
            &db,
            Some("ops@example.com"),
            &["tokens", "create", "--role", "admin", "--name", "x"],
        ),
        "may not manage",
    );
    ok(run(
        &db,
        Some("boss@example.com"),
        &["tokens", "revoke", "wall"],
    ));
    assert!(ok(run(&db, None, &["tokens", "list"])).contains("revoked"));

    ok(run(&db, None, &["operators", "remove", "ops@example.com"]));
    refused(
        run(&db, Some("ops@example.com"), &["jobs", "clear-failed"]),
        "not an operator",
    );
    let ops: Vec<Value> =
        serde_json::from_str(&ok(run(&db, None, &["operators", "list", "--json"]))).unwrap();
    assert_eq!(ops.len(), 3, "removal keeps the user");
}

/// A child process killed if the test fails before it exits.
struct Reaped(std::process::Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn serve_listens_on_loopback_and_stops_on_sigterm() {
    let db = setup().await;
    let mut child = Reaped(
        common::walletops()
            .env("DATABASE_URL", db.url.expose())
            .args(["serve", "--listen", "127.0.0.1:0"])
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let child = &mut child.0;
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let line = lines.next().unwrap().unwrap();
    let base = line.rsplit(' ').next().unwrap().to_string();
    assert!(base.starts_with("http://127.0.0.1:"), "{line}");
    let http = common::admin::http();
    let resp = http.get(format!("{base}/healthz")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let resp = http
        .get(format!("{base}/api/workers/stats"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    // A live event stream must not hold the server up at shutdown.
    let token = ok(run(
        &db,
        Some("boss@example.com"),
        &["tokens", "create", "--role", "viewer", "--name", "wall"],
    ));
    let mut events = http
        .get(format!("{base}/api/events"))
        .bearer_auth(token.trim())
        .send()
        .await
        .unwrap();
    assert_eq!(events.status(), 200);
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(std::time::Instant::now() < deadline, "serve did not stop");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(status.success(), "{status:?}");
    // The stream ended (or its connection closed) rather than hanging.
    let _ = tokio::time::timeout(Duration::from_secs(2), events.chunk())
        .await
        .expect("the event stream ends with the server");
    assert_eq!(count(&db.pool, "SELECT count(*) FROM job_logs").await, 0);
}
