//! The one place a transfer is signed. A [`SignRequest`] describes the
//! transfer (kind, parties, amount), carries the unsigned transaction and
//! the sealed keys needed, and [`Core::sign`] signs it only when:
//! - the transaction decodes to exactly the transfer described (sender,
//!   destination, asset, amount, token contract, no memo, a bounded fee);
//! - the sender's sealed key opens under the master key with its wallet id
//!   and derives the sender's address; for a gas top-up and an energy
//!   delegation, the recipient's does the same for the destination (so a
//!   wallet row whose address was changed is refused); a delegation lends
//!   ENERGY only and is never locked;
//! - the funds policy allows it, counting what was signed today.
//!
//! [`Signer`] is how the workers reach it: in process ([`Signer::Local`],
//! the master key and policy in the worker; today's usage comes from the
//! transfer records) or over authenticated HTTP ([`remote`], the worker
//! holding no key; `walletops signer` keeps its own log and counters,
//! [`server`]).

pub mod auth;
pub mod remote;
pub mod server;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::policy::{Asset, Policy, Refusal, Rule, Transfer, TransferKind, Usage};
use crate::tron::tx::Resource;
use crate::tron::tx::{parse_trc20_transfer, trc20_transfer_data};
use crate::tron::{Address, Contract, RawTransaction, SignedTransaction, Sun};
use crate::wallets::{MasterKey, SealedKey};

/// A wallet's stored key, as the database holds it: opened only by the signer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SealedWallet {
    pub wallet_id: Uuid,
    /// The address the wallet row claims.
    pub address: Address,
    #[serde(with = "hex_bytes")]
    pub ciphertext: Vec<u8>,
    #[serde(with = "hex_bytes")]
    pub nonce: Vec<u8>,
}

impl SealedWallet {
    fn sealed(&self) -> SealedKey {
        SealedKey {
            ciphertext: self.ciphertext.clone(),
            nonce: self.nonce.clone(),
        }
    }
}

/// What a worker asks to have signed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignRequest {
    pub kind: TransferKind,
    pub asset: Asset,
    pub from: Address,
    pub to: Address,
    /// SUN for TRX, token units for USDT.
    pub amount: u64,
    /// The deposit wallet the transfer is counted against: a sweep's
    /// sender, a top-up's recipient.
    pub wallet_id: Uuid,
    pub sender: SealedWallet,
    /// Gas top-ups: the recipient deposit wallet's stored key.
    pub recipient: Option<SealedWallet>,
    /// Gas top-ups: the estimated SUN one USDT transfer of the recipient costs.
    pub topup_need: Option<u64>,
    /// The unsigned transaction (`Transaction.raw` bytes).
    #[serde(with = "hex_bytes")]
    pub raw: Vec<u8>,
}

/// Master key and policy: signs what the policy allows and nothing else.
pub struct Core {
    master: MasterKey,
    policy: Policy,
}

fn refusal(rule: Rule, message: String) -> Refusal {
    Refusal { rule, message }
}

impl Core {
    pub fn new(master: MasterKey, policy: Policy) -> Self {
        Self { master, policy }
    }

    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// Checks `req` (see the module documentation) with `usage` as today's
    /// figures, and signs it.
    pub fn sign(&self, req: &SignRequest, usage: Usage) -> Result<SignedTransaction, Refusal> {
        let raw = self.verify(req)?;
        let sender_key = self
            .master
            .open(req.sender.wallet_id, &req.sender.sealed())
            .ok()
            .filter(|k| k.address() == req.sender.address && k.address() == req.from)
            .ok_or_else(|| {
                refusal(
                    Rule::Sender,
                    format!(
                        "the stored key of wallet {} does not open under the master key or does not derive its address {}",
                        req.sender.wallet_id, req.from
                    ),
                )
            })?;
        match req.kind {
            // Both hand something to a deposit wallet: it must be ours.
            TransferKind::GasTopup | TransferKind::EnergyDelegate => {
                let recipient = req.recipient.as_ref().ok_or_else(|| {
                    refusal(
                        Rule::Recipient,
                        format!("a {} names no recipient wallet key", req.kind),
                    )
                })?;
                let derives = recipient.wallet_id == req.wallet_id
                    && self
                        .master
                        .open(recipient.wallet_id, &recipient.sealed())
                        .is_ok_and(|k| k.address() == req.to && recipient.address == req.to);
                if !derives {
                    return Err(refusal(
                        Rule::Recipient,
                        format!(
                            "{} recipient {} is not the address of deposit wallet {}'s stored key \
                             (a wallet row whose address was changed?)",
                            req.kind, req.to, recipient.wallet_id
                        ),
                    ));
                }
            }
            TransferKind::ConsolidationUsdt
            | TransferKind::ConsolidationTrx
            | TransferKind::EnergyStake => {
                if req.sender.wallet_id != req.wallet_id {
                    return Err(refusal(
                        Rule::Mismatch,
                        format!("a {} is counted against its sender's wallet", req.kind),
                    ));
                }
            }
            // Taking energy back is always safe, from whichever receiver.
            TransferKind::EnergyReclaim => {}
        }
        self.policy.check(
            &Transfer {
                kind: req.kind,
                from: req.from,
                to: req.to,
                amount: req.amount,
                topup_need: req.topup_need,
            },
            usage,
        )?;
        Ok(raw.sign(&sender_key))
    }

    /// The transaction, when it is exactly the transfer described.
    fn verify(&self, req: &SignRequest) -> Result<RawTransaction, Refusal> {
        let mismatch = |what: String| {
            refusal(
                Rule::Mismatch,
                format!("the transaction to sign is not the transfer described: {what}"),
            )
        };
        let raw = RawTransaction::decode(&req.raw).map_err(|e| mismatch(e.to_string()))?;
        if req.asset != req.kind.asset() {
            return Err(mismatch(format!(
                "a {} transfer moves {}, not {}",
                req.kind,
                req.kind.asset().as_str(),
                req.asset.as_str()
            )));
        }
        if !raw.data.is_empty() {
            return Err(mismatch("it carries a memo".into()));
        }
        let no_fee_limit = |what: &str| {
            if raw.fee_limit == Sun::ZERO {
                Ok(())
            } else {
                Err(mismatch(format!("a {what} with a fee limit")))
            }
        };
        let energy_only = |resource: Resource| {
            if resource == Resource::Energy {
                Ok(())
            } else {
                Err(refusal(
                    Rule::Delegation,
                    format!("it stakes or lends {}, not ENERGY", resource.as_str()),
                ))
            }
        };
        match (&raw.contract, req.kind) {
            (
                Contract::Transfer { owner, to, amount },
                TransferKind::ConsolidationTrx | TransferKind::GasTopup,
            ) => {
                if (*owner, *to, amount.0) != (req.from, req.to, req.amount) {
                    return Err(mismatch(format!(
                        "it sends {amount} from {owner} to {to}; described: {} from {} to {}",
                        Sun(req.amount),
                        req.from,
                        req.to
                    )));
                }
                no_fee_limit("TRX transfer")?;
            }
            (
                Contract::FreezeBalanceV2 {
                    owner,
                    frozen_balance,
                    resource,
                },
                TransferKind::EnergyStake,
            ) => {
                if (*owner, *owner, frozen_balance.0) != (req.from, req.to, req.amount) {
                    return Err(mismatch(format!(
                        "it stakes {frozen_balance} of {owner}; described: {} of {} for {}",
                        Sun(req.amount),
                        req.from,
                        req.to
                    )));
                }
                energy_only(*resource)?;
                no_fee_limit("stake")?;
            }
            (
                Contract::DelegateResource {
                    owner,
                    resource,
                    balance,
                    receiver,
                    lock,
                    lock_period,
                },
                TransferKind::EnergyDelegate,
            ) => {
                if (*owner, *receiver, balance.0) != (req.from, req.to, req.amount) {
                    return Err(mismatch(format!(
                        "it lends {balance} of stake from {owner} to {receiver}; described: {} from {} to {}",
                        Sun(req.amount),
                        req.from,
                        req.to
                    )));
                }
                energy_only(*resource)?;
                // A locked delegation cannot be taken back before its
                // period ends: the pool's energy would stay with the
                // receiver.
                if *lock || *lock_period != 0 {
                    return Err(refusal(
                        Rule::Delegation,
                        format!(
                            "it lends to {receiver} locked for {lock_period} blocks: a locked delegation cannot be taken back"
                        ),
                    ));
                }
                no_fee_limit("delegation")?;
            }
            (
                Contract::UnDelegateResource {
                    owner,
                    balance,
                    receiver,
                    ..
                },
                TransferKind::EnergyReclaim,
            ) => {
                if (*owner, *receiver, balance.0) != (req.from, req.to, req.amount) {
                    return Err(mismatch(format!(
                        "it takes back {balance} of stake from {receiver} to {owner}; described: {} from {} to {}",
                        Sun(req.amount),
                        req.to,
                        req.from
                    )));
                }
                no_fee_limit("reclaim")?;
            }
            (
                Contract::TriggerSmartContract {
                    owner,
                    contract,
                    call_value,
                    data,
                },
                TransferKind::ConsolidationUsdt,
            ) => {
                if *contract != self.policy.usdt_contract {
                    return Err(mismatch(format!(
                        "it calls {contract}, not the policy's USDT contract {}",
                        self.policy.usdt_contract
                    )));
                }
                let call = parse_trc20_transfer(data);
                let canonical = call.is_some_and(|(to, amount)| {
                    *data == trc20_transfer_data(&to, amount)
                        && (*owner, to, amount.0) == (req.from, req.to, req.amount)
                });
                if !canonical || *call_value != Sun::ZERO {
                    return Err(mismatch(format!(
                        "its call from {owner} is {call:?}; described: transfer({}, {}) from {}",
                        req.to, req.amount, req.from
                    )));
                }
                if raw.fee_limit > self.policy.max_fee_limit {
                    return Err(refusal(
                        Rule::FeeLimit,
                        format!(
                            "fee limit {} is above the policy's max_fee_limit_sun {}",
                            raw.fee_limit, self.policy.max_fee_limit
                        ),
                    ));
                }
            }
            (other, kind) => {
                return Err(mismatch(format!(
                    "a {} contract for a {kind} transfer",
                    other.type_name()
                )));
            }
        }
        Ok(raw)
    }
}

/// How the workers sign.
pub enum Signer {
    /// In this process, with the master key and the policy.
    Local(Core),
    /// `walletops signer` over authenticated HTTP.
    Remote(remote::RemoteSigner),
}

impl Signer {
    /// The policy the signer enforces (a remote signer's, as it sent it).
    pub fn policy(&self) -> &Policy {
        match self {
            Signer::Local(core) => core.policy(),
            Signer::Remote(r) => r.policy(),
        }
    }
}

/// Why a remote signature did not come back.
#[derive(Debug, thiserror::Error)]
pub enum SignError {
    /// The signer refused: a security event.
    #[error(transparent)]
    Refused(#[from] Refusal),
    /// The signer could not be asked, or answered something unreadable:
    /// nothing was signed as far as this worker knows; try again later.
    #[error("signer unavailable: {0}")]
    Unavailable(String),
}

/// Byte strings as lowercase hex in JSON.
pub(crate) mod hex_bytes {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let s = String::deserialize(d)?;
        hex::decode(s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::tron::{PrivateKey, RefBlock, TokenUnits};

    const MASTER: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

    struct Fixture {
        core: Core,
        deposit: PrivateKey,
        deposit_id: Uuid,
        gas: PrivateKey,
        gas_id: Uuid,
        treasury: Address,
    }

    fn key(n: u8) -> PrivateKey {
        PrivateKey::from_bytes(&[n; 32]).unwrap()
    }

    fn fixture() -> Fixture {
        let usdt: Address = crate::tron::MAINNET_USDT.parse().unwrap();
        let policy = Policy::starting(key(1).address(), key(2).address(), usdt).unwrap();
        Fixture {
            core: Core::new(MasterKey::from_hex(MASTER, "test").unwrap(), policy),
            deposit: key(5),
            deposit_id: Uuid::new_v4(),
            gas: key(2),
            gas_id: Uuid::new_v4(),
            treasury: key(1).address(),
        }
    }

    fn sealed(f: &Fixture, id: Uuid, k: &PrivateKey) -> SealedWallet {
        let s = f.core.master.seal(id, k);
        SealedWallet {
            wallet_id: id,
            address: k.address(),
            ciphertext: s.ciphertext,
            nonce: s.nonce,
        }
    }

    fn raw(contract: Contract, fee_limit: Sun) -> Vec<u8> {
        let reference = RefBlock {
            number: 10,
            id: [3; 32],
            timestamp_ms: 1_764_000_000_000,
        };
        RawTransaction::new(
            contract,
            &reference,
            1_764_000_000_100,
            Duration::from_secs(60),
            fee_limit,
        )
        .encode()
    }

    fn usdt_sweep(f: &Fixture, amount: u64) -> SignRequest {
        let from = f.deposit.address();
        let contract = Contract::trc20_transfer(
            from,
            f.core.policy.usdt_contract,
            f.treasury,
            TokenUnits(amount),
        );
        SignRequest {
            kind: TransferKind::ConsolidationUsdt,
            asset: Asset::Usdt,
            from,
            to: f.treasury,
            amount,
            wallet_id: f.deposit_id,
            sender: sealed(f, f.deposit_id, &f.deposit),
            recipient: None,
            topup_need: None,
            raw: raw(contract, Sun(30_000_000)),
        }
    }

    #[test]
    fn a_described_transfer_is_signed_by_its_sender() {
        let f = fixture();
        let signed = f
            .core
            .sign(&usdt_sweep(&f, 5_000_000), Usage::default())
            .unwrap();
        signed.verify_owner().unwrap();
    }

    #[test]
    fn a_transaction_that_is_not_its_description_is_refused() {
        let f = fixture();
        let attacker = key(66).address();
        let usdt = f.core.policy.usdt_contract;
        let from = f.deposit.address();
        let cases = [
            // Described to the treasury, built to the attacker.
            Contract::trc20_transfer(from, usdt, attacker, TokenUnits(5_000_000)),
            // More than described.
            Contract::trc20_transfer(from, usdt, f.treasury, TokenUnits(5_000_001)),
            // Another token contract.
            Contract::trc20_transfer(from, attacker, f.treasury, TokenUnits(5_000_000)),
            // TRX instead of USDT.
            Contract::Transfer {
                owner: from,
                to: f.treasury,
                amount: Sun(5_000_000),
            },
        ];
        for contract in cases {
            let mut req = usdt_sweep(&f, 5_000_000);
            req.raw = raw(contract.clone(), Sun(30_000_000));
            let err = f.core.sign(&req, Usage::default()).unwrap_err();
            assert_eq!(err.rule, Rule::Mismatch, "{contract:?}: {err}");
        }
        let mut req = usdt_sweep(&f, 5_000_000);
        req.raw = b"not a transaction".to_vec();
        assert_eq!(
            f.core.sign(&req, Usage::default()).unwrap_err().rule,
            Rule::Mismatch
        );
        let mut req = usdt_sweep(&f, 5_000_000);
        req.raw = raw(
            Contract::trc20_transfer(from, usdt, f.treasury, TokenUnits(5_000_000)),
            Sun(1_000_000_000),
        );
        assert_eq!(
            f.core.sign(&req, Usage::default()).unwrap_err().rule,
            Rule::FeeLimit
        );
    }

    #[test]
    fn a_top_up_to_a_row_whose_address_is_not_its_key_is_refused() {
        let f = fixture();
        let attacker = key(66).address();
        let topup = |to: Address, recipient_address: Address| {
            let mut recipient = sealed(&f, f.deposit_id, &f.deposit);
            recipient.address = recipient_address;
            SignRequest {
                kind: TransferKind::GasTopup,
                asset: Asset::Trx,
                from: f.gas.address(),
                to,
                amount: 10_000_000,
                wallet_id: f.deposit_id,
                sender: sealed(&f, f.gas_id, &f.gas),
                recipient: Some(recipient),
                topup_need: Some(10_000_000),
                raw: raw(
                    Contract::Transfer {
                        owner: f.gas.address(),
                        to,
                        amount: Sun(10_000_000),
                    },
                    Sun::ZERO,
                ),
            }
        };
        assert!(
            f.core
                .sign(
                    &topup(f.deposit.address(), f.deposit.address()),
                    Usage::default()
                )
                .is_ok()
        );
        // The row's address changed to the attacker's; its key is still the deposit's.
        let err = f
            .core
            .sign(&topup(attacker, attacker), Usage::default())
            .unwrap_err();
        assert_eq!(err.rule, Rule::Recipient, "{err}");
    }
}
