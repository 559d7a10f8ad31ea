//! Fixtures for the console's tests: a fixed, realistic snapshot and helpers
//! that press keys on the state machine.

use std::time::Duration;

use chrono::{DateTime, DurationRound, TimeZone, Utc};
use uuid::Uuid;

use super::keymap::{KeyChord, Keymap};
use super::model::*;
use super::state::{App, Effect, Event, update};
use super::theme::{Theme, ThemeKind};
use crate::admin::health::Status;
use crate::tron::Sun;

/// A UUIDv7 as the database makes them: every fixture job shares the
/// creation millisecond (the head), and the tail differs, as random bits do.
pub fn id(n: u128) -> Uuid {
    let tail = (n + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15) & 0x3fff_ffff_ffff_ffff;
    Uuid::from_u128(0x0193_2a4b_5c6d_7000_8000_0000_0000_0000 | tail)
}

pub fn at(h: u32, m: u32, s: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 28, h, m, s).unwrap()
}

/// Base58 addresses that look real; their checksums are not the point here.
pub const ADDRESSES: [&str; 6] = [
    "TJRabPrwbZy45sbavfcjinPJC18kjpRTv8",
    "TLa2f6VPqDgRE67v1736s7bJ8Ray5wYjU7",
    "TXYZopYRdj2D9XRtbG411XZZ3kM5VkAeBf",
    "TNPeeaaFB7K9cmo4uQpcU32zGK8G1NYqeL",
    "TVj7RNVHy6thbM7BWdSe9G6gXwKhjhdNZS",
    "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t",
];

pub fn job(n: u128, job_type: JobType, status: JobStatus) -> JobView {
    let created = at(14, 0, 0) + chrono::Duration::seconds(n as i64 * 7);
    JobView {
        id: id(n),
        job_type,
        status,
        wallet_address: ADDRESSES[(n as usize) % ADDRESSES.len()].to_string(),
        user: Some(format!("user{}@example.com", n % 5)),
        // A failed fixture job ran three times and failed each; a pending
        // one never ran.
        attempts: match status {
            JobStatus::Pending => 0,
            JobStatus::Failed => 3,
            _ => 1,
        },
        retry_count: u32::from(status == JobStatus::Failed) * 3,
        max_retries: 3,
        error_message: (status == JobStatus::Failed)
            .then(|| "broadcast: node returned 503 Service Unavailable".to_string()),
        data: format!("{{\n  \"wallet\": \"{}\"\n}}", ADDRESSES[(n as usize) % 6]),
        created_at: created,
        updated_at: created + chrono::Duration::seconds(30),
        started_at: (status != JobStatus::Pending)
            .then_some(created + chrono::Duration::seconds(2)),
        finished_at: matches!(status, JobStatus::Completed | JobStatus::Failed)
            .then_some(created + chrono::Duration::seconds(30)),
        locked_by: (status == JobStatus::Processing).then(|| "worker-a:4242".to_string()),
    }
}

/// `n` jobs, newest first, cycling through types and statuses.
pub fn jobs(n: usize) -> Vec<JobView> {
    (0..n as u128)
        .rev()
        .map(|i| {
            job(
                i,
                JOB_TYPES[(i % 3) as usize],
                JobStatus::ALL[(i % 5) as usize],
            )
        })
        .collect()
}

pub fn hit(n: usize, active: Vec<(JobType, Uuid)>) -> WalletHit {
    WalletHit {
        wallet_id: id(900 + n as u128),
        address: ADDRESSES[n].to_string(),
        user_email: Some(format!("alice{n}@example.com")),
        user_name: Some(format!("Alice {n}")),
        role: WalletRole::Deposit,
        trx_balance_sun: 12_500_000,
        usdt_balance: 250_000_000 + n as i64,
        active_jobs: active,
    }
}

pub fn snapshot() -> Snapshot {
    Snapshot {
        taken_at: at(14, 30, 0),
        health: Health {
            level: Status::Degraded,
            reasons: vec![
                "failure rate 12% over 15 min (threshold 10%)".into(),
                "1 job stuck in processing".into(),
            ],
        },
        paused: false,
        access: Access {
            operator: Some("oncall@example.com".into()),
            role: Role::Admin,
            note: None,
        },
        workers: vec![
            WorkerView {
                id: id(501),
                host: "worker-a".into(),
                pid: 4242,
                state: WorkerState::Active,
                current_job: Some(id(3)),
                heartbeat_age: Duration::from_secs(2),
                jobs_done: 1200,
                jobs_failed: 14,
                last_error: None,
            },
            WorkerView {
                id: id(502),
                host: "worker-b".into(),
                pid: 4343,
                state: WorkerState::Idle,
                current_job: None,
                heartbeat_age: Duration::from_secs(4),
                jobs_done: 980,
                jobs_failed: 3,
                last_error: None,
            },
            WorkerView {
                id: id(503),
                host: "worker-c".into(),
                pid: 77,
                state: WorkerState::Error,
                current_job: None,
                heartbeat_age: Duration::from_secs(95),
                jobs_done: 12,
                jobs_failed: 9,
                last_error: Some("TRON API: 429 Too Many Requests".into()),
            },
        ],
        depth: vec![
            DepthRow {
                job_type: JobType::Consolidation,
                counts: StatusCounts {
                    pending: 12,
                    processing: 2,
                    completed: 1520,
                    failed: 4,
                    cancelled: 1,
                },
            },
            DepthRow {
                job_type: JobType::GasTopup,
                counts: StatusCounts {
                    pending: 3,
                    processing: 1,
                    completed: 410,
                    failed: 2,
                    cancelled: 0,
                },
            },
            DepthRow {
                job_type: JobType::Sync,
                counts: StatusCounts {
                    pending: 40,
                    processing: 4,
                    completed: 88_012,
                    failed: 0,
                    cancelled: 3,
                },
            },
        ],
        depth_estimated: false,
        history: history(at(14, 30, 0), 30),
        oldest_pending: Some(JobRef {
            id: id(7),
            job_type: JobType::Consolidation,
            wallet_address: ADDRESSES[1].into(),
            age: Duration::from_secs(245),
        }),
        stuck: vec![JobRef {
            id: id(3),
            job_type: JobType::GasTopup,
            wallet_address: ADDRESSES[3].into(),
            age: Duration::from_secs(1900),
        }],
        stuck_total: 1,
        orphaned_wallets: 0,
        jobs: jobs(40),
        audit: (0..12u128)
            .map(|i| AuditView {
                id: id(700 + i),
                at: at(14, 29, 0) - chrono::Duration::minutes(i as i64 * 9),
                actor: if i % 2 == 0 {
                    "oncall@example.com".into()
                } else {
                    "lead@example.com".into()
                },
                action: ["dispatch_job", "clear_failed", "workers_pause", "retry_job"]
                    [i as usize % 4]
                    .into(),
                // As the backend gives it: the full id; the table shortens it.
                target: format!("job {}", id(i)),
                details: format!("{{\"rows\": {i}}}"),
            })
            .collect(),
        pending_changes: Vec::new(),
        failures: Box::new(Failures {
            total: 2,
            grouped: 2,
            group_count: 1,
            groups: vec![FailureGroup {
                class: "TRON node answered # after # tries".into(),
                example: "TRON node answered 503 after 3 tries".into(),
                count: 2,
                newest: Some(at(14, 21, 7)),
                job_types: vec!["consolidation".into()],
                newest_job: id(5),
            }],
        }),
        costs: Some(Box::new(Costs {
            today: Sun(21_135_000),
            last_7_days: Sun(151_200_000),
            per_sweep: Some(Sun(5_033_750)),
            priced: Some(Priced {
                energy_price: Sun(100),
                burn_equivalent: Sun(142_000_000),
                saving_sun: 118_400_000,
            }),
            pool: Some(PoolView {
                energy_available: 1_928_550,
                sweeps_covered: Some(30),
                delegated_out: Sun(8_200_000_000),
                delegations: 2,
                oldest: Some(Duration::from_secs(250)),
            }),
        })),
        deposits: None,
    }
}

/// The chain follower, caught up but for a few blocks.
pub fn deposits() -> Deposits {
    Deposits {
        following: true,
        block: Some(68_412_345),
        lag_blocks: Some(2),
        lag_seconds: Some(63),
        pending: 4,
    }
}

/// The failed jobs of a bad afternoon: several errors, one selected.
pub fn failures() -> Failures {
    let group = |class: &str, example: &str, count, minute, types: &[&str], job| FailureGroup {
        class: class.into(),
        example: example.into(),
        count,
        newest: Some(at(14, minute, 0)),
        job_types: types.iter().map(|t| t.to_string()).collect(),
        newest_job: id(job),
    };
    Failures {
        total: 61,
        grouped: 61,
        group_count: 5,
        groups: vec![
            group(
                "lease expired on attempt #: worker … stopped renewing it; out of retries",
                "lease expired on attempt 3: worker 0193f1a2-7c4e-7b1d-9a2f-3e5d8c7b6a19 stopped renewing it; out of retries",
                41,
                28,
                &["sync", "consolidation"],
                900,
            ),
            group(
                "TRON node answered # after # tries",
                "TRON node answered 503 after 3 tries",
                12,
                26,
                &["consolidation"],
                901,
            ),
            group(
                "gas wallet T… holds # TRX, below gas.min_balance_sun # TRX",
                "gas wallet TGasWaLLetXXXXXXXXXXXXXXXXXXXXXXXX holds 19,984.549000 TRX, below gas.min_balance_sun 900.000000 TRX",
                5,
                11,
                &["gas-topup"],
                902,
            ),
            group("", "", 2, 2, &["sync"], 903),
        ],
    }
}

/// `minutes` minutes of made-up history ending in the minute of `end`:
/// sync busiest, a burst of failed gas top-ups ten minutes ago, a backlog
/// of consolidations building up.
pub fn history(end: DateTime<Utc>, minutes: i64) -> Vec<HistoryMinute> {
    let last = end.duration_trunc(chrono::Duration::minutes(1)).unwrap();
    (0..minutes)
        .flat_map(|i| {
            let minute = last - chrono::Duration::minutes(minutes - 1 - i);
            let wave = [3u64, 5, 8, 6, 4, 7, 9, 12][i as usize % 8];
            let ago = minutes - 1 - i;
            JOB_TYPES.map(|job_type| {
                let (completed, failed, pending, processing) = match job_type {
                    JobType::Sync => (wave * 2, 0, wave, 2),
                    JobType::GasTopup => (wave / 2, u64::from((9..=11).contains(&ago)) * 4, 1, 1),
                    JobType::Consolidation => (1, 0, i as u64, u64::from(i % 3 == 0)),
                };
                HistoryMinute {
                    minute,
                    job_type,
                    completed,
                    failed,
                    pending,
                    processing,
                }
            })
        })
        .collect()
}

pub fn theme() -> Theme {
    Theme::new(ThemeKind::Color, false)
}

/// A console showing the fixture snapshot.
pub fn app() -> App {
    app_with(snapshot(), false)
}

pub fn app_with(snapshot: Snapshot, read_only: bool) -> App {
    let mut app = App::new(Keymap::default(), theme(), read_only);
    update(&mut app, Event::Snapshot(Ok(snapshot)));
    app
}

/// Presses keys named as the keymap names them: `press(&mut app, &["d", "Down", "Enter"])`.
pub fn press(app: &mut App, keys: &[&str]) -> Vec<Effect> {
    keys.iter()
        .flat_map(|k| {
            let chord: KeyChord = k.parse().unwrap_or_else(|_| panic!("bad key {k}"));
            update(app, Event::Key(chord.to_event()))
        })
        .collect()
}

/// Types text into whatever field has the focus.
pub fn type_text(app: &mut App, text: &str) -> Vec<Effect> {
    let keys: Vec<String> = text.chars().map(|c| c.to_string()).collect();
    let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
    press(app, &keys)
}

/// The detail of `row` as the backend reads it: two attempts that did not
/// succeed (a retry on one host, a lease rescue on another) and two
/// transfers (one mined with its fee, one still waiting for the chain).
pub fn job_detail(row: &JobView) -> JobDetail {
    let started = row.created_at + chrono::Duration::seconds(2);
    JobDetail {
        taken_at: at(14, 30, 0),
        job: JobView {
            retry_count: 2,
            attempts: 3,
            ..row.clone()
        },
        worker: Some("worker-a:4242".into()),
        attempts: vec![
            AttemptRecord {
                attempt: 1,
                worker: Some("worker-b:4343".into()),
                started_at: Some(started),
                ended_at: started + chrono::Duration::seconds(4),
                outcome: AttemptOutcome::Retry,
                error: Some("broadcast: node returned 503 Service Unavailable".into()),
            },
            AttemptRecord {
                attempt: 2,
                worker: Some("worker-c:77".into()),
                started_at: Some(started + chrono::Duration::seconds(10)),
                ended_at: started + chrono::Duration::seconds(75),
                outcome: AttemptOutcome::Rescued,
                error: Some(
                    "lease expired on attempt 2: worker worker-c:77 stopped renewing it; retrying"
                        .into(),
                ),
            },
        ],
        transfers: vec![
            JobTransfer {
                tx_id: "7c1f0e5a9b3d2c4e6f8a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e".into(),
                kind: crate::admin::TransferKind::ConsolidationUsdt,
                asset: Asset::Usdt,
                from_address: row.wallet_address.clone(),
                to_address: ADDRESSES[5].into(),
                amount: 1_250_500_000,
                status: TransferStatus::Confirmed,
                broadcast_count: 2,
                last_error: None,
                block_number: Some(68_123_456),
                fee_sun: Some(13_844_000),
                created_at: started + chrono::Duration::seconds(11),
                resolved_at: Some(started + chrono::Duration::seconds(80)),
            },
            JobTransfer {
                tx_id: "0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9".into(),
                kind: crate::admin::TransferKind::ConsolidationTrx,
                asset: Asset::Trx,
                from_address: row.wallet_address.clone(),
                to_address: ADDRESSES[5].into(),
                amount: 19_984_549_000,
                status: TransferStatus::Broadcast,
                broadcast_count: 1,
                last_error: Some("node timed out after 10 s; the transfer may have landed".into()),
                block_number: None,
                fee_sun: None,
                created_at: started + chrono::Duration::seconds(81),
                resolved_at: None,
            },
        ],
    }
}

/// An audit entry for a changed config key, as the database writes it.
pub fn config_change() -> AuditView {
    AuditView {
        id: id(799),
        at: at(14, 29, 30),
        actor: "lead@example.com".into(),
        action: "config_change".into(),
        target: "system_config gas.min_balance_sun".into(),
        details: r#"{"key":"gas.min_balance_sun","old":900000000,"new":1200000000,"actor":{"via":"login","operator":"lead@example.com","role":"admin"}}"#.into(),
    }
}
