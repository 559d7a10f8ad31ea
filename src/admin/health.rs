//! Health: one function turns the system's vital signs into Healthy,
//! Degraded or Down with the reasons. The console, `walletops status` and
//! `/api/workers/stats` all use it.

use serde::{Deserialize, Serialize};

use super::Asset;
use super::audit::ExternalChange;
use super::audit_chain::Head;
use crate::settings::GasMode;
use crate::transfers::pool::READ_EVERY;
use crate::tron::Sun;
use crate::wallets::deposits::FollowerState;

/// The overall verdict, worst first in severity order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Status {
    Healthy,
    Degraded,
    Down,
}

impl Status {
    /// The word for it, as the console shows it.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Healthy => "Healthy",
            Status::Degraded => "Degraded",
            Status::Down => "Down",
        }
    }

    /// `walletops status`'s exit code (3, "unknown", is the caller's).
    pub fn exit_code(self) -> u8 {
        match self {
            Status::Healthy => 0,
            Status::Degraded => 1,
            Status::Down => 2,
        }
    }
}

/// The thresholds, from `system_config` `health.*` (and `gas.min_balance_sun`).
pub use crate::settings::HealthThresholds as Thresholds;

/// The gas wallet as health sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum GasWallet {
    /// `gas.wallet_address` is not set.
    NotConfigured,
    /// Set, but no wallet with that address is stored.
    Missing { address: String },
    Balance {
        address: String,
        trx_balance_sun: i64,
    },
}

/// The energy pool as health sees it, from the workers' last reading.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum EnergyPool {
    /// No pool was read and `gas.mode` is burn: none is needed.
    NotConfigured,
    /// `gas.mode` needs a pool, and the workers have read none.
    NotRead,
    Read {
        address: String,
        energy_available: u64,
        /// Energy one sweep borrows (with `energy.margin_percent`), when known.
        sweep_energy: Option<u64>,
        /// SUN per unit of energy.
        energy_price: Sun,
        /// Seconds since the reading.
        age_seconds: i64,
    },
}

/// A reading older than this many times [`READ_EVERY`] is stale: no worker
/// reads the pool.
const STALE_READINGS: u64 = 10;

/// The audit trail as health sees it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct AuditVitals {
    /// The chain's newest row (keep its hash elsewhere to detect a rewrite).
    pub head: Option<Head>,
    /// What verification of the chain found wrong, if anything.
    pub broken: Option<String>,
    /// Changes made outside walletops that no admin acknowledged: how many,
    /// and the oldest few.
    pub unacknowledged: i64,
    pub oldest_unacknowledged: Vec<ExternalChange>,
}

/// The vital signs one health check reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Vitals {
    pub paused: bool,
    /// Workers whose heartbeat is fresh.
    pub live_workers: i64,
    /// Jobs finished in the last 15 minutes, and how many of them failed.
    pub finished_15m: i64,
    pub failed_15m: i64,
    /// Age of the oldest due pending job, in seconds.
    pub oldest_pending_seconds: Option<i64>,
    /// Processing jobs whose lease ran out.
    pub stuck_jobs: i64,
    pub gas_wallet: GasWallet,
    /// Policy refusals no admin has acknowledged yet, and the newest one's message.
    pub unacknowledged_security_events: i64,
    pub latest_security_event: Option<String>,
    pub audit: AuditVitals,
    /// The TRON node refuses the workers' credentials: since when, and what
    /// the failed job said. Cleared when a job next completes.
    pub tron_denied: Option<TronDenied>,
    pub gas_mode: GasMode,
    pub energy_pool: EnergyPool,
    /// TRX sweeps burned for energy today (UTC): what auto mode counts
    /// against `gas.daily_burn_cap_sun`.
    pub energy_burned_today: Sun,
    /// Consolidations waiting to run.
    pub pending_sweeps: i64,
    /// The chain follower, when `deposits.enabled` is on.
    pub deposits: Option<FollowerState>,
}

/// A refusal of the workers' credentials by the TRON node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TronDenied {
    pub since: chrono::DateTime<chrono::Utc>,
    pub message: String,
}

/// The verdict with its reasons (empty when Healthy).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Health {
    pub status: Status,
    pub reasons: Vec<String>,
}

/// The one health rule.
pub fn assess(v: &Vitals, t: &Thresholds) -> Health {
    let mut reasons = Vec::new();
    let mut status = Status::Healthy;
    let mut flag = |s: Status, reason: String| {
        status = status.max(s);
        reasons.push(reason);
    };

    if v.paused {
        flag(Status::Degraded, "workers are paused".into());
    }
    if v.live_workers == 0 {
        // Paused with no workers is what a maintenance window looks like.
        let s = if v.paused {
            Status::Degraded
        } else {
            Status::Down
        };
        flag(
            s,
            format!(
                "no live worker (no heartbeat in the last {} s)",
                t.heartbeat_stale_seconds
            ),
        );
    }
    if v.finished_15m >= t.failure_rate_min_jobs.max(1) {
        let pct = v.failed_15m * 100 / v.finished_15m;
        let reason = format!(
            "{pct}% of jobs failed in the last 15 minutes ({} of {})",
            v.failed_15m, v.finished_15m
        );
        if pct >= t.failure_rate_down_pct {
            flag(Status::Down, reason);
        } else if pct >= t.failure_rate_degraded_pct {
            flag(Status::Degraded, reason);
        }
    }
    if let Some(age) = v.oldest_pending_seconds {
        let reason = format!("oldest pending job has waited {age} s");
        if age >= t.oldest_pending_down_seconds {
            // While paused, waiting jobs are expected: a warning, not an outage.
            flag(
                if v.paused {
                    Status::Degraded
                } else {
                    Status::Down
                },
                reason,
            );
        } else if age >= t.oldest_pending_degraded_seconds {
            flag(Status::Degraded, reason);
        }
    }
    if v.stuck_jobs >= t.stuck_processing_degraded.max(1) {
        flag(
            Status::Degraded,
            format!("{} jobs are processing past their lease", v.stuck_jobs),
        );
    }
    match &v.gas_wallet {
        GasWallet::NotConfigured => {}
        GasWallet::Missing { address } => flag(
            Status::Degraded,
            format!("gas wallet {address} is not a stored wallet"),
        ),
        GasWallet::Balance {
            address,
            trx_balance_sun,
        } if *trx_balance_sun < t.gas_min_balance_sun => flag(
            Status::Degraded,
            format!(
                "gas wallet {address} holds {}, below gas.min_balance_sun {}",
                Asset::Trx.format(*trx_balance_sun),
                Asset::Trx.format(t.gas_min_balance_sun)
            ),
        ),
        GasWallet::Balance { .. } => {}
    }
    energy(v, t, &mut flag);
    if v.unacknowledged_security_events > 0 {
        // Someone tried to move funds where the policy forbids: a person
        // must look before this turns green again.
        flag(
            Status::Down,
            format!(
                "policy refused a transfer: {} unacknowledged security event(s), latest: {}; \
                 see `walletops security list`, then `walletops security ack`",
                v.unacknowledged_security_events,
                v.latest_security_event.as_deref().unwrap_or("?")
            ),
        );
    }
    if let Some(denied) = &v.tron_denied {
        // No job that needs the node can succeed until someone fixes the key.
        flag(
            Status::Down,
            format!(
                "the TRON node refuses the workers' credentials since {}: {}",
                denied.since.format("%Y-%m-%d %H:%M:%S UTC"),
                denied.message
            ),
        );
    }
    if let Some(problem) = &v.audit.broken {
        flag(
            Status::Down,
            format!("audit trail verification failed: {problem} (see `walletops audit verify`)"),
        );
    }
    if v.audit.unacknowledged > 0 {
        let rows: Vec<String> = v
            .audit
            .oldest_unacknowledged
            .iter()
            .map(|c| {
                format!(
                    "#{} {} on {} {} by login {}",
                    c.seq,
                    c.action_type.as_deref().unwrap_or("?"),
                    c.target_type.as_deref().unwrap_or("?"),
                    c.target_id.as_deref().unwrap_or("-"),
                    c.db_login.as_deref().unwrap_or("?"),
                )
            })
            .collect();
        flag(
            Status::Degraded,
            format!(
                "{} change(s) made outside walletops, not acknowledged: {}{}; an admin checks \
                 and runs `walletops audit ack SEQ`",
                v.audit.unacknowledged,
                rows.join(", "),
                if v.audit.unacknowledged > rows.len() as i64 {
                    ", ..."
                } else {
                    ""
                },
            ),
        );
    }
    if let Some(d) = &v.deposits {
        deposit_reasons(d, t, &mut flag);
    }
    Health { status, reasons }
}

/// The pool's reasons: a mode that needs a pool with none read, a stale
/// reading, too few sweeps left, and sweeps that wait for it.
fn energy(v: &Vitals, t: &Thresholds, flag: &mut impl FnMut(Status, String)) {
    let energy = |n: u64| crate::tron::format_units(n.into(), 0, "energy");
    let every = READ_EVERY.as_secs();
    let mode = v.gas_mode.as_str();
    let EnergyPool::Read {
        address,
        energy_available,
        sweep_energy,
        energy_price,
        age_seconds,
    } = &v.energy_pool
    else {
        if v.energy_pool == EnergyPool::NotRead {
            flag(
                Status::Degraded,
                format!(
                    "gas.mode is {mode} but no energy pool has been read (a running worker reads \
                     it every {every} s; see `walletops energy status`)"
                ),
            );
        }
        return;
    };
    if *age_seconds > (every * STALE_READINGS) as i64 {
        flag(
            Status::Degraded,
            format!(
                "energy pool {address} was last read {age_seconds} s ago (a running worker \
                 reads it every {every} s)"
            ),
        );
        return;
    }
    let Some(per_sweep) = sweep_energy.filter(|n| *n > 0) else {
        return;
    };
    let covered = energy_available / per_sweep;
    if t.energy_warn_sweeps > 0 && covered < t.energy_warn_sweeps as u64 {
        flag(
            Status::Degraded,
            format!(
                "energy pool {address} has {} available: {covered} sweep(s) of {}, fewer than \
                 energy.warn_sweeps {}",
                energy(*energy_available),
                energy(per_sweep),
                t.energy_warn_sweeps
            ),
        );
    }
    if covered > 0 || v.pending_sweeps == 0 {
        return;
    }
    // The pool cannot lend one sweep's energy: delegate mode waits, auto
    // burns until the daily cap, then waits (jobs::energy decides the same).
    let short = format!(
        "{} sweep(s) wait: energy pool {address} has {} available, less than one sweep's {}",
        v.pending_sweeps,
        energy(*energy_available),
        energy(per_sweep)
    );
    match v.gas_mode {
        GasMode::Burn => {}
        GasMode::Delegate => flag(
            Status::Down,
            format!("{short}; gas.mode is delegate (stake more with `walletops energy stake`)"),
        ),
        GasMode::Auto => {
            let cost = Sun(per_sweep.saturating_mul(energy_price.0));
            let cap = Sun(t.gas_daily_burn_cap_sun.max(0) as u64);
            if v.energy_burned_today.0.saturating_add(cost.0) > cap.0 {
                flag(
                    Status::Down,
                    format!(
                        "{short}, and burning about {cost} would pass gas.daily_burn_cap_sun \
                         {cap} ({} burned for energy today)",
                        v.energy_burned_today
                    ),
                );
            }
        }
    }
}

/// The chain follower's part of the rule: its lag against
/// `deposits.lag_*_seconds`, a worker to follow at all, a gap the node
/// could not serve, and a disagreement a sync found.
fn deposit_reasons(d: &FollowerState, t: &Thresholds, flag: &mut impl FnMut(Status, String)) {
    if !d.following {
        flag(
            Status::Degraded,
            "deposits.enabled is on but no worker follows the chain".into(),
        );
    }
    if let Some(lag) = d.lag_seconds {
        let reason = format!(
            "deposits lag {lag} s behind the chain ({} blocks)",
            d.lag_blocks.map_or("?".to_string(), |b| b.to_string())
        );
        if lag >= t.deposits_lag_crit_seconds {
            flag(Status::Down, reason);
        } else if lag >= t.deposits_lag_warn_seconds {
            flag(Status::Degraded, reason);
        }
    }
    if let Some(gap) = &d.gap {
        flag(Status::Degraded, format!("deposits: {gap}"));
    }
    if let Some(missed) = &d.missed_recently {
        flag(Status::Degraded, missed.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fine() -> Vitals {
        Vitals {
            paused: false,
            live_workers: 2,
            finished_15m: 100,
            failed_15m: 1,
            oldest_pending_seconds: Some(5),
            stuck_jobs: 0,
            gas_wallet: GasWallet::Balance {
                address: "T".into(),
                trx_balance_sun: 500_000_000,
            },
            unacknowledged_security_events: 0,
            latest_security_event: None,
            audit: AuditVitals::default(),
            tron_denied: None,
            gas_mode: GasMode::Burn,
            energy_pool: EnergyPool::NotConfigured,
            energy_burned_today: Sun::ZERO,
            pending_sweeps: 0,
            deposits: None,
        }
    }

    fn status(v: Vitals) -> Status {
        assess(&v, &Thresholds::default()).status
    }

    #[test]
    fn a_low_gas_wallet_is_said_in_trx() {
        let t = Thresholds {
            gas_min_balance_sun: 900_000_000,
            ..Thresholds::default()
        };
        let v = Vitals {
            gas_wallet: GasWallet::Balance {
                address: "TGas".into(),
                trx_balance_sun: 19_984_549_000 / 100,
            },
            ..fine()
        };
        assert_eq!(
            assess(&v, &t).reasons,
            ["gas wallet TGas holds 199.845490 TRX, below gas.min_balance_sun 900.000000 TRX"]
        );
    }

    #[test]
    fn each_sign_moves_the_verdict() {
        let h = assess(&fine(), &Thresholds::default());
        assert_eq!(h.status, Status::Healthy);
        assert!(h.reasons.is_empty());

        assert_eq!(
            status(Vitals {
                paused: true,
                ..fine()
            }),
            Status::Degraded
        );
        assert_eq!(
            status(Vitals {
                live_workers: 0,
                ..fine()
            }),
            Status::Down
        );
        assert_eq!(
            status(Vitals {
                live_workers: 0,
                paused: true,
                ..fine()
            }),
            Status::Degraded
        );
        assert_eq!(
            status(Vitals {
                failed_15m: 10,
                ..fine()
            }),
            Status::Degraded
        );
        assert_eq!(
            status(Vitals {
                failed_15m: 50,
                ..fine()
            }),
            Status::Down
        );
        // Too few jobs for a rate to mean anything.
        assert_eq!(
            status(Vitals {
                finished_15m: 3,
                failed_15m: 3,
                ..fine()
            }),
            Status::Healthy
        );
        assert_eq!(
            status(Vitals {
                oldest_pending_seconds: Some(300),
                ..fine()
            }),
            Status::Degraded
        );
        assert_eq!(
            status(Vitals {
                oldest_pending_seconds: Some(1800),
                ..fine()
            }),
            Status::Down
        );
        assert_eq!(
            status(Vitals {
                stuck_jobs: 1,
                ..fine()
            }),
            Status::Degraded
        );
        assert_eq!(
            status(Vitals {
                gas_wallet: GasWallet::Balance {
                    address: "T".into(),
                    trx_balance_sun: 1
                },
                ..fine()
            }),
            Status::Degraded
        );
        assert_eq!(
            status(Vitals {
                gas_wallet: GasWallet::Missing {
                    address: "T".into()
                },
                ..fine()
            }),
            Status::Degraded
        );
    }

    #[test]
    fn a_policy_refusal_is_down_until_acknowledged() {
        let h = assess(
            &Vitals {
                unacknowledged_security_events: 2,
                latest_security_event: Some("sweep destination T.. is not a treasury".into()),
                ..fine()
            },
            &Thresholds::default(),
        );
        assert_eq!(h.status, Status::Down);
        assert!(
            h.reasons[0].starts_with("policy refused a transfer"),
            "{:?}",
            h.reasons
        );
    }

    #[test]
    fn the_audit_trail_moves_the_verdict() {
        let broken = Vitals {
            audit: AuditVitals {
                broken: Some("row 3 was changed".into()),
                ..AuditVitals::default()
            },
            ..fine()
        };
        let h = assess(&broken, &Thresholds::default());
        assert_eq!(h.status, Status::Down);
        assert!(h.reasons[0].contains("row 3 was changed"), "{h:?}");
        let external = Vitals {
            audit: AuditVitals {
                unacknowledged: 2,
                oldest_unacknowledged: vec![ExternalChange {
                    seq: 7,
                    db_login: Some("postgres".into()),
                    action_type: Some("config.set".into()),
                    target_type: Some("system_config".into()),
                    target_id: Some("gas.topup_sun".into()),
                    created_at: None,
                }],
                ..AuditVitals::default()
            },
            ..fine()
        };
        let h = assess(&external, &Thresholds::default());
        assert_eq!(h.status, Status::Degraded);
        assert!(
            h.reasons[0].contains("#7 config.set on system_config gas.topup_sun by login postgres"),
            "{h:?}"
        );
    }

    #[test]
    fn reasons_name_every_problem() {
        let h = assess(
            &Vitals {
                paused: true,
                stuck_jobs: 3,
                ..fine()
            },
            &Thresholds::default(),
        );
        assert_eq!(h.reasons.len(), 2, "{:?}", h.reasons);
        assert_eq!(Status::Down.exit_code(), 2);
    }

    #[test]
    fn the_energy_pool_moves_the_verdict() {
        let t = Thresholds {
            energy_warn_sweeps: 20,
            gas_daily_burn_cap_sun: 100_000_000,
            ..Thresholds::default()
        };
        let pool = |available, age_seconds| Vitals {
            energy_pool: EnergyPool::Read {
                address: "TPool".into(),
                energy_available: available,
                sweep_energy: Some(64_285),
                energy_price: Sun(100),
                age_seconds,
            },
            ..fine()
        };
        // 20 sweeps' energy exactly: fine; one unit less: 19 sweeps.
        assert_eq!(assess(&pool(20 * 64_285, 5), &t).status, Status::Healthy);
        let h = assess(&pool(20 * 64_285 - 1, 5), &t);
        assert_eq!(h.status, Status::Degraded);
        assert_eq!(
            h.reasons,
            [
                "energy pool TPool has 1,285,699 energy available: 19 sweep(s) of 64,285 energy, \
              fewer than energy.warn_sweeps 20"
            ]
        );
        // 0 turns the check off.
        let off = Thresholds {
            energy_warn_sweeps: 0,
            ..t
        };
        assert_eq!(assess(&pool(0, 5), &off).status, Status::Healthy);
        // A reading no worker renews says so instead of showing old figures.
        let h = assess(&pool(10_000_000, 301), &t);
        assert_eq!(h.status, Status::Degraded);
        assert!(h.reasons[0].contains("last read 301 s ago"), "{h:?}");
        let h = assess(
            &Vitals {
                gas_mode: GasMode::Delegate,
                energy_pool: EnergyPool::NotRead,
                ..fine()
            },
            &t,
        );
        assert!(
            h.reasons[0].contains("gas.mode is delegate but no energy pool has been read"),
            "{h:?}"
        );

        // Short of one sweep with sweeps pending: delegate waits (Down);
        // auto burns within the cap (only the warning), then waits (Down);
        // burn does not use the pool.
        let short = |mode, burned| Vitals {
            gas_mode: mode,
            pending_sweeps: 3,
            energy_burned_today: Sun(burned),
            ..pool(64_284, 5)
        };
        let h = assess(&short(GasMode::Delegate, 0), &t);
        assert_eq!(h.status, Status::Down);
        assert_eq!(
            h.reasons[1],
            "3 sweep(s) wait: energy pool TPool has 64,284 energy available, less than one \
             sweep's 64,285 energy; gas.mode is delegate (stake more with `walletops energy stake`)"
        );
        // 6.4285 TRX more stays within 100 TRX; one SUN more passes it.
        let within = short(GasMode::Auto, 100_000_000 - 6_428_500);
        assert_eq!(assess(&within, &t).status, Status::Degraded);
        let h = assess(&short(GasMode::Auto, 100_000_000 - 6_428_499), &t);
        assert_eq!(h.status, Status::Down);
        assert!(
            h.reasons[1].ends_with(
                "and burning about 6.428500 TRX would pass gas.daily_burn_cap_sun 100.000000 TRX \
                 (93.571501 TRX burned for energy today)"
            ),
            "{h:?}"
        );
        assert_eq!(
            assess(&short(GasMode::Burn, 100_000_000), &t).status,
            Status::Degraded
        );
        // Nothing waits without a pending sweep.
        let idle = Vitals {
            pending_sweeps: 0,
            ..short(GasMode::Delegate, 0)
        };
        assert_eq!(assess(&idle, &t).status, Status::Degraded);
    }

    #[test]
    fn a_node_refusing_the_credentials_is_down() {
        let mut v = fine();
        v.tron_denied = Some(TronDenied {
            since: chrono::DateTime::from_timestamp(1_764_000_000, 0).unwrap(),
            message: "TRON node denied access (check TRON_API_KEY): HTTP 401".into(),
        });
        let h = assess(&v, &Thresholds::default());
        assert_eq!(h.status, Status::Down);
        assert!(
            h.reasons[0].contains("refuses the workers' credentials since 2025-11-24")
                && h.reasons[0].contains("TRON_API_KEY"),
            "{h:?}"
        );
    }
}
