//! A red team's attacks on identity and the funds policy after migrations
//! 0007-0009, each played with the login the README hands out (one per role, as
//! `tests/dbsec.rs` does) against the real database. Each failed before
//! migration 0011 (the signing lock: before 0012).

mod common;

use common::admin::{LoginRole, operator, staff, wallet};
use sqlx::PgPool;
use walletops::admin::{AdminError, Role, operators, tokens};

/// `walletops_config_set` as the shared `serve` login, presenting `token`.
async fn config_set_with(serve: &PgPool, token: &str) -> Result<(), AdminError> {
    sqlx::query("SELECT walletops_config_set('ui.refresh_seconds', '20', $1)")
        .bind(token)
        .execute(serve)
        .await
        .map(drop)
        .map_err(AdminError::from)
}

/// The role the HTTP server's authentication gives `token`, if any.
async fn token_role(serve: &PgPool, token: &str) -> Option<String> {
    sqlx::query_scalar("SELECT role FROM walletops_token_identity($1)")
        .bind(token)
        .fetch_optional(serve)
        .await
        .unwrap()
}

#[tokio::test]
async fn an_admin_removed_or_demoted_loses_what_its_tokens_could_do() {
    let db = common::fresh_db().await;
    let (admin_op, _, _) = staff(&db).await;
    let other = operator(&db, "admin2@example.com", Role::Admin).await;
    let serve = LoginRole::create(&db.url, "walletops_admin").await;
    let serve_pool = walletops::db::connect(&serve.url, Default::default())
        .await
        .unwrap();

    // Alice makes an admin token for herself, then leaves the company.
    let alice = tokens::create(&admin_op.pool, &admin_op, Role::Admin, "alice", None)
        .await
        .unwrap();
    let alice = alice.token.expose().to_string();
    assert!(config_set_with(&serve_pool, &alice).await.is_ok());
    // Revoked by plain SQL, so that her tokens stay unrevoked (walletops'
    // own `operators remove` revokes them too): the maker check alone must
    // hold.
    sqlx::query(
        "UPDATE operators SET revoked_at = now()
          WHERE user_id = (SELECT id FROM auth.users WHERE email = 'admin@example.com')",
    )
    .execute(&db.pool)
    .await
    .unwrap();

    // Her token no longer authenticates, changes nothing, mints nothing.
    assert_eq!(token_role(&serve_pool, &alice).await, None);
    let after = config_set_with(&serve_pool, &alice).await;
    assert!(
        matches!(&after, Err(AdminError::UnknownIdentity(m)) if m.contains("no longer an operator")),
        "{after:?}"
    );
    let mint =
        sqlx::query("SELECT walletops_token_create('persist', 'admin', sha256('x'), NULL, $1)")
            .bind(&alice)
            .execute(&serve_pool)
            .await;
    assert!(mint.is_err(), "a removed admin's token minted a token");
    let ack = sqlx::query("SELECT walletops_security_ack(NULL, 'hide it', $1)")
        .bind(&alice)
        .execute(&serve_pool)
        .await
        .unwrap_err()
        .to_string();
    assert!(ack.contains("no longer an operator"), "{ack}");

    // Bob's admin token, after Bob is demoted to viewer, reads and no more.
    let bob = tokens::create(&other.pool, &other, Role::Admin, "bob", None)
        .await
        .unwrap();
    let bob = bob.token.expose().to_string();
    operators::add(
        &db.pool,
        "admin2@example.com",
        Role::Viewer,
        Some(&other.login),
    )
    .await
    .unwrap();
    assert_eq!(
        token_role(&serve_pool, &bob).await.as_deref(),
        Some("viewer")
    );
    let demoted = config_set_with(&serve_pool, &bob).await;
    assert!(
        matches!(&demoted, Err(AdminError::Denied(_))),
        "{demoted:?}"
    );

    serve_pool.close().await;
    serve.drop_role().await;
}

#[tokio::test]
async fn removing_an_operator_revokes_its_tokens_for_good() {
    let db = common::fresh_db().await;
    let (admin_op, _, _) = staff(&db).await;
    let serve = LoginRole::create(&db.url, "walletops_admin").await;
    let serve_pool = walletops::db::connect(&serve.url, Default::default())
        .await
        .unwrap();
    let made = tokens::create(&admin_op.pool, &admin_op, Role::Admin, "alice", None)
        .await
        .unwrap();
    let alice = made.token.expose().to_string();
    let removal = operators::remove(&db.pool, "admin@example.com")
        .await
        .unwrap();
    assert_eq!(removal.tokens_revoked, 1);
    // Added again later (a returning employee, or a slip): her old token
    // stays dead.
    operators::add(
        &db.pool,
        "admin@example.com",
        Role::Admin,
        Some(&admin_op.login),
    )
    .await
    .unwrap();
    assert_eq!(token_role(&serve_pool, &alice).await, None);
    assert!(config_set_with(&serve_pool, &alice).await.is_err());
    let revoked: bool =
        sqlx::query_scalar("SELECT revoked_at IS NOT NULL FROM api_tokens WHERE name = 'alice'")
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert!(revoked, "tokens list would show it live");
    serve_pool.close().await;
    serve.drop_role().await;
}

#[tokio::test]
async fn a_worker_login_cannot_rewrite_the_transfer_records_the_caps_count() {
    let db = common::fresh_db().await;
    let (wallet_id, _, addr) = wallet(&db.pool, 7, "u@example.com", "U").await;
    // Inserted with a time of its own choosing: the database's clock wins.
    let id: uuid::Uuid = sqlx::query_scalar(
        "INSERT INTO transfers (wallet_id, kind, asset, from_address, to_address, amount,
                                tx_id, signed_tx, expires_at, created_at)
         VALUES ($1, 'gas-topup', 'trx', 'TGas', $2, 20000000, 'ab01', '\\x00',
                 now() + interval '1 minute', now() - interval '3 days')
         RETURNING id",
    )
    .bind(wallet_id)
    .bind(&addr)
    .fetch_one(&db.pool)
    .await
    .unwrap();
    let today: bool = sqlx::query_scalar(
        "SELECT created_at >= date_trunc('day', now()) FROM transfers WHERE id = $1",
    )
    .bind(id)
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert!(today, "a transfer record was backdated at insert");

    let worker = LoginRole::create(&db.url, "walletops_worker").await;
    let mut conn = worker.connect().await;
    for sql in [
        "UPDATE transfers SET created_at = now() - interval '2 days'",
        "UPDATE transfers SET amount = 1",
        "UPDATE transfers SET kind = 'consolidation-trx', asset = 'trx'",
        "UPDATE transfers SET to_address = 'TAttacker'",
    ] {
        let e = sqlx::query(sql)
            .execute(&mut conn)
            .await
            .expect_err(sql)
            .to_string();
        assert!(e.contains("never change"), "{sql}: {e}");
    }
    // Its status moves forward only (what the worker's jobs do)...
    sqlx::query("UPDATE transfers SET status = 'broadcast', broadcast_count = 1")
        .execute(&mut conn)
        .await
        .unwrap();
    let e = sqlx::query("UPDATE transfers SET status = 'signed'")
        .execute(&mut conn)
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("cannot go from broadcast to signed"), "{e}");
    sqlx::query("UPDATE transfers SET status = 'expired'")
        .execute(&mut conn)
        .await
        .unwrap();
    let e = sqlx::query("UPDATE transfers SET status = 'confirmed'")
        .execute(&mut conn)
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("cannot go from expired"), "{e}");
    drop(conn);
    worker.drop_role().await;
    // ... and a record marked expired by that login still counts towards
    // today's caps (jobs::transfers counts every signature of the day;
    // tests/wallet_jobs.rs plays it through the engine).
    let row: (String, i64) = sqlx::query_as("SELECT status, amount FROM transfers WHERE id = $1")
        .bind(id)
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(row, ("expired".to_string(), 20_000_000));
}

#[tokio::test]
async fn text_other_logins_wrote_cannot_drive_the_admins_terminal() {
    let db = common::fresh_db().await;
    let (admin_op, ops, _) = staff(&db).await;
    // A worker's login writes a security event that would erase the line
    // above it, retitle the terminal and ring its bell...
    let worker = LoginRole::create(&db.url, "walletops_worker").await;
    let mut conn = worker.connect().await;
    sqlx::query(
        "INSERT INTO security_events (kind, rule, message)
         VALUES ('policy-refusal', E'sender\\x1b[2J', E'fine\\x1b[1A\\x1b[2K\\x1b]0;pwned\\x07')",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    drop(conn);
    worker.drop_role().await;
    // ... and an operator's login an audit row with an escape in its target.
    sqlx::query("SELECT walletops_audit('job.dispatch', E'wallet\\x1b[2J', E'T\\x1b]52;c;VEF0dGFja2Vy\\x07', '{}')")
        .execute(&ops.pool)
        .await
        .unwrap();

    for args in [&["security", "list"][..], &["audit"], &["status"]] {
        let out = common::walletops()
            .env("DATABASE_URL", admin_op.url.expose())
            .args(args)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            !out.stdout.iter().any(|b| *b == 0x1b || *b == 0x07),
            "walletops {args:?} printed a control character: {text:?}"
        );
        assert!(
            text.contains("\\u{1b}"),
            "walletops {args:?} hid the escape instead of showing it: {text:?}"
        );
    }
}

#[tokio::test]
async fn only_a_worker_login_can_take_the_signing_lock() {
    let db = common::fresh_db().await;
    let (admin, ops, viewer) = staff(&db).await;
    let lock = "SELECT kind FROM signing_locks WHERE kind = 'consolidation-usdt' FOR UPDATE";
    let upsert = "INSERT INTO signing_locks (kind) VALUES ('consolidation-usdt')
                  ON CONFLICT (kind) DO UPDATE SET kind = EXCLUDED.kind";
    // Any login may take an advisory lock, so signing no longer waits on one:
    // it locks a row, which needs UPDATE rights.
    for (who, pool) in [
        ("viewer", &viewer.pool),
        ("operator", &ops.pool),
        ("admin", &admin.pool),
    ] {
        for statement in [lock, upsert] {
            let mut tx = pool.begin().await.unwrap();
            let err = sqlx::query(statement)
                .execute(&mut *tx)
                .await
                .expect_err(&format!("{who} took the signing lock with {statement}"));
            assert!(
                err.to_string().contains("permission denied"),
                "{who}: {err}"
            );
        }
    }
    let worker = LoginRole::create(&db.url, "walletops_worker").await;
    let worker_pool = walletops::db::connect(&worker.url, Default::default())
        .await
        .unwrap();
    let mut tx = worker_pool.begin().await.unwrap();
    sqlx::query(upsert).execute(&mut *tx).await.unwrap();
    // A new kind gets its row from the worker that first signs it.
    sqlx::query("INSERT INTO signing_locks (kind) VALUES ('later-kind') ON CONFLICT (kind) DO UPDATE SET kind = EXCLUDED.kind")
        .execute(&mut *tx)
        .await
        .unwrap();
    tx.rollback().await.unwrap();
}

#[tokio::test]
async fn a_viewer_login_cannot_hold_up_maintenance() {
    let db = common::fresh_db().await;
    let (admin, ops, viewer) = staff(&db).await;
    // The advisory lock that leadership once was: any login may take it.
    let mut session = viewer.pool.acquire().await.unwrap();
    sqlx::query("SELECT pg_advisory_lock($1)")
        .bind(0x7761_6c6c_6574_6f70_i64)
        .execute(&mut *session)
        .await
        .unwrap();
    // The lease row is the workers' alone.
    for (who, pool) in [
        ("viewer", &viewer.pool),
        ("operator", &ops.pool),
        ("admin", &admin.pool),
    ] {
        let err = sqlx::query(
            "UPDATE maintenance_leader
                SET holder = gen_random_uuid(), renewed_at = now() + interval '1 day'",
        )
        .execute(pool)
        .await
        .expect_err(&format!("{who} took the maintenance lease"));
        assert!(
            err.to_string().contains("permission denied"),
            "{who}: {err}"
        );
    }
    let worker = LoginRole::create(&db.url, "walletops_worker").await;
    let worker_pool = walletops::db::connect(&worker.url, Default::default())
        .await
        .unwrap();
    let mut leader = walletops::queue::maintenance::try_lead(&worker_pool)
        .await
        .unwrap()
        .expect("a worker leads whatever advisory locks a viewer holds");
    leader.tick().await.unwrap();
    leader.resign().await;
}
