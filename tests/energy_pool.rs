//! The energy pool as the workers record it and health judges it, against
//! the real simulator and PostgreSQL: a staked pool lending energy, read
//! through `jobs::pool_watch`, makes health Degraded exactly when it covers
//! fewer sweeps than `energy.warn_sweeps`, and the stats carry what it
//! lends and since when.

mod common;

use std::time::Duration;

use common::TestDb;
use common::chain::{client, fund, key, land};
use serde_json::{Value, json};
use sqlx::PgPool;
use walletops::admin::health::Status;
use walletops::sim::{SimConfig, SimHandle, Simulator};
use walletops::tron::client::TronClient;
use walletops::tron::tx::{Contract, Resource};
use walletops::tron::{Address, PrivateKey, Sun};

const TRX: u64 = 1_000_000;

async fn set(pool: &PgPool, key: &str, value: Value) {
    let n = sqlx::query("UPDATE system_config SET value = $2 WHERE key = $1")
        .bind(key)
        .bind(value)
        .execute(pool)
        .await
        .unwrap()
        .rows_affected();
    assert_eq!(n, 1, "{key} is seeded");
}

/// A simulator where 1,000 TRX are staked elsewhere and the network has
/// 2,000,000 energy a day, a database whose treasury holds USDT (the node
/// estimates a sweep's energy for it), and a funded pool and deposit.
struct Chain {
    sim: SimHandle,
    db: TestDb,
    tron: TronClient,
    pool: PrivateKey,
    deposit: PrivateKey,
    treasury: PrivateKey,
}

impl Chain {
    async fn new() -> Chain {
        walletops::tron::client::install_crypto_provider();
        let sim = Simulator::spawn(SimConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            block_interval: Duration::from_millis(50),
            solidify_blocks: 3,
            total_energy_limit: 2_000_000,
            network_energy_weight: 1_000,
            ..SimConfig::default()
        })
        .await
        .unwrap();
        let db = common::fresh_db().await;
        let (pool, deposit, treasury) = (key(1), key(2), key(3));
        fund(sim.url(), &pool.address(), 3_000 * TRX, 0).await;
        fund(sim.url(), &deposit.address(), TRX, 0).await;
        fund(sim.url(), &treasury.address(), TRX, 5).await;
        set(
            &db.pool,
            "consolidation.treasury_address",
            json!(treasury.address()),
        )
        .await;
        Chain {
            tron: client(sim.url().clone()),
            sim,
            db,
            pool,
            deposit,
            treasury,
        }
    }
}

/// The health reasons about the energy pool.
async fn pool_reasons(pool: &PgPool) -> (Status, Vec<String>) {
    let h = walletops::admin::stats::health(pool).await.unwrap();
    let reasons = h
        .health
        .reasons
        .into_iter()
        .filter(|r| r.contains("energy pool"))
        .collect();
    (h.health.status, reasons)
}

#[tokio::test]
async fn a_pool_short_of_sweeps_is_degraded_and_its_delegations_show_with_their_age() {
    let Chain {
        sim: _sim,
        db,
        tron,
        pool,
        deposit,
        treasury,
    } = Chain::new().await;

    // Without a pool: the price alone, and health says nothing of a pool.
    let state = walletops::jobs::pool_watch::observe(&db.pool, &tron)
        .await
        .unwrap();
    let params = tron.chain_parameters().await.unwrap();
    assert_eq!(state.energy_price, params.energy_fee);
    assert_eq!(state.pool, None);
    assert_eq!(pool_reasons(&db.pool).await.1, Vec::<String>::new());

    // A mode that lends energy with no pool read: Degraded, and it says so.
    set(&db.pool, "gas.mode", json!("delegate")).await;
    let (status, reasons) = pool_reasons(&db.pool).await;
    assert!(status >= Status::Degraded);
    assert_eq!(
        reasons,
        [
            "gas.mode is delegate but no energy pool has been read (a running worker reads it \
          every 30 s; see `walletops energy status`)"
        ]
    );
    set(&db.pool, "energy.wallet_address", json!(pool.address())).await;

    land(
        &tron,
        &pool,
        Contract::FreezeBalanceV2 {
            owner: pool.address(),
            frozen_balance: Sun(2_000 * TRX),
            resource: Resource::Energy,
        },
        Sun::ZERO,
    )
    .await;
    land(
        &tron,
        &pool,
        Contract::DelegateResource {
            owner: pool.address(),
            resource: Resource::Energy,
            balance: Sun(500 * TRX),
            receiver: deposit.address(),
            lock: false,
            lock_period: 0,
        },
        Sun::ZERO,
    )
    .await;

    let state = walletops::jobs::pool_watch::observe(&db.pool, &tron)
        .await
        .unwrap();
    // 1,500 of 3,000 TRX staked keep 1,000,000 energy; the node estimates
    // a sweep at the simulator's figure for a holder, and a sweep borrows
    // energy.margin_percent (10) more.
    let estimate = tron
        .estimate_trc20_transfer(
            &treasury.address(),
            &params_usdt(),
            &treasury.address(),
            walletops::tron::TokenUnits(1),
        )
        .await
        .unwrap()
        .total();
    let sweep = (estimate * 110).div_ceil(100);
    assert_eq!(state.sweep_energy, Some(sweep));
    let figures = state.pool.clone().unwrap();
    assert_eq!(figures.address, pool.address().to_base58());
    assert_eq!(figures.staked_energy, Sun(2_000 * TRX));
    assert_eq!(figures.delegated_out, Sun(500 * TRX));
    assert_eq!(figures.energy_available(), 1_000_000);
    assert_eq!(figures.delegations.len(), 1);
    assert_eq!(figures.delegations[0].to, deposit.address().to_base58());
    assert_eq!(figures.delegations[0].energy_sun, Sun(500 * TRX));
    let covered = 1_000_000 / sweep;

    // energy.warn_sweeps (20 by default) above what the pool covers:
    // Degraded, with the figures in words.
    assert!(covered < 20, "{covered}");
    let (status, reasons) = pool_reasons(&db.pool).await;
    assert!(status >= Status::Degraded);
    assert_eq!(
        reasons,
        [format!(
            "energy pool {} has 1,000,000 energy available: {covered} sweep(s) of {} energy, \
             fewer than energy.warn_sweeps 20",
            pool.address(),
            walletops::tron::amount::group_thousands(sweep.into())
        )]
    );
    // Exactly what it covers: no reason; one more: the reason again.
    set(&db.pool, "energy.warn_sweeps", json!(covered)).await;
    assert_eq!(pool_reasons(&db.pool).await.1, Vec::<String>::new());
    set(&db.pool, "energy.warn_sweeps", json!(covered + 1)).await;
    assert_eq!(pool_reasons(&db.pool).await.1.len(), 1);

    // A later reading keeps when the delegation was first seen, and the
    // stats carry it for the console.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    walletops::jobs::pool_watch::observe(&db.pool, &tron)
        .await
        .unwrap();
    let costs = walletops::admin::stats::costs(&db.pool).await.unwrap();
    let energy = costs.energy.unwrap();
    let again = energy.pool.unwrap();
    assert_eq!(again.delegations, figures.delegations);
    assert!(energy.observed_at > state.observed_at && energy.age_seconds <= 1);
    assert!(energy.observed_at - again.delegations[0].since >= chrono::Duration::seconds(1));
    let metrics = walletops::api::metrics::render(
        &walletops::admin::stats::snapshot(&db.pool).await.unwrap(),
    );
    assert!(
        metrics.contains("walletops_energy_pool_delegated_sun 500000000"),
        "{metrics}"
    );
    assert!(
        metrics.contains(&format!(
            "walletops_energy_price_sun {}",
            params.energy_fee.0
        )),
        "{metrics}"
    );
}

#[tokio::test]
async fn sweeps_waiting_for_a_short_pool_are_down_and_say_why() {
    let Chain {
        sim: _sim,
        db,
        tron,
        pool,
        deposit,
        ..
    } = Chain::new().await;
    set(&db.pool, "energy.wallet_address", json!(pool.address())).await;
    set(&db.pool, "gas.mode", json!("delegate")).await;
    // 2,000 of 3,000 TRX staked network-wide; 1,800 lent out leaves the
    // pool 200 TRX: 133,333 energy, more than one sweep (65,000 + 10 %);
    // lending 100 more leaves it 66,666, less.
    land(
        &tron,
        &pool,
        Contract::FreezeBalanceV2 {
            owner: pool.address(),
            frozen_balance: Sun(2_000 * TRX),
            resource: Resource::Energy,
        },
        Sun::ZERO,
    )
    .await;
    let lend = |trx: u64| Contract::DelegateResource {
        owner: pool.address(),
        resource: Resource::Energy,
        balance: Sun(trx * TRX),
        receiver: deposit.address(),
        lock: false,
        lock_period: 0,
    };
    land(&tron, &pool, lend(1_800), Sun::ZERO).await;
    let state = walletops::jobs::pool_watch::observe(&db.pool, &tron)
        .await
        .unwrap();
    let sweep = state.sweep_energy.unwrap();
    let available = state.pool.as_ref().unwrap().energy_available();
    assert!(available >= sweep, "{available} < {sweep}");

    // A sweep waits to run.
    let mut conn = db.pool.acquire().await.unwrap();
    walletops::queue::enqueue(
        &mut conn,
        &walletops::queue::NewJob::new(walletops::queue::JobType::Consolidation),
    )
    .await
    .unwrap();
    drop(conn);
    let down = |reasons: &[String]| {
        reasons
            .iter()
            .filter(|r| r.contains("sweep(s) wait"))
            .cloned()
            .collect::<Vec<_>>()
    };
    assert_eq!(down(&pool_reasons(&db.pool).await.1), Vec::<String>::new());

    land(&tron, &pool, lend(100), Sun::ZERO).await;
    let state = walletops::jobs::pool_watch::observe(&db.pool, &tron)
        .await
        .unwrap();
    let available = state.pool.as_ref().unwrap().energy_available();
    assert!(available < sweep, "{available} >= {sweep}");
    let n = |e: u64| walletops::tron::format_units(e.into(), 0, "energy");
    let (status, reasons) = pool_reasons(&db.pool).await;
    assert_eq!(status, Status::Down);
    assert_eq!(
        down(&reasons),
        [format!(
            "1 sweep(s) wait: energy pool {} has {} available, less than one sweep's {}; \
             gas.mode is delegate (stake more with `walletops energy stake`)",
            pool.address(),
            n(available),
            n(sweep)
        )]
    );

    // Auto burns instead while today's burn plus this sweep's stays within
    // gas.daily_burn_cap_sun; one SUN less of cap and the sweep waits.
    set(&db.pool, "gas.mode", json!("auto")).await;
    let cost = sweep * state.energy_price.0;
    set(&db.pool, "gas.daily_burn_cap_sun", json!(cost)).await;
    assert_eq!(down(&pool_reasons(&db.pool).await.1), Vec::<String>::new());
    set(&db.pool, "gas.daily_burn_cap_sun", json!(cost - 1)).await;
    let (status, reasons) = pool_reasons(&db.pool).await;
    assert_eq!(status, Status::Down);
    assert!(
        down(&reasons)[0].ends_with(&format!(
            "and burning about {} would pass gas.daily_burn_cap_sun {} (0.000000 TRX burned for \
             energy today)",
            Sun(cost),
            Sun(cost - 1)
        )),
        "{reasons:?}"
    );
}

fn params_usdt() -> Address {
    walletops::tron::MAINNET_USDT.parse().unwrap()
}
