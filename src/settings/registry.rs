//! The one table of runtime keys: what each holds, its default, its bounds
//! and what it means. `config set` and `config propose` validate against it,
//! the typed readers ([`super::QueueSettings`] and the others) fall back to
//! its defaults, and `tests/settings.rs` proves that the rows the migrations
//! seed agree with it (same keys, same defaults).

use serde::Serialize;
use serde_json::Value;

use crate::tron::Address;

/// Seconds in a day.
const DAY: i64 = 86_400;
/// 1 TRX in SUN.
const TRX: i64 = 1_000_000;
/// 1 USDT in its smallest unit.
const USDT: i64 = 1_000_000;

/// What a key holds, with its default and bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Kind {
    /// `true` or `false`.
    Bool { default: bool },
    /// A whole number from `min` to `max` (amounts, counts, seconds, days).
    Int { default: i64, min: i64, max: i64 },
    /// A base58 TRON address; with `optional`, JSON `null` means "not set".
    Address {
        default: Option<&'static str>,
        optional: bool,
    },
    /// One word of `options`, as a JSON string (e.g. `"burn"`).
    Choice {
        default: &'static str,
        options: &'static [&'static str],
    },
}

/// One runtime key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Key {
    pub name: &'static str,
    #[serde(flatten)]
    pub kind: Kind,
    /// Changes only by proposal, approved by a second admin after
    /// `policy.change_delay_seconds` (`walletops_money_key()` in
    /// migrations/0009_config_proposals.sql; a test proves they agree).
    pub moves_money: bool,
    pub description: &'static str,
    /// Where SQL holds a fallback of its own for this key, and why it must.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sql_fallback: Option<&'static str>,
}

const fn int(
    name: &'static str,
    default: i64,
    min: i64,
    max: i64,
    description: &'static str,
) -> Key {
    Key {
        name,
        kind: Kind::Int { default, min, max },
        moves_money: false,
        description,
        sql_fallback: None,
    }
}

const fn boolean(name: &'static str, default: bool, description: &'static str) -> Key {
    Key {
        name,
        kind: Kind::Bool { default },
        moves_money: false,
        description,
        sql_fallback: None,
    }
}

const fn payout(name: &'static str, description: &'static str) -> Key {
    Key {
        name,
        kind: Kind::Address {
            default: None,
            optional: true,
        },
        moves_money: true,
        description,
        sql_fallback: None,
    }
}

const fn money(key: Key) -> Key {
    Key {
        moves_money: true,
        ..key
    }
}

/// Every runtime key, in the order `walletops config keys` lists them.
pub const KEYS: &[Key] = &[
    Key {
        sql_fallback: Some(
            "walletops_config_set() (migrations/0007_identity_audit.sql) recreates a missing \
             row with false, so that pause and start work even after the row was deleted",
        ),
        ..boolean(
            "workers.paused",
            false,
            "When true, workers claim no new jobs; jobs in flight finish.",
        )
    },
    int(
        "ui.refresh_seconds",
        15,
        1,
        3600,
        "Console refresh interval in seconds (database notifications refresh sooner).",
    ),
    payout(
        "consolidation.treasury_address",
        "Base58 TRON address that consolidations sweep to. Required before any consolidation runs.",
    ),
    int(
        "consolidation.min_usdt",
        10 * USDT,
        0,
        1_000_000_000 * USDT,
        "Smallest USDT balance worth sweeping, in the token's smallest unit (6 decimals).",
    ),
    int(
        "consolidation.trx_reserve_sun",
        TRX,
        0,
        1_000_000 * TRX,
        "TRX left on a deposit wallet after a sweep, in SUN.",
    ),
    payout(
        "gas.wallet_address",
        "Base58 TRON address of the gas wallet that pays for top-ups.",
    ),
    Key {
        name: "gas.mode",
        kind: Kind::Choice {
            default: "burn",
            options: crate::settings::GasMode::NAMES,
        },
        moves_money: false,
        description: "How a sweep pays for its energy: \"burn\" (TRX topped up and burned), \"delegate\" (energy lent by the energy pool; the sweep waits while the pool is short) or \"auto\" (delegate while the pool covers it, else burn within gas.daily_burn_cap_sun, else wait).",
        sql_fallback: None,
    },
    int(
        "gas.daily_burn_cap_sun",
        100 * TRX,
        0,
        1_000_000_000 * TRX,
        "In auto mode: TRX in SUN that sweeps may burn for energy per UTC day when the energy pool is short; beyond it they wait.",
    ),
    payout(
        "energy.wallet_address",
        "Base58 TRON address of the energy wallet that lends energy; unset, the one active energy wallet.",
    ),
    int(
        "energy.margin_percent",
        10,
        0,
        1000,
        "Energy delegated above the estimated energy of a USDT transfer, in percent.",
    ),
    money(int(
        "gas.topup_sun",
        0,
        0,
        100_000 * TRX,
        "Fixed top-up amount in SUN; 0 computes it from the energy a USDT transfer needs at run time.",
    )),
    int(
        "gas.min_balance_sun",
        100 * TRX,
        0,
        1_000_000_000 * TRX,
        "Below this balance in SUN the gas wallet refuses top-ups and health is Degraded.",
    ),
    int(
        "energy.warn_sweeps",
        20,
        0,
        1_000_000,
        "Health is Degraded when the energy pool's available energy covers fewer sweeps than this; 0 turns the check off.",
    ),
    int(
        "sync.interval_seconds",
        0,
        0,
        30 * DAY,
        "Seconds between periodic syncs of every wallet; 0 turns periodic sync off.",
    ),
    boolean(
        "sync.auto_consolidate",
        false,
        "When true, a sync that finds USDT above consolidation.min_usdt queues a consolidation.",
    ),
    boolean(
        "deposits.enabled",
        false,
        "When true, one worker follows the chain block by block and records every transfer to or from a stored wallet.",
    ),
    boolean(
        "deposits.show_unconfirmed",
        false,
        "When true, the follower also shows transfers of blocks not yet solidified as pending deposits.",
    ),
    boolean(
        "deposits.watch_trx",
        true,
        "When true, the follower records TRX transfers.",
    ),
    boolean(
        "deposits.watch_usdt",
        true,
        "When true, the follower records USDT (tron.usdt_contract) Transfer events.",
    ),
    int(
        "deposits.lag_warn_seconds",
        300,
        1,
        30 * DAY,
        "Seconds the follower may lag behind the chain (block time of its last recorded block) before health is Degraded.",
    ),
    int(
        "deposits.lag_crit_seconds",
        1800,
        1,
        30 * DAY,
        "Seconds the follower may lag behind the chain before health is Down.",
    ),
    int(
        "queue.max_retries",
        3,
        0,
        1000,
        "Attempts a job may fail before it goes to the dead-letter set (failed).",
    ),
    int(
        "queue.backoff_base_seconds",
        5,
        1,
        3600,
        "First retry delay in seconds; doubles with each retry, plus jitter.",
    ),
    int(
        "queue.backoff_cap_seconds",
        600,
        1,
        DAY,
        "Longest retry delay in seconds.",
    ),
    int(
        "queue.lease_seconds",
        30,
        1,
        3600,
        "How long a claim lasts without a heartbeat before the job is taken back.",
    ),
    int(
        "queue.retention_days",
        7,
        1,
        3650,
        "Completed and cancelled jobs older than this many days are deleted.",
    ),
    int(
        "queue.failed_retention_days",
        90,
        1,
        3650,
        "Failed jobs (the dead-letter set) older than this many days are deleted.",
    ),
    Key {
        name: "tron.usdt_contract",
        kind: Kind::Address {
            default: Some("TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t"),
            optional: false,
        },
        moves_money: true,
        description: "Base58 address of the USDT (TRC-20) contract.",
        sql_fallback: None,
    },
    // A signed transaction is valid for at most 24 h after its reference
    // block on TRON.
    int(
        "tron.tx_expiry_seconds",
        60,
        1,
        DAY,
        "Seconds a signed transaction stays valid after its reference block.",
    ),
    money(int(
        "tron.fee_limit_sun",
        100 * TRX,
        0,
        15_000 * TRX,
        "Most TRX in SUN a TRC-20 transfer may burn for energy.",
    )),
    int(
        "health.heartbeat_stale_seconds",
        30,
        1,
        3600,
        "A worker whose last heartbeat is older than this counts as dead.",
    ),
    int(
        "health.failure_rate_degraded_pct",
        10,
        0,
        100,
        "Failure rate over the last 15 minutes (percent) at which health is Degraded.",
    ),
    int(
        "health.failure_rate_down_pct",
        50,
        0,
        100,
        "Failure rate over the last 15 minutes (percent) at which health is Down.",
    ),
    int(
        "health.failure_rate_min_jobs",
        10,
        0,
        1_000_000,
        "Jobs that must have finished in the last 15 minutes before the failure rate can make health Degraded or Down.",
    ),
    int(
        "health.oldest_pending_degraded_seconds",
        300,
        0,
        30 * DAY,
        "Age in seconds of the oldest due pending job at which health is Degraded.",
    ),
    int(
        "health.oldest_pending_down_seconds",
        1800,
        0,
        30 * DAY,
        "Age in seconds of the oldest due pending job at which health is Down.",
    ),
    int(
        "health.stuck_processing_degraded",
        1,
        0,
        1_000_000,
        "Number of jobs past their lease at which health is Degraded.",
    ),
    // At most 30 days: a longer delay would hold back every later change,
    // shortening it included.
    Key {
        sql_fallback: Some(
            "walletops_change_delay() (migrations/0009_config_proposals.sql) reads 86400 when the \
             row is missing or malformed: a lost row must never mean \"no delay\" for the keys \
             that move money",
        ),
        ..money(int(
            "policy.change_delay_seconds",
            DAY,
            0,
            30 * DAY,
            "Seconds between the approval of a proposed change to a key that moves money and the moment it takes effect (24 h by default). Changed itself only by proposal; the signing host's policy file sets its own minimum.",
        ))
    },
];

/// The key named `name`, if the registry has it.
pub fn key(name: &str) -> Option<&'static Key> {
    KEYS.iter().find(|k| k.name == name)
}

/// Every key's name, comma separated (for refusals that list them).
pub fn names() -> String {
    KEYS.iter().map(|k| k.name).collect::<Vec<_>>().join(", ")
}

impl Key {
    /// The default as stored (JSON).
    pub fn default_value(&self) -> Value {
        match self.kind {
            Kind::Bool { default } => Value::Bool(default),
            Kind::Int { default, .. } => Value::from(default),
            Kind::Address { default, .. } => default.map_or(Value::Null, Value::from),
            Kind::Choice { default, .. } => Value::from(default),
        }
    }

    /// What the key accepts, in words: "an integer from 1 to 3600".
    pub fn accepts(&self) -> String {
        match self.kind {
            Kind::Bool { .. } => "true or false".into(),
            Kind::Int { min, max, .. } => format!("an integer from {min} to {max}"),
            Kind::Address { optional: true, .. } => {
                "a TRON address in quotes (e.g. \"T...\"), or null for not set".into()
            }
            Kind::Address {
                optional: false, ..
            } => "a TRON address in quotes (e.g. \"T...\")".into(),
            Kind::Choice { options, .. } => format!(
                "one of {} in quotes",
                options
                    .iter()
                    .map(|o| format!("\"{o}\""))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    }

    /// The value to store (addresses normalised to base58), or why it is
    /// refused, naming what the key accepts ("must be an integer from 1 to
    /// 3600, not 0"; the caller names the key).
    pub fn check(&self, value: &Value) -> Result<Value, String> {
        let refused = || format!("must be {}, not {value}", self.accepts());
        match self.kind {
            Kind::Bool { .. } if value.is_boolean() => Ok(value.clone()),
            Kind::Int { min, max, .. } => match value.as_i64() {
                Some(n) if (min..=max).contains(&n) => Ok(value.clone()),
                _ => Err(refused()),
            },
            Kind::Address { optional: true, .. } if value.is_null() => Ok(Value::Null),
            Kind::Address { .. } => match value.as_str() {
                Some(s) => s
                    .parse::<Address>()
                    .map(|a| Value::String(a.to_base58()))
                    .map_err(|e| format!("{s:?} is not a TRON address: {e}")),
                None => Err(refused()),
            },
            Kind::Choice { options, .. } => match value.as_str() {
                Some(s) if options.contains(&s) => Ok(value.clone()),
                _ => Err(refused()),
            },
            Kind::Bool { .. } => Err(refused()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_default_is_within_its_own_bounds() {
        for k in KEYS {
            assert_eq!(
                k.check(&k.default_value()),
                Ok(k.default_value()),
                "{}",
                k.name
            );
        }
    }

    #[test]
    fn names_are_unique() {
        for (i, k) in KEYS.iter().enumerate() {
            assert!(
                KEYS[i + 1..].iter().all(|o| o.name != k.name),
                "{} twice",
                k.name
            );
        }
    }

    #[test]
    fn values_are_checked_per_key() {
        let ok = |k: &str, v: Value| key(k).unwrap().check(&v);
        assert!(ok("workers.paused", json!(true)).is_ok());
        assert!(ok("workers.paused", json!("yes")).is_err());
        assert!(ok("gas.min_balance_sun", json!(5)).is_ok());
        assert!(ok("gas.min_balance_sun", json!(-5)).is_err());
        assert!(ok("gas.min_balance_sun", json!(1.5)).is_err());
        assert!(ok("queue.lease_seconds", json!(0)).is_err());
        assert!(ok("queue.lease_seconds", json!(i64::MAX)).is_err());
        assert!(ok("tron.tx_expiry_seconds", json!(i64::MAX)).is_err());
        assert!(ok("tron.tx_expiry_seconds", json!(86_400)).is_ok());
        assert!(ok("health.failure_rate_down_pct", json!(101)).is_err());
        assert!(ok("gas.wallet_address", Value::Null).is_ok());
        assert!(
            ok(
                "gas.wallet_address",
                json!("TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t")
            )
            .is_ok()
        );
        assert!(
            ok(
                "gas.wallet_address",
                json!("TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6u")
            )
            .is_err()
        );
        assert!(ok("tron.usdt_contract", Value::Null).is_err());
        assert!(ok("gas.mode", json!("delegate")).is_ok());
        let e = ok("gas.mode", json!("stake")).unwrap_err();
        assert!(e.contains(r#"one of "burn", "delegate", "auto""#), "{e}");
        assert!(ok("gas.mode", json!(1)).is_err());
        assert!(ok("energy.margin_percent", json!(-1)).is_err());
        assert!(ok("policy.change_delay_seconds", json!(0)).is_ok());
        assert!(ok("policy.change_delay_seconds", json!(30 * 86_400)).is_ok());
        assert!(ok("policy.change_delay_seconds", json!(30 * 86_400 + 1)).is_err());
        let e = ok("queue.lease_seconds", json!(9_223_372_036_854_775_807i64)).unwrap_err();
        assert!(e.contains("from 1 to 3600"), "{e}");
    }
}
