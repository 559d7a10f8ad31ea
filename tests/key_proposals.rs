//! Gas and treasury keys take two admins and a delay, against a real
//! database with one login per person: an imported gas or treasury key is
//! stored but inactive, its proposer cannot approve its activation, an
//! approved activation waits for the delay and applies exactly once, a
//! cancelled one never does, no admin or worker login activates a wallet by
//! plain SQL, the steps are audited (never flagged external), and wallets
//! from before the migration stay active.

mod common;

use std::io::Write;
use std::process::{Output, Stdio};
use std::time::Duration;

use common::TestDb;
use common::admin::{LoginRole, Op, operator, set_delay};
use serde_json::Value;
use sqlx::{Connection, PgPool};
use uuid::Uuid;
use walletops::admin::proposals::{self, ProposalStatus};
use walletops::admin::{self, AdminError, Role};
use walletops::tron::PrivateKey;
use walletops::wallets::{MasterKey, WalletRole};

const MASTER: &str = "6b1f0e9c3a2d4b5c6d7e8f90112233445566778899aabbccddeeff0011223344";
const GAS_KEY: &str = "2d8f68944bdbfbc0769542fba8fc2d2a3de67393334471624364c7006da2aa54";
const TREASURY_KEY: &str = "8d596057e510b14cbb9bf24f88803a6d6dbd138dd303a62b175b9e6cc0f3f941";

fn master() -> MasterKey {
    MasterKey::from_hex(MASTER, "the test").unwrap()
}

async fn active(pool: &PgPool, wallet: Uuid) -> bool {
    sqlx::query_scalar("SELECT active FROM user_wallets WHERE id = $1")
        .bind(wallet)
        .fetch_one(pool)
        .await
        .unwrap()
}

/// Admin A imports keys: an admin whose login also holds the database
/// owner's rights (key import needs them), as the demo's admin does.
async fn importing_admin(db: &TestDb) -> Op {
    let a = operator(db, "admin-a@example.com", Role::Admin).await;
    let owner: String = sqlx::query_scalar(
        "SELECT pg_get_userbyid(relowner)::text FROM pg_class WHERE oid = 'user_wallets'::regclass",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "GRANT \"{owner}\" TO \"{}\"",
        a.login
    )))
    .execute(&db.pool)
    .await
    .unwrap();
    a
}

/// Plain SQL as `pool`'s login: the error's message, or None if it worked.
async fn try_sql(pool: &PgPool, sql: &str, wallet: Uuid) -> Option<String> {
    sqlx::query(sqlx::AssertSqlSafe(sql.to_string()))
        .bind(wallet)
        .execute(pool)
        .await
        .err()
        .map(|e| e.to_string())
}

#[tokio::test]
async fn gas_and_treasury_keys_wait_for_a_second_admin_and_the_delay() {
    let db = common::fresh_db().await;
    let pool = &db.pool;
    let a = importing_admin(&db).await;
    let b = operator(&db, "admin-b@example.com", Role::Admin).await;
    let ops = operator(&db, "ops@example.com", Role::Operator).await;
    set_delay(pool, 3).await;
    let gas_key = PrivateKey::from_hex(GAS_KEY).unwrap();
    let treasury_key = PrivateKey::from_hex(TREASURY_KEY).unwrap();

    // A deposit wallet is usable at once, with no proposal.
    let deposit = admin::wallets::import(
        &a.pool,
        &master(),
        "alice@example.com",
        WalletRole::Deposit,
        &PrivateKey::from_hex(&"11".repeat(32)).unwrap(),
    )
    .await
    .unwrap();
    assert!(deposit.activation.is_none());
    assert!(active(pool, deposit.wallet.wallet_id).await);

    // A imports a gas key: stored, inactive, with a pending proposal.
    let gas = admin::wallets::import(
        &a.pool,
        &master(),
        "gas@example.com",
        WalletRole::Gas,
        &gas_key,
    )
    .await
    .unwrap();
    let gas_id = gas.wallet.wallet_id;
    let p = gas.activation.expect("a gas key waits for approval");
    assert_eq!(p.key, format!("wallet:{}", gas_key.address()));
    assert_eq!(p.status, ProposalStatus::Pending);
    assert_eq!(p.proposed_by.as_deref(), Some("admin-a@example.com"));
    assert!(!active(pool, gas_id).await);
    let stored: bool =
        sqlx::query_scalar("SELECT encrypted_key IS NOT NULL FROM user_wallets WHERE id = $1")
            .bind(gas_id)
            .fetch_one(pool)
            .await
            .unwrap();
    assert!(stored, "the key is sealed and stored at the import");
    let listed = proposals::list(pool, false, 100).await.unwrap();
    assert!(
        listed.iter().any(|l| l.id == p.id),
        "config proposals lists it"
    );

    // A cannot approve its own import, through walletops or the function.
    let err = proposals::approve(&a.pool, &a, p.id).await.unwrap_err();
    assert!(matches!(err, AdminError::Forbidden { .. }), "{err}");
    let direct = sqlx::query("SELECT walletops_proposal_approve($1)")
        .bind(p.id)
        .execute(&a.pool)
        .await
        .unwrap_err();
    assert!(direct.to_string().contains("different admin"), "{direct}");
    // Nobody proposes an activation by hand.
    let err = proposals::propose(&b.pool, &b, &p.key, Value::Bool(true))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("importing the key"), "{err}");
    // An operator is no admin.
    let err = proposals::approve(&ops.pool, &ops, p.id).await.unwrap_err();
    assert!(matches!(err, AdminError::Forbidden { .. }), "{err}");

    // A imports a treasury key too.
    let treasury = admin::wallets::import(
        &a.pool,
        &master(),
        "treasury@example.com",
        WalletRole::Treasury,
        &treasury_key,
    )
    .await
    .unwrap();
    let treasury_id = treasury.wallet.wallet_id;
    let t = treasury
        .activation
        .expect("a treasury key waits for approval");

    // B approves both; before the delay neither is active.
    let approved = proposals::approve(&b.pool, &b, p.id).await.unwrap();
    assert_eq!(approved.status, ProposalStatus::Approved);
    assert!(approved.due_in_seconds.unwrap() > 0);
    proposals::approve(&b.pool, &b, t.id).await.unwrap();
    assert!(proposals::apply_due(pool).await.unwrap().is_empty());
    assert!(!active(pool, gas_id).await);

    // Nobody activates it by plain SQL: no admin login (no grant on the
    // column), not even with the column granted (the trigger), no worker.
    const ACTIVATE: &str = "UPDATE user_wallets SET active = true WHERE id = $1";
    let err = try_sql(&b.pool, ACTIVATE, gas_id).await.unwrap();
    assert!(err.contains("permission denied"), "{err}");
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "GRANT UPDATE (active) ON user_wallets TO \"{}\"",
        b.login
    )))
    .execute(pool)
    .await
    .unwrap();
    let err = try_sql(&b.pool, ACTIVATE, gas_id).await.unwrap();
    assert!(err.contains("only by its activation proposal"), "{err}");
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "REVOKE UPDATE (active) ON user_wallets FROM \"{}\"",
        b.login
    )))
    .execute(pool)
    .await
    .unwrap();
    let worker = LoginRole::create(&db.url, "walletops_worker").await;
    {
        let mut conn = worker.connect().await;
        let err = sqlx::query(ACTIVATE)
            .bind(gas_id)
            .execute(&mut conn)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("permission denied"), "{err}");
        // Nor by writing the applied proposal the trigger trusts.
        let err = sqlx::query("UPDATE config_proposals SET status = 'applied' WHERE id = $1")
            .bind(p.id)
            .execute(&mut conn)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("permission denied"), "{err}");
        conn.close().await.unwrap();
    }
    // Nor may an admin propose an activation by hand (only the import does).
    let err = try_sql(
        &b.pool,
        "SELECT walletops_wallet_activation_propose($1)",
        gas_id,
    )
    .await
    .unwrap();
    assert!(err.contains("permission denied"), "{err}");
    // Nor sneak a 'wallet:' key into system_config.
    let err =
        sqlx::query("INSERT INTO system_config (key, value) VALUES ('wallet:' || $1, 'true')")
            .bind(gas_key.address().to_string())
            .execute(pool)
            .await
            .unwrap_err();
    assert!(err.to_string().contains("not a configuration key"), "{err}");
    assert!(!active(pool, gas_id).await);

    // A cancels the treasury's activation during the delay.
    let cancelled = proposals::cancel(&a.pool, &a, t.id).await.unwrap();
    assert_eq!(cancelled.status, ProposalStatus::Cancelled);

    // After the delay: the gas wallet is active, exactly once; the
    // cancelled treasury stays inactive.
    tokio::time::sleep(Duration::from_millis(3200)).await;
    let applied = proposals::apply_due(pool).await.unwrap();
    assert_eq!(applied.len(), 1, "{applied:?}");
    assert_eq!(applied[0].id, p.id);
    assert!(proposals::apply_due(pool).await.unwrap().is_empty());
    assert!(active(pool, gas_id).await);
    assert!(!active(pool, treasury_id).await);
    assert_eq!(
        proposals::get(pool, p.id).await.unwrap().status,
        ProposalStatus::Applied
    );
    let no_wallet_keys: i64 =
        sqlx::query_scalar("SELECT count(*) FROM system_config WHERE key LIKE 'wallet:%'")
            .fetch_one(pool)
            .await
            .unwrap();
    assert_eq!(no_wallet_keys, 0);

    // Audited: the import (inactive) and the activation by the proposal,
    // neither flagged external; the proposal's own steps.
    let rows: Vec<(String, bool, Value)> = sqlx::query_as(
        "SELECT action_type, external, details FROM admin_actions
          WHERE target_type = 'wallet' AND target_id = $1 ORDER BY seq",
    )
    .bind(gas_id.to_string())
    .fetch_all(pool)
    .await
    .unwrap();
    let actions: Vec<&str> = rows.iter().map(|r| r.0.as_str()).collect();
    assert_eq!(actions, ["wallet.import", "wallet.activate"], "{rows:?}");
    assert!(rows.iter().all(|r| !r.1), "not external: {rows:?}");
    assert_eq!(rows[0].2["active"], Value::Bool(false));
    assert_eq!(rows[1].2["new"]["active"], Value::Bool(true));
    assert_eq!(rows[1].2["actor"]["via"], "proposal", "{:?}", rows[1].2);
    let steps: Vec<String> = sqlx::query_scalar(
        "SELECT action_type FROM admin_actions
          WHERE target_type = 'config_proposal' AND target_id = $1 ORDER BY seq",
    )
    .bind(p.id.to_string())
    .fetch_all(pool)
    .await
    .unwrap();
    assert_eq!(steps, ["config.propose", "config.approve", "config.apply"]);
    let externals: i64 = sqlx::query_scalar("SELECT count(*) FROM admin_actions WHERE external")
        .fetch_one(pool)
        .await
        .unwrap();
    assert_eq!(externals, 0);

    // A second gas key cannot skip the line through the owner's bootstrap.
    let err = admin::wallets::bootstrap(
        pool,
        &master(),
        "gas2@example.com",
        WalletRole::Gas,
        &PrivateKey::from_hex(&"22".repeat(32)).unwrap(),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, AdminError::Conflict(_)), "{err}");
    worker.drop_role().await;
}

#[tokio::test]
async fn wallets_from_before_the_migration_stay_active() {
    let db = common::empty_db().await;
    let pool = &db.pool;
    {
        let mut conn = pool.acquire().await.unwrap();
        sqlx::query("SELECT set_config('walletops.migrating', 'on', false)")
            .execute(&mut *conn)
            .await
            .unwrap();
        walletops::db::MIGRATOR
            .run_direct(Some(9), &mut *conn, false)
            .await
            .unwrap();
        sqlx::query("SELECT set_config('walletops.migrating', '', false)")
            .execute(&mut *conn)
            .await
            .unwrap();
    }
    let gas_key = PrivateKey::from_hex(GAS_KEY).unwrap();
    let mut ids = Vec::new();
    for (role, address) in [
        ("gas", gas_key.address().to_string()),
        ("treasury", common::admin::address(7)),
    ] {
        let id: Uuid = sqlx::query_scalar(
            "INSERT INTO user_wallets (address, role, encrypted_key, key_nonce)
             VALUES ($1, $2, '\\x00', '\\x00') RETURNING id",
        )
        .bind(address)
        .bind(role)
        .fetch_one(pool)
        .await
        .unwrap();
        ids.push(id);
    }
    walletops::db::migrate(pool).await.unwrap();
    for id in ids {
        assert!(active(pool, id).await, "a wallet from before stays active");
    }
}

/// `walletops` as `url`'s login, with `stdin`.
fn cli(url: &walletops::config::DatabaseUrl, args: &[&str], stdin: &str) -> Output {
    let mut child = common::walletops()
        .env("DATABASE_URL", url.expose())
        .env("WALLET_MASTER_KEY", MASTER)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run walletops");
    let _ = child.stdin.take().unwrap().write_all(stdin.as_bytes());
    child.wait_with_output().unwrap()
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

#[tokio::test]
async fn the_cli_imports_a_treasury_key_inactive_and_the_proposals_commands_cover_it() {
    let db = common::fresh_db().await;
    let b = operator(&db, "admin-b@example.com", Role::Admin).await;
    let address = PrivateKey::from_hex(TREASURY_KEY)
        .unwrap()
        .address()
        .to_string();

    // The database owner's login, linked to no operator, imports it.
    let out = cli(
        &db.url,
        &[
            "wallet",
            "import",
            "--user",
            "t@example.com",
            "--role",
            "treasury",
        ],
        TREASURY_KEY,
    );
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(ok(out).trim(), address);
    assert!(
        err.contains("inactive") && err.contains("walletops config approve"),
        "{err}"
    );
    let list: Vec<Value> =
        serde_json::from_str(&ok(cli(&b.url, &["config", "proposals", "--json"], ""))).unwrap();
    assert_eq!(list.len(), 1, "{list:?}");
    assert_eq!(list[0]["key"], format!("wallet:{address}"));
    assert_eq!(list[0]["proposed_by"], "the database owner");
    assert_eq!(list[0]["status"], "pending");
    let id = list[0]["id"].as_str().unwrap().to_string();

    // With no delay, the second person's approval activates it at once.
    set_delay(&db.pool, 0).await;
    let out = ok(cli(&b.url, &["config", "approve", &id], ""));
    assert!(out.contains("applied"), "{out}");
    let wallet: Uuid = sqlx::query_scalar("SELECT id FROM user_wallets WHERE address = $1")
        .bind(&address)
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert!(active(&db.pool, wallet).await);
}
