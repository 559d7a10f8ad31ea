//! Changes that need two people and time, against a real database, the
//! real binary and the real HTTP server: the proposer cannot approve, an
//! approved change waits for its delay, takes effect exactly once, can be
//! cancelled until then, `config set` cannot touch the keys that move money,
//! every step is audited (never flagged external), and a failure at any
//! step of applying leaves the old value or the new one, never a mix. Each
//! admin acts with a database login of its own; the attacks are played with
//! those logins, the shared `serve` login and a worker login.

mod common;

use std::process::Output;
use std::time::Duration;

use common::TestDb;
use common::admin::{
    LoginRole, Op, address, audit_count, http, login_name, operator, set_delay, staff, url_as,
    wallet,
};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::{PgPool, Row as _};
use uuid::Uuid;
use walletops::admin::proposals::{self, ProposalStatus};
use walletops::admin::{AdminError, Role, config, tokens};

const TREASURY: &str = "consolidation.treasury_address";
const USDT: &str = "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t";

async fn value_of(pool: &PgPool, key: &str) -> Value {
    sqlx::query_scalar("SELECT value FROM system_config WHERE key = $1")
        .bind(key)
        .fetch_one(pool)
        .await
        .unwrap()
}

/// The audit rows of one proposal, in chain order: (action, acting user).
async fn steps(pool: &PgPool, id: Uuid) -> Vec<(String, Option<Uuid>)> {
    sqlx::query_as(
        "SELECT action_type, admin_user_id FROM admin_actions
          WHERE target_type = 'config_proposal' AND target_id = $1 ORDER BY seq",
    )
    .bind(id.to_string())
    .fetch_all(pool)
    .await
    .unwrap()
}

/// An audit row as the proposal tests read it: action, acting user,
/// external, database login, and the actor the database recorded.
type AuditStep = (String, Option<Uuid>, bool, Option<String>, Value);

/// How many audit rows are flagged as made outside walletops.
async fn externals(pool: &PgPool) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM admin_actions WHERE external")
        .fetch_one(pool)
        .await
        .unwrap()
}

/// Two admins and an operator, each with a login of its own.
async fn admins(db: &TestDb) -> (Op, Op, Op) {
    let (a, ops, _) = staff(db).await;
    let b = operator(db, "second-admin@example.com", Role::Admin).await;
    (a, b, ops)
}

#[tokio::test]
async fn two_admins_and_a_delay() {
    let db = common::fresh_db().await;
    let pool = &db.pool;
    let (a, b, ops) = admins(&db).await;
    let (_, _, deposit) = wallet(pool, 4, "alice@example.com", "Alice").await;
    let t1 = address(11);
    let before = audit_count(pool).await;

    // `config set` cannot touch a money key, and says what to do instead.
    for key in [
        TREASURY,
        "gas.wallet_address",
        "tron.usdt_contract",
        "gas.topup_sun",
    ] {
        let value = if key == "gas.topup_sun" {
            json!(5)
        } else {
            json!(t1)
        };
        let err = config::set(&a.pool, &a, key, value).await.unwrap_err();
        assert!(
            matches!(&err, AdminError::Invalid(m) if m.contains("config propose")),
            "{key}: {err}"
        );
    }
    // Refused proposals: not an admin, not a money key, invalid values, the
    // token itself or a deposit wallet as the treasury.
    assert!(matches!(
        proposals::propose(&ops.pool, &ops, TREASURY, json!(t1)).await,
        Err(AdminError::Forbidden { .. })
    ));
    for (key, value, says) in [
        ("ui.refresh_seconds", json!(5), "does not move money"),
        (TREASURY, json!("Tnope"), "not a TRON address"),
        ("gas.topup_sun", json!(-1), "integer"),
        (TREASURY, json!(USDT), "USDT contract"),
        ("gas.wallet_address", json!(deposit), "deposit wallets"),
        (TREASURY, Value::Null, "nothing to propose"),
    ] {
        let err = proposals::propose(&a.pool, &a, key, value.clone())
            .await
            .unwrap_err();
        assert!(err.to_string().contains(says), "{key} = {value}: {err}");
    }
    assert_eq!(audit_count(pool).await, before, "refusals are not audited");
    assert_eq!(value_of(pool, TREASURY).await, Value::Null);

    // A proposes; A cannot approve; one open proposal per key.
    let p = proposals::propose(&a.pool, &a, TREASURY, json!(t1))
        .await
        .unwrap();
    assert_eq!(p.status, ProposalStatus::Pending);
    assert_eq!(p.proposed_by.as_deref(), Some("admin@example.com"));
    let err = proposals::approve(&a.pool, &a, p.id).await.unwrap_err();
    assert!(
        matches!(&err, AdminError::Forbidden { .. }) && err.to_string().contains("different admin"),
        "{err}"
    );
    assert!(matches!(
        proposals::propose(&b.pool, &b, TREASURY, json!(address(12))).await,
        Err(AdminError::Conflict(_))
    ));

    // B approves: the 24 h default holds it back; nothing changes.
    let p = proposals::approve(&b.pool, &b, p.id).await.unwrap();
    assert_eq!(p.status, ProposalStatus::Approved);
    let left = p.due_in_seconds.unwrap();
    assert!((86_390..=86_400).contains(&left), "{left}");
    assert!(
        p.describe().contains("applies in 23h 59m"),
        "{}",
        p.describe()
    );
    assert!(proposals::apply_due(pool).await.unwrap().is_empty());
    assert_eq!(value_of(pool, TREASURY).await, Value::Null);
    // A shorter delay set later does not hurry an approved change.
    set_delay(pool, 0).await;
    assert!(proposals::apply_due(pool).await.unwrap().is_empty());
    assert_eq!(value_of(pool, TREASURY).await, Value::Null);
    assert!(matches!(
        proposals::approve(&b.pool, &b, p.id).await,
        Err(AdminError::Conflict(_))
    ));

    // Any admin cancels during the delay, the proposer included; then it
    // never applies.
    let p = proposals::cancel(&a.pool, &a, p.id).await.unwrap();
    assert_eq!(p.status, ProposalStatus::Cancelled);
    assert!(proposals::apply_due(pool).await.unwrap().is_empty());
    assert_eq!(value_of(pool, TREASURY).await, Value::Null);
    assert!(matches!(
        proposals::cancel(&b.pool, &b, p.id).await,
        Err(AdminError::Conflict(_))
    ));
    assert_eq!(
        steps(pool, p.id).await,
        vec![
            ("config.propose".into(), a.user_id),
            ("config.approve".into(), b.user_id),
            ("config.cancel".into(), a.user_id),
        ]
    );

    // With a 1 s delay: approved, not yet in effect, then in effect exactly
    // once however many appliers race for it.
    set_delay(pool, 1).await;
    let q = proposals::propose(&b.pool, &b, TREASURY, json!(t1))
        .await
        .unwrap();
    let q = proposals::approve(&a.pool, &a, q.id).await.unwrap();
    assert_eq!(q.status, ProposalStatus::Approved);
    assert_eq!(value_of(pool, TREASURY).await, Value::Null);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let racers: Vec<_> = (0..4)
        .map(|_| {
            let pool = pool.clone();
            tokio::spawn(async move { proposals::apply_due(&pool).await.unwrap().len() })
        })
        .collect();
    let mut applied = 0;
    for r in racers {
        applied += r.await.unwrap();
    }
    assert_eq!(applied, 1);
    assert_eq!(value_of(pool, TREASURY).await, json!(t1));
    let q = proposals::get(pool, q.id).await.unwrap();
    assert_eq!(q.status, ProposalStatus::Applied);
    assert_eq!(q.old_value, Some(Value::Null));
    assert_eq!(
        steps(pool, q.id).await,
        vec![
            ("config.propose".into(), b.user_id),
            ("config.approve".into(), a.user_id),
            ("config.apply".into(), a.user_id),
        ]
    );
    assert!(matches!(
        proposals::cancel(&a.pool, &a, q.id).await,
        Err(AdminError::Conflict(_))
    ));
    // Open proposals only by default; the history with `all`.
    assert!(proposals::list(pool, false, 10).await.unwrap().is_empty());
    assert_eq!(proposals::list(pool, true, 10).await.unwrap().len(), 2);
    // Every step went through walletops: nothing is flagged external.
    assert_eq!(externals(pool).await, 0);
}

/// Makes the audit insert of one step fail (`action`), or with
/// `"system_config"` the write of the value, as a crash there would; `None`
/// removes every injected failure.
async fn fail_at(pool: &PgPool, action: Option<&str>) {
    sqlx::raw_sql(
        "CREATE TABLE IF NOT EXISTS test_fail_on (action text);
         CREATE OR REPLACE FUNCTION test_fail() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN
             IF TG_TABLE_NAME = 'admin_actions' THEN
                 IF EXISTS (SELECT 1 FROM test_fail_on WHERE action = NEW.action_type) THEN
                     RAISE EXCEPTION 'injected failure at %', NEW.action_type;
                 END IF;
             ELSIF EXISTS (SELECT 1 FROM test_fail_on WHERE action = TG_TABLE_NAME) THEN
                 RAISE EXCEPTION 'injected failure at %', TG_TABLE_NAME;
             END IF;
             RETURN NEW;
         END $$;
         DROP TRIGGER IF EXISTS test_fail ON admin_actions;
         CREATE TRIGGER test_fail BEFORE INSERT ON admin_actions
             FOR EACH ROW EXECUTE FUNCTION test_fail();
         DROP TRIGGER IF EXISTS test_fail ON system_config;
         CREATE TRIGGER test_fail BEFORE UPDATE ON system_config
             FOR EACH ROW EXECUTE FUNCTION test_fail();
         DELETE FROM test_fail_on;",
    )
    .execute(pool)
    .await
    .unwrap();
    if let Some(action) = action {
        sqlx::query("INSERT INTO test_fail_on VALUES ($1)")
            .bind(action)
            .execute(pool)
            .await
            .unwrap();
    }
}

/// An apply that applies nothing: it fails at the injected step, or, when
/// the failed apply before it has sent its error but not yet released its
/// row lock (PostgreSQL reports the error before it aborts), it skips the
/// locked proposal and finds nothing else due.
async fn applies_nothing(pool: &sqlx::PgPool) {
    match proposals::apply_due(pool).await {
        Err(_) => {}
        Ok(applied) => assert!(applied.is_empty(), "applied {applied:?}"),
    }
}

#[tokio::test]
async fn a_failure_at_any_step_leaves_the_old_value_or_the_new() {
    let db = common::fresh_db().await;
    let pool = &db.pool;
    let (a, b, _) = admins(&db).await;
    let old = address(21);
    proposals::bootstrap(pool, TREASURY, json!(old))
        .await
        .unwrap();
    let new = address(22);
    set_delay(pool, 0).await;

    // Proposing and approving are one transaction each with their audit row.
    fail_at(pool, Some("config.propose")).await;
    assert!(
        proposals::propose(&a.pool, &a, TREASURY, json!(new))
            .await
            .is_err()
    );
    assert!(proposals::list(pool, true, 10).await.unwrap().is_empty());
    fail_at(pool, Some("config.approve")).await;
    let p = proposals::propose(&a.pool, &a, TREASURY, json!(new))
        .await
        .unwrap();
    assert!(proposals::approve(&b.pool, &b, p.id).await.is_err());
    assert_eq!(
        proposals::get(pool, p.id).await.unwrap().status,
        ProposalStatus::Pending
    );

    // Applying fails at its audit row: the proposal stays approved and the
    // old value stays (the approval itself stands).
    fail_at(pool, Some("config.apply")).await;
    let p = proposals::approve(&b.pool, &b, p.id).await.unwrap();
    assert_eq!(p.status, ProposalStatus::Approved);
    assert_eq!(value_of(pool, TREASURY).await, json!(old));
    applies_nothing(pool).await;
    assert_eq!(value_of(pool, TREASURY).await, json!(old));

    // Applying fails while writing system_config.
    fail_at(pool, Some("system_config")).await;
    applies_nothing(pool).await;
    assert_eq!(value_of(pool, TREASURY).await, json!(old));
    fail_at(pool, None).await;

    // Applied, then rolled back before commit (a crash before the commit).
    let mut tx = pool.begin().await.unwrap();
    let n = sqlx::query("SELECT 1 FROM walletops_apply_due_proposals()")
        .execute(&mut *tx)
        .await
        .unwrap()
        .rows_affected();
    assert_eq!(n, 1);
    let inside: Value = sqlx::query_scalar("SELECT value FROM system_config WHERE key = $1")
        .bind(TREASURY)
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    assert_eq!(inside, json!(new));
    tx.rollback().await.unwrap();
    assert_eq!(value_of(pool, TREASURY).await, json!(old));
    assert_eq!(
        proposals::get(pool, p.id).await.unwrap().status,
        ProposalStatus::Approved
    );

    // Nothing failing: applied once, audited once.
    assert_eq!(proposals::apply_due(pool).await.unwrap().len(), 1);
    assert!(proposals::apply_due(pool).await.unwrap().is_empty());
    assert_eq!(value_of(pool, TREASURY).await, json!(new));
    let applies: i64 =
        sqlx::query_scalar("SELECT count(*) FROM admin_actions WHERE action_type = 'config.apply'")
            .fetch_one(pool)
            .await
            .unwrap();
    assert_eq!(applies, 1);
}

/// Runs SQL as the login; the error text when refused.
async fn attempt(conn: &mut sqlx::PgConnection, sql: &str) -> Result<(), String> {
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_string()))
        .execute(&mut *conn)
        .await
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// A connection as the operator's own login.
async fn connect(op: &Op) -> sqlx::PgConnection {
    use sqlx::Connection as _;
    sqlx::PgConnection::connect(op.url.expose()).await.unwrap()
}

#[tokio::test]
async fn the_admin_login_cannot_skip_the_rule_by_plain_sql() {
    let db = common::fresh_db().await;
    let pool = &db.pool;
    let (a, b, _) = admins(&db).await;
    let (a_id, b_id) = (a.user_id.unwrap(), b.user_id.unwrap());
    let serve = LoginRole::create(&db.url, "walletops_admin").await;
    let worker = LoginRole::create(&db.url, "walletops_worker").await;
    // Admin A, at a psql prompt with A's own login.
    let mut conn = connect(&a).await;
    let evil = address(66);
    set_delay(pool, 0).await;

    // Direct writes of a money key, in every form, are refused: by the
    // grants (nobody but the owner writes system_config) and, should a
    // later grant allow it, by the money-key trigger.
    let direct = [
        format!("UPDATE system_config SET value = '\"{evil}\"' WHERE key = '{TREASURY}'"),
        format!("DELETE FROM system_config WHERE key = '{TREASURY}'"),
        "UPDATE system_config SET value = '5' WHERE key = 'policy.change_delay_seconds'"
            .to_string(),
        format!(
            "UPDATE system_config SET key = 'old.treasury' WHERE key = '{TREASURY}';
             INSERT INTO system_config (key, value) VALUES ('{TREASURY}', '\"{evil}\"')"
        ),
    ];
    for sql in &direct {
        let err = attempt(&mut conn, sql).await.unwrap_err();
        assert!(err.contains("permission denied"), "{sql}: {err}");
    }
    sqlx::query("GRANT INSERT, UPDATE, DELETE ON system_config TO walletops_admin")
        .execute(pool)
        .await
        .unwrap();
    for sql in &direct {
        let err = attempt(&mut conn, sql).await.unwrap_err();
        assert!(err.contains("moves money"), "{sql}: {err}");
    }
    sqlx::query("REVOKE INSERT, UPDATE, DELETE ON system_config FROM walletops_admin")
        .execute(pool)
        .await
        .unwrap();
    // walletops' own configuration function (`config set`, run by hand)
    // cannot write a money key either, though it writes other keys.
    let err = attempt(
        &mut conn,
        &format!("SELECT walletops_config_set('{TREASURY}', '\"{evil}\"')"),
    )
    .await
    .unwrap_err();
    assert!(err.contains("moves money"), "{err}");
    attempt(
        &mut conn,
        "SELECT walletops_config_set('gas.min_balance_sun', '7')",
    )
    .await
    .unwrap();
    // Nor can the login pose as the applier: the audit context is written
    // only by walletops' definer functions.
    let err = attempt(
        &mut conn,
        &format!(
            "INSERT INTO audit_context (xact, user_id, actor)
             VALUES (pg_current_xact_id(), '{b_id}', '{{\"via\": \"proposal\"}}')"
        ),
    )
    .await
    .unwrap_err();
    assert!(err.contains("permission denied"), "{err}");

    // An approved, backdated proposal cannot be written, nor a real one
    // rewritten, nor the history deleted.
    let forged = format!(
        "INSERT INTO config_proposals (key, value, proposed_by, status, approved_by, approved_at, delay_seconds)
         VALUES ('{TREASURY}', '\"{evil}\"', '{a_id}', 'approved', '{b_id}', now() - interval '2 days', 0)"
    );
    assert!(attempt(&mut conn, &forged).await.is_err());
    let p = proposals::propose(&a.pool, &a, TREASURY, json!(evil))
        .await
        .unwrap();
    for sql in [
        format!(
            "UPDATE config_proposals SET status = 'approved', approved_by = '{b_id}', delay_seconds = 0 WHERE id = '{}'",
            p.id
        ),
        format!("DELETE FROM config_proposals WHERE id = '{}'", p.id),
    ] {
        let err = attempt(&mut conn, &sql).await.unwrap_err();
        assert!(
            err.contains("policy") || err.contains("permission"),
            "{sql}: {err}"
        );
    }
    // Row security holds even if a later migration grants the table widely.
    sqlx::query("GRANT INSERT, UPDATE, DELETE ON config_proposals TO walletops_admin")
        .execute(pool)
        .await
        .unwrap();
    // A pending proposal in the other admin's name, to approve it oneself.
    let in_b_name = format!(
        "INSERT INTO config_proposals (key, value, proposed_by) VALUES ('gas.wallet_address', '\"{evil}\"', '{b_id}')"
    );
    let err = attempt(&mut conn, &in_b_name).await.unwrap_err();
    assert!(err.contains("row-level security"), "{err}");
    let rewrite = format!(
        "UPDATE config_proposals SET status = 'cancelled', cancelled_by = '{b_id}' WHERE id = '{}' RETURNING id",
        p.id
    );
    let touched = sqlx::raw_sql(sqlx::AssertSqlSafe(rewrite))
        .fetch_all(&mut conn)
        .await
        .unwrap();
    assert!(touched.is_empty(), "no row is visible to an UPDATE");
    sqlx::query("REVOKE INSERT, UPDATE, DELETE ON config_proposals FROM walletops_admin")
        .execute(pool)
        .await
        .unwrap();
    // Even the owner cannot insert a proposal approved, or approve it by SQL
    // with the proposer as approver: the trigger and the constraint bind it.
    assert!(
        sqlx::raw_sql(sqlx::AssertSqlSafe(forged.clone()))
            .execute(pool)
            .await
            .is_err()
    );
    assert!(
        sqlx::query("UPDATE config_proposals SET status = 'approved', approved_by = proposed_by, delay_seconds = 0 WHERE id = $1")
            .bind(p.id)
            .execute(pool)
            .await
            .is_err()
    );

    // Through the functions, the login decides who acts: A's login cannot
    // approve A's proposal, and the shared admin-group login that is no
    // operator (`serve`) cannot act at all without a token.
    let approve = format!("SELECT walletops_proposal_approve('{}')", p.id);
    let err = attempt(&mut conn, &approve).await.unwrap_err();
    assert!(err.contains("different admin"), "{err}");
    let mut sconn = serve.connect().await;
    let err = attempt(&mut sconn, &approve).await.unwrap_err();
    assert!(err.contains("is not an operator"), "{err}");
    // The worker may apply what is due (nothing is), never propose.
    let mut wconn = worker.connect().await;
    attempt(&mut wconn, "SELECT * FROM walletops_apply_due_proposals()")
        .await
        .unwrap();
    let err = attempt(
        &mut wconn,
        &format!("SELECT walletops_proposal_create('{TREASURY}', '\"{evil}\"')"),
    )
    .await
    .unwrap_err();
    assert!(err.contains("permission denied"), "{err}");

    assert_eq!(value_of(pool, TREASURY).await, Value::Null);
    assert_eq!(
        proposals::get(pool, p.id).await.unwrap().status,
        ProposalStatus::Pending
    );
    drop(conn);
    drop(sconn);
    drop(wconn);
    serve.drop_role().await;
    worker.drop_role().await;
}

/// Runs walletops connected as the operator's own database login, or as
/// the database owner when None.
fn run(db: &TestDb, operator: Option<&str>, args: &[&str]) -> Output {
    let url = match operator {
        Some(email) => url_as(&db.url, &login_name(db, email)),
        None => db.url.clone(),
    };
    common::walletops()
        .env("DATABASE_URL", url.expose())
        .args(args)
        .output()
        .expect("run walletops")
}

fn ok(o: Output) -> String {
    assert!(
        o.status.success(),
        "exit {:?}: {}{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn refused(o: Output, needle: &str) {
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(!o.status.success(), "should fail: {err}");
    assert!(err.lines().last().unwrap_or("").contains(needle), "{err}");
}

#[tokio::test]
async fn the_cli_proposes_approves_cancels_and_shows_the_countdown() {
    let db = common::fresh_db().await;
    let (boss, deputy) = ("boss@example.com", "deputy@example.com");
    for who in [boss, deputy] {
        let login = login_name(&db, who);
        ok(run(
            &db,
            None,
            &[
                "operators",
                "add",
                who,
                "--role",
                "admin",
                "--login",
                &login,
            ],
        ));
    }
    let (a, b) = (Some(boss), Some(deputy));
    let t1 = address(31);
    let quoted = format!("\"{t1}\"");

    refused(
        run(&db, a, &["config", "set", TREASURY, &quoted]),
        "walletops config propose",
    );
    assert_eq!(value_of(&db.pool, TREASURY).await, Value::Null);

    let out = ok(run(&db, a, &["config", "propose", TREASURY, &quoted]));
    let id = out.split_whitespace().next().unwrap().to_string();
    assert!(out.contains("waiting for a second admin"), "{out}");
    refused(run(&db, a, &["config", "approve", &id]), "different admin");
    let out = ok(run(&db, b, &["config", "approve", &id]));
    assert!(out.contains("applies in 23h 59m"), "{out}");

    let list: Vec<Value> =
        serde_json::from_str(&ok(run(&db, b, &["config", "proposals", "--json"]))).unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["status"], "approved");
    assert_eq!(list[0]["approved_by"], deputy);
    let status: Value = serde_json::from_str(&String::from_utf8_lossy(
        &run(&db, a, &["status", "--json"]).stdout,
    ))
    .unwrap();
    assert_eq!(status["pending_changes"][0]["key"], TREASURY);
    assert!(
        status["pending_changes"][0]["due_in_seconds"]
            .as_i64()
            .unwrap()
            > 86_000
    );
    let text = String::from_utf8_lossy(&run(&db, a, &["status"]).stdout).into_owned();
    assert!(
        text.contains("pending changes") && text.contains("applies in 23h 59m"),
        "{text}"
    );

    let out = ok(run(&db, b, &["config", "cancel", &id]));
    assert!(out.contains("cancelled by deputy@example.com"), "{out}");
    assert_eq!(
        ok(run(&db, a, &["config", "proposals"])).trim(),
        "no open proposals"
    );
    assert_eq!(value_of(&db.pool, TREASURY).await, Value::Null);

    // With no delay, the second admin's approval takes effect at once.
    set_delay(&db.pool, 0).await;
    let out = ok(run(&db, b, &["config", "propose", TREASURY, &quoted]));
    let id = out.split_whitespace().next().unwrap().to_string();
    let out = ok(run(&db, a, &["config", "approve", &id]));
    assert!(out.contains("applied"), "{out}");
    assert_eq!(ok(run(&db, a, &["config", "get", TREASURY])).trim(), quoted);
    assert_eq!(externals(&db.pool).await, 0);
}

#[tokio::test]
async fn the_api_proposes_approves_and_streams_the_steps() {
    let db = common::fresh_db().await;
    let pool = db.pool.clone();
    let (a, b, _) = admins(&db).await;
    let token = async |who: &Op| {
        tokens::create(
            &who.pool,
            who,
            Role::Admin,
            &format!("t-{}", Uuid::new_v4()),
            None,
        )
        .await
        .unwrap()
        .token
        .expose()
        .to_string()
    };
    let (ta, tb) = (token(&a).await, token(&b).await);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (_stop, stopped) = tokio::sync::oneshot::channel::<()>();
    // As in production: `serve` connects with a shared admin-group login
    // that is no operator; the token decides who acts.
    let serve = LoginRole::create(&db.url, "walletops_admin").await;
    let served = walletops::db::connect(&serve.url, Default::default())
        .await
        .unwrap();
    tokio::spawn(async move {
        walletops::api::serve(listener, served, walletops::api::Limits::default(), async {
            let _ = stopped.await;
        })
        .await
        .unwrap();
    });
    let client = http();
    let url = format!("{base}/api/admin/config/proposals");
    let post = async |token: &str, body: Value| {
        let r = client
            .post(&url)
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .unwrap();
        (r.status(), r.json::<Value>().await.unwrap())
    };

    let mut events = client
        .get(format!("{base}/api/events"))
        .bearer_auth(&ta)
        .send()
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;

    let t1 = address(41);
    let (s, v) = post(&ta, json!({"action": "propose", "key": TREASURY})).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    // The API's strict bodies: one JSON object, no key twice.
    for body in [
        format!(
            r#"{{"action": "propose", "key": "{TREASURY}", "value": "{t1}", "action": "cancel"}}"#
        ),
        format!(r#"[{{"action": "propose", "key": "{TREASURY}", "value": "{t1}"}}]"#),
    ] {
        let r = client
            .post(&url)
            .bearer_auth(&ta)
            .header("content-type", "application/json")
            .body(body.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    }
    assert!(proposals::list(&pool, true, 10).await.unwrap().is_empty());
    let (s, v) = post(
        &ta,
        json!({"action": "propose", "key": TREASURY, "value": t1}),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let id = v["proposal"]["id"].as_str().unwrap().to_string();
    let (s, v) = post(&ta, json!({"action": "approve", "id": id})).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{v}");
    let (s, v) = post(&tb, json!({"action": "approve", "id": id})).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["proposal"]["status"], "approved");

    let r = client.get(&url).bearer_auth(&ta).send().await.unwrap();
    let listed: Value = r.json().await.unwrap();
    assert_eq!(listed["proposals"][0]["id"], id.as_str());
    assert!(listed["proposals"][0]["due_in_seconds"].as_i64().unwrap() > 86_000);

    // Events are hints (anyone may NOTIFY): the proposal event names what
    // changed, for the client to read through the API.
    let mut seen = String::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while !seen.contains("event: proposal\ndata: {\"changed\":\"proposal\"}") {
        let chunk = tokio::time::timeout_at(deadline, events.chunk())
            .await
            .expect("the proposal events arrive")
            .unwrap()
            .unwrap();
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert_eq!(value_of(&pool, TREASURY).await, Value::Null);
    // Audited as the tokens' owners, through walletops, by the serve login.
    let rows: Vec<AuditStep> = sqlx::query_as(
        "SELECT action_type, admin_user_id, external, db_login, details -> 'actor'
           FROM admin_actions WHERE target_type = 'config_proposal' ORDER BY seq",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(rows.len(), 2, "{rows:?}");
    for ((action, user, external, login, actor), (want, who)) in rows
        .iter()
        .zip([("config.propose", &a), ("config.approve", &b)])
    {
        assert_eq!(
            (action.as_str(), *user, *external),
            (want, who.user_id, false)
        );
        assert_eq!(login.as_deref(), Some(serve.name.as_str()));
        assert_eq!(actor["via"], "token", "{actor}");
    }
}

#[tokio::test]
async fn the_workers_maintenance_leader_applies_a_due_change_with_the_worker_login() {
    let db = common::fresh_db().await;
    let pool = &db.pool;
    let (a, b, _) = admins(&db).await;
    set_delay(pool, 2).await;
    let t1 = address(51);
    let p = proposals::propose(&a.pool, &a, TREASURY, json!(t1))
        .await
        .unwrap();
    let p = proposals::approve(&b.pool, &b, p.id).await.unwrap();
    assert_eq!(p.status, ProposalStatus::Approved);

    let login = LoginRole::create(&db.url, "walletops_worker").await;
    let worker_pool = walletops::db::connect(&login.url, walletops::db::PoolOptions::default())
        .await
        .unwrap();
    let engine = walletops::engine::Engine::new(
        worker_pool.clone(),
        walletops::engine::Registry::new(),
        walletops::engine::EngineOptions::new(1),
    );
    engine.run(tokio::time::sleep(Duration::from_secs(4))).await;
    worker_pool.close().await;

    assert_eq!(value_of(pool, TREASURY).await, json!(t1));
    assert_eq!(
        proposals::get(pool, p.id).await.unwrap().status,
        ProposalStatus::Applied
    );
    // The change and its apply row are walletops' own, made by the worker's
    // login in the name of the approving admin: not flagged external.
    let rows: Vec<AuditStep> = sqlx::query_as(
        "SELECT action_type, admin_user_id, external, db_login, details -> 'actor'
           FROM admin_actions ORDER BY seq DESC LIMIT 2",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    let actions: Vec<&str> = rows.iter().map(|r| r.0.as_str()).collect();
    assert_eq!(actions, ["config.apply", "config.set"]);
    for (_, user, external, db_login, actor) in &rows {
        assert_eq!((*user, *external), (b.user_id, false));
        assert_eq!(db_login.as_deref(), Some(login.name.as_str()));
        assert_eq!(actor["via"], "proposal", "{actor}");
        assert_eq!(actor["proposal_id"], json!(p.id), "{actor}");
        assert_eq!(actor["approved_by"], "second-admin@example.com", "{actor}");
    }
    assert_eq!(externals(pool).await, 0);
    login.drop_role().await;
}

#[tokio::test]
async fn applying_leaves_the_callers_audit_context_as_it_was() {
    let db = common::fresh_db().await;
    let pool = &db.pool;
    let (a, b, _) = admins(&db).await;
    set_delay(pool, 0).await;
    let gas = "gas.wallet_address";
    let p = proposals::propose(&a.pool, &a, TREASURY, json!(address(71)))
        .await
        .unwrap();
    let q = proposals::propose(&a.pool, &a, gas, json!(address(72)))
        .await
        .unwrap();
    // Approved by hand (the application would apply it at once).
    let approve = async |id: Uuid| {
        sqlx::query("SELECT walletops_proposal_approve($1)")
            .bind(id)
            .execute(&b.pool)
            .await
            .unwrap();
    };
    let ctx = "SELECT actor ->> 'via' FROM audit_context WHERE xact = pg_current_xact_id()";
    let apply = "SELECT 1 FROM walletops_apply_due_proposals()";

    // With nothing due (the workers' leader asks every second), applying
    // writes nothing and takes no transaction id.
    let mut tx = pool.begin().await.unwrap();
    let n = sqlx::query(apply).execute(&mut *tx).await.unwrap();
    assert_eq!(n.rows_affected(), 0);
    let xid: Option<String> = sqlx::query_scalar("SELECT pg_current_xact_id_if_assigned()::text")
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    assert_eq!(xid, None);
    tx.rollback().await.unwrap();

    // A caller acting through walletops gets its own context back.
    approve(p.id).await;
    let mut tx = pool.begin().await.unwrap();
    sqlx::query("SELECT walletops_act_owner()")
        .execute(&mut *tx)
        .await
        .unwrap();
    let n = sqlx::query(apply).execute(&mut *tx).await.unwrap();
    assert_eq!(n.rows_affected(), 1);
    let after: Option<String> = sqlx::query_scalar(ctx)
        .fetch_optional(&mut *tx)
        .await
        .unwrap();
    assert_eq!(after.as_deref(), Some("database-owner"));
    tx.commit().await.unwrap();

    // A caller without one is left without one: what it then does by plain
    // SQL in the same transaction is flagged, not credited to the proposal.
    approve(q.id).await;
    let mut tx = pool.begin().await.unwrap();
    let n = sqlx::query(apply).execute(&mut *tx).await.unwrap();
    assert_eq!(n.rows_affected(), 1);
    let after: Option<String> = sqlx::query_scalar(ctx)
        .fetch_optional(&mut *tx)
        .await
        .unwrap();
    assert_eq!(after, None);
    sqlx::query("UPDATE system_config SET value = '7' WHERE key = 'gas.min_balance_sun'")
        .execute(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let flagged: Vec<(String, Option<String>)> = sqlx::query_as(
        "SELECT action_type, target_id FROM admin_actions WHERE external ORDER BY seq",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    assert_eq!(
        flagged,
        [(
            "config.set".to_string(),
            Some("gas.min_balance_sun".to_string())
        )]
    );
    for (id, key) in [(p.id, TREASURY), (q.id, gas)] {
        assert_eq!(
            steps(pool, id).await,
            vec![
                ("config.propose".into(), a.user_id),
                ("config.approve".into(), b.user_id),
                ("config.apply".into(), b.user_id),
            ]
        );
        assert_ne!(value_of(pool, key).await, Value::Null);
    }
}

#[tokio::test]
async fn a_token_presented_to_the_database_decides_who_acts() {
    let db = common::fresh_db().await;
    let pool = &db.pool;
    let (a, b, _) = admins(&db).await;
    let token = async |who: &Op, role: Role| {
        tokens::create(&who.pool, who, role, &format!("t-{}", Uuid::new_v4()), None)
            .await
            .unwrap()
            .token
            .expose()
            .to_string()
    };
    let (a_admin, b_viewer) = (token(&a, Role::Admin).await, token(&b, Role::Viewer).await);
    // The calls come from the other admin's login: the token, not the
    // login, decides.
    let call = async |on: &Op, sql: &str, token: &str| {
        sqlx::query(sqlx::AssertSqlSafe(sql.to_string()))
            .bind(token)
            .fetch_one(&on.pool)
            .await
            .map(|row| row.get::<Uuid, _>(0))
            .map_err(|e| e.to_string())
    };
    let id = call(
        &b,
        &format!(
            "SELECT id FROM walletops_proposal_create('{TREASURY}', '\"{}\"', $1)",
            address(61)
        ),
        &a_admin,
    )
    .await
    .unwrap();
    assert_eq!(
        steps(pool, id).await,
        vec![("config.propose".into(), a.user_id)]
    );
    // A's token cannot approve A's proposal, even from B's login; B's viewer
    // token is no admin's; a made-up token is nobody's.
    let approve = format!("SELECT id FROM walletops_proposal_approve('{id}', $1)");
    let refusals = [
        (a_admin.as_str(), "different admin"),
        (b_viewer.as_str(), "needs the admin role"),
        ("not-a-token", "unknown, revoked or expired token"),
    ];
    for (token, says) in refusals {
        let err = call(&b, &approve, token).await.unwrap_err();
        assert!(err.contains(says), "{err}");
    }
    // A token whose creator is no longer an admin is no second person (since
    // migration 0011 it acts with its maker's current role: a viewer's).
    let b_admin = token(&b, Role::Admin).await;
    walletops::admin::operators::add(
        pool,
        "second-admin@example.com",
        Role::Viewer,
        Some(&b.login),
    )
    .await
    .unwrap();
    let err = call(&a, &approve, &b_admin).await.unwrap_err();
    assert!(err.contains("needs the admin role"), "{err}");
    assert_eq!(
        proposals::get(pool, id).await.unwrap().status,
        ProposalStatus::Pending
    );
}

#[tokio::test]
async fn an_owning_login_acting_as_an_admin_follows_the_admins_rule() {
    // As in the demo: the login that owns the tables is also an admin
    // operator. What it does as that admin (`config set`, the function by
    // hand) cannot write a money key; as the owner it may set a first value.
    let db = common::fresh_db().await;
    let pool = &db.pool;
    let login = login_name(&db, "owner");
    let owner: String = sqlx::query_scalar("SELECT current_user::text")
        .fetch_one(pool)
        .await
        .unwrap();
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "CREATE ROLE \"{login}\" LOGIN; GRANT \"{owner}\" TO \"{login}\""
    )))
    .execute(pool)
    .await
    .unwrap();
    walletops::admin::operators::add(pool, "owner@example.com", Role::Admin, Some(&login))
        .await
        .unwrap();
    let as_owner = common::admin::pool_as(&db, &login).await;
    let me = walletops::admin::identity::resolve_login(&as_owner)
        .await
        .unwrap();

    let evil = address(81);
    let err = sqlx::query("SELECT walletops_config_set($1, $2)")
        .bind(TREASURY)
        .bind(json!(evil))
        .execute(&as_owner)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("moves money"), "{err}");
    let err = config::set(&as_owner, &me, TREASURY, json!(evil))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("config propose"), "{err}");
    assert_eq!(value_of(pool, TREASURY).await, Value::Null);

    proposals::bootstrap(&as_owner, TREASURY, json!(address(82)))
        .await
        .unwrap();
    assert_eq!(value_of(pool, TREASURY).await, json!(address(82)));
    assert!(matches!(
        proposals::bootstrap(&as_owner, TREASURY, json!(evil)).await,
        Err(AdminError::Conflict(_))
    ));
    assert_eq!(externals(pool).await, 0);
    as_owner.close().await;
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "DROP OWNED BY \"{login}\"; DROP ROLE \"{login}\""
    )))
    .execute(pool)
    .await
    .unwrap();
}

/// Sets a wallet's role as the database owner acting through walletops.
async fn set_role(pool: &PgPool, wallet: Uuid, role: &str) {
    let mut tx = pool.begin().await.unwrap();
    sqlx::query("SELECT walletops_act_owner()")
        .execute(&mut *tx)
        .await
        .unwrap();
    sqlx::query("UPDATE user_wallets SET role = $2 WHERE id = $1")
        .bind(wallet)
        .bind(role)
        .execute(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
}

/// Two triggers guard system_config on a fresh database: 0009's (a money
/// key changes only by proposal, or by the owner) and 0008's (a payout
/// address set through walletops is never the token nor a deposit wallet).
/// Neither lets the other's refusal through, and a proposal that 0008
/// refuses when it falls due is left unapplied without holding back the
/// others.
#[tokio::test]
async fn the_money_key_guard_and_the_payout_check_both_hold() {
    let db = common::fresh_db().await;
    let pool = &db.pool;
    let (a, b, _) = admins(&db).await;
    let (_, _, deposit) = wallet(pool, 31, "dora@example.com", "Dora").await;

    // The owner acting through walletops passes 0009's guard, but not 0008's
    // check: the token or a deposit wallet is no payout address.
    for (key, bad) in [(TREASURY, &deposit), ("gas.wallet_address", &deposit)] {
        let err = proposals::bootstrap(pool, key, json!(bad))
            .await
            .unwrap_err();
        assert!(err.to_string().contains("deposit wallets"), "{key}: {err}");
        assert_eq!(value_of(pool, key).await, Value::Null);
    }
    let mut tx = pool.begin().await.unwrap();
    sqlx::query("SELECT walletops_act_owner()")
        .execute(&mut *tx)
        .await
        .unwrap();
    let err = sqlx::query("UPDATE system_config SET value = $1 WHERE key = $2")
        .bind(json!(USDT))
        .bind(TREASURY)
        .execute(&mut *tx)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("USDT contract"), "{err}");
    drop(tx);
    assert_eq!(value_of(pool, TREASURY).await, Value::Null);

    // An admin's login passes neither: 0009 refuses a money key to it even
    // with a good address, through walletops_config_set() too.
    let good = address(32);
    let mut conn = connect(&a).await;
    for sql in [
        format!("SELECT walletops_config_set('{TREASURY}', '\"{good}\"'::jsonb)"),
        format!("SELECT walletops_config_set('{TREASURY}', '\"{deposit}\"'::jsonb)"),
        format!("UPDATE system_config SET value = '\"{good}\"' WHERE key = '{TREASURY}'"),
    ] {
        assert!(attempt(&mut conn, &sql).await.is_err(), "{sql}");
    }
    assert_eq!(value_of(pool, TREASURY).await, Value::Null);

    // A treasury that becomes a deposit wallet after its approval is not
    // applied when due; a gas wallet falling due with it still is.
    let (treasury_id, _, treasury) = wallet(pool, 33, "vault@example.com", "Vault").await;
    set_role(pool, treasury_id, "treasury").await;
    let (gas_id, _, gas) = wallet(pool, 34, "fuel@example.com", "Fuel").await;
    set_role(pool, gas_id, "gas").await;
    set_delay(pool, 2).await;
    let t = proposals::propose(&a.pool, &a, TREASURY, json!(treasury))
        .await
        .unwrap();
    let g = proposals::propose(&a.pool, &a, "gas.wallet_address", json!(gas))
        .await
        .unwrap();
    proposals::approve(&b.pool, &b, t.id).await.unwrap();
    proposals::approve(&b.pool, &b, g.id).await.unwrap();
    set_role(pool, treasury_id, "deposit").await;
    tokio::time::sleep(Duration::from_millis(2_100)).await;
    let applied = proposals::apply_due(pool).await.unwrap();
    assert_eq!(
        applied.iter().map(|p| p.id).collect::<Vec<_>>(),
        vec![g.id],
        "only the gas wallet applies"
    );
    assert_eq!(value_of(pool, "gas.wallet_address").await, json!(gas));
    assert_eq!(value_of(pool, TREASURY).await, Value::Null);
    assert_eq!(
        proposals::get(pool, t.id).await.unwrap().status,
        ProposalStatus::Approved
    );
    assert!(
        steps(pool, t.id)
            .await
            .iter()
            .all(|(action, _)| action != "config.apply")
    );
    // It stays for an admin to cancel, and cancelled it never applies.
    proposals::cancel(&b.pool, &b, t.id).await.unwrap();
    assert!(proposals::apply_due(pool).await.unwrap().is_empty());
    assert_eq!(value_of(pool, TREASURY).await, Value::Null);
    assert_eq!(externals(pool).await, 0, "nothing here is flagged external");
}
