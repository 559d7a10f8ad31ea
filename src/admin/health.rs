//! Health: one function turns the system's vital signs into Healthy,
//! Degraded or Down with the reasons. The console, `walletops status` and
//! `/api/workers/stats` all use it.

use serde::{Deserialize, Serialize};

use super::Asset;
use super::audit::ExternalChange;
use super::audit_chain::Head;
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
