//! Failed jobs in view and acted on by filter, against real PostgreSQL: the
//! groups by error, and retry and cancel of a selection whose count is
//! exactly what the action changes, audited as one row.

mod common;

use common::admin::{address, audit_count, count, last_audit, staff};
use sqlx::PgPool;
use uuid::Uuid;
use walletops::admin::AdminError;
use walletops::admin::jobs::{self, BulkAction, BulkCount, JobSelection};
use walletops::queue::{JobStatus, JobType};

/// A job in `status` with this error, finished `ago_s` seconds ago.
async fn job(
    pool: &PgPool,
    status: &str,
    job_type: &str,
    wallet: &str,
    error: Option<&str>,
    ago_s: i32,
) -> Uuid {
    sqlx::query_scalar(
        "INSERT INTO job_logs (job_type, status, wallet_address, error_message, finished_at,
                               updated_at)
         VALUES ($1, $2, $3, $4,
                 CASE WHEN $2 IN ('completed', 'failed', 'cancelled')
                      THEN now() - make_interval(secs => $5) END,
                 now() - make_interval(secs => $5))
         RETURNING id",
    )
    .bind(job_type)
    .bind(status)
    .bind(wallet)
    .bind(error)
    .bind(f64::from(ago_s))
    .fetch_one(pool)
    .await
    .unwrap()
}

fn failed() -> JobSelection {
    JobSelection::status(JobStatus::Failed)
}

#[tokio::test]
async fn failed_jobs_group_by_their_error_with_ids_and_numbers_ignored() {
    let db = common::fresh_db().await;
    let pool = &db.pool;
    for i in 0..4u32 {
        let message = format!(
            "lease expired on attempt {}: worker {} stopped renewing it; out of retries",
            i + 1,
            Uuid::new_v4()
        );
        job(
            pool,
            "failed",
            "sync",
            &address(i),
            Some(&message),
            60 + i as i32,
        )
        .await;
    }
    for i in 0..2u32 {
        let message = format!(
            "wallet {} holds 19,984.54{i}000 TRX, below gas.min_balance_sun 900.000000 TRX",
            address(10 + i)
        );
        job(
            pool,
            "failed",
            "gas-topup",
            &address(10 + i),
            Some(&message),
            5 + i as i32,
        )
        .await;
    }
    let newest = job(pool, "failed", "consolidation", &address(20), None, 1).await;
    // Completed and cancelled jobs with errors are not failures.
    job(pool, "completed", "sync", &address(30), Some("boom"), 1).await;
    job(pool, "cancelled", "sync", &address(31), Some("boom"), 1).await;

    let failures = jobs::failures(pool, 2).await.unwrap();
    assert_eq!(failures.total, 7);
    assert_eq!(failures.grouped, 7);
    assert_eq!(failures.group_count, 3);
    assert_eq!(failures.groups.len(), 2, "at most as many as asked");
    let lease = &failures.groups[0];
    assert_eq!(lease.count, 4);
    assert_eq!(
        lease.class,
        "lease expired on attempt #: worker … stopped renewing it; out of retries"
    );
    assert_eq!(lease.job_types, ["sync"]);
    assert!(
        lease
            .example
            .starts_with("lease expired on attempt 1: worker ")
    );
    let gas = &failures.groups[1];
    assert_eq!(gas.count, 2);
    assert_eq!(
        gas.class,
        "wallet T… holds # TRX, below gas.min_balance_sun # TRX"
    );
    assert!(gas.newest > lease.newest);

    let all = jobs::failures(pool, 10).await.unwrap();
    let silent = all.groups.iter().find(|g| g.class.is_empty()).unwrap();
    assert_eq!((silent.count, silent.newest_job), (1, newest));
    assert_eq!(silent.job_types, ["consolidation"]);
}

#[tokio::test]
async fn a_filtered_retry_changes_exactly_the_jobs_counted_and_audits_one_row() {
    let db = common::fresh_db().await;
    let pool = &db.pool;
    let (_, ops, viewer) = staff(&db).await;
    let rpc = "TRON node answered 503 after 3 tries";
    let mut expected = Vec::new();
    for i in 0..5u32 {
        expected.push(job(pool, "failed", "sync", &address(i), Some(rpc), 10).await);
    }
    // Two of one wallet and type: the newer one goes back, the other stays.
    let older = job(pool, "failed", "sync", &address(0), Some(rpc), 100).await;
    // A wallet whose sync is already pending: left alone.
    let blocked = job(pool, "failed", "sync", &address(7), Some(rpc), 10).await;
    job(pool, "pending", "sync", &address(7), None, 0).await;
    // Other errors, other types: not selected.
    job(
        pool,
        "failed",
        "sync",
        &address(8),
        Some("contract reverted"),
        10,
    )
    .await;
    job(pool, "failed", "consolidation", &address(9), Some(rpc), 10).await;

    let selection = JobSelection {
        job_type: Some(JobType::Sync),
        error_like: Some("node ANSWERED 503".into()),
        ..failed()
    };
    let shown = jobs::count_selection(pool, BulkAction::Retry, &selection)
        .await
        .unwrap();
    assert_eq!(
        shown,
        BulkCount {
            jobs: 5,
            skipped: 2
        }
    );

    let before = audit_count(pool).await;
    let refused =
        jobs::act_on_selection(&viewer.pool, &viewer, BulkAction::Retry, &selection, None).await;
    assert!(
        matches!(refused, Err(AdminError::Forbidden { .. })),
        "{refused:?}"
    );
    // A count that no longer holds changes nothing.
    let stale =
        jobs::act_on_selection(&ops.pool, &ops, BulkAction::Retry, &selection, Some(4)).await;
    assert!(
        matches!(&stale, Err(AdminError::Conflict(m)) if m.contains("5 jobs match now, not the 4 shown")),
        "{stale:?}"
    );
    // Retry takes failed or cancelled jobs only; empty texts are refused.
    let pending = JobSelection::status(JobStatus::Pending);
    let wrong = jobs::act_on_selection(&ops.pool, &ops, BulkAction::Retry, &pending, None).await;
    assert!(matches!(wrong, Err(AdminError::Invalid(_))), "{wrong:?}");
    let blank = JobSelection {
        error_like: Some(" ".into()),
        ..failed()
    };
    let wrong = jobs::count_selection(pool, BulkAction::Retry, &blank).await;
    assert!(matches!(wrong, Err(AdminError::Invalid(_))), "{wrong:?}");
    assert_eq!(audit_count(pool).await, before);
    assert_eq!(
        count(
            pool,
            "SELECT count(*) FROM job_logs WHERE status = 'failed'"
        )
        .await,
        9
    );

    let done = jobs::act_on_selection(&ops.pool, &ops, BulkAction::Retry, &selection, Some(5))
        .await
        .unwrap();
    assert_eq!(done, shown);
    let retried: Vec<Uuid> = sqlx::query_scalar(
        "SELECT id FROM job_logs WHERE status = 'pending' AND retry_count = 0
            AND error_message IS NOT NULL ORDER BY id",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    expected.sort();
    assert_eq!(retried, expected);
    for id in [older, blocked] {
        let status: String = sqlx::query_scalar("SELECT status FROM job_logs WHERE id = $1")
            .bind(id)
            .fetch_one(pool)
            .await
            .unwrap();
        assert_eq!(status, "failed");
    }
    assert_eq!(audit_count(pool).await, before + 1);
    let (action, target, target_id, details) = last_audit(pool).await;
    assert_eq!((action.as_str(), target.as_str()), ("job.retry", "jobs"));
    assert_eq!(target_id, None);
    assert_eq!(details["rows"], 5);
    assert_eq!(details["skipped"], 2);
    assert_eq!(details["filter"]["status"], "failed");
    assert_eq!(details["filter"]["jobType"], "sync");
    assert_eq!(details["filter"]["errorLike"], "node ANSWERED 503");
}

#[tokio::test]
async fn a_failure_group_is_retried_and_pending_jobs_are_cancelled_by_wallet() {
    let db = common::fresh_db().await;
    let pool = &db.pool;
    let (_, ops, _) = staff(&db).await;
    for i in 0..3u32 {
        let message = format!("transfer {i} reverted: OUT_OF_ENERGY (fee {i}.5 TRX)");
        job(
            pool,
            "failed",
            "consolidation",
            &address(i),
            Some(&message),
            10,
        )
        .await;
    }
    job(
        pool,
        "failed",
        "consolidation",
        &address(5),
        Some("signer refused"),
        10,
    )
    .await;
    let group = jobs::failures(pool, 5).await.unwrap().groups.remove(0);
    assert_eq!(group.count, 3);
    let selection = JobSelection {
        error_class: Some(group.class.clone()),
        ..failed()
    };
    let shown = jobs::count_selection(pool, BulkAction::Retry, &selection)
        .await
        .unwrap();
    assert_eq!(shown.jobs, 3);
    let done = jobs::act_on_selection(&ops.pool, &ops, BulkAction::Retry, &selection, Some(3))
        .await
        .unwrap();
    assert_eq!(done.jobs, 3);
    assert_eq!(jobs::failures(pool, 5).await.unwrap().total, 1);

    // Cancel: the pending jobs of one wallet, none of another's, and never
    // a processing one.
    let mine = address(40);
    job(pool, "pending", "sync", &mine, None, 0).await;
    job(pool, "pending", "gas-topup", &mine, None, 0).await;
    job(pool, "processing", "consolidation", &mine, None, 0).await;
    job(pool, "pending", "sync", &address(41), None, 0).await;
    let selection = JobSelection {
        wallet_address: Some(mine.clone()),
        ..JobSelection::status(JobStatus::Pending)
    };
    let shown = jobs::count_selection(pool, BulkAction::Cancel, &selection)
        .await
        .unwrap();
    assert_eq!(
        shown,
        BulkCount {
            jobs: 2,
            skipped: 0
        }
    );
    let processing = JobSelection {
        wallet_address: Some(mine.clone()),
        ..JobSelection::status(JobStatus::Processing)
    };
    let refused =
        jobs::act_on_selection(&ops.pool, &ops, BulkAction::Cancel, &processing, None).await;
    assert!(
        matches!(refused, Err(AdminError::Invalid(_))),
        "{refused:?}"
    );
    let before = audit_count(pool).await;
    let done = jobs::act_on_selection(&ops.pool, &ops, BulkAction::Cancel, &selection, Some(2))
        .await
        .unwrap();
    assert_eq!(done.jobs, 2);
    assert_eq!(audit_count(pool).await, before + 1);
    let (action, _, _, details) = last_audit(pool).await;
    assert_eq!(action, "job.cancel");
    assert_eq!(details["rows"], 2);
    assert_eq!(details["filter"]["walletAddress"], mine.as_str());
    // The three retried above and the other wallet's.
    assert_eq!(
        count(
            pool,
            "SELECT count(*) FROM job_logs WHERE status = 'pending'"
        )
        .await,
        4
    );
    // Nothing left to cancel: no change, no audit row.
    let none = jobs::act_on_selection(&ops.pool, &ops, BulkAction::Cancel, &selection, None)
        .await
        .unwrap();
    assert_eq!(none.jobs, 0);
    assert_eq!(audit_count(pool).await, before + 1);
}

/// Runs the real binary as `op`'s own database login.
fn cli(op: &common::admin::Op, args: &[&str]) -> std::process::Output {
    common::walletops()
        .env("DATABASE_URL", op.url.expose())
        .args(args)
        .output()
        .expect("run walletops")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[tokio::test]
async fn the_cli_retries_and_cancels_by_filter_only_for_the_count_it_was_shown() {
    let db = common::fresh_db().await;
    let pool = &db.pool;
    let (_, ops, viewer) = staff(&db).await;
    for i in 0..3u32 {
        let message = format!("TRON node timed out after {}ms", 5000 + i);
        job(pool, "failed", "sync", &address(i), Some(&message), 10).await;
    }
    job(
        pool,
        "failed",
        "sync",
        &address(9),
        Some("contract reverted"),
        10,
    )
    .await;
    let failed = "SELECT count(*) FROM job_logs WHERE status = 'failed'";

    let out = cli(&viewer, &["jobs", "failures"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let listed = text(&out.stdout);
    assert!(
        listed.starts_with("4 failed jobs in 2 groups\n"),
        "{listed}"
    );
    // A header row, then the largest group first.
    assert!(
        listed.lines().nth(1).unwrap().starts_with("JOBS"),
        "{listed}"
    );
    assert!(
        listed
            .lines()
            .nth(2)
            .unwrap()
            .trim_start()
            .starts_with("3 "),
        "{listed}"
    );

    let before = audit_count(pool).await;
    let retry = [
        "jobs",
        "retry",
        "--status",
        "failed",
        "--error-like",
        "TIMED OUT",
    ];
    // No terminal to ask on, no --expect or --yes: the count, and no change.
    let out = cli(&ops, &retry);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("3 failed jobs match; nothing changed: pass --expect 3"),
        "{err}"
    );
    // A count that no longer holds: refused, nothing changed.
    let out = cli(&ops, &[&retry[..], &["--expect", "2"]].concat());
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("3 jobs match now, not the 2 shown"),
        "{}",
        text(&out.stderr)
    );
    // A viewer may not; a status retry does not take is refused.
    let out = cli(&viewer, &[&retry[..], &["--yes"]].concat());
    assert!(
        text(&out.stderr).contains("may not"),
        "{}",
        text(&out.stderr)
    );
    let out = cli(&ops, &["jobs", "retry", "--status", "pending", "--yes"]);
    assert!(
        text(&out.stderr).contains("retry takes failed or cancelled jobs"),
        "{}",
        text(&out.stderr)
    );
    // A job id and a filter at once: clap refuses it.
    let id = Uuid::new_v4().to_string();
    let out = cli(&ops, &["jobs", "retry", &id, "--status", "failed"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert_eq!(count(pool, failed).await, 4);
    assert_eq!(audit_count(pool).await, before);

    let out = cli(&ops, &[&retry[..], &["--expect", "3"]].concat());
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "3 failed jobs back to pending\n");
    assert_eq!(count(pool, failed).await, 1);
    assert_eq!(audit_count(pool).await, before + 1);

    // Cancel the pending jobs of one wallet, at once with --yes.
    let wallet = address(1);
    let out = cli(
        &ops,
        &[
            "jobs", "cancel", "--status", "pending", "--wallet", &wallet, "--yes",
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "1 pending job cancelled\n");
    let (action, _, _, details) = last_audit(pool).await;
    assert_eq!(action, "job.cancel");
    assert_eq!(details["filter"]["walletAddress"], wallet.as_str());
}

#[tokio::test]
async fn the_api_counts_retries_and_cancels_a_selection_with_the_same_answer() {
    use common::api::{serve, token};
    use reqwest::StatusCode;
    use serde_json::{Value, json};
    use walletops::admin::Role;

    let db = common::fresh_db().await;
    let pool = &db.pool;
    let (admin_op, _, _) = staff(&db).await;
    let operator = token(&admin_op, Role::Operator).await;
    let viewer = token(&admin_op, Role::Viewer).await;
    let (addr, _stop) = serve(&db, "127.0.0.1:0".parse().unwrap(), Default::default()).await;
    let http = common::admin::http();
    let post = |path: &'static str, token: String, body: Value| {
        let http = http.clone();
        async move {
            let resp = http
                .post(format!("http://{addr}{path}"))
                .bearer_auth(token)
                .json(&body)
                .send()
                .await
                .unwrap();
            (resp.status(), resp.json::<Value>().await.unwrap())
        }
    };
    for i in 0..4u32 {
        job(
            pool,
            "failed",
            "gas-topup",
            &address(i),
            Some("gas wallet is empty"),
            10,
        )
        .await;
    }
    job(
        pool,
        "failed",
        "sync",
        &address(8),
        Some("gas wallet is empty"),
        10,
    )
    .await;

    let groups: Value = http
        .get(format!("http://{addr}/api/admin/jobs/failures?limit=5"))
        .bearer_auth(&viewer)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(groups["total"], 5);
    assert_eq!(groups["groups"][0]["count"], 5);
    let class = groups["groups"][0]["class"].clone();

    let selection = json!({"status": "failed", "jobType": "gas-topup", "errorClass": class});
    let (status, counted) = post(
        "/api/admin/jobs/selection/count",
        viewer.clone(),
        json!({"action": "retry", "selection": selection}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{counted}");
    assert_eq!(counted, json!({"jobs": 4, "skipped": 0}));

    let before = audit_count(pool).await;
    let body = json!({"selection": selection, "expect": 4});
    let (status, v) = post(
        "/api/admin/jobs/selection/retry",
        viewer.clone(),
        body.clone(),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{v}");
    let (status, v) = post(
        "/api/admin/jobs/selection/retry",
        operator.clone(),
        json!({"selection": selection, "expect": 5}),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{v}");
    let (status, v) = post(
        "/api/admin/jobs/selection/cancel",
        operator.clone(),
        json!({"selection": selection}),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    let (status, v) = post(
        "/api/admin/jobs/selection/retry",
        operator.clone(),
        json!({"selection": {"status": "failed", "where": "1=1"}}),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert_eq!(audit_count(pool).await, before);

    let (status, v) = post("/api/admin/jobs/selection/retry", operator.clone(), body).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["jobs"], 4);
    assert_eq!(audit_count(pool).await, before + 1);
    let (_, _, _, details) = last_audit(pool).await;
    assert_eq!(details["actor"]["token_name"], "operator-token");
    assert_eq!(details["rows"], 4);
}

#[tokio::test]
async fn the_reset_confirmation_counts_the_wallets_the_reset_releases() {
    let db = common::fresh_db().await;
    let pool = &db.pool;
    let (_, ops, _) = staff(&db).await;
    let (wallet_id, _, addr) = common::admin::wallet(pool, 1, "a@example.com", "A").await;
    let (live_wallet, _, live_addr) = common::admin::wallet(pool, 2, "b@example.com", "B").await;
    // One wallet still flagged by a job that finished, one by a live job.
    let done = job(pool, "completed", "sync", &addr, None, 5).await;
    let live = common::admin::job(pool, "processing", "sync", &live_addr).await;
    for (wallet, job) in [(wallet_id, done), (live_wallet, live)] {
        sqlx::query(
            "UPDATE user_wallets SET is_processing = true, processing_job_id = $2,
                    processing_since = now() WHERE id = $1",
        )
        .bind(wallet)
        .bind(job)
        .execute(pool)
        .await
        .unwrap();
    }
    // No job is stuck, yet the reset has a wallet to release: the console
    // shows it and offers the reset (it said "nothing to do" before).
    let data = walletops::admin::console::read(pool, "", 30).await.unwrap();
    assert_eq!((data.stuck_total, data.orphaned_wallets), (0, 1));
    let reset = jobs::reset_processing(&ops.pool, &ops).await.unwrap();
    assert_eq!(reset.wallets, [addr]);
    assert_eq!(jobs::orphaned_wallets(pool).await.unwrap(), 0);
}

#[tokio::test]
async fn the_groups_cover_the_newest_failures_and_the_total_counts_them_all() {
    let db = common::fresh_db().await;
    let pool = &db.pool;
    let cap = walletops::admin::jobs::GROUPED_AT_MOST;
    sqlx::query(
        "INSERT INTO job_logs (job_type, status, wallet_address, error_message, finished_at)
         SELECT 'sync', 'failed', 'T' || g, 'node timed out after ' || g || ' ms', now()
           FROM generate_series(1, $1) g",
    )
    .bind(cap + 10)
    .execute(pool)
    .await
    .unwrap();
    let failures = jobs::failures(pool, 3).await.unwrap();
    assert_eq!(failures.total, cap as u64 + 10);
    assert_eq!(failures.grouped, cap as u64);
    assert_eq!(failures.groups[0].count, cap);
    // What an action on the group counts is every failed job of it.
    let selection = JobSelection {
        error_class: Some(failures.groups[0].class.clone()),
        ..failed()
    };
    let count = jobs::count_selection(pool, BulkAction::Retry, &selection)
        .await
        .unwrap();
    assert_eq!(count.jobs, cap as u64 + 10);
}
