//! `walletops bench costs`: the real binary sweeps the same wallets in burn
//! and in delegate mode on its simulator; its figures are the transfer
//! records' receipts to the SUN, and every USDT unit reaches the treasury.

mod common;

use sqlx::Row;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bench_costs_reports_each_modes_burn_per_sweep_from_the_receipts() {
    let db = common::fresh_db().await;
    let line = common::json_output(
        common::walletops()
            .env("DATABASE_URL", db.url.expose())
            .args(["bench", "costs", "--wallets", "2", "--block-ms", "50"]),
    );
    let n = |k: &str| line[k].as_u64().unwrap_or_else(|| panic!("{k} in {line}"));
    assert_eq!(n("wallets"), 2);
    assert_eq!(n("usdt_swept"), 2 * 2 * 100_000_000);
    assert_eq!(n("usdt_at_treasury"), n("usdt_swept"));

    // Each round from the records: burned less activations over sweeps. The
    // delegate round starts with the pool's stakes (energy, then bandwidth).
    let round = |delegate: bool| {
        let pool = db.pool.clone();
        async move {
            let r = sqlx::query(
                "WITH start AS (SELECT min(created_at) AS created_at
                                 FROM transfers WHERE kind = 'energy-stake')
                 SELECT (sum(fee_sun) - sum(activation_fee_sun))::bigint AS burned,
                        count(*) FILTER (WHERE kind = 'consolidation-usdt'
                                           AND status = 'confirmed') AS sweeps,
                        coalesce(sum(fee_sun) FILTER (WHERE kind LIKE 'energy-%'), 0)::bigint
                            AS delegation
                   FROM transfers, start
                  WHERE kind <> 'energy-stake'
                    AND (transfers.created_at > start.created_at) = $1",
            )
            .bind(delegate)
            .fetch_one(&pool)
            .await
            .unwrap();
            let (burned, sweeps, delegation): (i64, i64, i64) =
                (r.get("burned"), r.get("sweeps"), r.get("delegation"));
            assert_eq!(sweeps, 2);
            (burned as u64 / 2, delegation as u64 / 2)
        }
    };
    let (burn, none) = round(false).await;
    let (delegate, delegation) = round(true).await;
    assert_eq!(none, 0);
    assert_eq!(n("burn_sun_per_sweep"), burn);
    assert_eq!(n("delegate_sun_per_sweep"), delegate);
    assert_eq!(n("delegation_sun_per_sweep"), delegation);
    // A burned sweep pays its 65,000 energy or more at 100 SUN; a delegated
    // one burns no energy, and the pool's staked bandwidth carries its
    // delegations and reclaims: the target, at most 5 %.
    assert!(burn >= 6_500_000, "{line}");
    assert!(delegate * 20 <= burn, "{line}");
    assert_eq!(
        delegation, 0,
        "the pool's bandwidth stake covers them: {line}"
    );
    let ratio = line["ratio"].as_f64().unwrap();
    assert!(
        (ratio - delegate as f64 / burn as f64).abs() < 0.0001,
        "{line}"
    );
    // Nothing is left lent.
    let lent: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM transfers WHERE kind = 'energy-delegate' AND status = 'confirmed'",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    let reclaimed: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM transfers WHERE kind = 'energy-reclaim' AND status = 'confirmed'",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!((lent, reclaimed), (2, 2));
}
