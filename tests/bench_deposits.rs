//! `walletops bench deposits`: the real binary at two tiny sizes. Its
//! counts must show every deposit the simulator made recorded exactly once,
//! as many as the load generator lands per block; timings are not checked
//! (figures belong to the benchmark, not to a test).

mod common;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bench_deposits_records_every_deposit_once_at_each_size() {
    let db = common::empty_db().await;
    let report = common::json_output(
        common::walletops()
            .env("DATABASE_URL", db.url.expose())
            .args([
                "bench",
                "deposits",
                "--wallets",
                "200,2000",
                "--minutes",
                "0.2",
                "--block-ms",
                "500",
                "--json",
            ]),
    );
    let per_block = ["trx", "usdt"]
        .iter()
        .map(|k| report["per_block"][k].as_u64().unwrap())
        .sum::<u64>();
    let sizes = report["sizes"].as_array().unwrap();
    assert_eq!(sizes.len(), 2, "{report}");
    for (size, wallets) in sizes.iter().zip([200, 2000]) {
        let n = |k: &str| size[k].as_u64().unwrap_or_else(|| panic!("{k} in {size}"));
        assert_eq!(n("wallets"), wallets);
        let deposits = n("deposits");
        // The generator's blocks, each with its deposits, and nothing else.
        assert!(deposits >= 10 * per_block, "{size}");
        assert_eq!(deposits % per_block, 0, "{size}");
        assert_eq!(n("recorded_once"), deposits, "{size}");
        assert_eq!(n("missing"), 0, "{size}");
        assert_eq!(n("doubled"), 0, "{size}");
        assert_eq!(n("stray"), 0, "{size}");
        assert!(n("requests") > 0, "{size}");
        // Sync writes the rows the follower wrote, not a second copy.
        assert_eq!(size["sync"]["rows_added"], 0, "{size}");
        assert!(size["sync"]["requests_per_wallet"].as_f64().unwrap() >= 1.0);
    }
    // The bench drops the databases it made.
    let left: i64 =
        sqlx::query_scalar("SELECT count(*) FROM pg_database WHERE datname LIKE $1 || '\\_dep%'")
            .bind(db.url.expose().rsplit('/').next().unwrap())
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert_eq!(left, 0);
}
