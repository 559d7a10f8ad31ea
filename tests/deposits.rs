//! The chain follower's database side (issue 16) against a real PostgreSQL,
//! as the worker's own login: its election, the cursor that moves only with
//! a block's rows, the rows a sync would write (same key: stored once
//! whoever comes first), stale balances, pending deposits replaced on a
//! fork, and what health says about lag, gaps and a sync's disagreement.

mod common;

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;
use walletops::admin::health::{self, Status};
use walletops::admin::stats;
use walletops::wallets::deposits::{self, BlockRows, Cursor, DepositError};
use walletops::wallets::state;
use walletops::wallets::transactions::{self, NewTransaction};

/// A database, a deposit wallet, and a pool as the workers' login.
struct Env {
    db: common::TestDb,
    worker: PgPool,
    login: common::admin::LoginRole,
    wallet: Uuid,
    address: String,
}

impl Env {
    async fn new() -> Self {
        let db = common::fresh_db().await;
        let (wallet, _, address) =
            common::admin::wallet(&db.pool, 1, "dep@example.com", "Dep").await;
        let login = common::admin::LoginRole::create(&db.url, "walletops_worker").await;
        let worker = walletops::db::connect(&login.url, Default::default())
            .await
            .unwrap();
        Env {
            db,
            worker,
            login,
            wallet,
            address,
        }
    }

    async fn rows(&self) -> i64 {
        common::admin::count(&self.db.pool, "SELECT count(*) FROM wallet_transactions").await
    }

    async fn stop(self) {
        self.worker.close().await;
        self.login.drop_role().await;
    }
}

fn time(secs: i64) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp(secs, 0)
}

/// A USDT deposit of `amount` to `to`, as sync's usdt_rows writes it (no
/// block number: the indexer's TRC-20 list has none).
fn usdt_in(tx: &str, to: &str, amount: i64) -> NewTransaction {
    NewTransaction {
        tx_id: tx.into(),
        event_index: 0,
        asset: "usdt",
        direction: "in",
        from: common::admin::address(99),
        to: to.into(),
        amount,
        block_number: None,
        block_time: time(1_700_000_000),
        status: "confirmed",
    }
}

fn block(number: i64, rows: Vec<(Uuid, NewTransaction)>) -> BlockRows {
    BlockRows {
        number,
        hash: format!("h{number}"),
        time: time(1_700_000_000 + number * 3),
        rows,
    }
}

#[tokio::test]
async fn one_follower_at_a_time_and_the_cursor_moves_only_with_its_block() {
    let env = Env::new().await;
    let pool = &env.worker;
    let first = deposits::try_follow(pool).await.unwrap().expect("leads");
    assert!(
        deposits::try_follow(pool).await.unwrap().is_none(),
        "a second worker waits while the lease is fresh"
    );
    first
        .start_at(
            pool,
            &Cursor {
                number: 10,
                hash: "h10".into(),
            },
            time(1_700_000_030),
        )
        .await
        .unwrap();

    let at = |number: i64| Cursor {
        number,
        hash: format!("h{number}"),
    };
    // A follower whose idea of the cursor is not the stored one writes nothing.
    let right = block(11, vec![(env.wallet, usdt_in("aa", &env.address, 5))]);
    assert!(matches!(
        deposits::record_block(pool, Some((&first, &at(9))), &right).await,
        Err(DepositError::LeaseLost)
    ));
    assert_eq!(env.rows().await, 0);

    let inserted = deposits::record_block(pool, Some((&first, &at(10))), &right)
        .await
        .unwrap();
    assert_eq!(inserted, [env.wallet]);
    assert_eq!(
        deposits::cursor(pool).await.unwrap(),
        Some(Cursor {
            number: 11,
            hash: "h11".into()
        })
    );
    // Recording the same block again (a follower that read it before the
    // cursor moved) is refused by the cursor; without the cursor (a rescan) it adds nothing.
    assert!(
        deposits::record_block(pool, Some((&first, &at(10))), &right)
            .await
            .is_err()
    );
    assert!(
        deposits::record_block(pool, None, &right)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(env.rows().await, 1);

    // A follower that gives up lets another take over at once.
    let stale = deposits::try_follow(pool).await.unwrap();
    assert!(stale.is_none());
    first.resign(pool).await;
    let second = deposits::try_follow(pool)
        .await
        .unwrap()
        .expect("takes over");
    second.renew(pool).await.unwrap();
    // Blocks without deposits are passed over in one move.
    deposits::record_block(pool, Some((&second, &at(11))), &block(40, Vec::new()))
        .await
        .unwrap();
    assert_eq!(deposits::cursor(pool).await.unwrap().unwrap().number, 40);
    env.stop().await;
}

#[tokio::test]
async fn a_sync_and_the_follower_store_one_deposit_once_whoever_comes_first() {
    let env = Env::new().await;
    let pool = &env.worker;
    // The follower first, with the block number it knows; then a sync of
    // the wallet lists the same transfer without one.
    let followed = NewTransaction {
        block_number: Some(21),
        ..usdt_in("bb", &env.address, 7)
    };
    deposits::record_block(pool, None, &block(21, vec![(env.wallet, followed)]))
        .await
        .unwrap();
    let by_sync = transactions::store(pool, env.wallet, &[usdt_in("bb", &env.address, 7)])
        .await
        .unwrap();
    assert!(by_sync.is_empty(), "the sync's row has the follower's key");
    // The other order: a sync first, then the follower.
    let synced = transactions::store(pool, env.wallet, &[usdt_in("cc", &env.address, 8)])
        .await
        .unwrap();
    assert_eq!(synced.len(), 1);
    let followed = deposits::record_block(
        pool,
        None,
        &block(22, vec![(env.wallet, usdt_in("cc", &env.address, 8))]),
    )
    .await
    .unwrap();
    assert!(followed.is_empty());
    assert_eq!(env.rows().await, 2);
    env.stop().await;
}

#[tokio::test]
async fn a_recorded_deposit_makes_the_balance_stale_until_the_next_sync() {
    let env = Env::new().await;
    let pool = &env.worker;
    assert!(!deposits::balance_stale(pool, env.wallet).await.unwrap());
    deposits::record_block(
        pool,
        None,
        &block(5, vec![(env.wallet, usdt_in("dd", &env.address, 9))]),
    )
    .await
    .unwrap();
    assert!(deposits::balance_stale(pool, env.wallet).await.unwrap());
    state::record_synced(pool, env.wallet, 0, 9).await.unwrap();
    assert!(!deposits::balance_stale(pool, env.wallet).await.unwrap());
    env.stop().await;
}

#[tokio::test]
async fn a_forked_block_shows_what_it_holds_now_and_solidification_clears_it() {
    let env = Env::new().await;
    let pool = &env.worker;
    let a = usdt_in("ee", &env.address, 1);
    let b = usdt_in("ff", &env.address, 2);
    deposits::replace_pending(pool, 30, "h30", &[(env.wallet, a.clone())])
        .await
        .unwrap();
    deposits::replace_pending(pool, 31, "h31", &[(env.wallet, b.clone())])
        .await
        .unwrap();
    // Block 30 re-read with another hash: its transfer moved away.
    deposits::replace_pending(pool, 30, "h30x", &[])
        .await
        .unwrap();
    let shown = deposits::pending(pool).await.unwrap();
    assert_eq!(
        shown
            .iter()
            .map(|p| (p.tx_id.as_str(), p.block_number))
            .collect::<Vec<_>>(),
        [("ff", 31)]
    );
    // The transfer lands in block 31's new version alongside: moved, not doubled.
    deposits::replace_pending(pool, 31, "h31x", &[(env.wallet, a), (env.wallet, b)])
        .await
        .unwrap();
    assert_eq!(deposits::pending(pool).await.unwrap().len(), 2);
    deposits::record_block(pool, None, &block(31, Vec::new()))
        .await
        .unwrap();
    assert!(deposits::pending(pool).await.unwrap().is_empty());
    env.stop().await;
}

#[tokio::test]
async fn health_reports_lag_gaps_and_a_sync_that_found_what_the_follower_missed() {
    let env = Env::new().await;
    let pool = &env.db.pool;
    let before = stats::health(pool).await.unwrap();
    assert!(
        before.vitals.deposits.is_none(),
        "off by default: no follower, no reason"
    );
    common::admin::set_config(pool, "deposits.enabled", serde_json::json!(true)).await;
    common::admin::set_config(pool, "deposits.lag_warn_seconds", serde_json::json!(60)).await;
    common::admin::set_config(pool, "deposits.lag_crit_seconds", serde_json::json!(3600)).await;
    let no_one = stats::health(pool).await.unwrap();
    assert!(
        no_one
            .health
            .reasons
            .iter()
            .any(|r| r.contains("no worker follows the chain")),
        "{:?}",
        no_one.health.reasons
    );

    let lease = deposits::try_follow(&env.worker).await.unwrap().unwrap();
    let ten_minutes_ago = Utc::now() - chrono::Duration::minutes(10);
    lease
        .start_at(
            &env.worker,
            &Cursor {
                number: 100,
                hash: "h100".into(),
            },
            Some(ten_minutes_ago),
        )
        .await
        .unwrap();
    lease
        .saw_solid_head(&env.worker, 300, Some(Utc::now()))
        .await
        .unwrap();
    let lagging = stats::health(pool).await.unwrap();
    // With a live worker (none runs here), the lag alone decides.
    let verdict = |report: &stats::HealthReport| {
        let mut v = report.vitals.clone();
        v.live_workers = 1;
        health::assess(&v, &report.thresholds).status
    };
    assert_eq!(verdict(&lagging), Status::Degraded);
    let d = lagging.vitals.deposits.as_ref().unwrap();
    assert_eq!(d.lag_blocks, Some(200));
    assert!(d.lag_seconds.unwrap() >= 600);
    assert!(
        lagging
            .health
            .reasons
            .iter()
            .any(|r| r.starts_with("deposits lag") && r.contains("(200 blocks)")),
        "{:?}",
        lagging.health.reasons
    );
    common::admin::set_config(pool, "deposits.lag_crit_seconds", serde_json::json!(300)).await;
    assert_eq!(verdict(&stats::health(pool).await.unwrap()), Status::Down);

    lease
        .report_gap(&env.worker, 101, 300, "blocks 101..=300 could not be read")
        .await
        .unwrap();
    deposits::report_missed(&env.worker, 1, "sync of T.. found 1 transaction(s)")
        .await
        .unwrap();
    let reasons = stats::health(pool).await.unwrap().health.reasons;
    assert!(
        reasons.iter().any(|r| r.contains("101..=300")),
        "{reasons:?}"
    );
    assert!(
        reasons.iter().any(|r| r.contains("sync of T..")),
        "{reasons:?}"
    );
    // A rescan that covers the gap forgets it.
    assert!(
        deposits::clear_gap_within(&env.worker, 100, 300)
            .await
            .unwrap()
    );
    assert!(deposits::state(pool).await.unwrap().gap.is_none());

    // The figures reach /metrics.
    let snapshot = stats::snapshot(pool).await.unwrap();
    let metrics = walletops::api::metrics::render(&snapshot);
    assert!(
        metrics.contains("walletops_deposits_lag_blocks 200"),
        "{metrics}"
    );
    env.stop().await;
}
