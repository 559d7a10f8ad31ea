//! The `system_config` switches the wallet jobs act on, read at the start of
//! every attempt (an operator's `config set`, or an applied proposal for a
//! key that moves money, applies to the next attempt).
//! A malformed value is a final failure that names the key; nothing has a
//! silent default that could send funds somewhere unintended.

use std::time::Duration;

use sqlx::PgPool;

use super::JobError;
use crate::tron::{Address, Sun, TokenUnits};

/// Every switch the jobs read.
#[derive(Debug, Clone, PartialEq)]
pub struct JobSettings {
    /// `consolidation.treasury_address`: `None` when unset (`null`).
    treasury: Option<Result<Address, String>>,
    pub min_usdt: TokenUnits,
    pub trx_reserve: Sun,
    gas_wallet: Option<Result<Address, String>>,
    /// `gas.topup_sun`; zero computes the amount at run time.
    pub topup: Sun,
    pub gas_min_balance: Sun,
    pub auto_consolidate: bool,
    pub usdt_contract: Address,
    pub tx_expiry: Duration,
    pub fee_limit: Sun,
}

impl JobSettings {
    pub async fn load(pool: &PgPool) -> Result<Self, JobError> {
        let rows: Vec<(String, serde_json::Value)> = sqlx::query_as(
            "SELECT key, value FROM system_config
              WHERE key IN ('consolidation.treasury_address', 'consolidation.min_usdt',
                            'consolidation.trx_reserve_sun', 'gas.wallet_address',
                            'gas.topup_sun', 'gas.min_balance_sun', 'sync.auto_consolidate',
                            'tron.usdt_contract', 'tron.tx_expiry_seconds', 'tron.fee_limit_sun')",
        )
        .fetch_all(pool)
        .await?;
        let get = |key: &str| {
            rows.iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.clone())
                .unwrap_or(serde_json::Value::Null)
        };
        let int = |key: &'static str| -> Result<u64, JobError> {
            get(key).as_u64().ok_or_else(|| {
                JobError::Final(format!(
                    "system_config {key} must be a non-negative integer, found {}",
                    get(key)
                ))
            })
        };
        let address = |key: &'static str| -> Result<Option<Result<Address, String>>, JobError> {
            match get(key) {
                serde_json::Value::Null => Ok(None),
                serde_json::Value::String(s) => Ok(Some(s.parse::<Address>().map_err(|e| {
                    format!("system_config {key} is not a valid TRON address ({s:?}: {e})")
                }))),
                other => Err(JobError::Final(format!(
                    "system_config {key} must be a base58 address string, found {other}"
                ))),
            }
        };
        let usdt_contract = match address("tron.usdt_contract")? {
            Some(Ok(a)) => a,
            Some(Err(e)) => return Err(JobError::Final(e)),
            None => {
                return Err(JobError::Final(
                    "system_config tron.usdt_contract is not set".into(),
                ));
            }
        };
        let expiry = int("tron.tx_expiry_seconds")?;
        if !(1..=86_400).contains(&expiry) {
            return Err(JobError::Final(format!(
                "system_config tron.tx_expiry_seconds must be between 1 and 86400, found {expiry}"
            )));
        }
        let auto_consolidate = match get("sync.auto_consolidate") {
            serde_json::Value::Null => false,
            serde_json::Value::Bool(b) => b,
            other => {
                return Err(JobError::Final(format!(
                    "system_config sync.auto_consolidate must be true or false, found {other}"
                )));
            }
        };
        Ok(Self {
            treasury: address("consolidation.treasury_address")?,
            min_usdt: TokenUnits(int("consolidation.min_usdt")?),
            trx_reserve: Sun(int("consolidation.trx_reserve_sun")?),
            gas_wallet: address("gas.wallet_address")?,
            topup: Sun(int("gas.topup_sun")?),
            gas_min_balance: Sun(int("gas.min_balance_sun")?),
            auto_consolidate,
            usdt_contract,
            tx_expiry: Duration::from_secs(expiry),
            fee_limit: Sun(int("tron.fee_limit_sun")?),
        })
    }

    /// `consolidation.treasury_address`: `None` when unset, a final error
    /// when malformed. The funds policy decides whether it may be used. It
    /// changes only by `walletops config propose`, approved by a second admin.
    pub fn treasury(&self) -> Result<Option<Address>, JobError> {
        Self::optional(&self.treasury)
    }

    /// `gas.wallet_address`, like [`Self::treasury`].
    pub fn gas_wallet(&self) -> Result<Option<Address>, JobError> {
        Self::optional(&self.gas_wallet)
    }

    fn optional(v: &Option<Result<Address, String>>) -> Result<Option<Address>, JobError> {
        match v {
            Some(Ok(a)) => Ok(Some(*a)),
            Some(Err(e)) => Err(JobError::Final(e.clone())),
            None => Ok(None),
        }
    }
}

/// How long the newest applied proposal that set `key` to `address` waited
/// between its approval and taking effect (the database's clock, as
/// `config_proposals` records it), or `None` when no proposal set it (a new
/// deployment's first value, set by the database owner). The signing side
/// holds this against its policy file's `change_delay_seconds`: a database
/// configured with a shorter delay does not hurry a payout address past it.
pub async fn proposal_wait(
    pool: &PgPool,
    key: &str,
    address: &Address,
) -> Result<Option<Duration>, JobError> {
    let waited: Option<f64> = sqlx::query_scalar(
        "SELECT greatest(0, extract(epoch FROM applied_at - approved_at))::float8
           FROM config_proposals
          WHERE key = $1 AND status = 'applied' AND value = to_jsonb($2::text)
          ORDER BY applied_at DESC LIMIT 1",
    )
    .bind(key)
    .bind(address.to_base58())
    .fetch_optional(pool)
    .await?;
    Ok(waited.map(Duration::from_secs_f64))
}
