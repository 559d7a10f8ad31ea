//! The admin module against real PostgreSQL: every action with its audit
//! row, every refusal without one, the append-only audit trail, and the
//! database's own grants and row-level security under login roles.

mod common;

use std::time::Duration;

use common::admin::{
    LoginRole, address, audit_count, count, job, last_audit, login_name, operator, pool_as, staff,
    wallet,
};
use serde_json::json;
use sqlx::Connection as _;
use sqlx::postgres::PgListener;
use walletops::admin::health::Status;
use walletops::admin::jobs::{self, Dispatch};
use walletops::admin::wallet_lookup::WalletRef;
use walletops::admin::{self, AdminError, Role, config, control, operators, stats, tokens};
use walletops::config::Secret;
use walletops::queue::{JobStatus, JobType};

async fn groups(pool: &sqlx::PgPool, login: &str) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT g.rolname::text FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid
          JOIN pg_roles l ON l.oid = m.member WHERE l.rolname = $1 ORDER BY 1",
    )
    .bind(login)
    .fetch_all(pool)
    .await
    .unwrap()
}

fn forbidden<T: std::fmt::Debug>(r: Result<T, AdminError>) {
    assert!(matches!(r, Err(AdminError::Forbidden { .. })), "{r:?}");
}

#[tokio::test]
async fn operators_are_managed_by_the_database_owner_and_removal_only_revokes() {
    let db = common::fresh_db().await;
    let pool = &db.pool;
    let login = login_name(&db, "first");
    let op = operators::add(pool, "First.Admin@example.com", Role::Admin, Some(&login))
        .await
        .unwrap();
    assert_eq!(op.role, Role::Admin);
    assert_eq!(op.db_login.as_deref(), Some(login.as_str()));
    let (action, target, target_id, details) = last_audit(pool).await;
    assert_eq!(
        (action.as_str(), target.as_str()),
        ("operator.add", "operator")
    );
    assert_eq!(target_id, Some(op.user_id.to_string()));
    assert_eq!(details["actor"]["via"], "database-owner");
    assert_eq!(details["db_login"], login.as_str());

    // The login was created, in the admin group only, and acts as the operator.
    let as_login = pool_as(&db, &login).await;
    let me = admin::identity::resolve_login(&as_login).await.unwrap();
    assert_eq!(me.role, Role::Admin);
    assert_eq!(me.email(), Some("First.Admin@example.com"));
    assert_eq!(groups(pool, &login).await, ["walletops_admin"]);

    // Changing the role replaces it, in the database too.
    operators::add(pool, "first.admin@example.com", Role::Viewer, Some(&login))
        .await
        .unwrap();
    let me = admin::identity::resolve_login(&as_login).await.unwrap();
    assert_eq!(me.role, Role::Viewer);
    assert_eq!(groups(pool, &login).await, ["walletops_viewer"]);

    let before = audit_count(pool).await;
    operators::remove(pool, "first.admin@example.com")
        .await
        .unwrap();
    assert_eq!(audit_count(pool).await, before + 1);
    assert_eq!(last_audit(pool).await.0, "operator.remove");
    let refused = admin::identity::resolve_login(&as_login).await;
    assert!(
        matches!(refused, Err(AdminError::UnknownIdentity(_))),
        "{refused:?}"
    );
    assert!(groups(pool, &login).await.is_empty(), "membership revoked");
    // The user stays: the audit trail names it.
    assert_eq!(
        count(
            pool,
            "SELECT count(*) FROM auth.users WHERE email = 'First.Admin@example.com'"
        )
        .await,
        1
    );
    let listed = operators::list(pool).await.unwrap();
    assert!(listed[0].revoked_at.is_some());

    // One login per person: another operator cannot take it.
    assert!(matches!(
        operators::add(pool, "other@example.com", Role::Admin, Some(&login)).await,
        Err(AdminError::Conflict(_))
    ));
    // Without --login, the login is the email, lowercased.
    assert_eq!(
        operators::default_login(" Some.One@Example.com "),
        "some.one@example.com"
    );

    // Bad input and a second removal change nothing.
    let before = audit_count(pool).await;
    assert!(matches!(
        operators::add(pool, "not an email", Role::Admin, None).await,
        Err(AdminError::Invalid(_))
    ));
    assert!(matches!(
        operators::add(pool, "x@example.com", Role::Admin, Some("has space")).await,
        Err(AdminError::Invalid(_))
    ));
    assert!(matches!(
        operators::add(pool, "x@example.com", Role::Admin, Some("walletops_admin")).await,
        Err(AdminError::Invalid(_))
    ));
    assert!(matches!(
        operators::remove(pool, "first.admin@example.com").await,
        Err(AdminError::NotFound(_))
    ));
    assert_eq!(audit_count(pool).await, before);
    as_login.close().await;
}

#[tokio::test]
async fn operator_management_needs_the_owner_not_an_admin_login() {
    let db = common::fresh_db().await;
    // The migrations' own rows (e.g. 0009's new key) come before.
    let before = audit_count(&db.pool).await;
    let role = LoginRole::create(&db.url, "walletops_admin").await;
    let as_admin = walletops::db::connect(&role.url, Default::default())
        .await
        .unwrap();
    let refused = operators::add(&as_admin, "x@example.com", Role::Admin, None).await;
    assert!(
        matches!(refused, Err(AdminError::NotOwner { .. })),
        "{refused:?}"
    );
    as_admin.close().await;
    role.drop_role().await;
    assert_eq!(audit_count(&db.pool).await, before);
    assert_eq!(count(&db.pool, "SELECT count(*) FROM operators").await, 0);
}

#[tokio::test]
async fn pause_and_start_are_audited_announced_and_admin_only() {
    let db = common::fresh_db().await;
    let pool = &db.pool;
    let (admin_id, ops, viewer) = staff(&db).await;
    let mut listener = PgListener::connect_with(pool).await.unwrap();
    listener.listen(admin::CONTROL_CHANNEL).await.unwrap();
    let before = audit_count(pool).await;

    let outcome = control::set_paused(&admin_id.pool, &admin_id, true)
        .await
        .unwrap();
    assert!(outcome.paused && outcome.changed);
    assert!(control::is_paused(pool).await.unwrap());
    let note = tokio::time::timeout(Duration::from_secs(1), listener.recv())
        .await
        .expect("the pause is announced within a second")
        .unwrap();
    let payload: serde_json::Value = serde_json::from_str(note.payload()).unwrap();
    assert_eq!(payload, json!({"key": "workers.paused", "value": true}));
    let (action, _, target_id, details) = last_audit(pool).await;
    assert_eq!(action, "workers.pause");
    assert_eq!(target_id.as_deref(), Some("workers.paused"));
    assert_eq!(
        (&details["old"], &details["new"]),
        (&json!(false), &json!(true))
    );
    assert_eq!(details["actor"]["operator"], "admin@example.com");

    for who in [&ops, &viewer] {
        forbidden(control::set_paused(&who.pool, who, false).await);
    }
    assert!(
        control::is_paused(pool).await.unwrap(),
        "a refusal changes nothing"
    );
    assert_eq!(
        audit_count(pool).await,
        before + 1,
        "refusals write no audit row"
    );

    control::set_paused(&admin_id.pool, &admin_id, false)
        .await
        .unwrap();
    assert!(!control::is_paused(pool).await.unwrap());
    assert_eq!(last_audit(pool).await.0, "workers.start");
}

#[tokio::test]
async fn config_set_is_validated_per_key_and_audited() {
    let db = common::fresh_db().await;
    let pool = &db.pool;
    let (admin_id, ops, _) = staff(&db).await;
    let gas = address(7);
    let before = audit_count(pool).await;

    let change = config::set(&admin_id.pool, &admin_id, "gas.min_balance_sun", json!(5))
        .await
        .unwrap();
    assert_eq!(change.old, Some(json!(100_000_000)));
    assert_eq!(
        config::get(pool, "gas.min_balance_sun")
            .await
            .unwrap()
            .value,
        Some(json!(5))
    );
    let (action, target, target_id, details) = last_audit(pool).await;
    assert_eq!(
        (action.as_str(), target.as_str()),
        ("config.set", "system_config")
    );
    assert_eq!(target_id.as_deref(), Some("gas.min_balance_sun"));
    assert_eq!(details["new"], json!(5));

    let mut broken = gas.clone();
    broken.replace_range(5..6, if &gas[5..6] == "a" { "b" } else { "a" });
    let bad = [
        ("gas.wallet_address", json!(broken)),
        ("gas.wallet_address", json!("'; DROP TABLE job_logs; --")),
        ("gas.min_balance_sun", json!(-1)),
        ("gas.min_balance_sun", json!("100")),
        ("workers.paused", json!(1)),
    ];
    for (key, value) in bad {
        let r = config::set(&admin_id.pool, &admin_id, key, value.clone()).await;
        assert!(
            matches!(r, Err(AdminError::Invalid(_))),
            "{key} = {value}: {r:?}"
        );
    }
    assert!(matches!(
        config::set(&admin_id.pool, &admin_id, "no.such.key", json!(1)).await,
        Err(AdminError::NotFound(_))
    ));
    forbidden(config::set(&ops.pool, &ops, "gas.min_balance_sun", json!(7)).await);
    assert_eq!(audit_count(pool).await, before + 1);
    assert_eq!(
        config::get(pool, "gas.min_balance_sun")
            .await
            .unwrap()
            .value,
        Some(json!(5))
    );
    assert_eq!(
        config::get(pool, "gas.wallet_address").await.unwrap().value,
        Some(serde_json::Value::Null)
    );
    assert_eq!(count(pool, "SELECT count(*) FROM job_logs").await, 0);
}

#[tokio::test]
async fn tokens_are_stored_hashed_and_stop_working_when_revoked_or_expired() {
    let db = common::fresh_db().await;
    let pool = &db.pool;
    let (admin_id, ops, _) = staff(&db).await;

    let created = tokens::create(&admin_id.pool, &admin_id, Role::Operator, "ci", None)
        .await
        .unwrap();
    let text = created.token.expose().to_string();
    assert!(text.starts_with("wo_") && text.len() == 3 + 64, "{text}");
    assert!(
        !format!("{created:?}").contains(&text),
        "Debug never shows the token"
    );
    let stored: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM api_tokens WHERE token_hash = sha256(convert_to($1, 'UTF8'))",
    )
    .bind(&text)
    .fetch_one(pool)
    .await
    .unwrap();
    assert_eq!(stored, 1, "the SHA-256 of the token is stored");
    assert_eq!(last_audit(pool).await.0, "token.create");
    assert!(!last_audit(pool).await.3.to_string().contains(&text));

    let who = admin::identity::resolve_token(pool, &created.token)
        .await
        .unwrap();
    assert_eq!(who.role, Role::Operator);
    assert!(matches!(
        admin::identity::resolve_token(pool, &Secret::new("wo_wrong")).await,
        Err(AdminError::UnknownIdentity(_))
    ));

    let before = audit_count(pool).await;
    forbidden(tokens::create(&ops.pool, &ops, Role::Admin, "escalate", None).await);
    forbidden(tokens::revoke(&ops.pool, &ops, "ci").await);
    assert_eq!(audit_count(pool).await, before);

    tokens::revoke(&admin_id.pool, &admin_id, "ci")
        .await
        .unwrap();
    assert_eq!(last_audit(pool).await.0, "token.revoke");
    assert!(
        admin::identity::resolve_token(pool, &created.token)
            .await
            .is_err()
    );

    let later = tokens::create(
        &admin_id.pool,
        &admin_id,
        Role::Viewer,
        "wall",
        Some(chrono::Utc::now() + chrono::Duration::hours(1)),
    )
    .await
    .unwrap();
    assert!(
        admin::identity::resolve_token(pool, &later.token)
            .await
            .is_ok()
    );
    sqlx::query("UPDATE api_tokens SET expires_at = now() - interval '1 second' WHERE id = $1")
        .bind(later.id)
        .execute(pool)
        .await
        .unwrap();
    assert!(
        admin::identity::resolve_token(pool, &later.token)
            .await
            .is_err()
    );
    assert_eq!(tokens::list(pool).await.unwrap().len(), 2);
}

#[tokio::test]
async fn dispatch_finds_wallets_every_way_and_returns_the_existing_job() {
    let db = common::fresh_db().await;
    let pool = &db.pool;
    let (_, ops, viewer) = staff(&db).await;
    let (wallet_id, user_id, addr) = wallet(pool, 1, "alice@example.com", "Alice Liddell").await;
    let before = audit_count(pool).await;

    let by_address = Dispatch {
        wallet: WalletRef::Address(addr.parse().unwrap()),
        user_id: None,
        job_type: JobType::Sync,
    };
    let first = jobs::dispatch(&ops.pool, &ops, &by_address).await.unwrap();
    assert!(first.created);
    assert_eq!(first.job.wallet_id, Some(wallet_id));
    assert_eq!(first.job.user_id, Some(user_id));
    let (action, target, target_id, details) = last_audit(pool).await;
    assert_eq!((action.as_str(), target.as_str()), ("job.dispatch", "job"));
    assert_eq!(target_id, Some(first.job.id.to_string()));
    assert_eq!(details["wallet_address"], json!(addr));

    // The same wallet by id, email or name: the existing job, no new row, no audit.
    for wallet in [
        WalletRef::Id(wallet_id),
        WalletRef::User("ALICE@example.com".into()),
        WalletRef::User("alice liddell".into()),
    ] {
        let again = jobs::dispatch(
            pool,
            &ops,
            &Dispatch {
                wallet,
                ..by_address.clone()
            },
        )
        .await
        .unwrap();
        assert!(!again.created);
        assert_eq!(again.job.id, first.job.id);
    }
    assert_eq!(audit_count(pool).await, before + 1);

    // Refusals: no right, unknown wallet, wrong owner.
    forbidden(jobs::dispatch(&viewer.pool, &viewer, &by_address).await);
    let unknown = Dispatch {
        wallet: WalletRef::Address(address(99).parse().unwrap()),
        ..by_address.clone()
    };
    assert!(matches!(
        jobs::dispatch(&ops.pool, &ops, &unknown).await,
        Err(AdminError::NotFound(_))
    ));
    let wrong_owner = Dispatch {
        user_id: Some(uuid::Uuid::new_v4()),
        job_type: JobType::Consolidation,
        ..by_address.clone()
    };
    assert!(matches!(
        jobs::dispatch(&ops.pool, &ops, &wrong_owner).await,
        Err(AdminError::Invalid(_))
    ));
    assert_eq!(audit_count(pool).await, before + 1);
    assert_eq!(count(pool, "SELECT count(*) FROM job_logs").await, 1);

    // A user with two wallets must be told apart by address.
    wallet(pool, 2, "alice@example.com", "Alice Liddell").await;
    let ambiguous = Dispatch {
        wallet: WalletRef::User("alice@example.com".into()),
        ..wrong_owner
    };
    assert!(matches!(
        jobs::dispatch(
            pool,
            &ops,
            &Dispatch {
                user_id: None,
                ..ambiguous
            }
        )
        .await,
        Err(AdminError::Conflict(_))
    ));
}

#[tokio::test]
async fn retry_and_cancel_are_audited_and_refused_where_they_do_not_apply() {
    let db = common::fresh_db().await;
    let pool = &db.pool;
    let (_, ops, viewer) = staff(&db).await;
    let failed = job(pool, "failed", "sync", &address(1)).await;
    let pending = job(pool, "pending", "consolidation", &address(2)).await;
    let completed = job(pool, "completed", "sync", &address(3)).await;
    let before = audit_count(pool).await;

    forbidden(jobs::retry(&viewer.pool, &viewer, failed).await);
    forbidden(jobs::cancel(&viewer.pool, &viewer, pending).await);
    assert!(matches!(
        jobs::retry(&ops.pool, &ops, completed).await,
        Err(AdminError::Conflict(_))
    ));
    assert!(matches!(
        jobs::cancel(&ops.pool, &ops, completed).await,
        Err(AdminError::Conflict(_))
    ));
    assert!(matches!(
        jobs::retry(&ops.pool, &ops, uuid::Uuid::new_v4()).await,
        Err(AdminError::NotFound(_))
    ));
    assert_eq!(audit_count(pool).await, before);

    let retried = jobs::retry(&ops.pool, &ops, failed).await.unwrap();
    assert_eq!(retried.status, Some(JobStatus::Pending));
    let (action, _, target_id, details) = last_audit(pool).await;
    assert_eq!(action, "job.retry");
    assert_eq!(target_id, Some(failed.to_string()));
    assert_eq!(details["previous_status"], "failed");

    let cancelled = jobs::cancel(&ops.pool, &ops, pending).await.unwrap();
    assert_eq!(cancelled.status, Some(JobStatus::Cancelled));
    assert_eq!(last_audit(pool).await.0, "job.cancel");
    assert_eq!(audit_count(pool).await, before + 2);
}

#[tokio::test]
async fn clear_failed_counts_what_it_deleted() {
    let db = common::fresh_db().await;
    let pool = &db.pool;
    let (_, ops, viewer) = staff(&db).await;
    for i in 0..5 {
        job(pool, "failed", "sync", &address(i)).await;
    }
    job(pool, "pending", "sync", &address(100)).await;
    forbidden(jobs::clear_failed(&viewer.pool, &viewer).await);
    assert_eq!(
        count(
            pool,
            "SELECT count(*) FROM job_logs WHERE status = 'failed'"
        )
        .await,
        5
    );

    let cleared = jobs::clear_failed(&ops.pool, &ops).await.unwrap();
    assert_eq!(cleared.deleted, 5);
    let (action, target, _, details) = last_audit(pool).await;
    assert_eq!(
        (action.as_str(), target.as_str()),
        ("jobs.clear_failed", "jobs")
    );
    assert_eq!(details["rows"], 5);
    assert_eq!(count(pool, "SELECT count(*) FROM job_logs").await, 1);
}

#[tokio::test]
async fn concurrent_clear_failed_is_audited_consistently() {
    let db = common::fresh_db().await;
    let pool = &db.pool;
    let (admin_id, ops, _) = staff(&db).await;
    sqlx::query(
        "INSERT INTO job_logs (job_type, status, wallet_address, finished_at)
         SELECT 'sync', 'failed', 'T' || g, now() FROM generate_series(1, 3000) g",
    )
    .execute(pool)
    .await
    .unwrap();
    let (a, b) = tokio::join!(
        jobs::clear_failed(&admin_id.pool, &admin_id),
        jobs::clear_failed(&ops.pool, &ops)
    );
    let (a, b) = (a.unwrap().deleted, b.unwrap().deleted);
    assert_eq!(
        a + b,
        3000,
        "every failed job deleted exactly once ({a} + {b})"
    );
    let audited: Vec<i64> = sqlx::query_scalar(
        "SELECT (details ->> 'rows')::bigint FROM admin_actions WHERE action_type = 'jobs.clear_failed'",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    assert_eq!(audited.len(), 2);
    assert_eq!(
        audited.iter().sum::<i64>(),
        3000,
        "audit rows add up to what was deleted"
    );
    let mut seen = audited.clone();
    seen.sort();
    let mut done = vec![a as i64, b as i64];
    done.sort();
    assert_eq!(seen, done);
}

#[tokio::test]
async fn reset_processing_takes_back_expired_leases_and_orphaned_wallets_only() {
    let db = common::fresh_db().await;
    let pool = &db.pool;
    let (_, ops, viewer) = staff(&db).await;
    let (_, _, stuck_addr) = wallet(pool, 1, "a@example.com", "A").await;
    let (_, _, live_addr) = wallet(pool, 2, "b@example.com", "B").await;
    let (_, _, orphan_addr) = wallet(pool, 3, "c@example.com", "C").await;
    let stuck = job(pool, "processing", "sync", &stuck_addr).await;
    let live = job(pool, "processing", "sync", &live_addr).await;
    sqlx::query(
        "UPDATE job_logs SET locked_until = now() - interval '1 minute', attempt = 1 WHERE id = $1",
    )
    .bind(stuck)
    .execute(pool)
    .await
    .unwrap();
    for (addr, job_id) in [
        (&stuck_addr, Some(stuck)),
        (&live_addr, Some(live)),
        (&orphan_addr, None),
    ] {
        sqlx::query(
            "UPDATE user_wallets SET is_processing = true, processing_job_id = $2,
                    processing_since = now() - interval '1 hour' WHERE address = $1",
        )
        .bind(addr)
        .bind(job_id)
        .execute(pool)
        .await
        .unwrap();
    }
    forbidden(jobs::reset_processing(&viewer.pool, &viewer).await);
    assert_eq!(
        count(
            pool,
            "SELECT count(*) FROM user_wallets WHERE is_processing"
        )
        .await,
        3
    );

    let reset = jobs::reset_processing(&ops.pool, &ops).await.unwrap();
    assert_eq!(reset.jobs, 1);
    let mut released = reset.wallets.clone();
    released.sort();
    let mut expected = vec![stuck_addr.clone(), orphan_addr.clone()];
    expected.sort();
    assert_eq!(released, expected);
    let status: String = sqlx::query_scalar("SELECT status FROM job_logs WHERE id = $1")
        .bind(stuck)
        .fetch_one(pool)
        .await
        .unwrap();
    assert_ne!(status, "processing");
    let live_wallet: bool =
        sqlx::query_scalar("SELECT is_processing FROM user_wallets WHERE address = $1")
            .bind(&live_addr)
            .fetch_one(pool)
            .await
            .unwrap();
    assert!(live_wallet, "a wallet held by a live job is left alone");
    let (action, _, _, details) = last_audit(pool).await;
    assert_eq!(action, "jobs.reset_processing");
    assert_eq!(details["jobs"], 1);
    assert_eq!(details["rows"], 3);
}

#[tokio::test]
async fn the_audit_trail_is_append_only_even_for_its_owner() {
    let db = common::fresh_db().await;
    let pool = &db.pool;
    operator(&db, "admin@example.com", Role::Admin).await;
    let n = audit_count(pool).await;
    assert!(n > 0);
    for sql in [
        "UPDATE admin_actions SET action_type = 'nothing'",
        "DELETE FROM admin_actions",
        "TRUNCATE admin_actions",
    ] {
        let err = sqlx::query(sql)
            .execute(pool)
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("append-only"), "{sql}: {err}");
    }
    assert_eq!(audit_count(pool).await, n);
}

async fn refused(conn: &mut sqlx::PgConnection, sql: &'static str) {
    let err = sqlx::query(sql)
        .execute(&mut *conn)
        .await
        .expect_err(sql)
        .to_string();
    assert!(err.contains("permission denied"), "{sql}: {err}");
}

async fn allowed(conn: &mut sqlx::PgConnection, sql: &'static str) {
    sqlx::query(sql)
        .execute(&mut *conn)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

#[tokio::test]
async fn a_viewer_login_reads_but_cannot_write_anything() {
    let db = common::fresh_db().await;
    let pool = &db.pool;
    let (_, _, addr) = wallet(pool, 1, "a@example.com", "A").await;
    job(pool, "failed", "sync", &addr).await;
    let audited = audit_count(pool).await;
    let role = LoginRole::create(&db.url, "walletops_viewer").await;
    let mut conn = role.connect().await;
    for sql in [
        "SELECT count(*) FROM job_logs",
        "SELECT key, value FROM system_config",
        "SELECT id, address, trx_balance_sun FROM user_wallets",
        "SELECT * FROM admin_actions",
        "SELECT * FROM workers",
        "SELECT email FROM auth.users",
        "SELECT id, name, role FROM api_tokens",
    ] {
        allowed(&mut conn, sql).await;
    }
    for sql in [
        "UPDATE job_logs SET status = 'pending'",
        "DELETE FROM job_logs",
        "INSERT INTO job_logs (job_type, status) VALUES ('sync', 'pending')",
        "UPDATE system_config SET value = 'true' WHERE key = 'workers.paused'",
        "INSERT INTO admin_actions (action_type) VALUES ('forged')",
        "UPDATE user_wallets SET trx_balance_sun = 0",
        "DELETE FROM operators",
        "INSERT INTO api_tokens (name, role, token_hash) VALUES ('x', 'admin', sha256('x'))",
        "TRUNCATE job_logs",
        "SELECT encrypted_key FROM user_wallets",
        "SELECT token_hash FROM api_tokens",
        "SELECT walletops_config_set('workers.paused', 'true')",
        "UPDATE audit_head SET seq = 0",
    ] {
        refused(&mut conn, sql).await;
    }
    conn.close().await.unwrap();
    role.drop_role().await;
    assert_eq!(
        count(
            pool,
            "SELECT count(*) FROM job_logs WHERE status = 'failed'"
        )
        .await,
        1
    );
    assert_eq!(audit_count(pool).await, audited);
}

#[tokio::test]
async fn a_worker_login_touches_jobs_and_wallets_but_not_the_audit_or_tokens() {
    let db = common::fresh_db().await;
    let pool = &db.pool;
    let (_, _, addr) = wallet(pool, 1, "a@example.com", "A").await;
    job(pool, "pending", "sync", &addr).await;
    let audited = audit_count(pool).await;
    let role = LoginRole::create(&db.url, "walletops_worker").await;
    let mut conn = role.connect().await;
    for sql in [
        "INSERT INTO job_logs (job_type, status, wallet_address) VALUES ('consolidation', 'pending', 'Tx')",
        "UPDATE job_logs SET status = 'processing', locked_until = now() + interval '30 seconds' WHERE job_type = 'sync'",
        "UPDATE user_wallets SET trx_balance_sun = 5, usdt_balance = 1, is_processing = true,
                processing_job_id = NULL, processing_since = now(), last_synced_at = now(),
                sync_status = 'ok', sync_error = NULL",
        "INSERT INTO workers (id, host, pid, version) VALUES (gen_random_uuid(), 'h', 1, 'v')",
        "UPDATE workers SET last_heartbeat_at = now()",
        "SELECT value FROM system_config WHERE key = 'workers.paused'",
        "SELECT encrypted_key FROM user_wallets",
        "DELETE FROM job_logs WHERE job_type = 'consolidation'",
    ] {
        allowed(&mut conn, sql).await;
    }
    for sql in [
        "INSERT INTO admin_actions (action_type) VALUES ('forged')",
        "UPDATE system_config SET value = 'true' WHERE key = 'workers.paused'",
        "INSERT INTO operators (user_id, role) SELECT id, 'admin' FROM auth.users LIMIT 1",
        "SELECT * FROM api_tokens",
        "DELETE FROM transfers",
        "DELETE FROM user_wallets",
        // Changes made outside walletops: point a wallet at an attacker, or add one.
        "UPDATE user_wallets SET address = 'TAttacker'",
        "UPDATE user_wallets SET role = 'deposit'",
        "UPDATE user_wallets SET user_id = NULL",
        "UPDATE user_wallets SET encrypted_key = NULL, key_nonce = NULL",
        "INSERT INTO user_wallets (address, role) VALUES ('TAttacker', 'deposit')",
        "SELECT walletops_config_set('workers.paused', 'true')",
    ] {
        refused(&mut conn, sql).await;
    }
    conn.close().await.unwrap();
    role.drop_role().await;
    assert_eq!(audit_count(pool).await, audited);
    assert_eq!(
        count(
            pool,
            "SELECT count(*) FROM user_wallets WHERE address = 'TAttacker'"
        )
        .await,
        0
    );
    // The counts the queue keeps stayed right through the worker's writes.
    let counts = walletops::queue::counts(pool).await.unwrap();
    assert_eq!(counts.total.processing, 1);
    assert_eq!(counts.total.total(), 1);
}

#[tokio::test]
async fn health_reads_workers_pause_and_stuck_jobs() {
    let db = common::fresh_db().await;
    let pool = &db.pool;
    let (admin_id, _, _) = staff(&db).await;
    let report = stats::health(pool).await.unwrap();
    assert_eq!(report.health.status, Status::Down, "{:?}", report.health);
    assert!(report.health.reasons[0].contains("no live worker"));

    sqlx::query(
        "INSERT INTO workers (id, host, pid, version) VALUES (gen_random_uuid(), 'h', 1, 'v')",
    )
    .execute(pool)
    .await
    .unwrap();
    let report = stats::health(pool).await.unwrap();
    assert_eq!(report.health.status, Status::Healthy, "{:?}", report.health);

    control::set_paused(&admin_id.pool, &admin_id, true)
        .await
        .unwrap();
    assert_eq!(
        stats::health(pool).await.unwrap().health.status,
        Status::Degraded
    );
    control::set_paused(&admin_id.pool, &admin_id, false)
        .await
        .unwrap();

    let stuck = job(pool, "processing", "sync", &address(1)).await;
    sqlx::query("UPDATE job_logs SET locked_until = now() - interval '1 minute' WHERE id = $1")
        .bind(stuck)
        .execute(pool)
        .await
        .unwrap();
    let report = stats::health(pool).await.unwrap();
    assert_eq!(report.health.status, Status::Degraded);
    assert_eq!(report.vitals.stuck_jobs, 1);

    // A configured gas wallet that holds too little degrades health.
    let (gas_id, _, gas) = wallet(pool, 9, "gas@example.com", "Gas").await;
    // A deposit wallet is never accepted as the gas wallet: make it a gas
    // wallet, as the owner through walletops (not an external change).
    let mut tx = pool.begin().await.unwrap();
    sqlx::query("SELECT walletops_act_owner()")
        .execute(&mut *tx)
        .await
        .unwrap();
    sqlx::query("UPDATE user_wallets SET role = 'gas' WHERE id = $1")
        .bind(gas_id)
        .execute(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    admin::proposals::bootstrap(pool, "gas.wallet_address", json!(gas))
        .await
        .unwrap();
    let report = stats::health(pool).await.unwrap();
    assert!(
        report
            .health
            .reasons
            .iter()
            .any(|r| r.contains("gas wallet")),
        "{:?}",
        report.health
    );

    let snapshot = stats::snapshot(pool).await.unwrap();
    assert_eq!(snapshot.counts.total.processing, 1);
    assert_eq!(snapshot.workers.len(), 1);
    assert!(snapshot.workers[0].live);
    assert!(!snapshot.recent_actions.is_empty());
}

#[tokio::test]
async fn every_table_has_row_level_security_and_grants_for_the_group_roles() {
    let db = common::fresh_db().await;
    let unprotected: Vec<String> = sqlx::query_scalar(
        "SELECT c.relname::text FROM pg_class c
          WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p')
            AND c.relname <> '_sqlx_migrations'
            AND NOT (c.relrowsecurity
                     AND (c.relname IN ('audit_context', 'audit_progress', 'api_tokens')
                          OR has_any_column_privilege('walletops_viewer', c.oid, 'SELECT')
                             AND has_any_column_privilege('walletops_admin', c.oid, 'SELECT')
                             AND has_any_column_privilege('walletops_operator', c.oid, 'SELECT')
                             AND has_any_column_privilege('walletops_worker', c.oid, 'SELECT')))
          ORDER BY 1",
    )
    .fetch_all(&db.pool)
    .await
    .unwrap();
    assert!(
        unprotected.is_empty(),
        "tables without RLS or grants (a later migration must call walletops_secure_tables()): {unprotected:?}"
    );
    // The owner is not bound by RLS (enabled, not forced): plain SQL as the owner still works.
    let forced: i64 = count(
        &db.pool,
        "SELECT count(*) FROM pg_class WHERE relnamespace = 'public'::regnamespace AND relforcerowsecurity",
    )
    .await;
    assert_eq!(forced, 0);
}
