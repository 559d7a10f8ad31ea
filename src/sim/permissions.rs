//! Multi-signature as java-tron checks it: every account signs through a
//! permission (owner, id 0, or an active one, id 2 and up) whose keys'
//! weights must reach its threshold, and an active permission signs only
//! the contract types its `operations` bitmap sets. Messages are the node's
//! (`TransactionCapsule.checkWeight`, `AccountPermissionUpdateActuator`,
//! `TransactionUtil.getTransactionSignWeight`): clients match on them.

use serde::{Deserialize, Serialize};

use crate::tron::address::Address;
use crate::tron::keys::{SignatureError, TxSignature};
use crate::tron::tx::{Contract, Permission, PermissionType, SignedTransaction, TxId};

/// `TOTAL_SIGN_NUM`: most keys in a permission and signatures on a transaction.
pub const TOTAL_SIGN_NUM: usize = 5;
/// Most active permissions an account may have.
const MAX_ACTIVES: usize = 8;
/// `ACTIVE_DEFAULT_OPERATIONS` on mainnet: every system contract a plain
/// account uses except AccountPermissionUpdate (46), which stays the
/// owner's.
pub const ACTIVE_DEFAULT_OPERATIONS: [u8; 32] =
    hex_literal(b"7fff1fc0033efb0f000000000000000000000000000000000000000000000000");
/// `AVAILABLE_CONTRACT_TYPE`: the contract types an active permission may
/// name at all (the defaults plus AccountPermissionUpdate).
const AVAILABLE_CONTRACT_TYPES: [u8; 32] =
    hex_literal(b"7fff1fc0037efb0f000000000000000000000000000000000000000000000000");

const fn hex_literal(text: &[u8; 64]) -> [u8; 32] {
    const fn nibble(c: u8) -> u8 {
        match c {
            b'0'..=b'9' => c - b'0',
            b'a'..=b'f' => c - b'a' + 10,
            _ => panic!("not a lowercase hex digit"),
        }
    }
    let mut out = [0u8; 32];
    let mut i = 0;
    while i < 32 {
        out[i] = nibble(text[2 * i]) << 4 | nibble(text[2 * i + 1]);
        i += 1;
    }
    out
}

/// An account's permissions once it has updated them; an account without
/// an entry signs with [`AccountPermissions::default_for`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountPermissions {
    pub owner: Permission,
    pub witness: Option<Permission>,
    pub actives: Vec<Permission>,
}

impl AccountPermissions {
    /// What a new account gets: its own key, weight 1 of threshold 1, as
    /// owner and as the one active permission (id 2).
    pub fn default_for(address: Address) -> Self {
        let mut active = Permission::single(PermissionType::Active, 2, "active", address);
        active.operations = ACTIVE_DEFAULT_OPERATIONS.to_vec();
        Self {
            owner: Permission::single(PermissionType::Owner, 0, "owner", address),
            witness: None,
            actives: vec![active],
        }
    }

    /// `AccountCapsule.getPermissionById`.
    pub fn by_id(&self, id: i32) -> Option<&Permission> {
        match id {
            0 => Some(&self.owner),
            1 => self.witness.as_ref(),
            _ => self.actives.iter().find(|p| p.id == id),
        }
    }

    /// The permissions as stored after an update: the node renumbers them
    /// (owner 0, witness 1, actives from 2 in order).
    pub fn from_update(
        owner: &Permission,
        witness: Option<&Permission>,
        actives: &[Permission],
    ) -> Self {
        Self {
            owner: Permission {
                id: 0,
                ..owner.clone()
            },
            witness: witness.map(|w| Permission { id: 1, ..w.clone() }),
            actives: actives
                .iter()
                .zip(2..)
                .map(|(p, id)| Permission { id, ..p.clone() })
                .collect(),
        }
    }
}

/// Why signatures do not satisfy a permission, in the node's words.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PermissionError {
    #[error("permission isn't exit")]
    Missing,
    #[error("Permission type is error")]
    NotActive,
    #[error("operations size must 32")]
    OperationsSize,
    #[error("Permission denied")]
    Denied,
    #[error("Signature count is {count} more than key counts of permission : {keys}")]
    TooManySignatures { count: usize, keys: usize },
    #[error("Signature size is {0}")]
    SignatureSize(usize),
    #[error("{0}")]
    Recover(SignatureError),
    #[error("{signature} is signed by {signer} but it is not contained of permission.")]
    NotInPermission { signature: String, signer: String },
    #[error("{0} has signed twice!")]
    SignedTwice(String),
}

/// `checkPermission`: an active permission must allow the contract type.
fn check_operations(
    permission_id: i32,
    p: &Permission,
    contract: &Contract,
) -> Result<(), PermissionError> {
    if permission_id == 0 {
        return Ok(());
    }
    if p.kind != PermissionType::Active {
        return Err(PermissionError::NotActive);
    }
    if p.operations.len() != 32 {
        return Err(PermissionError::OperationsSize);
    }
    if !p.allows(contract.type_number()) {
        return Err(PermissionError::Denied);
    }
    Ok(())
}

/// `checkWeight`: the summed weight of the signers, who must all be keys of
/// the permission and sign once each; also who they are, in order.
pub fn check_weight(
    p: &Permission,
    signatures: &[Vec<u8>],
    txid: &TxId,
) -> Result<(i64, Vec<Address>), PermissionError> {
    if signatures.len() > p.keys.len() {
        return Err(PermissionError::TooManySignatures {
            count: signatures.len(),
            keys: p.keys.len(),
        });
    }
    let mut weight = 0i64;
    let mut approved: Vec<Address> = Vec::new();
    for sig in signatures {
        // The node reads r, s and v from the first 65 bytes.
        let Some(first) = sig.get(..65) else {
            return Err(PermissionError::SignatureSize(sig.len()));
        };
        let signer = TxSignature::from_slice(first)
            .and_then(|s| s.recover(txid))
            .map_err(PermissionError::Recover)?;
        let w = p.weight_of(&signer);
        if w == 0 {
            return Err(PermissionError::NotInPermission {
                signature: hex::encode(sig),
                signer: signer.to_base58(),
            });
        }
        if approved.contains(&signer) {
            return Err(PermissionError::SignedTwice(signer.to_base58()));
        }
        approved.push(signer);
        weight = weight.saturating_add(w);
    }
    Ok((weight, approved))
}

/// `validatePubSignature`: the message of a SIGERROR, if the transaction's
/// signatures do not carry its owner's authority. `stored` is the owner's
/// updated permissions, `exists` whether the owner account exists.
pub fn check_signatures(
    tx: &SignedTransaction,
    stored: Option<&AccountPermissions>,
    exists: bool,
) -> Result<(), String> {
    let sigs = tx.signatures();
    if sigs.is_empty() {
        return Err("miss sig or contract".into());
    }
    if sigs.len() > TOTAL_SIGN_NUM {
        return Err("too many signatures".into());
    }
    let raw = tx.raw();
    let owner = raw.contract.owner();
    let defaults = AccountPermissions::default_for(owner);
    let id = raw.permission_id;
    // A missing account signs only with the default owner or active one.
    let permission = match stored {
        Some(p) => p.by_id(id),
        None if exists || id == 0 || id == 2 => defaults.by_id(id),
        None => None,
    }
    .ok_or_else(|| PermissionError::Missing.to_string())?;
    check_operations(id, permission, &raw.contract).map_err(|e| e.to_string())?;
    let (weight, _) = check_weight(permission, sigs, &tx.txid()).map_err(|e| e.to_string())?;
    if weight < permission.threshold {
        return Err("sig error".into());
    }
    Ok(())
}

/// `getsignweight`'s result codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SignWeightCode {
    EnoughPermission,
    NotEnoughPermission,
    SignatureFormatError,
    ComputeAddressError,
    PermissionError,
    OtherError,
}

/// What `/wallet/getsignweight` answers about a (partly) signed
/// transaction: the permission it signs under, the weight so far, who
/// signed, and whether that is enough.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignWeight {
    /// Absent when the account or permission does not exist.
    pub permission: Option<Permission>,
    pub current_weight: i64,
    pub threshold: i64,
    pub approved_list: Vec<Address>,
    pub code: SignWeightCode,
    /// Empty unless something is wrong (the node leaves it out then).
    pub message: String,
}

/// `getTransactionSignWeight` against the owner's permissions (`None` when
/// the owner account does not exist).
pub fn sign_weight(tx: &SignedTransaction, permissions: Option<&AccountPermissions>) -> SignWeight {
    let mut out = SignWeight {
        permission: None,
        current_weight: 0,
        threshold: 0,
        approved_list: Vec::new(),
        code: SignWeightCode::PermissionError,
        message: String::new(),
    };
    let Some(perms) = permissions else {
        out.message = "Account does not exist!".into();
        return out;
    };
    let raw = tx.raw();
    let id = raw.permission_id;
    let Some(permission) = perms.by_id(id) else {
        out.message = "Permission for this, does not exist!".into();
        return out;
    };
    // The same checks as at broadcast, in this route's own words.
    match check_operations(id, permission, &raw.contract) {
        Err(PermissionError::NotActive) => {
            out.message = "Permission type is wrong!".into();
            return out;
        }
        Err(PermissionError::Denied) => {
            out.message = "Permission denied!".into();
            return out;
        }
        Err(e) => {
            out.message = e.to_string();
            return out;
        }
        Ok(()) => {}
    }
    out.permission = Some(permission.clone());
    out.threshold = permission.threshold;
    if !tx.signatures().is_empty() {
        match check_weight(permission, tx.signatures(), &tx.txid()) {
            Ok((weight, approved)) => {
                out.current_weight = weight;
                out.approved_list = approved;
            }
            Err(e) => {
                out.code = match e {
                    PermissionError::SignatureSize(_) => SignWeightCode::SignatureFormatError,
                    PermissionError::Recover(_) => SignWeightCode::ComputeAddressError,
                    _ => SignWeightCode::PermissionError,
                };
                out.message = e.to_string();
                return out;
            }
        }
    }
    out.code = if out.current_weight >= permission.threshold {
        SignWeightCode::EnoughPermission
    } else {
        SignWeightCode::NotEnoughPermission
    };
    out
}

/// `AccountPermissionUpdateActuator.validate` for an account that exists
/// and is not a witness (the simulator has none).
pub fn validate_update(
    owner: &Permission,
    witness: Option<&Permission>,
    actives: &[Permission],
) -> Result<(), String> {
    if witness.is_some() {
        return Err("account isn't witness can't set witness permission".into());
    }
    if actives.is_empty() {
        return Err("active permission is missed".into());
    }
    if actives.len() > MAX_ACTIVES {
        return Err("active permission is too many".into());
    }
    if owner.kind != PermissionType::Owner {
        return Err("owner permission type is error".into());
    }
    check_permission(owner)?;
    for active in actives {
        if active.kind != PermissionType::Active {
            return Err("active permission type is error".into());
        }
        check_permission(active)?;
    }
    Ok(())
}

/// The actuator's `checkPermission`: keys, weights, threshold, operations.
fn check_permission(p: &Permission) -> Result<(), String> {
    if p.keys.len() > TOTAL_SIGN_NUM {
        return Err(format!(
            "number of keys in permission should not be greater than {TOTAL_SIGN_NUM}"
        ));
    }
    if p.keys.is_empty() {
        return Err("key's count should be greater than 0".into());
    }
    if p.threshold <= 0 {
        return Err("permission's threshold should be greater than 0".into());
    }
    if p.name.chars().count() > 32 {
        return Err("permission's name is too long".into());
    }
    if p.parent_id != 0 {
        return Err("permission's parent should be owner".into());
    }
    let kind = p.kind.as_str();
    for (i, key) in p.keys.iter().enumerate() {
        if p.keys[..i].iter().any(|k| k.address == key.address) {
            return Err(format!("address should be distinct in permission {kind}"));
        }
    }
    let mut sum = 0i64;
    for key in &p.keys {
        if key.weight <= 0 {
            return Err("key's weight should be greater than 0".into());
        }
        sum = sum
            .checked_add(key.weight)
            .ok_or_else(|| "long overflow".to_string())?;
    }
    if sum < p.threshold {
        return Err(format!(
            "sum of all key's weight should not be less than threshold in permission {kind}"
        ));
    }
    if p.kind != PermissionType::Active {
        if !p.operations.is_empty() {
            return Err(format!("{kind} permission needn't operations"));
        }
        return Ok(());
    }
    if p.operations.len() != 32 {
        return Err("operations size must 32".into());
    }
    for bit in 0..256u64 {
        let allowed = AVAILABLE_CONTRACT_TYPES[(bit / 8) as usize] & (1 << (bit % 8)) != 0;
        if p.allows(bit) && !allowed {
            return Err(format!("{bit} isn't a validate ContractType"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_operations_cover_transfers_and_calls_but_not_permission_updates() {
        let a: Address = "TJRabPrwbZy45sbavfcjinPJC18kjpRTv8".parse().unwrap();
        let active = &AccountPermissions::default_for(a).actives[0];
        for t in [1, 2, 31, 54, 55, 56, 57, 58] {
            assert!(active.allows(t), "type {t}");
        }
        assert!(!active.allows(46));
        assert!(check_permission(active).is_ok());
    }

    #[test]
    fn an_update_is_refused_with_the_nodes_messages() {
        let a: Address = "TJRabPrwbZy45sbavfcjinPJC18kjpRTv8".parse().unwrap();
        let d = AccountPermissions::default_for(a);
        let mut heavy = d.owner.clone();
        heavy.threshold = 2;
        assert_eq!(
            validate_update(&heavy, None, &d.actives).unwrap_err(),
            "sum of all key's weight should not be less than threshold in permission Owner"
        );
        let mut twice = d.actives[0].clone();
        twice.keys.push(twice.keys[0].clone());
        assert_eq!(
            validate_update(&d.owner, None, &[twice]).unwrap_err(),
            "address should be distinct in permission Active"
        );
        let mut odd = d.actives[0].clone();
        odd.operations[31] = 0x80;
        assert_eq!(
            validate_update(&d.owner, None, &[odd]).unwrap_err(),
            "255 isn't a validate ContractType"
        );
        assert_eq!(
            validate_update(&d.owner, None, &[]).unwrap_err(),
            "active permission is missed"
        );
    }

    #[test]
    fn signature_counts_and_sizes_are_refused_in_the_nodes_words() {
        use crate::tron::tx::{RawTransaction, RefBlock};
        use crate::tron::{PrivateKey, Sun};

        let k = |n: u8| PrivateKey::from_bytes(&[n; 32]).unwrap();
        let owner = k(1);
        let reference = RefBlock {
            number: 1,
            id: [1; 32],
            timestamp_ms: 0,
        };
        let raw = RawTransaction::new(
            Contract::Transfer {
                owner: owner.address(),
                to: k(2).address(),
                amount: Sun(1),
            },
            &reference,
            0,
            std::time::Duration::from_secs(60),
            Sun::ZERO,
        );
        let once = raw.sign(&owner);
        assert_eq!(check_signatures(&once, None, true), Ok(()));
        let twice = once.clone().cosign(&k(3));
        assert_eq!(
            check_signatures(&twice, None, true).unwrap_err(),
            "Signature count is 2 more than key counts of permission : 1"
        );
        let six = (3..8).fold(once, |tx, n| tx.cosign(&k(n)));
        assert_eq!(
            check_signatures(&six, None, true).unwrap_err(),
            "too many signatures"
        );
        let sig = raw.sign(&owner).signatures()[0].clone();
        let p = Permission::single(PermissionType::Owner, 0, "owner", owner.address());
        assert_eq!(
            check_weight(&p, &[sig[..64].to_vec()], &raw.txid()),
            Err(PermissionError::SignatureSize(64))
        );
        // Bytes past the first 65 are ignored, as the node reads r, s, v.
        let mut long = sig.clone();
        long.push(0);
        assert_eq!(
            check_weight(&p, &[long], &raw.txid()).map(|(w, _)| w),
            Ok(1)
        );
    }
}
