//! The settings registry against the real database and the real binary:
//! the migrations seed exactly the registry's keys and defaults, the money
//! keys are the database's, `config set` refuses values outside a key's
//! bounds and unknown keys (changing nothing), and the typed readers fall
//! back to the registry's defaults and refuse what it would refuse.

mod common;

use std::process::Output;
use std::time::Duration;

use common::TestDb;
use common::admin::{audit_count, login_name, url_as};
use serde_json::Value;
use walletops::settings::{self, JobSettings, QueueSettings, SettingsError, UiSettings, registry};

fn run(db: &TestDb, as_admin: bool, args: &[&str]) -> Output {
    let url = if as_admin {
        url_as(&db.url, &login_name(db, "boss@example.com"))
    } else {
        db.url.clone()
    };
    common::walletops()
        .env("DATABASE_URL", url.expose())
        .args(args)
        .output()
        .expect("run walletops")
}

fn ok(o: Output) -> String {
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(
        o.status.success(),
        "exit {:?}: {out}{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stderr)
    );
    out
}

/// Fails with one line on stderr that contains every one of `needles`.
fn refused(o: Output, needles: &[&str]) -> String {
    assert!(
        !o.status.success(),
        "should fail: {}",
        String::from_utf8_lossy(&o.stdout)
    );
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    let last = err.lines().last().unwrap_or_default().to_string();
    assert!(last.starts_with("error: "), "{err}");
    for n in needles {
        assert!(last.contains(n), "{n:?} not in {last}");
    }
    last
}

/// A migrated database with an admin (boss@example.com) who has a login.
async fn with_admin() -> TestDb {
    let db = common::fresh_db().await;
    let login = login_name(&db, "boss@example.com");
    ok(run(
        &db,
        false,
        &[
            "operators",
            "add",
            "boss@example.com",
            "--role",
            "admin",
            "--login",
            &login,
        ],
    ));
    db
}

async fn stored(db: &TestDb, key: &str) -> Value {
    sqlx::query_scalar("SELECT value FROM system_config WHERE key = $1")
        .bind(key)
        .fetch_one(&db.pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn seeded_rows_are_the_registry() {
    let db = common::fresh_db().await;
    let rows: Vec<(String, Value, String)> =
        sqlx::query_as("SELECT key, value, description FROM system_config ORDER BY key")
            .fetch_all(&db.pool)
            .await
            .unwrap();
    let mut seeded: Vec<&str> = rows.iter().map(|(k, _, _)| k.as_str()).collect();
    let mut known: Vec<&str> = registry::KEYS.iter().map(|k| k.name).collect();
    seeded.sort_unstable();
    known.sort_unstable();
    assert_eq!(seeded, known, "the seeded keys are the registry's");
    for (key, value, description) in &rows {
        let k = registry::key(key).unwrap();
        assert_eq!(*value, k.default_value(), "{key}'s seeded default");
        assert_eq!(description, k.description, "{key}'s description");
    }
}

#[tokio::test]
async fn money_keys_are_the_databases() {
    let db = common::fresh_db().await;
    for k in registry::KEYS {
        let money: bool = sqlx::query_scalar("SELECT walletops_money_key($1)")
            .bind(k.name)
            .fetch_one(&db.pool)
            .await
            .unwrap();
        assert_eq!(money, k.moves_money, "{}", k.name);
    }
}

#[tokio::test]
async fn config_set_refuses_values_outside_the_bounds() {
    let db = with_admin().await;
    let before = audit_count(&db.pool).await;
    for (key, value, range) in [
        (
            "queue.lease_seconds",
            "9223372036854775807",
            "from 1 to 3600",
        ),
        ("queue.lease_seconds", "0", "from 1 to 3600"),
        (
            "tron.tx_expiry_seconds",
            "9223372036854775807",
            "from 1 to 86400",
        ),
        ("tron.tx_expiry_seconds", "1e30", "from 1 to 86400"),
        ("ui.refresh_seconds", "2.5", "from 1 to 3600"),
        ("health.failure_rate_down_pct", "101", "from 0 to 100"),
        ("workers.paused", "1", "true or false"),
    ] {
        let was = stored(&db, key).await;
        refused(
            run(&db, true, &["config", "set", key, value]),
            &[key, range],
        );
        assert_eq!(
            stored(&db, key).await,
            was,
            "{key} = {value} changed nothing"
        );
    }
    assert_eq!(audit_count(&db.pool).await, before, "nothing audited");

    // The bounds themselves are allowed.
    let out = ok(run(
        &db,
        true,
        &["config", "set", "queue.lease_seconds", "3600"],
    ));
    assert_eq!(out.trim(), "queue.lease_seconds: 30 -> 3600");
    ok(run(
        &db,
        true,
        &["config", "set", "tron.tx_expiry_seconds", "86400"],
    ));
    assert_eq!(stored(&db, "tron.tx_expiry_seconds").await, 86_400);
    assert_eq!(audit_count(&db.pool).await, before + 2);
}

#[tokio::test]
async fn config_set_refuses_unknown_keys_naming_the_known_ones() {
    let db = with_admin().await;
    let before = audit_count(&db.pool).await;
    refused(
        run(&db, true, &["config", "set", "queue.lease_second", "30"]),
        &[
            "no configuration key \"queue.lease_second\"",
            "queue.lease_seconds",
            "ui.refresh_seconds",
        ],
    );
    // A row the registry does not know (the original admin page may have
    // its own) is listed, but not set through walletops.
    sqlx::query("INSERT INTO system_config (key, value) VALUES ('custom.flag', 'true')")
        .execute(&db.pool)
        .await
        .unwrap();
    let before = before + 1;
    assert_eq!(audit_count(&db.pool).await, before);
    refused(
        run(&db, true, &["config", "set", "custom.flag", "false"]),
        &["no configuration key \"custom.flag\""],
    );
    assert_eq!(stored(&db, "custom.flag").await, true);
    assert_eq!(audit_count(&db.pool).await, before);
}

#[tokio::test]
async fn config_keys_prints_the_registry() {
    let db = common::fresh_db().await;
    let out = ok(run(&db, false, &["config", "keys", "--json"]));
    let keys: Vec<Value> = serde_json::from_str(&out).unwrap();
    assert_eq!(keys.len(), registry::KEYS.len());
    let lease = keys
        .iter()
        .find(|k| k["name"] == "queue.lease_seconds")
        .unwrap();
    assert_eq!(
        (&lease["default"], &lease["min"], &lease["max"]),
        (&Value::from(30), &Value::from(1), &Value::from(3600))
    );
    let text = ok(run(&db, false, &["config", "keys"]));
    assert!(
        text.lines()
            .any(|l| l.starts_with("queue.lease_seconds") && l.contains("1..=3600")),
        "{text}"
    );
}

#[tokio::test]
async fn typed_readers_use_the_registry() {
    let db = common::fresh_db().await;
    let mut conn = db.pool.acquire().await.unwrap();
    assert_eq!(
        QueueSettings::load(&mut conn).await.unwrap(),
        QueueSettings::default()
    );
    drop(conn);
    assert_eq!(UiSettings::load(&db.pool).await, UiSettings::default());

    // Written around walletops (plain SQL as the owner): a value outside
    // the bounds is refused by the readers that act on it, named by key.
    sqlx::query(
        "UPDATE system_config SET value = '9223372036854775807'
          WHERE key IN ('queue.lease_seconds', 'tron.tx_expiry_seconds', 'ui.refresh_seconds')",
    )
    .execute(&db.pool)
    .await
    .unwrap();
    let mut conn = db.pool.acquire().await.unwrap();
    match QueueSettings::load(&mut conn).await {
        Err(SettingsError::Invalid { key, message }) => {
            assert_eq!(key, "queue.lease_seconds");
            assert!(message.contains("from 1 to 3600"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    drop(conn);
    match JobSettings::load(&db.pool).await {
        Err(SettingsError::Invalid { key, .. }) => assert_eq!(key, "tron.tx_expiry_seconds"),
        other => panic!("{other:?}"),
    }
    // The console starts anyway, at the default.
    assert_eq!(UiSettings::load(&db.pool).await, UiSettings::default());

    // A missing row reads as the registry's default.
    sqlx::query(
        "DELETE FROM system_config WHERE key IN ('queue.lease_seconds', 'ui.refresh_seconds')",
    )
    .execute(&db.pool)
    .await
    .unwrap();
    assert_eq!(
        settings::lease(&db.pool).await.unwrap(),
        Duration::from_secs(30)
    );
    assert_eq!(
        UiSettings::load(&db.pool).await.refresh,
        Duration::from_secs(15)
    );
}
