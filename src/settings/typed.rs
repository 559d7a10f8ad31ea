//! The typed views of the registry that the rest of walletops reads: each
//! reads its keys in one query; a missing row reads as the registry's
//! default (a key that moves money has none: missing, it is an error).

use std::time::Duration;

use serde::Serialize;
use sqlx::{PgConnection, PgPool};

use super::{Kind, SettingsError, Snapshot, or_default, registry};
use crate::tron::{Address, Sun, TokenUnits};

const DAY: u64 = 86_400;

/// The registry's default of an integer key.
fn default_int(name: &'static str) -> i64 {
    match Snapshot::key(name).kind {
        Kind::Int { default, .. } => default,
        _ => panic!("{name} is not an integer key"),
    }
}

fn default_bool(name: &'static str) -> bool {
    match Snapshot::key(name).kind {
        Kind::Bool { default } => default,
        _ => panic!("{name} is not a boolean key"),
    }
}

fn secs(n: i64) -> Duration {
    Duration::from_secs(n.max(0) as u64)
}

/// What the queue and the engine act on. A malformed value is an error
/// (the engine keeps the previous value and logs it).
#[derive(Debug, Clone, PartialEq)]
pub struct QueueSettings {
    /// `workers.paused`
    pub paused: bool,
    /// `queue.lease_seconds`
    pub lease: Duration,
    /// `queue.backoff_base_seconds`
    pub backoff_base: Duration,
    /// `queue.backoff_cap_seconds`
    pub backoff_cap: Duration,
    /// `queue.retention_days` (completed and cancelled jobs)
    pub retention: Duration,
    /// `queue.failed_retention_days`
    pub failed_retention: Duration,
    /// `sync.interval_seconds`; `None` when 0 (no periodic sync).
    pub sync_interval: Option<Duration>,
    /// `queue.max_retries`
    pub max_retries: i32,
}

const QUEUE_KEYS: [&str; 8] = [
    "workers.paused",
    "queue.lease_seconds",
    "queue.backoff_base_seconds",
    "queue.backoff_cap_seconds",
    "queue.retention_days",
    "queue.failed_retention_days",
    "sync.interval_seconds",
    "queue.max_retries",
];

impl Default for QueueSettings {
    /// The registry's defaults.
    fn default() -> Self {
        let interval = default_int("sync.interval_seconds");
        Self {
            paused: default_bool("workers.paused"),
            lease: secs(default_int("queue.lease_seconds")),
            backoff_base: secs(default_int("queue.backoff_base_seconds")),
            backoff_cap: secs(default_int("queue.backoff_cap_seconds")),
            retention: secs(default_int("queue.retention_days")) * DAY as u32,
            failed_retention: secs(default_int("queue.failed_retention_days")) * DAY as u32,
            sync_interval: (interval > 0).then(|| secs(interval)),
            max_retries: default_int("queue.max_retries") as i32,
        }
    }
}

impl QueueSettings {
    pub async fn load(conn: &mut PgConnection) -> Result<Self, SettingsError> {
        let s = Snapshot::load(conn, &QUEUE_KEYS).await?;
        let interval = s.int("sync.interval_seconds")?;
        Ok(Self {
            paused: s.bool("workers.paused")?,
            lease: secs(s.int("queue.lease_seconds")?),
            backoff_base: secs(s.int("queue.backoff_base_seconds")?),
            backoff_cap: secs(s.int("queue.backoff_cap_seconds")?),
            retention: secs(s.int("queue.retention_days")?) * DAY as u32,
            failed_retention: secs(s.int("queue.failed_retention_days")?) * DAY as u32,
            sync_interval: (interval > 0).then(|| secs(interval)),
            max_retries: s.int("queue.max_retries")? as i32,
        })
    }
}

/// How a sweep pays for its energy (`gas.mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum GasMode {
    /// TRX topped up by the gas wallet and burned (the default).
    Burn,
    /// Energy lent by the energy pool; a sweep waits while the pool is short.
    Delegate,
    /// Delegate while the pool covers the sweep, else burn within
    /// `gas.daily_burn_cap_sun`, else wait.
    Auto,
}

impl GasMode {
    /// The stored words, in the order of the variants.
    pub const NAMES: &'static [&'static str] = &["burn", "delegate", "auto"];

    pub fn as_str(self) -> &'static str {
        match self {
            GasMode::Burn => "burn",
            GasMode::Delegate => "delegate",
            GasMode::Auto => "auto",
        }
    }
}

impl std::str::FromStr for GasMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "burn" => Ok(GasMode::Burn),
            "delegate" => Ok(GasMode::Delegate),
            "auto" => Ok(GasMode::Auto),
            _ => Err(format!(
                "{s:?} is not a gas mode; valid: {}",
                Self::NAMES.join(", ")
            )),
        }
    }
}

impl std::fmt::Display for GasMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Every switch the wallet jobs read, at the start of every attempt (an
/// operator's `config set`, or an applied proposal, applies to the next
/// attempt). A malformed value fails the job, naming the key; nothing that
/// moves money has a silent default.
#[derive(Debug, Clone, PartialEq)]
pub struct JobSettings {
    /// `consolidation.treasury_address`; a malformed one fails only the
    /// jobs that use it.
    treasury: Result<Option<Address>, String>,
    pub min_usdt: TokenUnits,
    pub trx_reserve: Sun,
    gas_wallet: Result<Option<Address>, String>,
    /// `gas.topup_sun`; zero computes the amount at run time.
    pub topup: Sun,
    pub gas_min_balance: Sun,
    pub auto_consolidate: bool,
    pub usdt_contract: Address,
    pub tx_expiry: Duration,
    pub fee_limit: Sun,
    /// `gas.mode`
    pub gas_mode: GasMode,
    /// `gas.daily_burn_cap_sun`
    pub daily_burn_cap: Sun,
    /// `energy.wallet_address`
    energy_wallet: Result<Option<Address>, String>,
    /// `energy.margin_percent`
    pub energy_margin_pct: u64,
}

const JOB_KEYS: [&str; 14] = [
    "gas.mode",
    "gas.daily_burn_cap_sun",
    "energy.wallet_address",
    "energy.margin_percent",
    "consolidation.treasury_address",
    "consolidation.min_usdt",
    "consolidation.trx_reserve_sun",
    "gas.wallet_address",
    "gas.topup_sun",
    "gas.min_balance_sun",
    "sync.auto_consolidate",
    "tron.usdt_contract",
    "tron.tx_expiry_seconds",
    "tron.fee_limit_sun",
];

impl JobSettings {
    pub async fn load(pool: &PgPool) -> Result<Self, SettingsError> {
        let s = Snapshot::load(pool, &JOB_KEYS).await?;
        // Registry bounds keep every amount non-negative.
        let amount = |key| s.int(key).map(|n| n.max(0) as u64);
        let lazy = |key| {
            s.address(key).map_err(|e| match e {
                SettingsError::Invalid { message, .. } => message,
                other => other.to_string(),
            })
        };
        Ok(Self {
            treasury: lazy("consolidation.treasury_address"),
            min_usdt: TokenUnits(amount("consolidation.min_usdt")?),
            trx_reserve: Sun(amount("consolidation.trx_reserve_sun")?),
            gas_wallet: lazy("gas.wallet_address"),
            topup: Sun(amount("gas.topup_sun")?),
            gas_min_balance: Sun(amount("gas.min_balance_sun")?),
            auto_consolidate: s.bool("sync.auto_consolidate")?,
            usdt_contract: s.address("tron.usdt_contract")?.ok_or_else(|| {
                SettingsError::Invalid {
                    key: "tron.usdt_contract",
                    message: "is not set".into(),
                }
            })?,
            tx_expiry: secs(s.int("tron.tx_expiry_seconds")?),
            fee_limit: Sun(amount("tron.fee_limit_sun")?),
            gas_mode: s
                .text("gas.mode")?
                .parse()
                .map_err(|message| SettingsError::Invalid {
                    key: "gas.mode",
                    message,
                })?,
            daily_burn_cap: Sun(amount("gas.daily_burn_cap_sun")?),
            energy_wallet: lazy("energy.wallet_address"),
            energy_margin_pct: amount("energy.margin_percent")?,
        })
    }

    /// `energy` plus `energy.margin_percent`: what a sweep is lent.
    pub fn energy_with_margin(&self, energy: u64) -> u64 {
        u64::try_from((u128::from(energy) * u128::from(100 + self.energy_margin_pct)).div_ceil(100))
            .unwrap_or(u64::MAX)
    }

    /// `energy.wallet_address`, like [`Self::treasury`].
    pub fn energy_wallet(&self) -> Result<Option<Address>, SettingsError> {
        Self::lazy("energy.wallet_address", &self.energy_wallet)
    }

    /// `consolidation.treasury_address`: `None` when unset, an error when
    /// malformed. The funds policy decides whether it may be used. It
    /// changes only by `walletops config propose`, approved by a second admin.
    pub fn treasury(&self) -> Result<Option<Address>, SettingsError> {
        Self::lazy("consolidation.treasury_address", &self.treasury)
    }

    /// `gas.wallet_address`, like [`Self::treasury`].
    pub fn gas_wallet(&self) -> Result<Option<Address>, SettingsError> {
        Self::lazy("gas.wallet_address", &self.gas_wallet)
    }

    fn lazy(
        key: &'static str,
        v: &Result<Option<Address>, String>,
    ) -> Result<Option<Address>, SettingsError> {
        v.clone()
            .map_err(|message| SettingsError::Invalid { key, message })
    }
}

/// The thresholds health compares the live figures with (`health.*` and
/// `gas.min_balance_sun`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct HealthThresholds {
    pub heartbeat_stale_seconds: i64,
    pub failure_rate_degraded_pct: i64,
    pub failure_rate_down_pct: i64,
    pub failure_rate_min_jobs: i64,
    pub oldest_pending_degraded_seconds: i64,
    pub oldest_pending_down_seconds: i64,
    pub stuck_processing_degraded: i64,
    pub gas_min_balance_sun: i64,
    /// `energy.warn_sweeps`: 0 turns the pool check off.
    pub energy_warn_sweeps: i64,
    /// `gas.daily_burn_cap_sun`: in auto mode, the most TRX sweeps burn for
    /// energy per UTC day; beyond it they wait.
    pub gas_daily_burn_cap_sun: i64,
    /// `deposits.lag_warn_seconds` and `deposits.lag_crit_seconds`.
    pub deposits_lag_warn_seconds: i64,
    pub deposits_lag_crit_seconds: i64,
}

/// Each threshold with its key, in one list so that the default and the
/// load cannot drift apart.
fn thresholds(mut int: impl FnMut(&'static str) -> i64) -> HealthThresholds {
    HealthThresholds {
        heartbeat_stale_seconds: int("health.heartbeat_stale_seconds"),
        failure_rate_degraded_pct: int("health.failure_rate_degraded_pct"),
        failure_rate_down_pct: int("health.failure_rate_down_pct"),
        failure_rate_min_jobs: int("health.failure_rate_min_jobs"),
        oldest_pending_degraded_seconds: int("health.oldest_pending_degraded_seconds"),
        oldest_pending_down_seconds: int("health.oldest_pending_down_seconds"),
        stuck_processing_degraded: int("health.stuck_processing_degraded"),
        gas_min_balance_sun: int("gas.min_balance_sun"),
        energy_warn_sweeps: int("energy.warn_sweeps"),
        gas_daily_burn_cap_sun: int("gas.daily_burn_cap_sun"),
        deposits_lag_warn_seconds: int("deposits.lag_warn_seconds"),
        deposits_lag_crit_seconds: int("deposits.lag_crit_seconds"),
    }
}

impl Default for HealthThresholds {
    /// The registry's defaults.
    fn default() -> Self {
        thresholds(default_int)
    }
}

/// What health reads. Health must show whatever is stored, so a malformed
/// value reads as its default (logged) instead of failing the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthSettings {
    pub thresholds: HealthThresholds,
    /// `workers.paused`
    pub paused: bool,
    /// `gas.wallet_address` as stored (health names even a malformed one).
    pub gas_wallet: Option<String>,
    /// `gas.mode`: whether sweeps borrow from the energy pool.
    pub gas_mode: GasMode,
    /// `deposits.enabled`: the follower's lag counts only when it should run.
    pub deposits_enabled: bool,
}

impl HealthSettings {
    pub async fn load(pool: &PgPool) -> Result<Self, SettingsError> {
        let mut keys: Vec<&'static str> = registry::KEYS
            .iter()
            .map(|k| k.name)
            .filter(|k| k.starts_with("health."))
            .collect();
        keys.extend([
            "gas.min_balance_sun",
            "gas.wallet_address",
            "workers.paused",
            "energy.warn_sweeps",
            "gas.daily_burn_cap_sun",
            "gas.mode",
            "deposits.enabled",
            "deposits.lag_warn_seconds",
            "deposits.lag_crit_seconds",
        ]);
        let s = Snapshot::load(pool, &keys).await?;
        Ok(Self {
            thresholds: thresholds(|k| or_default(s.int(k), default_int(k))),
            paused: or_default(s.bool("workers.paused"), false),
            gas_wallet: s
                .raw("gas.wallet_address")
                .and_then(|v| v.as_str())
                .map(str::to_string),
            gas_mode: or_default(
                s.text("gas.mode").and_then(|t| {
                    t.parse().map_err(|message| SettingsError::Invalid {
                        key: "gas.mode",
                        message,
                    })
                }),
                GasMode::Burn,
            ),
            deposits_enabled: or_default(s.bool("deposits.enabled"), false),
        })
    }
}

/// What the chain follower reads, every round (a `config set` applies to
/// the next block).
#[derive(Debug, Clone, PartialEq)]
pub struct DepositSettings {
    /// `deposits.enabled`
    pub enabled: bool,
    /// `deposits.show_unconfirmed`
    pub show_unconfirmed: bool,
    /// `deposits.watch_trx`
    pub watch_trx: bool,
    /// `deposits.watch_usdt`: the token is `tron.usdt_contract`.
    pub watch_usdt: bool,
    pub usdt_contract: Address,
}

const DEPOSIT_KEYS: [&str; 5] = [
    "deposits.enabled",
    "deposits.show_unconfirmed",
    "deposits.watch_trx",
    "deposits.watch_usdt",
    "tron.usdt_contract",
];

impl DepositSettings {
    pub async fn load(pool: &PgPool) -> Result<Self, SettingsError> {
        let s = Snapshot::load(pool, &DEPOSIT_KEYS).await?;
        Ok(Self {
            enabled: s.bool("deposits.enabled")?,
            show_unconfirmed: s.bool("deposits.show_unconfirmed")?,
            watch_trx: s.bool("deposits.watch_trx")?,
            watch_usdt: s.bool("deposits.watch_usdt")?,
            usdt_contract: s
                .address("tron.usdt_contract")?
                .ok_or(SettingsError::Invalid {
                    key: "tron.usdt_contract",
                    message: "is not set".into(),
                })?,
        })
    }
}

/// What the console reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UiSettings {
    /// `ui.refresh_seconds`: the console redraws at least this often.
    pub refresh: Duration,
}

impl Default for UiSettings {
    fn default() -> Self {
        Self {
            refresh: secs(default_int("ui.refresh_seconds")),
        }
    }
}

impl UiSettings {
    /// Never fails: a console starts even when the value is malformed or
    /// the read fails (the default, logged).
    pub async fn load(pool: &PgPool) -> Self {
        let s = match Snapshot::load(pool, &["ui.refresh_seconds"]).await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!("cannot read ui.refresh_seconds ({e}); using the default");
                return Self::default();
            }
        };
        Self {
            refresh: secs(or_default(
                s.int("ui.refresh_seconds"),
                default_int("ui.refresh_seconds"),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::GasMode;

    #[test]
    fn gas_modes_read_as_they_are_stored() {
        for name in GasMode::NAMES {
            let mode: GasMode = name.parse().unwrap();
            assert_eq!(mode.as_str(), *name);
        }
        assert!(
            "stake"
                .parse::<GasMode>()
                .unwrap_err()
                .contains("burn, delegate, auto")
        );
    }
}
