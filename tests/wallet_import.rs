//! Key custody: `walletops wallet import` as the real binary against a real
//! database, and the `wallets` library under wrong keys, moved ciphertexts
//! and concurrent imports.

mod common;

use std::io::Write;
use std::process::{Output, Stdio};

use uuid::Uuid;
use walletops::tron::PrivateKey;
use walletops::wallets::{self, MasterKey, WalletError, WalletRole};

const MASTER: &str = "6b1f0e9c3a2d4b5c6d7e8f90112233445566778899aabbccddeeff0011223344";
const OTHER_MASTER: &str = "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100";
/// Published vectors (wallet-core `AddressTests.cpp`; trezor-firmware
/// `test_privkey_to_address`).
const KEY_A: &str = "2d8f68944bdbfbc0769542fba8fc2d2a3de67393334471624364c7006da2aa54";
const ADDR_A: &str = "TJRyWwFs9wTFGZg3JbrVriFbNfCug5tDeC";
const KEY_B: &str = "8d596057e510b14cbb9bf24f88803a6d6dbd138dd303a62b175b9e6cc0f3f941";
const ADDR_B: &str = "TY72iA3SBtrds3QLYsS7LwYfkzXwAXCRWT";

fn import(db: &common::TestDb, master: Option<&str>, args: &[&str], stdin: &str) -> Output {
    let mut cmd = common::walletops();
    cmd.env("DATABASE_URL", db.url.expose())
        .args(["wallet", "import"])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(m) = master {
        cmd.env("WALLET_MASTER_KEY", m);
    }
    let mut child = cmd.spawn().unwrap();
    let _ = child.stdin.take().unwrap().write_all(stdin.as_bytes());
    child.wait_with_output().unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

async fn wallet_count(db: &common::TestDb) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM user_wallets")
        .fetch_one(&db.pool)
        .await
        .unwrap()
}

/// Audit rows but the migrations' own.
async fn audit_count(db: &common::TestDb) -> i64 {
    sqlx::query_scalar(
        "SELECT count(*) FROM admin_actions
          WHERE details -> 'actor' ->> 'via' IS DISTINCT FROM 'migration'",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap()
}

async fn user_count(db: &common::TestDb) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM auth.users")
        .fetch_one(&db.pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn import_stores_the_key_sealed_and_refuses_a_second_import() {
    let db = common::fresh_db().await;
    let out = import(
        &db,
        Some(MASTER),
        &["--user", "ops@example.com"],
        &format!("{KEY_A}\n"),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        String::from_utf8(out.stdout.clone()).unwrap(),
        format!("{ADDR_A}\n")
    );
    assert!(!stderr(&out).contains(KEY_A));

    let (id, role, ciphertext, nonce, email): (Uuid, String, Vec<u8>, Vec<u8>, String) =
        sqlx::query_as(
            "SELECT w.id, w.role, w.encrypted_key, w.key_nonce, u.email \
             FROM user_wallets w JOIN auth.users u ON u.id = w.user_id WHERE w.address = $1",
        )
        .bind(ADDR_A)
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(
        (role.as_str(), email.as_str()),
        ("deposit", "ops@example.com")
    );
    assert_eq!(nonce.len(), 24);
    let secret = hex::decode(KEY_A).unwrap();
    assert!(
        !ciphertext
            .windows(8)
            .any(|w| secret.windows(8).any(|s| s == w))
    );

    let master = MasterKey::from_hex(MASTER, "test").unwrap();
    let key = wallets::signing_key(&db.pool, &master, id).await.unwrap();
    assert_eq!(key.address().to_string(), ADDR_A);

    // Audited as the database owner's action, naming the wallet but holding
    // no key material: neither the key nor its sealed form.
    let audit: Vec<(String, String, String, serde_json::Value, String)> = sqlx::query_as(
        "SELECT action_type, target_type, target_id, details, lower(a::text) FROM admin_actions a
          WHERE details -> 'actor' ->> 'via' IS DISTINCT FROM 'migration'",
    )
    .fetch_all(&db.pool)
    .await
    .unwrap();
    let [(action, target_type, target_id, details, row)] = &audit[..] else {
        panic!("one audit row expected: {audit:?}");
    };
    assert_eq!(
        (action.as_str(), target_type.as_str(), target_id.as_str()),
        ("wallet.import", "wallet", id.to_string().as_str())
    );
    assert_eq!(details["address"], ADDR_A);
    assert_eq!(details["role"], "deposit");
    assert_eq!(details["actor"]["via"], "database-owner");
    for material in [
        KEY_A.to_string(),
        hex::encode(&ciphertext),
        hex::encode(&nonce),
    ] {
        assert!(
            !row.contains(&material),
            "key material in the audit row: {row}"
        );
    }

    // The same key again, in upper case with whitespace: refused, nothing new.
    let again = import(
        &db,
        Some(MASTER),
        &["--user", "ops@example.com"],
        &format!("  {}\n", KEY_A.to_uppercase()),
    );
    assert!(!again.status.success());
    assert!(
        stderr(&again).contains("already imported"),
        "{}",
        stderr(&again)
    );
    assert_eq!(wallet_count(&db).await, 1);
    assert_eq!(audit_count(&db).await, 1, "a refused import is not audited");

    // Another key for the same user (different case): the user is reused.
    let gas = import(
        &db,
        Some(MASTER),
        &["--user", "OPS@example.com", "--role", "gas"],
        KEY_B,
    );
    assert!(gas.status.success(), "{}", stderr(&gas));
    assert_eq!(
        String::from_utf8(gas.stdout).unwrap(),
        format!("{ADDR_B}\n")
    );
    assert_eq!(user_count(&db).await, 1);
    let role: String = sqlx::query_scalar("SELECT role FROM user_wallets WHERE address = $1")
        .bind(ADDR_B)
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(role, "gas");
}

#[tokio::test]
async fn a_wrong_or_missing_master_key_is_a_clear_error_and_changes_nothing() {
    let db = common::fresh_db().await;
    let first = import(&db, Some(MASTER), &["--user", "a@example.com"], KEY_A);
    assert!(first.status.success(), "{}", stderr(&first));

    let wrong = import(&db, Some(OTHER_MASTER), &["--user", "b@example.com"], KEY_B);
    assert!(!wrong.status.success());
    let err = stderr(&wrong);
    assert!(err.contains("wrong WALLET_MASTER_KEY"), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(!err.contains(OTHER_MASTER) && !err.contains(KEY_B));
    assert_eq!((wallet_count(&db).await, user_count(&db).await), (1, 1));

    let none = import(&db, None, &["--user", "b@example.com"], KEY_B);
    assert!(
        stderr(&none).contains("WALLET_MASTER_KEY"),
        "{}",
        stderr(&none)
    );
    let bad = import(&db, Some("1234"), &["--user", "b@example.com"], KEY_B);
    assert!(stderr(&bad).contains("64 hex digits"), "{}", stderr(&bad));
    assert!(!bad.status.success() && !none.status.success());

    // The library refuses to open with the wrong key, too.
    let id: Uuid = sqlx::query_scalar("SELECT id FROM user_wallets")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    let other = MasterKey::from_hex(OTHER_MASTER, "test").unwrap();
    assert!(matches!(
        wallets::signing_key(&db.pool, &other, id).await,
        Err(WalletError::Custody(_))
    ));

    // A master key file works like the variable.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("master.hex");
    std::fs::write(&path, format!("{MASTER}\n")).unwrap();
    let mut cmd = common::walletops();
    let out = cmd
        .env("DATABASE_URL", db.url.expose())
        .env("WALLET_MASTER_KEY_FILE", &path)
        .args([
            "wallet",
            "import",
            "--user",
            "b@example.com",
            "--role",
            "treasury",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            c.stdin.take().unwrap().write_all(KEY_B.as_bytes())?;
            c.wait_with_output()
        })
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(wallet_count(&db).await, 2);
}

#[tokio::test]
async fn bad_input_is_refused_before_anything_is_written() {
    let db = common::fresh_db().await;
    for (args, stdin, expected) in [
        (vec!["--user", "not-an-email"], KEY_A, "invalid user email"),
        (vec!["--user", "a@example.com"], "nope", "64 hex digits"),
        (
            vec!["--user", "a@example.com", "--role", "boss"],
            KEY_A,
            "unknown wallet role",
        ),
    ] {
        let out = import(&db, Some(MASTER), &args, stdin);
        assert!(!out.status.success());
        assert!(stderr(&out).contains(expected), "{}", stderr(&out));
    }
    assert_eq!((wallet_count(&db).await, user_count(&db).await), (0, 0));
}

#[tokio::test]
async fn keys_attach_to_the_original_apps_keyless_rows_but_not_to_other_users() {
    let db = common::fresh_db().await;
    let master = MasterKey::from_hex(MASTER, "test").unwrap();
    let owner: Uuid = sqlx::query_scalar(
        "INSERT INTO auth.users (email) VALUES ('old@example.com') RETURNING id",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    sqlx::query("INSERT INTO user_wallets (user_id, address) VALUES ($1, $2), ($1, $3)")
        .bind(owner)
        .bind(ADDR_A)
        .bind(ADDR_B)
        .execute(&db.pool)
        .await
        .unwrap();
    let key_a = PrivateKey::from_hex(KEY_A).unwrap();
    let w = wallets::import(
        &db.pool,
        &master,
        "old@example.com",
        WalletRole::Deposit,
        &key_a,
    )
    .await
    .unwrap();
    assert!(!w.created_user);
    assert_eq!(w.user_id, owner);
    assert_eq!(wallet_count(&db).await, 2);
    assert_eq!(
        wallets::signing_key(&db.pool, &master, w.wallet_id)
            .await
            .unwrap()
            .address(),
        key_a.address()
    );

    let key_b = PrivateKey::from_hex(KEY_B).unwrap();
    let err = wallets::import(
        &db.pool,
        &master,
        "new@example.com",
        WalletRole::Deposit,
        &key_b,
    )
    .await
    .unwrap_err();
    assert!(matches!(err, WalletError::OtherUser { .. }), "{err}");
    let err = wallets::import(
        &db.pool,
        &master,
        "old@example.com",
        WalletRole::Gas,
        &key_b,
    )
    .await
    .unwrap_err();
    assert!(matches!(err, WalletError::OtherRole { .. }), "{err}");
    let keyless: i64 =
        sqlx::query_scalar("SELECT count(*) FROM user_wallets WHERE encrypted_key IS NULL")
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert_eq!(keyless, 1);
}

#[tokio::test]
async fn a_sealed_key_moved_to_another_row_does_not_open() {
    let db = common::fresh_db().await;
    let master = MasterKey::from_hex(MASTER, "test").unwrap();
    let a = wallets::import(
        &db.pool,
        &master,
        "a@example.com",
        WalletRole::Deposit,
        &PrivateKey::from_hex(KEY_A).unwrap(),
    )
    .await
    .unwrap();
    let b = wallets::import(
        &db.pool,
        &master,
        "a@example.com",
        WalletRole::Deposit,
        &PrivateKey::from_hex(KEY_B).unwrap(),
    )
    .await
    .unwrap();
    // Copy A's sealed key onto B's row: the wallet id is the associated data.
    sqlx::query(
        "UPDATE user_wallets SET (encrypted_key, key_nonce) = \
         (SELECT encrypted_key, key_nonce FROM user_wallets WHERE id = $1) WHERE id = $2",
    )
    .bind(a.wallet_id)
    .bind(b.wallet_id)
    .execute(&db.pool)
    .await
    .unwrap();
    assert!(matches!(
        wallets::signing_key(&db.pool, &master, b.wallet_id).await,
        Err(WalletError::Custody(_))
    ));
    assert!(matches!(
        wallets::signing_key(&db.pool, &master, Uuid::new_v4()).await,
        Err(WalletError::NoKey(_))
    ));
}

#[tokio::test]
async fn concurrent_imports_of_one_key_make_one_wallet_and_one_user() {
    let db = common::fresh_db().await;
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let pool = db.pool.clone();
        tasks.spawn(async move {
            let master = MasterKey::from_hex(MASTER, "test").unwrap();
            let key = PrivateKey::from_hex(KEY_A).unwrap();
            wallets::import(
                &pool,
                &master,
                "race@example.com",
                WalletRole::Deposit,
                &key,
            )
            .await
        });
    }
    let results = tasks.join_all().await;
    let ok = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(ok, 1, "{results:?}");
    assert!(
        results
            .iter()
            .filter_map(|r| r.as_ref().err())
            .all(|e| matches!(e, WalletError::AlreadyImported { .. }))
    );
    assert_eq!((wallet_count(&db).await, user_count(&db).await), (1, 1));
}
