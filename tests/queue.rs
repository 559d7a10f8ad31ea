//! The queue against a real PostgreSQL: enqueue and deduplication, operator
//! actions, claims, guarded outcomes, backoff, dead letters, rescue and the
//! maintained counts.

mod common;

use std::time::Duration;

use chrono::Utc;
use sqlx::PgPool;
use uuid::Uuid;
use walletops::jobs::schedule;
use walletops::queue::{
    self, Finish, JobFilter, JobStatus, JobType, NewJob, Outcome, QueueError, maintenance,
};

const LEASE: Duration = Duration::from_secs(30);
const BASE: Duration = Duration::from_secs(5);
const CAP: Duration = Duration::from_secs(600);

/// A `workers` row to hold leases (a claim checks that its holder has one).
async fn worker(pool: &PgPool) -> Uuid {
    let id = Uuid::new_v4();
    sqlx::query("INSERT INTO workers (id, host, pid, version) VALUES ($1, 'test', 1, 'test')")
        .bind(id)
        .execute(pool)
        .await
        .unwrap();
    id
}

fn wallet_job(t: JobType, address: &str) -> NewJob {
    NewJob {
        wallet_address: Some(address.to_string()),
        ..NewJob::new(t)
    }
}

async fn status_of(pool: &PgPool, id: Uuid) -> queue::Job {
    queue::get(&mut pool.acquire().await.unwrap(), id)
        .await
        .unwrap()
}

/// Counts must equal a full scan, whoever wrote the rows.
async fn assert_counts_match_scan(pool: &PgPool) {
    let counts = queue::counts(pool).await.unwrap();
    let scanned: Vec<(String, String, i64)> = sqlx::query_as(
        "SELECT status, job_type, count(*) FROM job_logs GROUP BY 1, 2 ORDER BY 1, 2",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    for t in JobType::ALL {
        let by_type = counts.by_type.iter().find(|(x, _)| x == t).unwrap().1;
        for s in JobStatus::ALL {
            let expected = scanned
                .iter()
                .find(|(st, ty, _)| st == s.as_str() && ty == t.as_str())
                .map_or(0, |r| r.2);
            let got = match s {
                JobStatus::Pending => by_type.pending,
                JobStatus::Processing => by_type.processing,
                JobStatus::Completed => by_type.completed,
                JobStatus::Failed => by_type.failed,
                JobStatus::Cancelled => by_type.cancelled,
            };
            assert_eq!(got, expected, "count of {t} {s}");
        }
    }
    let total: i64 = scanned.iter().map(|r| r.2).sum();
    assert_eq!(counts.total.total(), total);
}

#[tokio::test]
async fn concurrent_duplicate_dispatch_returns_the_one_existing_job() {
    let db = common::fresh_db().await;
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let pool = db.pool.clone();
        tasks.push(tokio::spawn(async move {
            let mut conn = pool.acquire().await.unwrap();
            queue::enqueue(&mut conn, &wallet_job(JobType::Sync, "TDup"))
                .await
                .unwrap()
        }));
    }
    let mut results = Vec::new();
    for t in tasks {
        results.push(t.await.unwrap());
    }
    let created: Vec<_> = results.iter().filter(|r| r.created).collect();
    assert_eq!(created.len(), 1, "exactly one dispatch creates the job");
    assert!(results.iter().all(|r| r.job.id == created[0].job.id));
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM job_logs")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(rows, 1);

    // Another type for the same wallet is a separate job; once the first
    // finishes, the same type may be queued again.
    let mut conn = db.pool.acquire().await.unwrap();
    let other = queue::enqueue(&mut conn, &wallet_job(JobType::Consolidation, "TDup"))
        .await
        .unwrap();
    assert!(other.created);
    queue::cancel(&mut conn, created[0].job.id).await.unwrap();
    let again = queue::enqueue(&mut conn, &wallet_job(JobType::Sync, "TDup"))
        .await
        .unwrap();
    assert!(again.created);
    assert_ne!(again.job.id, created[0].job.id);
    // Retrying the cancelled one now would make a second active sync.
    let err = queue::retry(&mut conn, created[0].job.id)
        .await
        .unwrap_err();
    assert!(
        matches!(err, QueueError::Duplicate { existing, .. } if existing == again.job.id),
        "{err}"
    );
}

#[tokio::test]
async fn enqueue_inside_a_rolled_back_transaction_leaves_nothing() {
    let db = common::fresh_db().await;
    let mut tx = db.pool.begin().await.unwrap();
    let e = queue::enqueue(&mut tx, &wallet_job(JobType::GasTopup, "TTx"))
        .await
        .unwrap();
    assert!(e.created);
    assert_eq!(e.job.job_type, Some(JobType::GasTopup));
    assert_eq!(e.job.max_retries, Some(3), "from queue.max_retries");
    tx.rollback().await.unwrap();
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM job_logs")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(rows, 0);
    assert_counts_match_scan(&db.pool).await;
}

#[tokio::test]
async fn enqueue_many_inserts_in_one_statement_and_skips_active_duplicates() {
    let db = common::fresh_db().await;
    let mut conn = db.pool.acquire().await.unwrap();
    queue::enqueue(&mut conn, &wallet_job(JobType::Sync, "TA"))
        .await
        .unwrap();
    let mut jobs: Vec<NewJob> = (0..1000).map(|_| NewJob::new(JobType::Sync)).collect();
    jobs.push(wallet_job(JobType::Sync, "TA"));
    jobs.push(wallet_job(JobType::Sync, "TB"));
    let inserted = queue::enqueue_many(&db.pool, &jobs).await.unwrap();
    assert_eq!(inserted, 1001, "TA already had a pending sync");
    assert_eq!(queue::enqueue_many(&db.pool, &[]).await.unwrap(), 0);
    assert_counts_match_scan(&db.pool).await;
    assert_eq!(queue::counts(&db.pool).await.unwrap().total.pending, 1002);
}

#[tokio::test]
async fn operator_actions_apply_only_to_the_states_they_name() {
    let db = common::fresh_db().await;
    let holder = worker(&db.pool).await;
    let mut conn = db.pool.acquire().await.unwrap();
    let job = queue::enqueue(&mut conn, &wallet_job(JobType::Sync, "TOp"))
        .await
        .unwrap()
        .job;

    // Pending: retry refused, cancel works, cancel again refused.
    let err = queue::retry(&mut conn, job.id).await.unwrap_err();
    assert!(matches!(err, QueueError::InvalidState { .. }), "{err}");
    let cancelled = queue::cancel(&mut conn, job.id).await.unwrap();
    assert_eq!(cancelled.status, Some(JobStatus::Cancelled));
    assert!(cancelled.finished_at.is_some());
    assert!(matches!(
        queue::cancel(&mut conn, job.id).await.unwrap_err(),
        QueueError::InvalidState { .. }
    ));
    // Retry of a cancelled job: pending, due now, fresh retries.
    let retried = queue::retry(&mut conn, job.id).await.unwrap();
    assert_eq!(retried.status, Some(JobStatus::Pending));
    assert_eq!(retried.retry_count, Some(0));

    // Processing: cancel refused, the row is unchanged.
    let claimed = queue::claim(&db.pool, holder, 10, LEASE).await.unwrap();
    assert_eq!(claimed.len(), 1);
    let err = queue::cancel(&mut conn, job.id).await.unwrap_err();
    assert!(
        err.to_string().contains("is processing"),
        "clear message: {err}"
    );
    assert_eq!(
        status_of(&db.pool, job.id).await.status,
        Some(JobStatus::Processing)
    );

    // Unknown ids.
    let missing = Uuid::new_v4();
    assert!(matches!(
        queue::cancel(&mut conn, missing).await.unwrap_err(),
        QueueError::NotFound(id) if id == missing
    ));
    assert!(matches!(
        queue::get(&mut conn, missing).await.unwrap_err(),
        QueueError::NotFound(_)
    ));
    assert_counts_match_scan(&db.pool).await;
}

/// New jobs get time-ordered (version 7) ids, so that their primary-key
/// entries land together however large the table grows.
#[tokio::test]
async fn job_ids_are_time_ordered() {
    let db = common::fresh_db().await;
    let mut ids = Vec::new();
    for _ in 0..3 {
        let job = NewJob {
            wallet_address: Some(format!("T{}", ids.len())),
            ..NewJob::new(JobType::Sync)
        };
        let mut conn = db.pool.acquire().await.unwrap();
        let enqueued = queue::enqueue(&mut conn, &job).await.unwrap();
        ids.push(enqueued.job);
        tokio::time::sleep(Duration::from_millis(3)).await;
    }
    for job in &ids {
        assert_eq!(job.id.get_version_num(), 7, "{}", job.id);
        let mut millis = [0u8; 8];
        millis[2..].copy_from_slice(&job.id.as_bytes()[..6]);
        let millis = i64::from_be_bytes(millis);
        let created = job.created_at.unwrap().timestamp_millis();
        assert!((millis - created).abs() < 1000, "{millis} vs {created}");
    }
    assert!(
        ids.windows(2).all(|w| w[0].id < w[1].id),
        "ids grow with time"
    );
}

/// The holder is checked once per claim (there is no per-row foreign key):
/// a worker that never registered claims nothing and changes nothing.
#[tokio::test]
async fn an_unregistered_worker_claims_nothing() {
    let db = common::fresh_db().await;
    queue::enqueue_many(&db.pool, &[NewJob::new(JobType::Sync)])
        .await
        .unwrap();
    let err = queue::claim(&db.pool, Uuid::new_v4(), 10, LEASE)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("is not registered"), "{err}");
    let (status, attempt): (String, i32) = sqlx::query_as("SELECT status, attempt FROM job_logs")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!((status.as_str(), attempt), ("pending", 0));
    let a = worker(&db.pool).await;
    assert_eq!(queue::claim(&db.pool, a, 10, LEASE).await.unwrap().len(), 1);
}

#[tokio::test]
async fn claims_are_exclusive_and_by_priority_then_due_time() {
    let db = common::fresh_db().await;
    let a = worker(&db.pool).await;
    let b = worker(&db.pool).await;
    let low = NewJob::new(JobType::Sync);
    let high = NewJob {
        priority: 5,
        ..NewJob::new(JobType::Sync)
    };
    let later = NewJob {
        run_at: Some(Utc::now() + chrono::Duration::hours(1)),
        priority: 9,
        ..NewJob::new(JobType::Sync)
    };
    queue::enqueue_many(&db.pool, &[low.clone(), high, later, low])
        .await
        .unwrap();
    let first = queue::claim(&db.pool, a, 1, LEASE).await.unwrap();
    assert_eq!(first[0].priority, 5, "highest due priority first");
    assert_eq!(first[0].attempt, 1);
    assert_eq!(first[0].locked_by, Some(a));
    assert!(first[0].locked_until.unwrap() > Utc::now() + chrono::Duration::seconds(25));
    let rest = queue::claim(&db.pool, b, 10, LEASE).await.unwrap();
    assert_eq!(rest.len(), 2, "the job due in an hour is not claimed");
    assert!(rest.iter().all(|j| j.id != first[0].id));
    assert!(
        queue::claim(&db.pool, a, 10, LEASE)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(queue::next_due(&db.pool).await.unwrap().unwrap() > Utc::now());
}

#[tokio::test]
async fn outcomes_are_batched_and_a_late_answer_after_a_lost_lease_changes_nothing() {
    let db = common::fresh_db().await;
    let a = worker(&db.pool).await;
    let b = worker(&db.pool).await;
    let jobs: Vec<NewJob> = (0..3).map(|_| NewJob::new(JobType::Sync)).collect();
    queue::enqueue_many(&db.pool, &jobs).await.unwrap();
    let held = queue::claim(&db.pool, a, 3, LEASE).await.unwrap();

    // Job 0's lease runs out; rescue takes it back and b claims it.
    sqlx::query("UPDATE job_logs SET locked_until = now() - interval '1 second' WHERE id = $1")
        .bind(held[0].id)
        .execute(&db.pool)
        .await
        .unwrap();
    let rescued = queue::reset_stuck(&mut db.pool.acquire().await.unwrap())
        .await
        .unwrap();
    assert_eq!(rescued, 1);
    let rescued_job = status_of(&db.pool, held[0].id).await;
    assert_eq!(rescued_job.status, Some(JobStatus::Pending));
    assert_eq!(
        rescued_job.retry_count,
        Some(1),
        "a crash counts as a retry"
    );
    // The worker is named as people know it (host:pid), not by its id.
    let message = rescued_job.error_message.as_deref().unwrap();
    assert!(message.contains("lease expired"), "{message}");
    assert!(message.contains("worker test:1 stopped"), "{message}");
    assert!(!message.contains(&a.to_string()), "{message}");
    let by_b = queue::claim(&db.pool, b, 10, LEASE).await.unwrap();
    assert_eq!(by_b.len(), 1);
    assert_eq!(by_b[0].attempt, 2);

    // a's heartbeat shows it lost job 0 and still holds the others.
    let still: Vec<(Uuid, i32)> = held.iter().map(|j| (j.id, j.attempt)).collect();
    let renewed = queue::heartbeat(&db.pool, a, &still, LEASE).await.unwrap();
    assert_eq!(renewed.len(), 2);
    assert!(!renewed.contains(&held[0].id));

    // a completes all three in one statement: job 0's answer is refused.
    let outcomes: Vec<Finish> = held
        .iter()
        .map(|j| Finish {
            job_id: j.id,
            attempt: j.attempt,
            outcome: Outcome::Complete,
        })
        .collect();
    let applied = queue::finish(&db.pool, a, &outcomes, BASE, CAP)
        .await
        .unwrap();
    assert_eq!(applied.len(), 2);
    assert!(
        applied
            .iter()
            .all(|(id, s)| *id != held[0].id && *s == JobStatus::Completed)
    );
    let j0 = status_of(&db.pool, held[0].id).await;
    assert_eq!(j0.status, Some(JobStatus::Processing));
    assert_eq!(j0.locked_by, Some(b));

    // The same attempt number from another holder is refused too.
    let forged = Finish {
        job_id: by_b[0].id,
        attempt: by_b[0].attempt,
        outcome: Outcome::Fail("forged".into()),
    };
    assert!(
        queue::finish(&db.pool, a, &[forged], BASE, CAP)
            .await
            .unwrap()
            .is_empty()
    );
    // The same holder reclaiming a rescued job: its answer for the old
    // attempt is refused, only the current attempt counts.
    queue::enqueue_many(&db.pool, &[NewJob::new(JobType::GasTopup)])
        .await
        .unwrap();
    let first = queue::claim(&db.pool, a, 1, Duration::from_millis(1))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(20)).await;
    queue::reset_stuck(&mut db.pool.acquire().await.unwrap())
        .await
        .unwrap();
    let second = queue::claim(&db.pool, a, 1, LEASE).await.unwrap();
    assert_eq!(second[0].id, first[0].id);
    assert_eq!(second[0].attempt, first[0].attempt + 1);
    let late = Finish {
        job_id: first[0].id,
        attempt: first[0].attempt,
        outcome: Outcome::Complete,
    };
    assert!(
        queue::finish(&db.pool, a, &[late], BASE, CAP)
            .await
            .unwrap()
            .is_empty()
    );
    let again = status_of(&db.pool, first[0].id).await;
    assert_eq!(again.status, Some(JobStatus::Processing));
    assert_eq!(again.attempt, second[0].attempt);
    assert!(
        queue::heartbeat(&db.pool, a, &[(first[0].id, first[0].attempt)], LEASE)
            .await
            .unwrap()
            .is_empty(),
        "the old attempt's lease is not renewed either"
    );
    queue::finish(
        &db.pool,
        a,
        &[Finish {
            job_id: second[0].id,
            attempt: second[0].attempt,
            outcome: Outcome::Complete,
        }],
        BASE,
        CAP,
    )
    .await
    .unwrap();

    // A rescue after completion changes nothing either.
    let done = queue::finish(
        &db.pool,
        b,
        &[Finish {
            job_id: by_b[0].id,
            attempt: 2,
            outcome: Outcome::Complete,
        }],
        BASE,
        CAP,
    )
    .await
    .unwrap();
    assert_eq!(done, vec![(by_b[0].id, JobStatus::Completed)]);
    sqlx::query("UPDATE job_logs SET locked_until = now() - interval '1 second'")
        .execute(&db.pool)
        .await
        .unwrap();
    assert_eq!(
        queue::reset_stuck(&mut db.pool.acquire().await.unwrap())
            .await
            .unwrap(),
        0
    );
    assert_eq!(queue::counts(&db.pool).await.unwrap().total.completed, 4);
    assert_counts_match_scan(&db.pool).await;
}

#[tokio::test]
async fn retries_follow_the_backoff_and_dead_letters_keep_the_last_error() {
    let db = common::fresh_db().await;
    let holder = worker(&db.pool).await;
    let mut conn = db.pool.acquire().await.unwrap();
    let id = queue::enqueue(&mut conn, &NewJob::new(JobType::Sync))
        .await
        .unwrap()
        .job
        .id;
    let base = Duration::from_secs(10);
    let cap = Duration::from_secs(25);
    // max_retries 3: failures 1 and 2 wait base*1 and base*2 (less up to a
    // quarter of jitter), failure 3 is final.
    for (n, expected) in [(1, Some(10.0)), (2, Some(20.0)), (3, None)] {
        sqlx::query("UPDATE job_logs SET run_at = now() WHERE id = $1")
            .bind(id)
            .execute(&db.pool)
            .await
            .unwrap();
        let claimed = queue::claim(&db.pool, holder, 1, LEASE).await.unwrap();
        assert_eq!(claimed.len(), 1);
        let before = Utc::now();
        let applied = queue::finish(
            &db.pool,
            holder,
            &[Finish {
                job_id: id,
                attempt: claimed[0].attempt,
                outcome: Outcome::Retry(format!("boom {n}")),
            }],
            base,
            cap,
        )
        .await
        .unwrap();
        let job = status_of(&db.pool, id).await;
        assert_eq!(job.retry_count, Some(n));
        assert_eq!(
            job.error_message.as_deref(),
            Some(format!("boom {n}").as_str())
        );
        match expected {
            Some(secs) => {
                assert_eq!(applied, vec![(id, JobStatus::Pending)]);
                let delay = (job.run_at - before).as_seconds_f64();
                assert!(
                    delay > secs * 0.75 - 1.0 && delay <= secs + 1.0,
                    "retry {n}: delay {delay}s, expected about {secs}s"
                );
                assert!(
                    queue::claim(&db.pool, holder, 1, LEASE)
                        .await
                        .unwrap()
                        .is_empty()
                );
            }
            None => {
                assert_eq!(applied, vec![(id, JobStatus::Failed)]);
                assert!(job.finished_at.is_some());
            }
        }
    }
    // The cap: a job on its fourth retry would wait base*8 = 80s, capped at 25s.
    let capped = queue::enqueue(&mut conn, &NewJob::new(JobType::Sync))
        .await
        .unwrap()
        .job
        .id;
    sqlx::query("UPDATE job_logs SET retry_count = 3, max_retries = 10 WHERE id = $1")
        .bind(capped)
        .execute(&db.pool)
        .await
        .unwrap();
    let c = queue::claim(&db.pool, holder, 1, LEASE).await.unwrap();
    let before = Utc::now();
    queue::finish(
        &db.pool,
        holder,
        &[Finish {
            job_id: capped,
            attempt: c[0].attempt,
            outcome: Outcome::Retry("again".into()),
        }],
        base,
        cap,
    )
    .await
    .unwrap();
    let delay = (status_of(&db.pool, capped).await.run_at - before).as_seconds_f64();
    assert!(
        delay <= 26.0 && delay > 25.0 * 0.75 - 1.0,
        "capped delay {delay}"
    );

    // Fail is final at once; snooze uses no retry.
    let jobs: Vec<NewJob> = (0..2)
        .map(|_| NewJob::new(JobType::Consolidation))
        .collect();
    queue::enqueue_many(&db.pool, &jobs).await.unwrap();
    let two = queue::claim(&db.pool, holder, 2, LEASE).await.unwrap();
    let until = Utc::now() + chrono::Duration::minutes(3);
    queue::finish(
        &db.pool,
        holder,
        &[
            Finish {
                job_id: two[0].id,
                attempt: two[0].attempt,
                outcome: Outcome::Fail("bad address".into()),
            },
            Finish {
                job_id: two[1].id,
                attempt: two[1].attempt,
                outcome: Outcome::Snooze(until),
            },
        ],
        base,
        cap,
    )
    .await
    .unwrap();
    let failed = status_of(&db.pool, two[0].id).await;
    assert_eq!(failed.status, Some(JobStatus::Failed));
    assert_eq!(failed.retry_count, Some(1));
    let snoozed = status_of(&db.pool, two[1].id).await;
    assert_eq!(snoozed.status, Some(JobStatus::Pending));
    assert_eq!(snoozed.retry_count, Some(0));
    assert!((snoozed.run_at - until).num_milliseconds().abs() < 2);

    // The dead-letter set is exactly the two failed jobs, with their errors.
    let dead = queue::list(
        &mut conn,
        &JobFilter {
            status: Some(JobStatus::Failed),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let mut errors: Vec<_> = dead
        .iter()
        .map(|j| j.error_message.clone().unwrap())
        .collect();
    errors.sort();
    assert_eq!(errors, ["bad address", "boom 3"]);
    assert_eq!(queue::clear_failed(&mut conn).await.unwrap(), 2);
    assert_counts_match_scan(&db.pool).await;
    assert_eq!(queue::counts(&db.pool).await.unwrap().total.failed, 0);
}

#[tokio::test]
async fn rescue_fails_a_job_out_of_retries_with_a_message_saying_so() {
    let db = common::fresh_db().await;
    let holder = worker(&db.pool).await;
    let mut conn = db.pool.acquire().await.unwrap();
    let id = queue::enqueue(&mut conn, &NewJob::new(JobType::Sync))
        .await
        .unwrap()
        .job
        .id;
    sqlx::query("UPDATE job_logs SET retry_count = 2 WHERE id = $1")
        .bind(id)
        .execute(&db.pool)
        .await
        .unwrap();
    queue::claim(&db.pool, holder, 1, Duration::from_millis(1))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert_eq!(queue::stuck_count(&db.pool).await.unwrap(), 1);
    let out = queue::rescue_expired(&mut conn).await.unwrap();
    assert_eq!((out.requeued, out.failed), (0, 1));
    let job = status_of(&db.pool, id).await;
    assert_eq!(job.status, Some(JobStatus::Failed));
    let msg = job.error_message.unwrap();
    assert!(
        msg.contains("lease expired") && msg.contains("out of retries"),
        "{msg}"
    );
    assert_eq!(queue::stuck_count(&db.pool).await.unwrap(), 0);
}

#[tokio::test]
async fn rescue_never_fails_a_job_whose_own_transfer_may_still_land() {
    let db = common::fresh_db().await;
    let holder = worker(&db.pool).await;
    let mut conn = db.pool.acquire().await.unwrap();
    let wallet: Uuid = sqlx::query_scalar(
        "INSERT INTO user_wallets (address) VALUES ('TEffectsOpen') RETURNING id",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    let mut jobs = Vec::new();
    // The first job's transfer is broadcast and unresolved; the second's expired.
    for (n, status) in ["broadcast", "expired"].into_iter().enumerate() {
        let id = queue::enqueue(&mut conn, &NewJob::new(JobType::Consolidation))
            .await
            .unwrap()
            .job
            .id;
        sqlx::query("UPDATE job_logs SET retry_count = 2 WHERE id = $1")
            .bind(id)
            .execute(&db.pool)
            .await
            .unwrap();
        sqlx::query(
            "INSERT INTO transfers (wallet_id, job_id, kind, asset, from_address, to_address,
                                    amount, tx_id, signed_tx, expires_at, status)
             VALUES ($1, $2, 'consolidation-usdt', 'usdt', 'TEffectsOpen', 'TTreasury', 5,
                     $3, '\\x00', now() + interval '1 minute', $4)",
        )
        .bind(wallet)
        .bind(id)
        .bind(format!("{n:064}"))
        .bind(status)
        .execute(&db.pool)
        .await
        .unwrap();
        jobs.push(id);
    }
    queue::claim(&db.pool, holder, 2, Duration::from_millis(1))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(20)).await;
    let out = queue::rescue_expired(&mut conn).await.unwrap();
    assert_eq!((out.requeued, out.failed), (1, 1));
    let open = status_of(&db.pool, jobs[0]).await;
    assert_eq!(
        open.status,
        Some(JobStatus::Pending),
        "its transfer may still land"
    );
    let msg = open.error_message.unwrap();
    assert!(msg.contains("may still land"), "{msg}");
    assert_eq!(
        status_of(&db.pool, jobs[1]).await.status,
        Some(JobStatus::Failed),
        "nothing of its own can land any more"
    );
}

/// Entries of `index` that scans have returned so far, as seen after this
/// session's statistics are flushed.
async fn index_entries_read(conn: &mut sqlx::PgConnection, index: &str) -> i64 {
    sqlx::query("SELECT pg_stat_force_next_flush()")
        .execute(&mut *conn)
        .await
        .unwrap();
    sqlx::query_scalar("SELECT idx_tup_read FROM pg_stat_user_indexes WHERE indexrelname = $1")
        .bind(index)
        .fetch_one(&mut *conn)
        .await
        .unwrap()
}

/// The rescue reads the expired leases only, not every job held: a rescue
/// that walked all live leases ran for minutes under a fast drain (claims
/// kept adding leases ahead of it) and its snapshot slowed every claim.
#[tokio::test]
async fn rescue_and_the_stuck_count_read_only_expired_leases() {
    let db = common::fresh_db().await;
    let holder = worker(&db.pool).await;
    let jobs: Vec<NewJob> = (0..2000).map(|_| NewJob::new(JobType::Sync)).collect();
    queue::enqueue_many(&db.pool, &jobs).await.unwrap();
    // Statistics taken while nothing was held, as autovacuum leaves them
    // between bursts: the planner then expects next to no processing rows.
    sqlx::query("ANALYZE job_logs")
        .execute(&db.pool)
        .await
        .unwrap();
    let held = queue::claim(&db.pool, holder, 2000, LEASE).await.unwrap();
    assert_eq!(held.len(), 2000);
    sqlx::query(
        "UPDATE job_logs SET locked_until = now() - interval '1 second' WHERE id = ANY($1)",
    )
    .bind([held[0].id, held[1].id])
    .execute(&db.pool)
    .await
    .unwrap();

    let mut conn = db.pool.acquire().await.unwrap();
    let before = index_entries_read(&mut conn, "job_logs_lease").await;
    assert_eq!(queue::stuck_count(&db.pool).await.unwrap(), 2);
    let out = queue::rescue_expired(&mut conn).await.unwrap();
    assert_eq!((out.requeued, out.failed), (2, 0));
    let read = index_entries_read(&mut conn, "job_logs_lease").await - before;
    assert!(
        read < 100,
        "read {read} lease entries to rescue 2 of 2000 held jobs"
    );
}

#[tokio::test]
async fn counts_stay_exact_under_plain_sql_and_maintenance_folds_them() {
    let db = common::fresh_db().await;
    sqlx::query(
        "INSERT INTO job_logs (job_type, status, wallet_address)
         SELECT (ARRAY['sync', 'consolidation', 'gas-topup'])[1 + i % 3],
                (ARRAY['pending', 'completed', 'failed', 'cancelled'])[1 + i % 4], NULL
           FROM generate_series(1, 5000) i",
    )
    .execute(&db.pool)
    .await
    .unwrap();
    sqlx::query(
        "UPDATE job_logs SET status = 'completed' WHERE status = 'pending' AND job_type = 'sync'",
    )
    .execute(&db.pool)
    .await
    .unwrap();
    sqlx::query("DELETE FROM job_logs WHERE status = 'cancelled' AND job_type = 'gas-topup'")
        .execute(&db.pool)
        .await
        .unwrap();
    // A heartbeat-like update writes no delta.
    let deltas_before: i64 = sqlx::query_scalar("SELECT count(*) FROM job_count_deltas")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    sqlx::query("UPDATE job_logs SET priority = 1")
        .execute(&db.pool)
        .await
        .unwrap();
    let deltas_after: i64 = sqlx::query_scalar("SELECT count(*) FROM job_count_deltas")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(deltas_before, deltas_after);
    assert_counts_match_scan(&db.pool).await;

    let mut leader = maintenance::try_lead(&db.pool).await.unwrap().unwrap();
    assert!(
        maintenance::try_lead(&db.pool).await.unwrap().is_none(),
        "one leader per database"
    );
    leader.tick().await.unwrap();
    let deltas: i64 = sqlx::query_scalar("SELECT count(*) FROM job_count_deltas")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(deltas, 0, "maintenance folded the deltas");
    assert_counts_match_scan(&db.pool).await;
    leader.resign().await;
    let mut leader = maintenance::try_lead(&db.pool).await.unwrap().unwrap();

    // A leader that stopped renewing (paused, or dead) loses the lease once
    // it runs out: another process leads, and the old one steps down at its
    // next piece of work instead of running maintenance beside it.
    sqlx::query("UPDATE maintenance_leader SET renewed_at = now() - $1 * interval '1 second' - interval '1 second'")
        .bind(maintenance::LEADER_LEASE.as_secs_f64())
        .execute(&db.pool)
        .await
        .unwrap();
    let mut successor = maintenance::try_lead(&db.pool).await.unwrap().unwrap();
    assert!(matches!(
        leader.tick().await,
        Err(walletops::queue::QueueError::LeadershipLost)
    ));
    successor.tick().await.unwrap();
    successor.resign().await;

    sqlx::query("TRUNCATE job_logs CASCADE")
        .execute(&db.pool)
        .await
        .unwrap();
    assert_eq!(queue::counts(&db.pool).await.unwrap().total.total(), 0);
}

#[tokio::test]
async fn retention_deletes_old_finished_jobs_in_batches_and_keeps_the_rest() {
    let db = common::fresh_db().await;
    sqlx::query(
        "INSERT INTO job_logs (job_type, status, finished_at)
         SELECT 'sync', s, now() - make_interval(days => d)
           FROM unnest(ARRAY['completed', 'cancelled', 'failed', 'completed', 'failed'],
                       ARRAY[8, 8, 8, 1, 91]) AS x(s, d),
                generate_series(1, 3000)",
    )
    .execute(&db.pool)
    .await
    .unwrap();
    let pending = queue::enqueue_many(&db.pool, &[NewJob::new(JobType::Sync)])
        .await
        .unwrap();
    assert_eq!(pending, 1);
    let mut leader = maintenance::try_lead(&db.pool).await.unwrap().unwrap();
    let config = queue::QueueConfig::load(&mut db.pool.acquire().await.unwrap())
        .await
        .unwrap();
    let deleted = leader.retention(&config).await.unwrap();
    assert_eq!(
        deleted, 9000,
        "8-day completed and cancelled, 91-day failed"
    );
    let left: Vec<(String, i64)> =
        sqlx::query_as("SELECT status, count(*) FROM job_logs GROUP BY 1 ORDER BY 1")
            .fetch_all(&db.pool)
            .await
            .unwrap();
    assert_eq!(
        left,
        vec![
            ("completed".to_string(), 3000),
            ("failed".to_string(), 3000),
            ("pending".to_string(), 1)
        ]
    );
    assert_counts_match_scan(&db.pool).await;
}

/// Periodic sync reaches every stale wallet however many there are, in
/// batches, once each: wallets with a sync already queued and wallets synced
/// recently are left alone.
#[tokio::test]
async fn periodic_sync_queues_every_stale_wallet_once_in_batches() {
    let db = common::fresh_db().await;
    let stale = 2 * schedule::SYNC_BATCH + 123;
    sqlx::query(
        "INSERT INTO user_wallets (address, last_synced_at)
         SELECT 'TSync' || i, CASE WHEN i % 10 = 0 THEN now() END
           FROM generate_series(1, $1) i",
    )
    .bind(stale)
    .execute(&db.pool)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO job_logs (job_type, status, wallet_address)
         SELECT 'sync', 'pending', 'TSync' || i FROM generate_series(1, 500) i WHERE i % 10 <> 0",
    )
    .execute(&db.pool)
    .await
    .unwrap();
    let mut leader = maintenance::try_lead(&db.pool).await.unwrap().unwrap();
    let queued = schedule::schedule_syncs(&mut leader, Duration::from_secs(600))
        .await
        .unwrap();
    let due = stale - stale / 10;
    assert_eq!(
        queued as i64,
        due - 450,
        "every stale wallet without a queued sync"
    );
    assert_eq!(
        schedule::schedule_syncs(&mut leader, Duration::from_secs(600))
            .await
            .unwrap(),
        0
    );
    let (active, wallets): (i64, i64) = sqlx::query_as(
        "SELECT count(*), count(DISTINCT wallet_address) FROM job_logs
          WHERE job_type = 'sync' AND status = 'pending'",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!((active, wallets), (due, due));
}

/// A search that matches few jobs reads few index entries: the address and
/// email matches are looked up, not filtered out of a newest-first walk.
#[tokio::test]
async fn a_rare_search_does_not_walk_the_whole_table() {
    let db = common::fresh_db().await;
    sqlx::query(
        "INSERT INTO job_logs (job_type, status, wallet_address, finished_at)
         SELECT 'sync', 'completed', 'TCommon' || (i % 50), now() FROM generate_series(1, 5000) i",
    )
    .execute(&db.pool)
    .await
    .unwrap();
    sqlx::query("ANALYZE job_logs")
        .execute(&db.pool)
        .await
        .unwrap();
    let mut conn = db.pool.acquire().await.unwrap();
    let before = index_entries_read(&mut conn, "job_logs_created_id").await;
    let filter = JobFilter {
        search: Some("TRare".into()),
        limit: 1000,
        ..JobFilter::default()
    };
    assert!(queue::list(&mut conn, &filter).await.unwrap().is_empty());
    let read = index_entries_read(&mut conn, "job_logs_created_id").await - before;
    assert!(
        read < 100,
        "read {read} newest-first entries to find nothing"
    );
}

#[tokio::test]
async fn list_filters_searches_and_pages() {
    let db = common::fresh_db().await;
    let user: Uuid = sqlx::query_scalar(
        "INSERT INTO auth.users (email) VALUES ('Alice@Example.com') RETURNING id",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    let mut conn = db.pool.acquire().await.unwrap();
    for i in 0..5 {
        queue::enqueue(
            &mut conn,
            &NewJob {
                user_id: (i == 0).then_some(user),
                ..wallet_job(JobType::Sync, &format!("TList{i}"))
            },
        )
        .await
        .unwrap();
    }
    queue::enqueue(&mut conn, &wallet_job(JobType::GasTopup, "TOther_%"))
        .await
        .unwrap();
    let all = queue::list(&mut conn, &JobFilter::default()).await.unwrap();
    assert_eq!(all.len(), 6);
    let syncs = queue::list(
        &mut conn,
        &JobFilter {
            job_type: Some(JobType::Sync),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(syncs.len(), 5);
    let by_prefix = queue::list(
        &mut conn,
        &JobFilter {
            search: Some("TList".into()),
            limit: 2,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(by_prefix.len(), 2);
    let next = queue::list(
        &mut conn,
        &JobFilter {
            search: Some("TList".into()),
            limit: 10,
            before: queue::JobCursor::after(by_prefix.last().unwrap()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(next.len(), 3, "the rest, without repeats");
    assert!(next.iter().all(|j| !by_prefix.iter().any(|p| p.id == j.id)));
    // The users a search names come from the caller (admin looks them up
    // by email): their jobs match whatever their address.
    let by_user = queue::list(
        &mut conn,
        &JobFilter {
            search: Some("alice@".into()),
            search_users: vec![user],
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(by_user.len(), 1);
    assert_eq!(by_user[0].user_id, Some(user));
    // Wildcards in the search are literal.
    let literal = queue::list(
        &mut conn,
        &JobFilter {
            search: Some("T%".into()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert!(literal.is_empty());
}

#[tokio::test]
async fn throughput_and_oldest_pending_age() {
    let db = common::fresh_db().await;
    sqlx::query(
        "INSERT INTO job_logs (job_type, status, finished_at)
         VALUES ('sync', 'completed', now() - interval '30 seconds'),
                ('sync', 'completed', now() - interval '4 minutes'),
                ('sync', 'failed', now() - interval '2 minutes'),
                ('sync', 'completed', now() - interval '1 hour')",
    )
    .execute(&db.pool)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO job_logs (job_type, status, run_at)
         VALUES ('sync', 'pending', now() - interval '90 seconds'),
                ('sync', 'pending', now() + interval '1 hour')",
    )
    .execute(&db.pool)
    .await
    .unwrap();
    let windows = [Duration::from_secs(60), Duration::from_secs(300)];
    let t = queue::throughput(&db.pool, &windows).await.unwrap();
    assert_eq!(
        (t[0].window_seconds, t[0].completed, t[0].failed),
        (60, 1, 0)
    );
    assert_eq!(
        (t[1].window_seconds, t[1].completed, t[1].failed),
        (300, 2, 1)
    );
    let age = queue::oldest_pending_age(&db.pool).await.unwrap().unwrap();
    assert!((89..=95).contains(&age.as_secs()), "{age:?}");
}

/// The earliest pending job is found whatever its priority: the claim index
/// it is read from is ordered by priority first.
#[tokio::test]
async fn next_due_and_oldest_pending_look_across_priorities() {
    let db = common::fresh_db().await;
    sqlx::query(
        "INSERT INTO job_logs (job_type, status, priority, run_at)
         VALUES ('sync', 'pending', 9, now() + interval '2 hours'),
                ('sync', 'pending', 5, now() + interval '1 hour'),
                ('sync', 'pending', -3, now() + interval '10 minutes'),
                ('sync', 'pending', -3, now() + interval '50 minutes'),
                ('sync', 'completed', -7, now() - interval '1 day')",
    )
    .execute(&db.pool)
    .await
    .unwrap();
    let next = queue::next_due(&db.pool).await.unwrap().unwrap();
    let in_minutes = (next - Utc::now()).num_minutes();
    assert!(
        (9..=10).contains(&in_minutes),
        "lowest priority is due first: {next}"
    );
    assert_eq!(queue::oldest_pending_age(&db.pool).await.unwrap(), None);

    sqlx::query(
        "INSERT INTO job_logs (job_type, status, priority, run_at)
         VALUES ('sync', 'pending', 0, now() - interval '40 seconds'),
                ('sync', 'pending', -5, now() - interval '3 minutes')",
    )
    .execute(&db.pool)
    .await
    .unwrap();
    let age = queue::oldest_pending_age(&db.pool).await.unwrap().unwrap();
    assert!((180..=185).contains(&age.as_secs()), "{age:?}");
    let next = queue::next_due(&db.pool).await.unwrap().unwrap();
    assert!(next < Utc::now() - chrono::Duration::seconds(170));

    sqlx::query("DELETE FROM job_logs WHERE status = 'pending'")
        .execute(&db.pool)
        .await
        .unwrap();
    assert_eq!(queue::next_due(&db.pool).await.unwrap(), None);
}

/// Consoles and event streams hear of status changes at once, once per
/// statement; a change that keeps every status (a lease renewal) is silent.
#[tokio::test]
async fn status_changes_are_announced_once_per_statement() {
    let t = common::fresh_db().await;
    let mut listener = sqlx::postgres::PgListener::connect_with(&t.pool)
        .await
        .unwrap();
    listener
        .listen(walletops::queue::JOB_STATES_CHANNEL)
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO job_logs (job_type, status) SELECT 'sync', 'pending' FROM generate_series(1, 50)",
    )
    .execute(&t.pool)
    .await
    .unwrap();

    // Same status: nothing announced.
    sqlx::query("UPDATE job_logs SET priority = 1")
        .execute(&t.pool)
        .await
        .unwrap();
    assert!(quiet(&mut listener).await, "no status changed");

    // Fifty jobs complete in one statement: one notification.
    sqlx::query("UPDATE job_logs SET status = 'completed', finished_at = now()")
        .execute(&t.pool)
        .await
        .unwrap();
    let n = tokio::time::timeout(Duration::from_secs(5), listener.recv())
        .await
        .expect("announced")
        .unwrap();
    assert_eq!(n.channel(), walletops::queue::JOB_STATES_CHANNEL);
    assert!(
        quiet(&mut listener).await,
        "once per statement, not per row"
    );

    sqlx::query("DELETE FROM job_logs")
        .execute(&t.pool)
        .await
        .unwrap();
    tokio::time::timeout(Duration::from_secs(5), listener.recv())
        .await
        .expect("deletes are announced")
        .unwrap();
}

/// True when nothing arrives on `listener` for a while.
async fn quiet(listener: &mut sqlx::postgres::PgListener) -> bool {
    tokio::time::timeout(Duration::from_millis(300), listener.try_recv())
        .await
        .is_err()
}

/// The charts' history: finished jobs per minute and the queue depth at each
/// minute's end, worked back from the counts of now and the timestamps of
/// the jobs that changed in the window.
#[tokio::test]
async fn history_per_minute_and_type_from_counts_and_timestamps() {
    let db = common::fresh_db().await;
    // Times relative to the current minute's start (m0), so that a minute
    // that turns during the test moves no job to another minute.
    let m0: chrono::DateTime<Utc> = sqlx::query_scalar(
        "WITH m AS (SELECT date_trunc('minute', now()) AS m0)
         INSERT INTO job_logs (job_type, status, wallet_address, created_at, started_at, finished_at)
         SELECT t, s, a, m0 + c::interval, m0 + st::interval, m0 + f::interval
           FROM m, (VALUES
             ('sync', 'completed', 'A', '-5 min 50 s', '-4 min 50 s', '-3 min 50 s'),
             ('gas-topup', 'failed', 'B', '-2 min 55 s', '-2 min 54 s', '-1 min 55 s'),
             ('sync', 'pending', 'C', '-3 min 59 s', NULL, NULL),
             ('sync', 'processing', 'D', '-20 min', '-2 min 59 s', NULL),
             ('sync', 'pending', 'E', '-1 hour', NULL, NULL)
           ) AS j(t, s, a, c, st, f)
         RETURNING date_trunc('minute', now())",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    let history = queue::history(&db.pool, 10).await.unwrap();
    assert_eq!(history.len(), 10 * JobType::ALL.len());
    let at = |ago: i64, job_type: JobType| {
        let m = history
            .iter()
            .find(|h| h.minute == m0 - chrono::Duration::minutes(ago) && h.job_type == job_type)
            .unwrap_or_else(|| panic!("no minute -{ago} of {job_type:?}"));
        (m.completed, m.failed, m.pending, m.processing)
    };
    // (completed, failed, waiting at the minute's end, running at its end)
    assert_eq!(at(6, JobType::Sync), (0, 0, 2, 0), "D and E wait");
    assert_eq!(at(5, JobType::Sync), (0, 0, 3, 0), "A created");
    assert_eq!(at(4, JobType::Sync), (0, 0, 2, 1), "A running");
    assert_eq!(at(3, JobType::Sync), (1, 0, 3, 0), "A done, C created");
    assert_eq!(at(2, JobType::Sync), (0, 0, 2, 1), "D running");
    assert_eq!(at(2, JobType::GasTopup), (0, 0, 0, 1), "B running");
    assert_eq!(at(1, JobType::GasTopup), (0, 1, 0, 0), "B failed");
    assert_eq!(
        at(0, JobType::Sync),
        (0, 0, 2, 1),
        "depth now is the counts'"
    );
    assert_eq!(at(0, JobType::Consolidation), (0, 0, 0, 0));
}

/// A `workers` row with a name people read.
async fn named_worker(pool: &PgPool, host: &str, pid: i32) -> Uuid {
    let id = Uuid::new_v4();
    sqlx::query("INSERT INTO workers (id, host, pid, version) VALUES ($1, $2, $3, 'test')")
        .bind(id)
        .bind(host)
        .bind(pid)
        .execute(pool)
        .await
        .unwrap();
    id
}

async fn due_now(pool: &PgPool, id: Uuid) {
    sqlx::query("UPDATE job_logs SET run_at = now() WHERE id = $1")
        .bind(id)
        .execute(pool)
        .await
        .unwrap();
}

#[tokio::test]
async fn attempts_that_do_not_succeed_are_kept_with_their_worker_and_successes_add_nothing() {
    let db = common::fresh_db().await;
    let alpha = named_worker(&db.pool, "alpha", 11).await;
    let beta = named_worker(&db.pool, "beta", 22).await;
    let mut conn = db.pool.acquire().await.unwrap();
    let id = queue::enqueue(&mut conn, &NewJob::new(JobType::Sync))
        .await
        .unwrap()
        .job
        .id;
    let other = queue::enqueue(&mut conn, &wallet_job(JobType::Sync, "TOther"))
        .await
        .unwrap()
        .job
        .id;

    // Attempt 1 on alpha fails and is retried; in the same batch another
    // job completes, which writes no attempt row.
    let claimed = queue::claim(&db.pool, alpha, 2, LEASE).await.unwrap();
    assert_eq!(claimed.len(), 2);
    let outcomes: Vec<Finish> = claimed
        .iter()
        .map(|j| Finish {
            job_id: j.id,
            attempt: j.attempt,
            outcome: if j.id == id {
                Outcome::Retry("node timed out".into())
            } else {
                Outcome::Complete
            },
        })
        .collect();
    queue::finish(&db.pool, alpha, &outcomes, BASE, CAP)
        .await
        .unwrap();
    assert!(queue::attempts(&mut conn, other).await.unwrap().is_empty());

    // Attempt 2 on beta: snoozed first (no row), then its lease runs out.
    due_now(&db.pool, id).await;
    let job = &queue::claim(&db.pool, beta, 1, LEASE).await.unwrap()[0];
    let snooze = Finish {
        job_id: id,
        attempt: job.attempt,
        outcome: Outcome::Snooze(Utc::now()),
    };
    queue::finish(&db.pool, beta, &[snooze], BASE, CAP)
        .await
        .unwrap();
    assert_eq!(queue::attempts(&mut conn, id).await.unwrap().len(), 1);
    queue::claim(&db.pool, beta, 1, Duration::from_millis(1))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert_eq!(queue::rescue_expired(&mut conn).await.unwrap().requeued, 1);
    // The worker's row goes; its name stays in the history.
    queue::workers::delete(&db.pool, beta).await.unwrap();

    // Claimed ahead of a slot and never started, then let go: no attempt
    // ran, none is recorded.
    queue::claim_ahead(&db.pool, alpha, 1, 0, Duration::from_millis(1))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert_eq!(queue::rescue_expired(&mut conn).await.unwrap().released, 1);

    // The last attempt fails for good.
    let job = &queue::claim(&db.pool, alpha, 1, LEASE).await.unwrap()[0];
    let fail = Finish {
        job_id: id,
        attempt: job.attempt,
        outcome: Outcome::Fail("wallet key rejected".into()),
    };
    queue::finish(&db.pool, alpha, &[fail], BASE, CAP)
        .await
        .unwrap();

    let attempts = queue::attempts(&mut conn, id).await.unwrap();
    let seen: Vec<(i32, Option<&str>, queue::AttemptOutcome)> = attempts
        .iter()
        .map(|a| (a.attempt, a.worker.as_deref(), a.outcome))
        .collect();
    assert_eq!(
        seen,
        [
            (1, Some("alpha:11"), queue::AttemptOutcome::Retry),
            (3, Some("beta:22"), queue::AttemptOutcome::Rescued),
            (5, Some("alpha:11"), queue::AttemptOutcome::Failed),
        ]
    );
    assert_eq!(attempts[0].error.as_deref(), Some("node timed out"));
    let rescued = attempts[1].error.as_deref().unwrap();
    assert!(
        rescued.contains("lease expired on attempt 3") && rescued.contains("worker beta:22"),
        "{rescued}"
    );
    assert_eq!(attempts[2].error.as_deref(), Some("wallet key rejected"));
    for a in &attempts {
        let started = a.started_at.expect("every recorded attempt had started");
        assert!(started <= a.ended_at, "{a:?}");
    }
    assert!(queue::attempts(&mut conn, other).await.unwrap().is_empty());

    // The history goes with its job.
    queue::clear_failed(&mut conn).await.unwrap();
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM job_attempts")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(left, 0);
}
