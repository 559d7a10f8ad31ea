//! What a transfer costs in TRX, as the node will charge it: the one place
//! consolidation and gas top-up price their transfers (energy, bandwidth,
//! account activation, the fee limit).

use super::{JobError, JobSettings};
use crate::tron::client::{ChainParameters, EnergyEstimate};
use crate::tron::{Contract, Sun};

/// The most TRX a transaction may burn for energy: `tron.fee_limit_sun` for
/// contract calls, none for plain transfers (they use no energy).
pub fn fee_limit(contract: &Contract, settings: &JobSettings) -> Sun {
    match contract {
        Contract::TriggerSmartContract { .. } => settings.fee_limit,
        _ => Sun::ZERO,
    }
}

pub(super) fn overflow(what: &str) -> JobError {
    JobError::Final(format!("{what}: amount overflows"))
}

/// Bytes of bandwidth a signed transaction with this contract uses, as the
/// node counts them: the signed protobuf plus the result it stores. A draft
/// with the longest varints stands in for the real one, so this is an upper
/// bound.
pub fn bandwidth_bytes(contract: &Contract, settings: &JobSettings) -> u64 {
    crate::tron::tx::bandwidth_upper_bound(contract, fee_limit(contract, settings))
}

/// TRX the transaction's bandwidth burns when none of it is free.
pub fn bandwidth_cost(
    contract: &Contract,
    params: &ChainParameters,
    settings: &JobSettings,
) -> Result<Sun, JobError> {
    bandwidth_bytes(contract, settings)
        .checked_mul(params.transaction_fee.0)
        .map(Sun)
        .ok_or_else(|| overflow("bandwidth cost"))
}

/// TRX a USDT transfer burns when the sender has no staked resources: its
/// energy at the current price plus its bandwidth bought with TRX (free
/// bandwidth is not counted on: it may be spent by then).
pub fn usdt_transfer_cost(
    estimate: &EnergyEstimate,
    params: &ChainParameters,
    contract: &Contract,
    settings: &JobSettings,
) -> Result<Sun, JobError> {
    let energy = estimate
        .total()
        .checked_mul(params.energy_fee.0)
        .map(Sun)
        .ok_or_else(|| overflow("energy cost"))?;
    energy
        .checked_add(bandwidth_cost(contract, params, settings)?)
        .ok_or_else(|| overflow("USDT transfer cost"))
}

/// TRX a TRX transfer burns besides its amount: the account-creation fees
/// when the recipient is new, else its bandwidth unless the sender's
/// `free_bandwidth` (bytes) covers it.
pub fn trx_transfer_fees(
    contract: &Contract,
    params: &ChainParameters,
    free_bandwidth: u64,
    recipient_active: bool,
    settings: &JobSettings,
) -> Result<Sun, JobError> {
    if !recipient_active {
        return params
            .create_account_fee
            .checked_add(params.create_new_account_fee_in_system_contract)
            .ok_or_else(|| overflow("activation fee"));
    }
    if free_bandwidth >= bandwidth_bytes(contract, settings) {
        return Ok(Sun::ZERO);
    }
    bandwidth_cost(contract, params, settings)
}

#[cfg(test)]
mod tests {

    use super::*;
    use crate::tron::tx::{Resource, bandwidth_upper_bound, delegation_pair_bytes};
    use crate::tron::{Address, PrivateKey, TokenUnits};
    use crate::tron::{RawTransaction, RefBlock};
    use std::time::Duration;

    #[test]
    fn the_bandwidth_bound_covers_the_signed_transaction_and_stays_close() {
        let key = PrivateKey::from_bytes(&[7u8; 32]).unwrap();
        let owner = key.address();
        let to = PrivateKey::from_bytes(&[9u8; 32]).unwrap().address();
        let usdt: Address = crate::tron::MAINNET_USDT.parse().unwrap();
        let reference = RefBlock {
            number: 66_987_627,
            id: [0x3c; 32],
            timestamp_ms: 1_764_000_000_000,
        };
        let mut pair = 0;
        for (contract, fee_limit) in [
            (
                Contract::Transfer {
                    owner,
                    to,
                    amount: Sun(1),
                },
                Sun::ZERO,
            ),
            (
                Contract::Transfer {
                    owner,
                    to,
                    amount: Sun(u64::MAX / 2),
                },
                Sun::ZERO,
            ),
            (
                Contract::trc20_transfer(owner, usdt, to, TokenUnits(123_456_789)),
                Sun(100_000_000),
            ),
            (
                Contract::DelegateResource {
                    owner,
                    resource: Resource::Energy,
                    balance: Sun(7_550_000_000),
                    receiver: to,
                    lock: false,
                    lock_period: 0,
                },
                Sun::ZERO,
            ),
            (
                Contract::UnDelegateResource {
                    owner,
                    resource: Resource::Energy,
                    balance: Sun(7_550_000_000),
                    receiver: to,
                },
                Sun::ZERO,
            ),
        ] {
            let signed = RawTransaction::new(
                contract.clone(),
                &reference,
                1_764_000_000_500,
                Duration::from_secs(60),
                fee_limit,
            )
            .sign(&key);
            let actual = signed.encode().len() as u64 + 64;
            let bound = bandwidth_upper_bound(&contract, fee_limit);
            assert!(bound >= actual, "{bound} < {actual}");
            assert!(bound <= actual + 40, "{bound} is far above {actual}");
            if matches!(
                contract,
                Contract::DelegateResource { .. } | Contract::UnDelegateResource { .. }
            ) {
                pair += actual;
            }
        }
        // What the pool's bandwidth stake is sized by covers a real pair.
        let bound = delegation_pair_bytes(owner);
        assert!(
            bound >= pair && bound <= pair + 80,
            "{bound} against {pair}"
        );
    }
}
