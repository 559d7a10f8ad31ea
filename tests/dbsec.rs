//! Attacks on identity, the database's own role checks and the
//! audit trail, each played against one database login per role (as the
//! README's production setup has it) and the real binary where it matters.
//! Each fails without migration 0007 and the code that uses it.

mod common;

use std::process::Output;
use std::time::Duration;

use common::TestDb;
use common::admin::{
    LoginRole, Op, address, audit_count, count, last_audit, operator, serve_login, staff,
};
use serde_json::{Value, json};
use walletops::admin::health::Status;
use walletops::admin::{self, AdminError, Role, audit, config, stats, tokens};

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Runs the real binary connected with `url`.
fn walletops(url: &walletops::config::DatabaseUrl, args: &[&str]) -> Output {
    common::walletops()
        .env("DATABASE_URL", url.expose())
        .args(args)
        .output()
        .expect("run walletops")
}

async fn denied(pool: &sqlx::PgPool, sql: &'static str) -> String {
    let e = sqlx::query(sql)
        .execute(pool)
        .await
        .expect_err(sql)
        .to_string();
    assert!(
        e.contains("permission denied") || e.contains("not an operator") || e.contains("may not"),
        "{sql}: {e}"
    );
    e
}

/// A live worker, so that health speaks of the audit trail and not of
/// missing workers.
async fn live_worker(db: &TestDb) {
    sqlx::query(
        "INSERT INTO workers (id, host, pid, version) VALUES (gen_random_uuid(), 'h', 1, 'v')",
    )
    .execute(&db.pool)
    .await
    .unwrap();
}

/// A new database with an admin, an operator and a viewer, each acting
/// through a login of its own.
async fn staffed() -> (TestDb, Op, Op, Op) {
    let db = common::fresh_db().await;
    let (admin_op, ops, viewer) = staff(&db).await;
    (db, admin_op, ops, viewer)
}

/// A new database with one admin, acting through a login of its own.
async fn with_admin() -> (TestDb, Op) {
    let db = common::fresh_db().await;
    let admin_op = operator(&db, "admin@example.com", Role::Admin).await;
    (db, admin_op)
}

/// The newest row of the audit trail.
async fn newest_audit(db: &TestDb) -> audit::AuditEntry {
    audit::list(&db.pool, None, 1).await.unwrap().remove(0)
}

async fn health_status(db: &TestDb) -> Status {
    stats::health(&db.pool).await.unwrap().health.status
}

/// How many external changes wait for an admin's acknowledgement.
async fn unacknowledged(db: &TestDb) -> i64 {
    stats::health(&db.pool)
        .await
        .unwrap()
        .vitals
        .audit
        .unacknowledged
}

#[tokio::test]
async fn a_plain_sql_config_change_by_the_owner_is_audited_and_flagged_until_an_admin_acks_it() {
    let (db, admin_op, ops, _) = staffed().await;
    live_worker(&db).await;
    assert_eq!(health_status(&db).await, Status::Healthy);

    // The treasury redirected by plain SQL, outside walletops.
    let attacker = address(666);
    sqlx::query(
        "UPDATE system_config SET value = to_jsonb($1::text)
          WHERE key = 'consolidation.treasury_address'",
    )
    .bind(&attacker)
    .execute(&db.pool)
    .await
    .unwrap();
    let row = newest_audit(&db).await;
    assert_eq!(row.action_type.as_deref(), Some("config.set"));
    assert_eq!(
        row.target_id.as_deref(),
        Some("consolidation.treasury_address")
    );
    assert_eq!(row.db_login.as_deref(), Some("postgres"));
    assert!(row.external, "{row:?}");
    let details = row.details.as_ref().unwrap();
    assert_eq!(details["old"], Value::Null);
    assert_eq!(details["new"], json!(attacker));
    assert_eq!(details["actor"]["via"], "sql");
    let seq = row.seq.unwrap();

    // Health is Degraded and names the row; so do `status` and its exit code.
    let report = stats::health(&db.pool).await.unwrap();
    assert_eq!(
        report.health.status,
        Status::Degraded,
        "{:?}",
        report.health
    );
    assert!(
        report.health.reasons[0].contains(&format!(
            "#{seq} config.set on system_config consolidation.treasury_address by login postgres"
        )),
        "{:?}",
        report.health
    );
    let out = walletops(&db.url, &["status"]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(
        stdout(&out).contains("made outside walletops"),
        "{}",
        stdout(&out)
    );
    let head = admin::audit_chain::head(&db.pool).await.unwrap().unwrap();
    assert!(
        stdout(&out).contains(&format!("audit head: {}:{}", head.seq, head.hash)),
        "{}",
        stdout(&out)
    );

    // Only an admin acknowledges, and only as itself; the ack is audited.
    let before = audit_count(&db.pool).await;
    assert!(matches!(
        audit::acknowledge(&ops.pool, &ops, seq).await,
        Err(AdminError::Forbidden { .. })
    ));
    denied(&ops.pool, "SELECT walletops_audit_ack(1)").await;
    assert_eq!(audit_count(&db.pool).await, before);
    let out = walletops(&admin_op.url, &["audit", "ack", &seq.to_string()]);
    assert!(out.status.success(), "{out:?}");
    let (action, _, target, details) = last_audit(&db.pool).await;
    assert_eq!(action, "audit.ack");
    assert_eq!(target.as_deref(), Some(seq.to_string().as_str()));
    assert_eq!(details["actor"]["operator"], "admin@example.com");
    assert_eq!(health_status(&db).await, Status::Healthy);
    // A change made through walletops needs no acknowledgement.
    let change = config::set(&admin_op.pool, &admin_op, "sync.interval_seconds", json!(5)).await;
    assert!(change.is_ok(), "{change:?}");
    assert!(matches!(
        audit::acknowledge(&admin_op.pool, &admin_op, seq + 2).await,
        Err(AdminError::Invalid(_))
    ));
    assert_eq!(health_status(&db).await, Status::Healthy);
}

#[tokio::test]
async fn operators_add_without_a_login_creates_one_named_by_the_email() {
    let db = common::fresh_db().await;
    // Unique to this test: roles are cluster-wide.
    let email = format!("{}@Example.com", db.name);
    let out = walletops(&db.url, &["operators", "add", &email, "--role", "viewer"]);
    assert!(out.status.success(), "{out:?}");
    let login = email.to_lowercase();
    assert!(stdout(&out).contains(&format!("acting as database login {login}")));
    let pool = common::admin::pool_as(&db, &login).await;
    let me = admin::identity::resolve_login(&pool).await.unwrap();
    assert_eq!((me.role, me.email()), (Role::Viewer, Some(email.as_str())));
    pool.close().await;
    walletops(&db.url, &["operators", "remove", &email]);
    sqlx::query(sqlx::AssertSqlSafe(format!("DROP ROLE \"{login}\"")))
        .execute(&db.pool)
        .await
        .unwrap();
}

#[tokio::test]
async fn what_a_migration_changes_is_recorded_as_the_owners_migration_not_flagged() {
    let (db, admin_op, _, _) = staffed().await;
    // As `walletops migrate` runs a later migration that adds a switch.
    let mut conn = db.pool.acquire().await.unwrap();
    sqlx::raw_sql(
        "SELECT set_config('walletops.migrating', 'on', false);
         INSERT INTO system_config (key, value) VALUES ('later.switch', '1');
         SELECT set_config('walletops.migrating', '', false);",
    )
    .execute(&mut *conn)
    .await
    .unwrap();
    drop(conn);
    let row = newest_audit(&db).await;
    assert_eq!(row.action_type.as_deref(), Some("config.insert"));
    assert!(!row.external);
    assert_eq!(row.details.as_ref().unwrap()["actor"]["via"], "migration");
    // Believed of the owner only: another login saying so changes nothing.
    let e = sqlx::raw_sql(
        "SELECT set_config('walletops.migrating', 'on', false);
         INSERT INTO system_config (key, value) VALUES ('mine', '1');",
    )
    .execute(&admin_op.pool)
    .await
    .expect_err("not the owner");
    assert!(e.to_string().contains("permission denied"), "{e}");
    assert_eq!(unacknowledged(&db).await, 0);
}

#[tokio::test]
async fn the_admin_login_changes_config_only_through_the_function_which_names_it() {
    let (db, admin_op, _, _) = staffed().await;
    let e = denied(
        &admin_op.pool,
        "UPDATE system_config SET value = 'true' WHERE key = 'workers.paused'",
    )
    .await;
    assert!(e.contains("permission denied"), "{e}");
    denied(&admin_op.pool, "DELETE FROM system_config").await;
    denied(
        &admin_op.pool,
        "INSERT INTO system_config (key, value) VALUES ('x', '1')",
    )
    .await;
    denied(
        &admin_op.pool,
        "INSERT INTO operators (user_id, role) SELECT id, 'admin' FROM auth.users LIMIT 1",
    )
    .await;
    denied(
        &admin_op.pool,
        "INSERT INTO api_tokens (name, role, token_hash) VALUES ('x', 'admin', sha256('x'))",
    )
    .await;
    denied(&admin_op.pool, "UPDATE api_tokens SET revoked_at = NULL").await;
    denied(
        &admin_op.pool,
        "UPDATE user_wallets SET address = 'TAttacker'",
    )
    .await;

    config::set(&admin_op.pool, &admin_op, "sync.interval_seconds", json!(7))
        .await
        .unwrap();
    let row = newest_audit(&db).await;
    assert_eq!(row.action_type.as_deref(), Some("config.set"));
    assert_eq!(row.admin_user_id, admin_op.user_id);
    assert_eq!(row.admin_email.as_deref(), Some("admin@example.com"));
    assert_eq!(row.db_login.as_deref(), Some(admin_op.login.as_str()));
    assert!(!row.external);
    let details = row.details.as_ref().unwrap();
    assert_eq!((&details["old"], &details["new"]), (&json!(0), &json!(7)));
    assert_eq!(details["actor"]["via"], "login");
}

#[tokio::test]
async fn a_stolen_serve_login_cannot_change_config_without_a_valid_admin_token() {
    let (db, admin_op, _, _) = staffed().await;
    let (serve, stolen) = serve_login(&db).await;
    let set_key = |key: &'static str, value: Value, token: Option<String>| {
        let stolen = stolen.clone();
        async move {
            sqlx::query("SELECT walletops_config_set($1, $2, $3)")
                .bind(key)
                .bind(value)
                .bind(token)
                .execute(&stolen)
                .await
                .map_err(AdminError::from)
        }
    };
    let set = |token: Option<String>| {
        set_key("consolidation.treasury_address", json!(address(666)), token)
    };
    let before = audit_count(&db.pool).await;
    let no_token = set(None).await;
    assert!(
        matches!(&no_token, Err(AdminError::UnknownIdentity(m)) if m.contains("is not an operator")),
        "{no_token:?}"
    );
    let guessed = set(Some("wo_guessed".into())).await;
    assert!(
        matches!(&guessed, Err(AdminError::UnknownIdentity(_))),
        "{guessed:?}"
    );
    let operator_token = tokens::create(&admin_op.pool, &admin_op, Role::Operator, "ops", None)
        .await
        .unwrap();
    let weak = set(Some(operator_token.token.expose().to_string())).await;
    assert!(matches!(&weak, Err(AdminError::Denied(_))), "{weak:?}");
    // Nor can it mint a token or write the audit trail in someone's name.
    denied(
        &stolen,
        "SELECT walletops_token_create('mine', 'admin', sha256('x'), NULL)",
    )
    .await;
    denied(
        &stolen,
        "SELECT walletops_audit('job.dispatch', 'job', NULL, '{}')",
    )
    .await;
    assert_eq!(
        audit_count(&db.pool).await,
        before + 1,
        "only the operator token's creation"
    );
    assert_eq!(
        config::get(&db.pool, "consolidation.treasury_address")
            .await
            .unwrap()
            .value,
        Some(Value::Null)
    );

    // With a live admin token the change is the token's, and audited so.
    let admin_token = tokens::create(&admin_op.pool, &admin_op, Role::Admin, "deploy", None)
        .await
        .unwrap();
    // A key that moves money stays out of reach even then: it changes only
    // by two admins' proposal and a delay (migration 0009).
    let money = set(Some(admin_token.token.expose().to_string())).await;
    assert!(
        matches!(&money, Err(AdminError::Denied(m)) if m.contains("moves money")),
        "{money:?}"
    );
    set_key(
        "sync.interval_seconds",
        json!(666),
        Some(admin_token.token.expose().to_string()),
    )
    .await
    .unwrap();
    let row = newest_audit(&db).await;
    assert_eq!(row.admin_user_id, admin_op.user_id, "the token's creator");
    assert_eq!(row.db_login.as_deref(), Some(serve.name.as_str()));
    let actor = &row.details.as_ref().unwrap()["actor"];
    assert_eq!(actor["via"], "token");
    assert_eq!(actor["token_name"], "deploy");
    assert!(!row.external);
    stolen.close().await;
    serve.drop_role().await;
}

#[tokio::test]
async fn an_operator_login_maintains_jobs_and_nothing_else() {
    let (db, _, ops, _) = staffed().await;
    let (_, _, addr) = common::admin::wallet(&db.pool, 1, "a@example.com", "A").await;
    common::admin::job(&db.pool, "failed", "sync", &addr).await;
    let before = audit_count(&db.pool).await;
    for sql in [
        "UPDATE system_config SET value = 'true' WHERE key = 'workers.paused'",
        "SELECT walletops_config_set('workers.paused', 'true')",
        "SELECT walletops_token_create('mine', 'admin', sha256('x'), NULL)",
        "UPDATE api_tokens SET revoked_at = NULL",
        "INSERT INTO operators (user_id, role) SELECT id, 'admin' FROM auth.users LIMIT 1",
        "UPDATE user_wallets SET address = 'TAttacker'",
        "INSERT INTO user_wallets (address) VALUES ('TAttacker')",
        "INSERT INTO admin_actions (action_type) VALUES ('forged')",
        "SELECT encrypted_key FROM user_wallets",
    ] {
        denied(&ops.pool, sql).await;
    }
    assert_eq!(audit_count(&db.pool).await, before);
    // Its own rights work, audited as itself.
    let cleared = admin::jobs::clear_failed(&ops.pool, &ops).await.unwrap();
    assert_eq!(cleared.deleted, 1);
    let row = newest_audit(&db).await;
    assert_eq!(row.action_type.as_deref(), Some("jobs.clear_failed"));
    assert_eq!(row.admin_email.as_deref(), Some("ops@example.com"));
}

#[tokio::test]
async fn nobody_can_insert_forged_or_future_dated_audit_rows() {
    let (db, admin_op, ops, _) = staffed().await;
    let other: uuid::Uuid = ops.user_id.unwrap();
    denied(
        &admin_op.pool,
        "INSERT INTO admin_actions (action_type, created_at) VALUES ('config.set', '2099-01-01')",
    )
    .await;
    let worker = LoginRole::create(&db.url, "walletops_worker").await;
    let mut conn = worker.connect().await;
    let e = sqlx::query("INSERT INTO admin_actions (action_type) VALUES ('forged')")
        .execute(&mut conn)
        .await
        .expect_err("the worker may not write the audit trail")
        .to_string();
    assert!(e.contains("permission denied"), "{e}");
    drop(conn);
    worker.drop_role().await;

    // Through the function, only job actions, and the actor is the caller.
    let e = sqlx::query("SELECT walletops_audit('config.set', 'system_config', 'x', '{}')")
        .execute(&admin_op.pool)
        .await
        .expect_err("not an app action");
    assert!(matches!(AdminError::from(e), AdminError::Invalid(_)));
    sqlx::query(
        "SELECT walletops_audit('job.dispatch', 'job', 'j1',
                jsonb_build_object('actor', jsonb_build_object('operator', 'ops@example.com')))",
    )
    .execute(&admin_op.pool)
    .await
    .unwrap();
    let row = newest_audit(&db).await;
    assert_eq!(row.admin_user_id, admin_op.user_id);
    assert_eq!(
        row.details.as_ref().unwrap()["actor"]["operator"],
        "admin@example.com"
    );

    // Even the owner's own insert is stamped: its time, its login, flagged.
    sqlx::query(
        "INSERT INTO admin_actions (admin_user_id, action_type, created_at, details)
         SELECT $1, 'config.set', '2099-01-01', '{\"actor\": {\"operator\": \"ops@example.com\"}}'
           FROM generate_series(1, 150)",
    )
    .bind(other)
    .execute(&db.pool)
    .await
    .unwrap();
    let future: i64 = count(
        &db.pool,
        "SELECT count(*) FROM admin_actions WHERE created_at > now() + interval '1 minute'",
    )
    .await;
    assert_eq!(future, 0, "the server's clock, not the caller's");
    let forged: i64 = count(
        &db.pool,
        "SELECT count(*) FROM admin_actions
          WHERE action_type = 'config.set' AND (NOT external OR admin_user_id IS NOT NULL
                OR db_login <> 'postgres' OR details->'actor'->>'via' <> 'sql')",
    )
    .await;
    assert_eq!(forged, 0, "stamped as the owner's plain SQL");
    // The listing is by seq: a genuine action after them is first.
    config::set(&admin_op.pool, &admin_op, "sync.interval_seconds", json!(1))
        .await
        .unwrap();
    let newest = newest_audit(&db).await;
    assert_eq!(newest.admin_user_id, admin_op.user_id);
    assert_eq!(unacknowledged(&db).await, 150);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_writers_keep_one_unbroken_chain() {
    let (db, admin_op) = with_admin().await;
    // The migrations' and the operator's own rows come before.
    let before = audit_count(&db.pool).await;
    let mut tasks = Vec::new();
    for t in 0..6i64 {
        let pool = admin_op.pool.clone();
        let id = admin_op.id.clone();
        let owner = db.pool.clone();
        tasks.push(tokio::spawn(async move {
            for n in 0..10 {
                if t % 2 == 0 {
                    config::set(&pool, &id, "sync.interval_seconds", json!(t * 100 + n))
                        .await
                        .unwrap();
                } else {
                    // Plain SQL by the owner, several audited rows at once.
                    // The rows are locked in key order first: two multi-row
                    // UPDATEs may otherwise meet the rows in different orders
                    // and deadlock, which is PostgreSQL's, not the chain's.
                    sqlx::query(
                        "WITH locked AS (
                             SELECT key FROM system_config
                              WHERE key IN ('queue.retention_days', 'queue.failed_retention_days')
                              ORDER BY key FOR UPDATE)
                         UPDATE system_config c SET value = to_jsonb($1::bigint)
                           FROM locked WHERE c.key = locked.key",
                    )
                    .bind(t * 100 + n + 1)
                    .execute(&owner)
                    .await
                    .unwrap();
                }
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let (verification, _) = admin::audit_chain::verify(&db.pool, None).await.unwrap();
    assert!(verification.ok, "{verification:?}");
    let rows = audit_count(&db.pool).await;
    assert_eq!(rows, before + 3 * 10 + 3 * 10 * 2);
    assert_eq!(verification.rows_checked as i64, rows);
    assert_eq!(verification.head.unwrap().seq, rows);
}

/// A database with a few audited changes, its chain intact, and the seq of
/// its last row.
async fn chained() -> (TestDb, Op, i64) {
    let (db, admin_op) = with_admin().await;
    for n in 1..=4 {
        config::set(&admin_op.pool, &admin_op, "sync.interval_seconds", json!(n))
            .await
            .unwrap();
    }
    let out = walletops(&db.url, &["audit", "verify"]);
    assert!(out.status.success(), "{out:?}");
    // The operator's row, the four changes, and the migrations' own rows.
    let rows = audit_count(&db.pool).await;
    assert!(
        stdout(&out).starts_with(&format!("audit trail intact: {rows} rows checked")),
        "{}",
        stdout(&out)
    );
    (db, admin_op, rows)
}

/// Runs SQL as the owner with the append-only trigger lifted, as a
/// superuser could.
async fn tamper(db: &TestDb, sql: &str) {
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "BEGIN; ALTER TABLE admin_actions DISABLE TRIGGER USER; {sql};
         ALTER TABLE admin_actions ENABLE TRIGGER USER; COMMIT;"
    )))
    .execute(&db.pool)
    .await
    .unwrap();
}

fn broken(db: &TestDb, args: &[&str], needle: &str) {
    let out = walletops(&db.url, args);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(stdout(&out).contains(needle), "{}", stdout(&out));
}

#[tokio::test]
async fn the_owner_disabling_the_trigger_and_changing_a_row_is_detected() {
    let (db, ..) = chained().await;
    tamper(
        &db,
        "UPDATE admin_actions SET details = jsonb_set(details, '{new}', '999') WHERE seq = 3",
    )
    .await;
    broken(&db, &["audit", "verify"], "audit trail BROKEN: row 3 (");
    broken(&db, &["audit", "verify"], ") was changed");
    let out = walletops(&db.url, &["audit", "verify", "--json"]);
    let v: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(v["ok"], false);
    assert_eq!(v["problem"]["kind"], "changed");
    assert_eq!(v["problem"]["seq"], 3);
    // Health turns red, everywhere it is shown.
    let report = stats::health(&db.pool).await.unwrap();
    assert_eq!(report.health.status, Status::Down);
    assert!(
        report
            .health
            .reasons
            .iter()
            .any(|r| r.contains("audit trail verification failed: row 3")),
        "{:?}",
        report.health
    );
}

#[tokio::test]
async fn the_owner_deleting_rows_is_detected_in_the_middle_and_at_the_end() {
    let (db, ..) = chained().await;
    tamper(&db, "DELETE FROM admin_actions WHERE seq = 2").await;
    broken(&db, &["audit", "verify"], "row 2 was removed");

    let (db, _, last) = chained().await;
    tamper(
        &db,
        &format!("DELETE FROM admin_actions WHERE seq = {last}"),
    )
    .await;
    broken(
        &db,
        &["audit", "verify"],
        &format!("rows {last} to {last} were removed"),
    );

    // Rewriting the head too makes the chain consistent again: the head
    // recorded elsewhere (status, /metrics) still tells.
    let (db, _, last) = chained().await;
    let head = admin::audit_chain::head(&db.pool).await.unwrap().unwrap();
    let recorded = format!("{}:{}", head.seq, head.hash);
    let mut tx = db.pool.begin().await.unwrap();
    for s in [
        "ALTER TABLE admin_actions DISABLE TRIGGER USER",
        "ALTER TABLE audit_head DISABLE TRIGGER USER",
        &format!("DELETE FROM admin_actions WHERE seq = {last}"),
        &format!(
            "UPDATE audit_head SET seq = {0}, row_hash = (SELECT row_hash FROM admin_actions WHERE seq = {0})",
            last - 1
        ),
        "ALTER TABLE audit_head ENABLE TRIGGER USER",
        "ALTER TABLE admin_actions ENABLE TRIGGER USER",
    ] {
        sqlx::query(sqlx::AssertSqlSafe(s.to_string()))
            .execute(&mut *tx)
            .await
            .unwrap();
    }
    tx.commit().await.unwrap();
    let out = walletops(&db.url, &["audit", "verify"]);
    assert!(out.status.success(), "a consistent rewrite: {out:?}");
    broken(
        &db,
        &["audit", "verify", "--head", &recorded],
        "no longer holds the recorded head",
    );
}

#[tokio::test]
async fn rows_inserted_around_the_chain_are_detected() {
    let (db, ..) = chained().await;
    tamper(
        &db,
        "INSERT INTO admin_actions (action_type, created_at) VALUES ('config.set', now() - interval '1 day')",
    )
    .await;
    broken(&db, &["audit", "verify"], "inserted outside the chain");

    // A row appended with a correct hash but behind the head's back.
    let (db, _, last) = chained().await;
    tamper(
        &db,
        &format!(
            "INSERT INTO admin_actions (id, action_type, seq, created_at, prev_hash, row_hash, external)
             SELECT i, 'config.set', {next}, t, h,
                    walletops_audit_hash(h, {next}, i, t, NULL, NULL, 'config.set', NULL, NULL, NULL, false),
                    false
               FROM (SELECT gen_random_uuid() AS i, now() AS t, row_hash AS h
                       FROM admin_actions WHERE seq = {last}) x",
            next = last + 1
        ),
    )
    .await;
    broken(&db, &["audit", "verify"], &format!("its head says {last}"));
}

#[tokio::test]
async fn expired_tokens_stop_working_and_tokens_list_shows_last_use() {
    let (db, admin_op) = with_admin().await;
    let soon = chrono::Utc::now() + chrono::Duration::seconds(2);
    let token = tokens::create(&admin_op.pool, &admin_op, Role::Admin, "short", Some(soon))
        .await
        .unwrap();
    let who = admin::identity::resolve_token(&admin_op.pool, &token.token)
        .await
        .unwrap();
    assert_eq!(who.role, Role::Admin);
    let listed = stdout(&walletops(&admin_op.url, &["tokens", "list"]));
    assert!(
        listed.contains("short") && listed.contains("last used"),
        "{listed}"
    );
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert!(matches!(
        admin::identity::resolve_token(&admin_op.pool, &token.token).await,
        Err(AdminError::UnknownIdentity(_))
    ));
    // The database refuses it too, whatever the server believed.
    let e = sqlx::query("SELECT walletops_config_set('sync.interval_seconds', '9', $1)")
        .bind(token.token.expose())
        .execute(&admin_op.pool)
        .await
        .expect_err("expired");
    assert!(matches!(
        AdminError::from(e),
        AdminError::UnknownIdentity(_)
    ));

    // --expires-in through the CLI; the token is printed once.
    let out = walletops(
        &admin_op.url,
        &[
            "tokens",
            "create",
            "--role",
            "viewer",
            "--name",
            "wall",
            "--expires-in",
            "30d",
        ],
    );
    assert!(out.status.success(), "{out:?}");
    let expires: chrono::DateTime<chrono::Utc> =
        sqlx::query_scalar("SELECT expires_at FROM api_tokens WHERE name = 'wall'")
            .fetch_one(&db.pool)
            .await
            .unwrap();
    let days = (expires - chrono::Utc::now()).num_hours();
    assert!((29 * 24..=30 * 24).contains(&days), "{days} h");
    let listed = stdout(&walletops(&admin_op.url, &["tokens", "list"]));
    assert!(listed.contains("never used"), "{listed}");
}
