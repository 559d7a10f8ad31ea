//! `walletops bench deposits [--wallets 10000,100000,1000000] [--minutes M]
//! [--block-ms MS] [--json]`: deposits found by following the chain, and
//! the same deposits found by per-wallet sync at the same request budget
//! (issue 16).
//!
//! For each size N, on a database of its own (`<database>_dep<N>`, created,
//! migrated and dropped by the bench) and a simulator of its own:
//! 1. N deposit wallets, `sim::seeded_address(SEED, i)` for `i < N`, are
//!    inserted in one statement, without keys (they never sweep).
//! 2. The chain follower (`jobs::follower::run`, what a worker runs) starts;
//!    once it has a cursor, the simulator's load generator lands
//!    [`TRX_PER_BLOCK`] TRX and [`USDT_PER_BLOCK`] USDT deposits to random
//!    targets among [`STRANGERS_PER_BLOCK`] transfers between strangers in
//!    every block, for `--minutes`.
//! 3. Requests per minute: the node requests the simulator counted
//!    (`/sim/stats`) over the load window, divided by its length.
//! 4. Exactly once: after the follower has passed the last deposit's block,
//!    every deposit the simulator made (`/sim/deposits`, the ground truth)
//!    must be one incoming `wallet_transactions` row of its recipient
//!    (missing: none; doubled: more than one; stray: a row that is no
//!    deposit).
//! 5. Latency: a block becomes solidified when the block `SOLIDIFY_BLOCKS`
//!    above it is made; the latency of a deposit is its row's `created_at`
//!    (the start of the transaction that records the block) minus that
//!    block's timestamp. Nearest-rank p50 and p99 over all deposits.
//! 6. Per-wallet sync: `sync` jobs run for [`SYNC_SAMPLE`] wallets that got
//!    deposits (measured: k, the node requests per wallet sync; and that
//!    sync writes no row the follower did not). Computed from k: at the
//!    follower's budget R requests a minute, a round-robin sync visits each
//!    wallet every `N * k / R` minutes; the share of the window's deposits
//!    it finds in the window and its latency follow from that cycle.

use std::collections::{BTreeSet, HashMap};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use chrono::{DateTime, Utc};
use clap::Args;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sqlx::PgPool;
use tokio::sync::{oneshot, watch};

use super::bench::nearest_rank;
use super::table::{Fit, Table};
use crate::config::{DatabaseUrl, Settings};
use crate::db::{self, PoolOptions};
use crate::engine::{Engine, EngineOptions, Handler, HandlerFuture, Registry};
use crate::jobs::{self, Context, follower};
use crate::policy::Policy;
use crate::queue::{self, Job, JobStatus, JobType, NewJob};
use crate::signer::{Core, Signer};
use crate::sim::{SimConfig, SimHandle, Simulator, seeded_address};
use crate::tron::client::{ClientConfig, TronClient, View};
use crate::tron::{Address, MAINNET_USDT};
use crate::wallets::{deposits, lookup};

/// The target set of the load generator and of the inserted wallets.
const SEED: u64 = 16;
const TRX_PER_BLOCK: u32 = 5;
const USDT_PER_BLOCK: u32 = 5;
const STRANGERS_PER_BLOCK: u32 = 100;
/// Mainnet's: a block is final 19 blocks on.
const SOLIDIFY_BLOCKS: u64 = 19;
/// Wallets synced to measure a sync's requests.
const SYNC_SAMPLE: usize = 20;
/// Requests per minute may differ this much between sizes (issue 16).
const RATE_SPREAD: f64 = 0.10;

#[derive(Debug, Args)]
pub struct DepositsBenchArgs {
    /// Deposit wallets, one run per size (comma-separated)
    #[arg(long, value_delimiter = ',', default_values_t = [10_000u64, 100_000, 1_000_000],
          value_parser = clap::value_parser!(u64).range(1..=10_000_000))]
    pub wallets: Vec<u64>,
    /// Minutes of deposits per size (fractions allowed)
    #[arg(long, default_value_t = 2.0, value_parser = positive_minutes)]
    pub minutes: f64,
    /// Simulated block time in milliseconds
    #[arg(long, default_value_t = 1000, value_name = "MS",
          value_parser = clap::value_parser!(u64).range(100..=3000))]
    pub block_ms: u64,
    /// One JSON object instead of the table
    #[arg(long)]
    pub json: bool,
}

fn positive_minutes(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(m) if m.is_finite() && m > 0.0 && m <= 600.0 => Ok(m),
        _ => Err(format!(
            "{s:?}: give minutes as a number above 0 and at most 600 (e.g. 0.5)"
        )),
    }
}

/// One deposit the simulator made (`GET /sim/deposits`).
#[derive(Debug, Deserialize)]
struct Deposit {
    txid: String,
    block: u64,
    asset: String,
    to: String,
    result: String,
}

/// One size's figures.
#[derive(Debug, Serialize)]
struct SizeReport {
    wallets: u64,
    insert_s: f64,
    window_s: f64,
    blocks: u64,
    deposits: u64,
    recorded_once: u64,
    missing: u64,
    doubled: u64,
    stray: u64,
    requests: u64,
    requests_per_min: f64,
    latency_p50_ms: f64,
    latency_p99_ms: f64,
    sync: SyncReport,
}

/// Per-wallet sync at the follower's request budget.
#[derive(Debug, Serialize)]
struct SyncReport {
    /// Measured: wallets synced, and node requests per sync.
    sample: u64,
    requests_per_wallet: f64,
    /// Measured: rows the sample's syncs added beside the follower's.
    rows_added: u64,
    /// Computed: minutes between two syncs of one wallet at the budget.
    cycle_min: f64,
    /// Computed: deposits of the window found within it.
    found: u64,
    latency_p50_s: f64,
    latency_p99_s: f64,
}

pub async fn run(settings: &Settings, args: DepositsBenchArgs) -> anyhow::Result<ExitCode> {
    crate::tron::client::install_crypto_provider();
    let url = db::resolve_url(settings).await?;
    let admin = db::connect(&url, PoolOptions::default()).await?;
    let base: String = sqlx::query_scalar("SELECT current_database()")
        .fetch_one(&admin)
        .await?;
    let mut sizes = Vec::new();
    for &n in &args.wallets {
        let name = format!("{base}_dep{n}");
        let quoted = format!("\"{}\"", name.replace('"', "\"\""));
        recreate(&admin, &quoted, false).await?;
        let result = one_size(&url.with_database(&name), n, &args).await;
        recreate(&admin, &quoted, true)
            .await
            .with_context(|| format!("cannot drop the bench's database {name}"))?;
        let report = result.with_context(|| format!("the run with {n} wallets failed"))?;
        if !args.json {
            eprintln!(
                "{n} wallets: {} deposits, {} missing, {} doubled, {:.0} requests/min",
                report.deposits, report.missing, report.doubled, report.requests_per_min
            );
        }
        sizes.push(report);
    }
    let rates: Vec<f64> = sizes.iter().map(|s| s.requests_per_min).collect();
    let (lo, hi) = rates
        .iter()
        .fold((f64::MAX, 0.0f64), |(lo, hi), r| (lo.min(*r), hi.max(*r)));
    let spread = if lo > 0.0 { (hi - lo) / lo } else { f64::NAN };
    let block = args.block_ms as f64;
    let targets = json!({
        "requests_per_min_spread": round2(spread),
        "rate_within_10pct": spread <= RATE_SPREAD,
        "p50_under_one_block": sizes.iter().all(|s| s.latency_p50_ms < block),
        "p99_under_three_blocks": sizes.iter().all(|s| s.latency_p99_ms < 3.0 * block),
    });
    let exact = sizes
        .iter()
        .all(|s| s.missing == 0 && s.doubled == 0 && s.stray == 0 && s.deposits > 0);
    if args.json {
        super::identity::print_json(&json!({
            "block_ms": args.block_ms,
            "minutes": args.minutes,
            "solidify_blocks": SOLIDIFY_BLOCKS,
            "per_block": {"trx": TRX_PER_BLOCK, "usdt": USDT_PER_BLOCK, "strangers": STRANGERS_PER_BLOCK},
            "sizes": sizes,
            "targets": targets,
        }))?;
    } else {
        print_table(&sizes, &targets);
    }
    if !exact {
        eprintln!("not every deposit was recorded exactly once (see missing, doubled, stray)");
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

fn print_table(sizes: &[SizeReport], targets: &Value) {
    let mut t = Table::new(Fit::detect(true))
        .number("WALLETS")
        .number("DEPOSITS")
        .number("MISSING")
        .number("DOUBLED")
        .number("REQ/MIN")
        .number("P50 MS")
        .number("P99 MS")
        .number("SYNC REQ/WALLET")
        .number("SYNC CYCLE MIN")
        .number("SYNC FOUND")
        .number("SYNC P50 S");
    for s in sizes {
        t.row([
            s.wallets.to_string(),
            s.deposits.to_string(),
            s.missing.to_string(),
            s.doubled.to_string(),
            format!("{:.0}", s.requests_per_min),
            format!("{:.0}", s.latency_p50_ms),
            format!("{:.0}", s.latency_p99_ms),
            format!("{:.1}", s.sync.requests_per_wallet),
            format!("{:.1}", s.sync.cycle_min),
            s.sync.found.to_string(),
            format!("{:.0}", s.sync.latency_p50_s),
        ]);
    }
    t.print();
    println!("targets: {targets}");
}

/// Drops the database `quoted` (if it exists), and creates it anew unless
/// `drop_only`.
async fn recreate(admin: &PgPool, quoted: &str, drop_only: bool) -> anyhow::Result<()> {
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {quoted} WITH (FORCE)"
    )))
    .execute(admin)
    .await?;
    if !drop_only {
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {quoted}")))
            .execute(admin)
            .await
            .context("the bench creates a database per size: connect as a role that may")?;
    }
    Ok(())
}

async fn one_size(
    url: &DatabaseUrl,
    n: u64,
    args: &DepositsBenchArgs,
) -> anyhow::Result<SizeReport> {
    let pool = db::connect(url, PoolOptions::default()).await?;
    db::migrate(&pool).await?;
    let started = Instant::now();
    insert_wallets(&pool, n).await?;
    let insert_s = started.elapsed().as_secs_f64();
    let admin = super::bench_costs::bench_admin(&pool).await?;
    crate::admin::config::set(&pool, &admin, "deposits.enabled", json!(true)).await?;

    let sim = Simulator::spawn(SimConfig {
        listen: ([127, 0, 0, 1], 0).into(),
        block_interval: Duration::from_millis(args.block_ms),
        solidify_blocks: SOLIDIFY_BLOCKS,
        ..SimConfig::default()
    })
    .await
    .context("cannot start the TRON simulator")?;
    let mut tron = ClientConfig::new(sim.url().clone());
    tron.requests_per_second = None;
    let tron = TronClient::new(tron).context("cannot build the TRON client")?;
    let usdt: Address = MAINNET_USDT
        .parse()
        .expect("the mainnet USDT address parses");
    let policy = Policy::parse(&Policy::starting_text(
        seeded_address(SEED + 1, 0),
        seeded_address(SEED + 1, 1),
        usdt,
    ))
    .context("the bench's policy is invalid")?;
    let master = super::bench_costs::random_master()?;
    let mut ctx = Context::new(
        pool.clone(),
        tron.clone(),
        Signer::Local(Core::new(master, policy)),
    );
    // Looking twice a block: a solidified block waits a quarter block on
    // average for the follower's next look.
    ctx.poll = Duration::from_millis(args.block_ms / 2);
    let ctx = Arc::new(ctx);

    let (stop_tx, stop_rx) = watch::channel(false);
    let follow_ctx = ctx.clone();
    let follow = tokio::spawn(async move { follower::run(&follow_ctx, stop_rx).await });
    let outcome = measure(&pool, &ctx, &sim, n, args).await;
    let _ = stop_tx.send(true);
    follow.await.context("the follower task failed")?;
    let (mut report, truth) = outcome?;
    report.insert_s = round2(insert_s);
    report.sync = sync_sample(&pool, &ctx, &sim, &truth, &report).await?;
    pool.close().await;
    Ok(report)
}

/// `n` deposit wallets at the seeded addresses, in one statement; no keys
/// (the key CHECK allows none: they never sweep).
async fn insert_wallets(pool: &PgPool, n: u64) -> anyhow::Result<()> {
    let addresses: Vec<String> = (0..n)
        .map(|i| seeded_address(SEED, i).to_base58())
        .collect();
    let inserted = crate::wallets::insert_watched(pool, &addresses).await?;
    if inserted != n {
        bail!("inserted {inserted} of {n} wallets");
    }
    Ok(())
}

/// Steps 2 to 5 of the module's description.
async fn measure(
    pool: &PgPool,
    ctx: &Context,
    sim: &SimHandle,
    n: u64,
    args: &DepositsBenchArgs,
) -> anyhow::Result<(SizeReport, Vec<Deposit>)> {
    let http = reqwest::Client::new();
    let started = Instant::now();
    while deposits::cursor(pool).await?.is_none() {
        if started.elapsed() > Duration::from_secs(60) {
            bail!("the follower did not start within 60 s");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let before = sim_get(&http, sim, "sim/stats").await?;
    sim_send(
        &http,
        sim,
        reqwest::Method::POST,
        json!({
            "trx": TRX_PER_BLOCK,
            "usdt": USDT_PER_BLOCK,
            "strangers": STRANGERS_PER_BLOCK,
            "targets": {"seeded": {"seed": SEED, "count": n}},
        }),
    )
    .await?;
    tokio::time::sleep(Duration::from_secs_f64(args.minutes * 60.0)).await;
    sim_send(&http, sim, reqwest::Method::DELETE, Value::Null).await?;
    let after = sim_get(&http, sim, "sim/stats").await?;
    let num = |v: &Value, k: &str| v[k].as_u64().with_context(|| format!("{k} in {v}"));
    let requests = num(&after, "total")?.saturating_sub(num(&before, "total")?);
    let window_ms = num(&after, "at_ms")?.saturating_sub(num(&before, "at_ms")?);
    let blocks = num(&after, "head_block")?.saturating_sub(num(&before, "head_block")?);

    let truth: Vec<Deposit> =
        serde_json::from_value(sim_get(&http, sim, "sim/deposits").await?["deposits"].take())
            .context("the simulator's deposits")?;
    if let Some(bad) = truth.iter().find(|d| d.result != "SUCCESS") {
        bail!("deposit {} failed on the chain ({})", bad.txid, bad.result);
    }
    let last = truth.iter().map(|d| d.block).max().unwrap_or(0) as i64;
    let limit =
        Duration::from_millis(args.block_ms * (SOLIDIFY_BLOCKS + 5)) + Duration::from_secs(120);
    let started = Instant::now();
    while deposits::cursor(pool)
        .await?
        .is_none_or(|c| c.number < last)
    {
        if started.elapsed() > limit {
            bail!(
                "the follower did not reach block {last} within {} s",
                limit.as_secs()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let rows = recorded(pool).await?;
    let mut want: HashMap<(String, String, String), &Deposit> = HashMap::new();
    for d in &truth {
        want.insert((d.txid.clone(), d.asset.to_lowercase(), d.to.clone()), d);
    }
    let (mut missing, mut doubled, mut once) = (0, 0, 0);
    let solid_at = solidification_times(&ctx.tron, &truth).await?;
    let mut latencies = Vec::new();
    for (key, d) in &want {
        match rows.get(key) {
            None => missing += 1,
            Some((count, _)) if *count > 1 => doubled += 1,
            Some((_, created)) => {
                once += 1;
                let solid = solid_at
                    .get(&(d.block + SOLIDIFY_BLOCKS))
                    .with_context(|| {
                        format!("no timestamp for block {}", d.block + SOLIDIFY_BLOCKS)
                    })?;
                latencies.push((created.timestamp_millis() - solid) as f64);
            }
        }
    }
    let stray = rows.keys().filter(|k| !want.contains_key(*k)).count() as u64;
    latencies.sort_by(f64::total_cmp);
    let window_s = window_ms as f64 / 1000.0;
    let report = SizeReport {
        wallets: n,
        insert_s: 0.0,
        window_s: round2(window_s),
        blocks,
        deposits: want.len() as u64,
        recorded_once: once,
        missing,
        doubled,
        stray,
        requests,
        requests_per_min: round2(requests as f64 * 60.0 / window_s.max(0.001)),
        latency_p50_ms: nearest_rank(&latencies, 0.50),
        latency_p99_ms: nearest_rank(&latencies, 0.99),
        sync: SyncReport {
            sample: 0,
            requests_per_wallet: 0.0,
            rows_added: 0,
            cycle_min: 0.0,
            found: 0,
            latency_p50_s: 0.0,
            latency_p99_s: 0.0,
        },
    };
    Ok((report, truth))
}

/// Incoming rows by (txid, asset, recipient): how many, and the first one's
/// `created_at`.
async fn recorded(
    pool: &PgPool,
) -> anyhow::Result<HashMap<(String, String, String), (i64, DateTime<Utc>)>> {
    Ok(crate::wallets::transactions::incoming_by_transfer(pool)
        .await?
        .into_iter()
        .collect())
}

/// Incoming rows, however keyed.
async fn row_count(pool: &PgPool) -> anyhow::Result<u64> {
    Ok(recorded(pool).await?.values().map(|(n, _)| *n as u64).sum())
}

/// The timestamps of the blocks that made the deposits' blocks solidified
/// (read after the measured window: not counted).
async fn solidification_times(
    tron: &TronClient,
    truth: &[Deposit],
) -> anyhow::Result<HashMap<u64, i64>> {
    let wanted: BTreeSet<u64> = truth.iter().map(|d| d.block + SOLIDIFY_BLOCKS).collect();
    let mut out = HashMap::new();
    let (Some(&first), Some(&last)) = (wanted.first(), wanted.last()) else {
        return Ok(out);
    };
    let mut next = first;
    while next <= last {
        let to = last.min(next + follower::RANGE - 1);
        for b in tron.blocks(next..to + 1, View::Head).await? {
            out.insert(b.number, b.timestamp_ms);
        }
        next = to + 1;
    }
    Ok(out)
}

/// Runs only `sync` jobs, through the code a worker runs them with.
struct SyncOnly(Arc<Context>);

impl Handler for SyncOnly {
    fn run<'a>(&'a self, job: &'a Job) -> HandlerFuture<'a> {
        Box::pin(jobs::run(&self.0, job))
    }
}

/// Step 6 of the module's description.
async fn sync_sample(
    pool: &PgPool,
    ctx: &Arc<Context>,
    sim: &SimHandle,
    truth: &[Deposit],
    report: &SizeReport,
) -> anyhow::Result<SyncReport> {
    let http = reqwest::Client::new();
    let addresses: Vec<String> = truth
        .iter()
        .map(|d| d.to.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .take(SYNC_SAMPLE)
        .collect();
    let wallets = lookup::by_addresses(pool, &addresses).await?;
    let rows_before = row_count(pool).await?;
    let before = sim_get(&http, sim, "sim/stats").await?["total"]
        .as_u64()
        .unwrap_or(0);

    let mut registry = Registry::new();
    registry.register(JobType::Sync, SyncOnly(ctx.clone()));
    let engine = Engine::new(pool.clone(), registry, EngineOptions::new(4));
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let engine_task = tokio::spawn(engine.run(async move {
        let _ = stop_rx.await;
    }));
    let mut conn = pool.acquire().await?;
    let mut ids = Vec::new();
    for m in &wallets {
        let job = NewJob {
            wallet_address: Some(m.wallet.address.clone()),
            wallet_id: Some(m.wallet.id),
            user_id: m.wallet.user_id,
            ..NewJob::new(JobType::Sync)
        };
        ids.push(queue::enqueue(&mut conn, &job).await?.job.id);
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut failed = None;
    for id in ids {
        loop {
            let job = queue::get(&mut conn, id).await?;
            match job.status {
                Some(JobStatus::Completed) => break,
                Some(JobStatus::Failed | JobStatus::Cancelled) => {
                    failed = Some(format!(
                        "sync job {id} failed: {}",
                        job.error_message.unwrap_or_default()
                    ));
                    break;
                }
                _ if Instant::now() > deadline => {
                    failed = Some(format!("sync job {id} not done in 120 s"));
                    break;
                }
                _ => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    }
    drop(conn);
    let _ = stop_tx.send(());
    engine_task.await.context("the engine task failed")?;
    if let Some(e) = failed {
        bail!(e);
    }
    let after = sim_get(&http, sim, "sim/stats").await?["total"]
        .as_u64()
        .unwrap_or(0);
    let rows_after = row_count(pool).await?;
    let sample = wallets.len() as u64;
    let k = after.saturating_sub(before) as f64 / sample.max(1) as f64;

    // A round-robin at the follower's budget R visits each wallet every
    // N·k/R minutes. A deposit at a uniform time t of a window W is found
    // within it when its wallet's next visit (uniform phase) comes before
    // W: on average W/(2·cycle) of them if the cycle is longer than the
    // window, else 1 − cycle/(2·W); its wait is uniform in [0, cycle).
    let cycle = report.wallets as f64 * k / report.requests_per_min.max(1e-9);
    let window = report.window_s / 60.0;
    let share = if cycle >= window {
        window / (2.0 * cycle)
    } else {
        1.0 - cycle / (2.0 * window)
    };
    Ok(SyncReport {
        sample,
        requests_per_wallet: round2(k),
        rows_added: rows_after.saturating_sub(rows_before),
        cycle_min: round2(cycle),
        found: (share * report.deposits as f64).round() as u64,
        latency_p50_s: round2(cycle * 60.0 * 0.50),
        latency_p99_s: round2(cycle * 60.0 * 0.99),
    })
}

async fn sim_get(http: &reqwest::Client, sim: &SimHandle, path: &str) -> anyhow::Result<Value> {
    let url = sim.url().join(path)?;
    let r = http.get(url).send().await?.error_for_status()?;
    Ok(r.json().await?)
}

/// Starts (`POST`, with a plan) or stops (`DELETE`) the load generator.
async fn sim_send(
    http: &reqwest::Client,
    sim: &SimHandle,
    method: reqwest::Method,
    body: Value,
) -> anyhow::Result<()> {
    let url = sim.url().join("sim/deposits")?;
    let mut req = http.request(method, url);
    if !body.is_null() {
        req = req.json(&body);
    }
    let r = req.send().await?;
    if !r.status().is_success() {
        bail!(
            "the simulator refused the load: {}",
            r.text().await.unwrap_or_default()
        );
    }
    Ok(())
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}
