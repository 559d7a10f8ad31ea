//! TRON transactions: a hand-written canonical proto3 encoder and a decoder
//! for the subset walletops moves money with (TRX transfers, TRC-20
//! `transfer(address,uint256)` calls, Stake 2.0 staking and delegation, and
//! TRC-10 transfers for the published test vector).
//!
//! The txID is the SHA-256 of the `Transaction.raw` bytes. Canonical proto3
//! matters: fields in ascending tag order, default values (0, empty) left
//! out; other bytes mean another txID. Field numbers are java-tron's
//! `Tron.proto` (see docs/tron.md §2).
//!
//! The decoder accepts any valid protobuf of that subset (unknown fields are
//! skipped, as protobuf requires) and keeps the raw bytes as received, so
//! the txID it reports is the one the sender signed, whoever encoded it.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::address::{Address, AddressError};
use super::amount::{Sun, TokenUnits};
use super::keys::{PrivateKey, SignatureError, TxSignature};

/// `transfer(address,uint256)` selector: the first 4 bytes of its Keccak-256.
pub const TRC20_TRANSFER_SELECTOR: [u8; 4] = [0xa9, 0x05, 0x9c, 0xbb];
/// `balanceOf(address)` selector.
pub const TRC20_BALANCE_OF_SELECTOR: [u8; 4] = [0x70, 0xa0, 0x82, 0x31];
/// topic0 of the ERC-20/TRC-20 `Transfer(address,address,uint256)` event.
pub const TRANSFER_EVENT_TOPIC: &str =
    "ddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef";

const TYPE_URL_PREFIX: &str = "type.googleapis.com/protocol.";

/// A transaction id: SHA-256 of the `raw` bytes.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TxId([u8; 32]);

impl TxId {
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The txID of these `raw` bytes.
    pub fn of_raw(raw: &[u8]) -> Self {
        Self(Sha256::digest(raw).into())
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

/// A txID given as text is not 64 hex digits.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a transaction id is 64 hex digits")]
pub struct TxIdError;

impl FromStr for TxId {
    type Err = TxIdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut out = [0u8; 32];
        hex::decode_to_slice(s, &mut out).map_err(|_| TxIdError)?;
        Ok(Self(out))
    }
}

impl fmt::Display for TxId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for TxId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TxId({})", self.to_hex())
    }
}

impl Serialize for TxId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for TxId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

/// The block a transaction refers to (TaPoS): the node accepts it only while
/// that block is among its recent ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RefBlock {
    pub number: u64,
    /// The blockID: 8 bytes of block number, then 24 bytes of the block hash.
    pub id: [u8; 32],
    /// The block's timestamp, epoch milliseconds.
    pub timestamp_ms: i64,
}

impl RefBlock {
    /// Bytes [6, 8) of the big-endian block number.
    pub fn ref_block_bytes(&self) -> [u8; 2] {
        let n = self.number.to_be_bytes();
        [n[6], n[7]]
    }

    /// Bytes [8, 16) of the blockID.
    pub fn ref_block_hash(&self) -> [u8; 8] {
        self.id[8..16].try_into().expect("8 bytes")
    }
}

/// The one contract a transaction carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Contract {
    /// TRX from owner to `to` (ContractType 1).
    Transfer {
        owner: Address,
        to: Address,
        amount: Sun,
    },
    /// A TRC-10 token transfer (ContractType 2); decoded for completeness,
    /// walletops never builds one.
    TransferAsset {
        asset_name: Vec<u8>,
        owner: Address,
        to: Address,
        amount: u64,
    },
    /// A smart contract call (ContractType 31), e.g. TRC-20 `transfer`.
    TriggerSmartContract {
        owner: Address,
        contract: Address,
        call_value: Sun,
        data: Vec<u8>,
    },
    /// Stakes TRX for a resource (Stake 2.0, ContractType 54).
    FreezeBalanceV2 {
        owner: Address,
        frozen_balance: Sun,
        resource: Resource,
    },
    /// Starts unstaking (ContractType 55).
    UnfreezeBalanceV2 {
        owner: Address,
        unfreeze_balance: Sun,
        resource: Resource,
    },
    /// Pays out unstaked TRX whose waiting period is over (ContractType 56).
    WithdrawExpireUnfreeze { owner: Address },
    /// Lends the resource of `balance` staked SUN to `receiver` (ContractType
    /// 57); `lock_period` is in blocks and matters only with `lock`.
    DelegateResource {
        owner: Address,
        resource: Resource,
        balance: Sun,
        receiver: Address,
        lock: bool,
        lock_period: u64,
    },
    /// Takes a delegation back (ContractType 58).
    UnDelegateResource {
        owner: Address,
        resource: Resource,
        balance: Sun,
        receiver: Address,
    },
    /// Replaces the account's permissions (ContractType 46): who may sign
    /// what, with which weights and thresholds (multi-signature).
    AccountPermissionUpdate {
        owner: Address,
        owner_permission: Permission,
        /// Only a witness (super representative) account may set one.
        witness: Option<Permission>,
        actives: Vec<Permission>,
    },
}

/// java-tron's `Permission.PermissionType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PermissionType {
    Owner,
    Witness,
    Active,
}

impl PermissionType {
    pub fn code(self) -> u64 {
        match self {
            PermissionType::Owner => 0,
            PermissionType::Witness => 1,
            PermissionType::Active => 2,
        }
    }

    pub fn from_code(code: u64) -> Result<Self, DecodeError> {
        match code {
            0 => Ok(PermissionType::Owner),
            1 => Ok(PermissionType::Witness),
            2 => Ok(PermissionType::Active),
            _ => Err(DecodeError::Malformed(
                "permission type is not Owner, Witness or Active",
            )),
        }
    }

    /// The name in the node's JSON and messages (`"Owner"`).
    pub fn as_str(self) -> &'static str {
        match self {
            PermissionType::Owner => "Owner",
            PermissionType::Witness => "Witness",
            PermissionType::Active => "Active",
        }
    }
}

impl FromStr for PermissionType {
    type Err = DecodeError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "Owner" => Ok(PermissionType::Owner),
            "Witness" => Ok(PermissionType::Witness),
            "Active" => Ok(PermissionType::Active),
            _ => Err(DecodeError::Malformed(
                "permission type is not Owner, Witness or Active",
            )),
        }
    }
}

/// One key of a permission and the weight its signature adds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PermissionKey {
    pub address: Address,
    pub weight: i64,
}

/// java-tron's `Permission`: signatures whose keys' weights reach
/// `threshold` may sign the contract types set in `operations` (a 32-byte
/// bitmap, bit `n` for ContractType `n`; only Active permissions have one).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Permission {
    pub kind: PermissionType,
    /// Owner 0, Witness 1, Active 2 and up (the node numbers them).
    pub id: i32,
    pub name: String,
    pub threshold: i64,
    pub parent_id: i32,
    pub operations: Vec<u8>,
    pub keys: Vec<PermissionKey>,
}

impl Permission {
    /// A permission of one key of weight 1 and threshold 1, as every
    /// account has until it updates its permissions.
    pub fn single(kind: PermissionType, id: i32, name: &str, key: Address) -> Self {
        Self {
            kind,
            id,
            name: name.to_string(),
            threshold: 1,
            parent_id: 0,
            operations: Vec::new(),
            keys: vec![PermissionKey {
                address: key,
                weight: 1,
            }],
        }
    }

    /// Whether `operations` lets this permission sign ContractType `n`.
    pub fn allows(&self, contract_type: u64) -> bool {
        let (byte, bit) = ((contract_type / 8) as usize, contract_type % 8);
        self.operations
            .get(byte)
            .is_some_and(|b| b & (1 << bit) != 0)
    }

    /// The weight `address` signs with; 0 when it is not a key.
    pub fn weight_of(&self, address: &Address) -> i64 {
        self.keys
            .iter()
            .find(|k| k.address == *address)
            .map_or(0, |k| k.weight)
    }

    fn encode(&self) -> Vec<u8> {
        let mut b = Vec::new();
        put_varint(&mut b, 1, self.kind.code());
        put_varint(&mut b, 2, self.id as i64 as u64);
        put_bytes(&mut b, 3, self.name.as_bytes());
        put_varint(&mut b, 4, self.threshold as u64);
        put_varint(&mut b, 5, self.parent_id as i64 as u64);
        put_bytes(&mut b, 6, &self.operations);
        for key in &self.keys {
            let mut k = Vec::new();
            put_bytes(&mut k, 1, key.address.as_bytes());
            put_varint(&mut k, 2, key.weight as u64);
            // A repeated message writes every element, even an empty one.
            put_tag(&mut b, 7, 2);
            put_raw_varint(&mut b, k.len() as u64);
            b.extend_from_slice(&k);
        }
        b
    }

    fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut f = Fields::read(bytes)?;
        let keys = f
            .all_bytes(7)
            .into_iter()
            .map(|k| {
                let mut k = Fields::read(k)?;
                Ok(PermissionKey {
                    address: k.address(1)?,
                    weight: k.varint(2) as i64,
                })
            })
            .collect::<Result<Vec<_>, DecodeError>>()?;
        Ok(Self {
            kind: PermissionType::from_code(f.varint(1))?,
            id: f.varint(2) as i32,
            name: String::from_utf8(f.take_bytes(3).to_vec())
                .map_err(|_| DecodeError::Malformed("permission_name is not UTF-8"))?,
            threshold: f.varint(4) as i64,
            parent_id: f.varint(5) as i32,
            operations: f.take_bytes(6).to_vec(),
            keys,
        })
    }
}

/// java-tron's `ResourceCode` (TRON_POWER is not supported here).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Resource {
    Bandwidth,
    Energy,
}

impl Resource {
    pub fn code(self) -> u64 {
        match self {
            Resource::Bandwidth => 0,
            Resource::Energy => 1,
        }
    }

    pub fn from_code(code: u64) -> Result<Self, DecodeError> {
        match code {
            0 => Ok(Resource::Bandwidth),
            1 => Ok(Resource::Energy),
            _ => Err(DecodeError::Malformed(
                "resource is neither BANDWIDTH nor ENERGY",
            )),
        }
    }

    /// The name in the node's JSON (`"ENERGY"`); BANDWIDTH is the default.
    pub fn as_str(self) -> &'static str {
        match self {
            Resource::Bandwidth => "BANDWIDTH",
            Resource::Energy => "ENERGY",
        }
    }
}

impl FromStr for Resource {
    type Err = DecodeError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "BANDWIDTH" => Ok(Resource::Bandwidth),
            "ENERGY" => Ok(Resource::Energy),
            _ => Err(DecodeError::Malformed(
                "resource is neither BANDWIDTH nor ENERGY",
            )),
        }
    }
}

impl Contract {
    /// A TRC-20 `transfer(to, amount)` call on `token`.
    pub fn trc20_transfer(owner: Address, token: Address, to: Address, amount: TokenUnits) -> Self {
        Contract::TriggerSmartContract {
            owner,
            contract: token,
            call_value: Sun::ZERO,
            data: trc20_transfer_data(&to, amount),
        }
    }

    /// The account that signs and pays.
    pub fn owner(&self) -> Address {
        match self {
            Contract::Transfer { owner, .. }
            | Contract::TransferAsset { owner, .. }
            | Contract::TriggerSmartContract { owner, .. }
            | Contract::FreezeBalanceV2 { owner, .. }
            | Contract::UnfreezeBalanceV2 { owner, .. }
            | Contract::WithdrawExpireUnfreeze { owner }
            | Contract::DelegateResource { owner, .. }
            | Contract::UnDelegateResource { owner, .. }
            | Contract::AccountPermissionUpdate { owner, .. } => *owner,
        }
    }

    /// The ContractType number (the bit a permission's `operations` sets).
    pub fn type_number(&self) -> u64 {
        match self {
            Contract::Transfer { .. } => 1,
            Contract::TransferAsset { .. } => 2,
            Contract::TriggerSmartContract { .. } => 31,
            Contract::FreezeBalanceV2 { .. } => 54,
            Contract::UnfreezeBalanceV2 { .. } => 55,
            Contract::WithdrawExpireUnfreeze { .. } => 56,
            Contract::DelegateResource { .. } => 57,
            Contract::UnDelegateResource { .. } => 58,
            Contract::AccountPermissionUpdate { .. } => 46,
        }
    }

    /// The protobuf message name, as in the `Any` type URL.
    pub fn type_name(&self) -> &'static str {
        match self {
            Contract::Transfer { .. } => "TransferContract",
            Contract::TransferAsset { .. } => "TransferAssetContract",
            Contract::TriggerSmartContract { .. } => "TriggerSmartContract",
            Contract::FreezeBalanceV2 { .. } => "FreezeBalanceV2Contract",
            Contract::UnfreezeBalanceV2 { .. } => "UnfreezeBalanceV2Contract",
            Contract::WithdrawExpireUnfreeze { .. } => "WithdrawExpireUnfreezeContract",
            Contract::DelegateResource { .. } => "DelegateResourceContract",
            Contract::UnDelegateResource { .. } => "UnDelegateResourceContract",
            Contract::AccountPermissionUpdate { .. } => "AccountPermissionUpdateContract",
        }
    }

    fn encode_value(&self) -> Vec<u8> {
        let mut b = Vec::new();
        match self {
            Contract::Transfer { owner, to, amount } => {
                put_bytes(&mut b, 1, owner.as_bytes());
                put_bytes(&mut b, 2, to.as_bytes());
                put_varint(&mut b, 3, amount.0);
            }
            Contract::TransferAsset {
                asset_name,
                owner,
                to,
                amount,
            } => {
                put_bytes(&mut b, 1, asset_name);
                put_bytes(&mut b, 2, owner.as_bytes());
                put_bytes(&mut b, 3, to.as_bytes());
                put_varint(&mut b, 4, *amount);
            }
            Contract::TriggerSmartContract {
                owner,
                contract,
                call_value,
                data,
            } => {
                put_bytes(&mut b, 1, owner.as_bytes());
                put_bytes(&mut b, 2, contract.as_bytes());
                put_varint(&mut b, 3, call_value.0);
                put_bytes(&mut b, 4, data);
            }
            Contract::FreezeBalanceV2 {
                owner,
                frozen_balance: amount,
                resource,
            }
            | Contract::UnfreezeBalanceV2 {
                owner,
                unfreeze_balance: amount,
                resource,
            } => {
                put_bytes(&mut b, 1, owner.as_bytes());
                put_varint(&mut b, 2, amount.0);
                put_varint(&mut b, 3, resource.code());
            }
            Contract::WithdrawExpireUnfreeze { owner } => put_bytes(&mut b, 1, owner.as_bytes()),
            Contract::DelegateResource {
                owner,
                resource,
                balance,
                receiver,
                lock,
                lock_period,
            } => {
                put_bytes(&mut b, 1, owner.as_bytes());
                put_varint(&mut b, 2, resource.code());
                put_varint(&mut b, 3, balance.0);
                put_bytes(&mut b, 4, receiver.as_bytes());
                put_varint(&mut b, 5, u64::from(*lock));
                put_varint(&mut b, 6, *lock_period);
            }
            Contract::UnDelegateResource {
                owner,
                resource,
                balance,
                receiver,
            } => {
                put_bytes(&mut b, 1, owner.as_bytes());
                put_varint(&mut b, 2, resource.code());
                put_varint(&mut b, 3, balance.0);
                put_bytes(&mut b, 4, receiver.as_bytes());
            }
            Contract::AccountPermissionUpdate {
                owner,
                owner_permission,
                witness,
                actives,
            } => {
                put_bytes(&mut b, 1, owner.as_bytes());
                put_message(&mut b, 2, &owner_permission.encode());
                if let Some(w) = witness {
                    put_message(&mut b, 3, &w.encode());
                }
                for active in actives {
                    put_message(&mut b, 4, &active.encode());
                }
            }
        }
        b
    }

    fn encode(&self, permission_id: i32) -> Vec<u8> {
        let mut any = Vec::new();
        put_bytes(
            &mut any,
            1,
            format!("{TYPE_URL_PREFIX}{}", self.type_name()).as_bytes(),
        );
        put_bytes(&mut any, 2, &self.encode_value());
        let mut b = Vec::new();
        put_varint(&mut b, 1, self.type_number());
        put_bytes(&mut b, 2, &any);
        put_varint(&mut b, 5, permission_id as i64 as u64);
        b
    }

    /// The contract and its `Permission_id`.
    fn decode(bytes: &[u8]) -> Result<(Self, i32), DecodeError> {
        let mut kind = 0u64;
        let mut param: Option<&[u8]> = None;
        let mut permission_id = 0i32;
        let mut r = Reader::new(bytes);
        while let Some((field, value)) = r.next_field()? {
            match field {
                1 => kind = value.varint(field)?,
                2 => param = Some(value.bytes(field)?),
                5 => permission_id = value.varint(field)? as i32,
                _ => {}
            }
        }
        Self::decode_parameter(kind, param).map(|c| (c, permission_id))
    }

    fn decode_parameter(kind: u64, param: Option<&[u8]>) -> Result<Self, DecodeError> {
        let param = param.ok_or(DecodeError::Missing("contract.parameter"))?;
        let (mut type_url, mut value) = ("", &[][..]);
        let mut r = Reader::new(param);
        while let Some((field, v)) = r.next_field()? {
            match field {
                1 => {
                    type_url = std::str::from_utf8(v.bytes(field)?)
                        .map_err(|_| DecodeError::Malformed("type_url is not UTF-8"))?
                }
                2 => value = v.bytes(field)?,
                _ => {}
            }
        }
        let expect = |name: &str| -> Result<(), DecodeError> {
            if type_url.strip_prefix(TYPE_URL_PREFIX) == Some(name) {
                Ok(())
            } else {
                Err(DecodeError::TypeUrl(type_url.to_string()))
            }
        };
        let mut fields = Fields::read(value)?;
        match kind {
            1 => {
                expect("TransferContract")?;
                Ok(Contract::Transfer {
                    owner: fields.address(1)?,
                    to: fields.address(2)?,
                    amount: Sun(fields.amount(3)?),
                })
            }
            2 => {
                expect("TransferAssetContract")?;
                Ok(Contract::TransferAsset {
                    asset_name: fields.take_bytes(1).to_vec(),
                    owner: fields.address(2)?,
                    to: fields.address(3)?,
                    amount: fields.amount(4)?,
                })
            }
            31 => {
                expect("TriggerSmartContract")?;
                Ok(Contract::TriggerSmartContract {
                    owner: fields.address(1)?,
                    contract: fields.address(2)?,
                    call_value: Sun(fields.amount(3)?),
                    data: fields.take_bytes(4).to_vec(),
                })
            }
            54 => {
                expect("FreezeBalanceV2Contract")?;
                Ok(Contract::FreezeBalanceV2 {
                    owner: fields.address(1)?,
                    frozen_balance: Sun(fields.amount(2)?),
                    resource: Resource::from_code(fields.varint(3))?,
                })
            }
            55 => {
                expect("UnfreezeBalanceV2Contract")?;
                Ok(Contract::UnfreezeBalanceV2 {
                    owner: fields.address(1)?,
                    unfreeze_balance: Sun(fields.amount(2)?),
                    resource: Resource::from_code(fields.varint(3))?,
                })
            }
            56 => {
                expect("WithdrawExpireUnfreezeContract")?;
                Ok(Contract::WithdrawExpireUnfreeze {
                    owner: fields.address(1)?,
                })
            }
            57 => {
                expect("DelegateResourceContract")?;
                Ok(Contract::DelegateResource {
                    owner: fields.address(1)?,
                    resource: Resource::from_code(fields.varint(2))?,
                    balance: Sun(fields.amount(3)?),
                    receiver: fields.address(4)?,
                    lock: fields.varint(5) != 0,
                    lock_period: fields.amount(6)?,
                })
            }
            58 => {
                expect("UnDelegateResourceContract")?;
                Ok(Contract::UnDelegateResource {
                    owner: fields.address(1)?,
                    resource: Resource::from_code(fields.varint(2))?,
                    balance: Sun(fields.amount(3)?),
                    receiver: fields.address(4)?,
                })
            }
            46 => {
                expect("AccountPermissionUpdateContract")?;
                let owner_permission = match fields.take_bytes(2) {
                    [] => return Err(DecodeError::Missing("owner permission")),
                    b => Permission::decode(b)?,
                };
                let witness = match fields.take_bytes(3) {
                    [] => None,
                    b => Some(Permission::decode(b)?),
                };
                let actives = fields
                    .all_bytes(4)
                    .into_iter()
                    .map(Permission::decode)
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(Contract::AccountPermissionUpdate {
                    owner: fields.address(1)?,
                    owner_permission,
                    witness,
                    actives,
                })
            }
            other => Err(DecodeError::UnsupportedContract(other)),
        }
    }
}

/// `Transaction.raw`: what the txID hashes and the signature covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawTransaction {
    pub ref_block_bytes: [u8; 2],
    pub ref_block_hash: [u8; 8],
    /// Epoch milliseconds; the node refuses the transaction after it.
    pub expiration_ms: i64,
    /// The memo (`raw.data`), usually empty.
    pub data: Vec<u8>,
    pub contract: Contract,
    /// Epoch milliseconds when built.
    pub timestamp_ms: i64,
    /// Most TRX the transaction may burn for energy (smart contracts only).
    pub fee_limit: Sun,
    /// The contract's `Permission_id`: which of the owner's permissions
    /// signs (0, the owner permission, unless multi-signature says else).
    pub permission_id: i32,
}

impl RawTransaction {
    /// A transaction referring to `reference`, expiring `expiry` after that
    /// block's time (as the node's own builders do: the node checks expiry
    /// against its head block time, not against our clock).
    pub fn new(
        contract: Contract,
        reference: &RefBlock,
        timestamp_ms: i64,
        expiry: Duration,
        fee_limit: Sun,
    ) -> Self {
        let expiry_ms = i64::try_from(expiry.as_millis()).unwrap_or(i64::MAX);
        Self {
            ref_block_bytes: reference.ref_block_bytes(),
            ref_block_hash: reference.ref_block_hash(),
            expiration_ms: reference.timestamp_ms.saturating_add(expiry_ms),
            data: Vec::new(),
            contract,
            timestamp_ms,
            fee_limit,
            permission_id: 0,
        }
    }

    /// The same transaction signed under permission `id` of its owner.
    pub fn with_permission_id(mut self, id: i32) -> Self {
        self.permission_id = id;
        self
    }

    /// The canonical proto3 bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(256);
        put_bytes(&mut b, 1, &self.ref_block_bytes);
        put_bytes(&mut b, 4, &self.ref_block_hash);
        put_varint(&mut b, 8, self.expiration_ms as u64);
        put_bytes(&mut b, 10, &self.data);
        put_bytes(&mut b, 11, &self.contract.encode(self.permission_id));
        put_varint(&mut b, 14, self.timestamp_ms as u64);
        put_varint(&mut b, 18, self.fee_limit.0);
        b
    }

    pub fn txid(&self) -> TxId {
        TxId::of_raw(&self.encode())
    }

    /// Decodes `raw` bytes. Exactly one contract, as java-tron requires.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(bytes);
        let mut ref_block_bytes = None;
        let mut ref_block_hash = None;
        let (mut expiration_ms, mut timestamp_ms, mut fee_limit) = (0i64, 0i64, 0u64);
        let mut data = Vec::new();
        let mut contract = None;
        let mut permission_id = 0;
        while let Some((field, v)) = r.next_field()? {
            match field {
                1 => {
                    ref_block_bytes =
                        Some(v.bytes(field)?.try_into().map_err(|_| {
                            DecodeError::Malformed("ref_block_bytes is not 2 bytes")
                        })?)
                }
                4 => {
                    ref_block_hash = Some(
                        v.bytes(field)?
                            .try_into()
                            .map_err(|_| DecodeError::Malformed("ref_block_hash is not 8 bytes"))?,
                    )
                }
                8 => expiration_ms = v.varint(field)? as i64,
                10 => data = v.bytes(field)?.to_vec(),
                11 => {
                    if contract.is_some() {
                        return Err(DecodeError::Malformed("more than one contract"));
                    }
                    let (c, id) = Contract::decode(v.bytes(field)?)?;
                    contract = Some(c);
                    permission_id = id;
                }
                14 => timestamp_ms = v.varint(field)? as i64,
                18 => {
                    fee_limit = u64::try_from(v.varint(field)? as i64)
                        .map_err(|_| DecodeError::Malformed("negative fee_limit"))?
                }
                _ => {}
            }
        }
        Ok(Self {
            ref_block_bytes: ref_block_bytes.ok_or(DecodeError::Missing("ref_block_bytes"))?,
            ref_block_hash: ref_block_hash.ok_or(DecodeError::Missing("ref_block_hash"))?,
            expiration_ms,
            data,
            contract: contract.ok_or(DecodeError::Missing("contract"))?,
            timestamp_ms,
            fee_limit: Sun(fee_limit),
            permission_id,
        })
    }

    /// Signs with `key`: the signed transaction, ready to store and broadcast.
    pub fn sign(&self, key: &PrivateKey) -> SignedTransaction {
        let raw_bytes = self.encode();
        let txid = TxId::of_raw(&raw_bytes);
        SignedTransaction {
            raw: self.clone(),
            raw_bytes,
            txid,
            signatures: vec![key.sign(&txid).as_bytes().to_vec()],
        }
    }
}

/// A `Transaction` protobuf: raw plus signatures. Keeps the raw bytes as
/// built or received, so its txID is always the hash of exactly those.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedTransaction {
    raw: RawTransaction,
    raw_bytes: Vec<u8>,
    txid: TxId,
    signatures: Vec<Vec<u8>>,
}

/// Why a signed transaction does not carry its owner's signature.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("the transaction has no signature")]
    Missing,
    #[error("{0}")]
    Signature(#[from] SignatureError),
    #[error("signed by {signer}, but the owner is {owner}")]
    WrongSigner { signer: Address, owner: Address },
}

impl SignedTransaction {
    /// `raw` with `signatures` as given (not checked: the node checks them
    /// when the transaction is broadcast).
    pub fn from_parts(raw: RawTransaction, signatures: Vec<Vec<u8>>) -> Self {
        let raw_bytes = raw.encode();
        Self {
            txid: TxId::of_raw(&raw_bytes),
            raw,
            raw_bytes,
            signatures,
        }
    }

    pub fn raw(&self) -> &RawTransaction {
        &self.raw
    }

    /// The `raw` bytes the txID hashes.
    pub fn raw_bytes(&self) -> &[u8] {
        &self.raw_bytes
    }

    pub fn txid(&self) -> TxId {
        self.txid
    }

    pub fn signatures(&self) -> &[Vec<u8>] {
        &self.signatures
    }

    /// Adds `key`'s signature: a multi-signature transaction carries one
    /// per signing key of its permission.
    pub fn cosign(mut self, key: &PrivateKey) -> Self {
        self.signatures
            .push(key.sign(&self.txid).as_bytes().to_vec());
        self
    }

    /// The `Transaction` protobuf bytes (`/wallet/broadcasthex` takes their hex).
    pub fn encode(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(self.raw_bytes.len() + 70);
        put_bytes(&mut b, 1, &self.raw_bytes);
        for sig in &self.signatures {
            // A repeated field writes every element, even an empty one.
            put_tag(&mut b, 2, 2);
            put_raw_varint(&mut b, sig.len() as u64);
            b.extend_from_slice(sig);
        }
        b
    }

    pub fn to_hex(&self) -> String {
        hex::encode(self.encode())
    }

    /// Decodes `Transaction` bytes (raw_data = 1, signature = 2; `ret` and
    /// anything else ignored).
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(bytes);
        let mut raw_bytes = None;
        let mut signatures = Vec::new();
        while let Some((field, v)) = r.next_field()? {
            match field {
                1 => raw_bytes = Some(v.bytes(field)?.to_vec()),
                2 => signatures.push(v.bytes(field)?.to_vec()),
                _ => {}
            }
        }
        let raw_bytes = raw_bytes.ok_or(DecodeError::Missing("raw_data"))?;
        Ok(Self {
            raw: RawTransaction::decode(&raw_bytes)?,
            txid: TxId::of_raw(&raw_bytes),
            raw_bytes,
            signatures,
        })
    }

    /// Checks that the first signature is the owner's, as java-tron does for
    /// a single-signature account.
    pub fn verify_owner(&self) -> Result<(), VerifyError> {
        let sig = self.signatures.first().ok_or(VerifyError::Missing)?;
        let signer = TxSignature::from_slice(sig)?.recover(&self.txid)?;
        let owner = self.raw.contract.owner();
        if signer != owner {
            return Err(VerifyError::WrongSigner { signer, owner });
        }
        Ok(())
    }
}

/// Why bytes are not a transaction of the supported subset.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("protobuf ends in the middle of a field")]
    Truncated,
    #[error("protobuf field {field} has the wrong wire type")]
    WireType { field: u32 },
    #[error("malformed transaction: {0}")]
    Malformed(&'static str),
    #[error("transaction lacks {0}")]
    Missing(&'static str),
    #[error("contract type {0} is not supported")]
    UnsupportedContract(u64),
    #[error("contract parameter type_url {0:?} does not match its type")]
    TypeUrl(String),
    #[error("bad address in transaction: {0}")]
    Address(#[from] AddressError),
}

/// Calldata for TRC-20 `transfer(to, amount)`: selector, the address as a
/// 32-byte word (12 zero bytes, the 20 bytes without 0x41), the amount as a
/// big-endian uint256.
/// Bytes of bandwidth a signed transaction with this contract uses at
/// most, as the node counts them: the signed protobuf plus the result it
/// stores. A draft with the longest varints stands in for the real one.
pub fn bandwidth_upper_bound(contract: &Contract, fee_limit: Sun) -> u64 {
    // One signature (tag, length, 65 bytes), the raw_data field header, and
    // java-tron's MAX_RESULT_SIZE_IN_TX.
    const SIGNED_OVERHEAD: u64 = 2 + 65 + 3;
    const RESULT_BYTES: u64 = 64;
    let reference = RefBlock {
        number: u64::MAX,
        id: [0xff; 32],
        timestamp_ms: i64::MAX / 4,
    };
    let raw = RawTransaction::new(
        contract.clone(),
        &reference,
        i64::MAX / 4,
        Duration::from_secs(86_400),
        fee_limit,
    );
    raw.encode().len() as u64 + SIGNED_OVERHEAD + RESULT_BYTES
}

/// Bandwidth bytes at most of one energy delegation from `pool` and its
/// reclaim: what the pool spends per delegated sweep (with no bandwidth of
/// its own left, it burns them at the bandwidth price).
pub fn delegation_pair_bytes(pool: Address) -> u64 {
    let balance = Sun(u64::MAX);
    let delegate = Contract::DelegateResource {
        owner: pool,
        resource: Resource::Energy,
        balance,
        receiver: pool,
        lock: false,
        lock_period: 0,
    };
    let reclaim = Contract::UnDelegateResource {
        owner: pool,
        resource: Resource::Energy,
        balance,
        receiver: pool,
    };
    bandwidth_upper_bound(&delegate, Sun::ZERO) + bandwidth_upper_bound(&reclaim, Sun::ZERO)
}

pub fn trc20_transfer_data(to: &Address, amount: TokenUnits) -> Vec<u8> {
    let mut data = Vec::with_capacity(68);
    data.extend_from_slice(&TRC20_TRANSFER_SELECTOR);
    data.extend_from_slice(&address_word(to));
    data.extend_from_slice(&uint_word(amount.0));
    data
}

/// The `parameter` hex for `balanceOf(address)` in triggerconstantcontract.
pub fn address_word(addr: &Address) -> [u8; 32] {
    let mut w = [0u8; 32];
    w[12..].copy_from_slice(&addr.evm_bytes());
    w
}

/// A u64 as a big-endian uint256 word.
pub fn uint_word(v: u64) -> [u8; 32] {
    let mut w = [0u8; 32];
    w[24..].copy_from_slice(&v.to_be_bytes());
    w
}

/// A uint256 word as u64; `None` when it does not fit.
pub fn word_to_u64(word: &[u8]) -> Option<u64> {
    if word.len() != 32 || word[..24].iter().any(|&b| b != 0) {
        return None;
    }
    Some(u64::from_be_bytes(word[24..].try_into().ok()?))
}

/// Reads TRC-20 `transfer(to, amount)` calldata; `None` for any other call
/// or an amount beyond u64.
pub fn parse_trc20_transfer(data: &[u8]) -> Option<(Address, TokenUnits)> {
    if data.len() != 68 || data[..4] != TRC20_TRANSFER_SELECTOR {
        return None;
    }
    let word = &data[4..36];
    if word[..12].iter().any(|&b| b != 0) {
        return None;
    }
    let to = Address::from_evm(word[12..].try_into().ok()?);
    Some((to, TokenUnits(word_to_u64(&data[36..68])?)))
}

// ---- proto3 wire format ----------------------------------------------------

fn put_raw_varint(b: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        b.push((v as u8) | 0x80);
        v >>= 7;
    }
    b.push(v as u8);
}

fn put_tag(b: &mut Vec<u8>, field: u32, wire: u8) {
    put_raw_varint(b, (u64::from(field) << 3) | u64::from(wire));
}

/// A varint field, left out when zero (proto3 default).
fn put_varint(b: &mut Vec<u8>, field: u32, v: u64) {
    if v != 0 {
        put_tag(b, field, 0);
        put_raw_varint(b, v);
    }
}

/// An embedded message field, written even when empty: presence matters
/// (an empty owner permission is still an owner permission).
fn put_message(b: &mut Vec<u8>, field: u32, v: &[u8]) {
    put_tag(b, field, 2);
    put_raw_varint(b, v.len() as u64);
    b.extend_from_slice(v);
}

/// A length-delimited field, left out when empty (proto3 default).
fn put_bytes(b: &mut Vec<u8>, field: u32, v: &[u8]) {
    if !v.is_empty() {
        put_tag(b, field, 2);
        put_raw_varint(b, v.len() as u64);
        b.extend_from_slice(v);
    }
}

enum Value<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
    Fixed,
}

impl<'a> Value<'a> {
    fn varint(&self, field: u32) -> Result<u64, DecodeError> {
        match self {
            Value::Varint(v) => Ok(*v),
            _ => Err(DecodeError::WireType { field }),
        }
    }

    fn bytes(&self, field: u32) -> Result<&'a [u8], DecodeError> {
        match self {
            Value::Bytes(b) => Ok(b),
            _ => Err(DecodeError::WireType { field }),
        }
    }
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn new(buf: &'a [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    fn varint(&mut self) -> Result<u64, DecodeError> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = *self.buf.get(self.pos).ok_or(DecodeError::Truncated)?;
            self.pos += 1;
            v |= u64::from(byte & 0x7f) << shift;
            if byte < 0x80 {
                return Ok(v);
            }
        }
        Err(DecodeError::Malformed("varint longer than 10 bytes"))
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        let end = self.pos.checked_add(n).ok_or(DecodeError::Truncated)?;
        let out = self.buf.get(self.pos..end).ok_or(DecodeError::Truncated)?;
        self.pos = end;
        Ok(out)
    }

    fn next_field(&mut self) -> Result<Option<(u32, Value<'a>)>, DecodeError> {
        if self.pos == self.buf.len() {
            return Ok(None);
        }
        let key = self.varint()?;
        let field = u32::try_from(key >> 3).map_err(|_| DecodeError::Malformed("field number"))?;
        if field == 0 {
            return Err(DecodeError::Malformed("field number 0"));
        }
        let value = match key & 7 {
            0 => Value::Varint(self.varint()?),
            1 => {
                self.take(8)?;
                Value::Fixed
            }
            2 => {
                let len = usize::try_from(self.varint()?).map_err(|_| DecodeError::Truncated)?;
                Value::Bytes(self.take(len)?)
            }
            5 => {
                self.take(4)?;
                Value::Fixed
            }
            _ => return Err(DecodeError::WireType { field }),
        };
        Ok(Some((field, value)))
    }
}

/// The fields of one small message, last occurrence winning (protobuf's rule
/// for scalars), read once so that each can be taken by number.
struct Fields<'a> {
    varints: Vec<(u32, u64)>,
    bytes: Vec<(u32, &'a [u8])>,
}

impl<'a> Fields<'a> {
    fn read(buf: &'a [u8]) -> Result<Self, DecodeError> {
        let mut out = Fields {
            varints: Vec::new(),
            bytes: Vec::new(),
        };
        let mut r = Reader::new(buf);
        while let Some((field, v)) = r.next_field()? {
            match v {
                Value::Varint(x) => out.varints.push((field, x)),
                Value::Bytes(b) => out.bytes.push((field, b)),
                Value::Fixed => {}
            }
        }
        Ok(out)
    }

    fn take_bytes(&mut self, field: u32) -> &'a [u8] {
        self.bytes
            .iter()
            .rev()
            .find(|(f, _)| *f == field)
            .map(|(_, b)| *b)
            .unwrap_or(&[])
    }

    /// Every occurrence of a repeated length-delimited field, in order.
    fn all_bytes(&self, field: u32) -> Vec<&'a [u8]> {
        self.bytes
            .iter()
            .filter(|(f, _)| *f == field)
            .map(|(_, b)| *b)
            .collect()
    }

    fn address(&mut self, field: u32) -> Result<Address, DecodeError> {
        Ok(Address::from_bytes(self.take_bytes(field))?)
    }

    /// A varint field's raw value, 0 when absent.
    fn varint(&self, field: u32) -> u64 {
        self.varints
            .iter()
            .rev()
            .find(|(f, _)| *f == field)
            .map_or(0, |(_, v)| *v)
    }

    /// An int64 amount; negative amounts are refused.
    fn amount(&mut self, field: u32) -> Result<u64, DecodeError> {
        let v = self.varint(field);
        u64::try_from(v as i64).map_err(|_| DecodeError::Malformed("negative amount"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> Address {
        s.parse().unwrap()
    }

    /// Signing vector 1: trustwallet/wallet-core
    /// `tests/chains/Tron/TransactionCompilerTests.cpp` (TRC-10 transfer).
    const V1_KEY: &str = "2d8f68944bdbfbc0769542fba8fc2d2a3de67393334471624364c7006da2aa54";
    const V1_RAW: &str = "0a02b80122080e2bc08d550f5f5840a0b5d58ff02c5a730802126f0a32747970652e676f6f676c65617069732e636f6d2f70726f746f636f6c2e5472616e736665724173736574436f6e747261637412390a07313030303935391215415cd0fb0ab3ce40f3051414c604b27756e69e43db1a1541521ea197907927725ef36d70f25f850d1659c7c7200470d889a4a9e62c";
    const V1_TXID: &str = "546a3d07164c624809cf4e564a083a7a7974bb3c4eff6bb3e278b0ca21083fcb";
    const V1_SIG: &str = "77f5eabde31e739d34a66914540f1756981dc7d782c9656f5e14e53b59a15371603a183aa12124adeee7991bf55acc8e488a6ca04fb393b1a8ac16610eeafdfc00";

    /// Vector 2: a mainnet TRX transfer in block 54393481, as TronGrid v1
    /// `/v1/accounts/{a}/transactions` returned it (captured in a public
    /// repository; docs/tron.md §2).
    const V2_RAW: &str = "0a02fa7322082b2f6684f998649540d0d4d3f9a5315a68080112640a2d747970652e676f6f676c65617069732e636f6d2f70726f746f636f6c2e5472616e73666572436f6e747261637412330a154179309abcff2cf531070ca9222a1f72c4a5136874121541c6a137bb170cc0dd40fcb83f18b389fa9426ac461880b489137092b9f4f7a531";
    const V2_TXID: &str = "1abdaae882a5bd80bda189e8722705a4b7d110f580da3ad000d0fe53e61b469f";
    const V2_SIG: &str = "1ddad0478c0a1c3c12c970cb90ca09446223d634ea5c315768b4c64cf273545a12c186e5de9884117f4933b4635347a38ff8a26d3ab659520adbe60547e071b600";

    /// Nile `createtransaction` capture: tronprotocol/documentation-en
    /// `docs/api/http` createtransaction page.
    const CREATE_RAW: &str = "0a0229272208939ece39d08a7abe40d8c483c1dd335a67080112630a2d747970652e676f6f676c65617069732e636f6d2f70726f746f636f6c2e5472616e73666572436f6e747261637412320a1541dd791d6b49e190062d650e6a23c575510d35f2f912154192ad11c1bf16b3b14b0bd6b5c7e2db73a0b5e83a18c0843d70d68780c1dd33";
    const CREATE_TXID: &str = "6303c7639f591407ef9f34a7ac8c9c9a21151f5a6af21924502515734fc267ab";

    /// Nile USDT `triggersmartcontract` capture (100 units): documentation-en
    /// `docs/api/http` triggersmartcontract page; its `raw_data_hex`, not its
    /// `data` JSON string, which has a typo.
    const TRIGGER_RAW: &str = "0a0228c32208ce6d34028278856940f89cf1c0dd335aae01081f12a9010a31747970652e676f6f676c65617069732e636f6d2f70726f746f636f6c2e54726967676572536d617274436f6e747261637412740a1541dd791d6b49e190062d650e6a23c575510d35f2f9121541eca9bc828a3005b9a3b909f2cc5c2a54794de05f2244a9059cbb000000000000000000000000088a2bfcb1c7271029fd69a66859d5556089588400000000000000000000000000000000000000000000000000000000000000647089d0edc0dd33900180c2d72f";
    const TRIGGER_TXID: &str = "8c621a0dc9bd4d405b20d0a43143955b9f546f98bbfde1aec295a65b0f925629";

    fn h(s: &str) -> Vec<u8> {
        hex::decode(s).unwrap()
    }

    #[test]
    fn vector1_encodes_hashes_and_signs_byte_for_byte() {
        let raw = RawTransaction {
            ref_block_bytes: [0xb8, 0x01],
            ref_block_hash: h("0e2bc08d550f5f58").try_into().unwrap(),
            expiration_ms: 1541926116000,
            data: Vec::new(),
            contract: Contract::TransferAsset {
                asset_name: b"1000959".to_vec(),
                owner: addr("415cd0fb0ab3ce40f3051414c604b27756e69e43db"),
                to: addr("41521ea197907927725ef36d70f25f850d1659c7c7"),
                amount: 4,
            },
            timestamp_ms: 1539295479000,
            fee_limit: Sun::ZERO,
            permission_id: 0,
        };
        assert_eq!(hex::encode(raw.encode()), V1_RAW);
        assert_eq!(raw.txid().to_hex(), V1_TXID);
        let key = PrivateKey::from_hex(V1_KEY).unwrap();
        let signed = raw.sign(&key);
        assert_eq!(hex::encode(&signed.signatures()[0]), V1_SIG);
        signed.verify_owner().unwrap();
        assert_eq!(RawTransaction::decode(&h(V1_RAW)).unwrap(), raw);
    }

    #[test]
    fn vector2_mainnet_transfer_decodes_and_its_signature_recovers_the_owner() {
        let bytes = h(V2_RAW);
        let raw = RawTransaction::decode(&bytes).unwrap();
        assert_eq!(
            raw.encode(),
            bytes,
            "our encoder is canonical like java-tron's"
        );
        assert_eq!(raw.txid().to_hex(), V2_TXID);
        assert_eq!(
            raw.contract,
            Contract::Transfer {
                owner: addr("4179309abcff2cf531070ca9222a1f72c4a5136874"),
                to: addr("41c6a137bb170cc0dd40fcb83f18b389fa9426ac46"),
                amount: Sun(40_000_000),
            }
        );
        assert_eq!(raw.expiration_ms, 1693814418000);
        assert_eq!(raw.timestamp_ms, 1693810760850);

        // The signed Transaction as a node would receive it.
        let mut tx = Vec::new();
        put_bytes(&mut tx, 1, &bytes);
        put_bytes(&mut tx, 2, &h(V2_SIG));
        let signed = SignedTransaction::decode(&tx).unwrap();
        assert_eq!(signed.txid().to_hex(), V2_TXID);
        signed.verify_owner().unwrap();
        assert_eq!(signed.encode(), tx);
    }

    #[test]
    fn documented_createtransaction_is_rebuilt_exactly() {
        let reference = RefBlock {
            number: 0x2927,
            id: {
                let mut id = [0u8; 32];
                id[8..16].copy_from_slice(&h("939ece39d08a7abe"));
                id
            },
            timestamp_ms: 1777447527000 - 57_000,
        };
        let raw = RawTransaction::new(
            Contract::Transfer {
                owner: addr("41dd791d6b49e190062d650e6a23c575510d35f2f9"),
                to: addr("4192ad11c1bf16b3b14b0bd6b5c7e2db73a0b5e83a"),
                amount: Sun(1_000_000),
            },
            &reference,
            1777447470038,
            Duration::from_secs(57),
            Sun::ZERO,
        );
        assert_eq!(hex::encode(raw.encode()), CREATE_RAW);
        assert_eq!(raw.txid().to_hex(), CREATE_TXID);
    }

    #[test]
    fn documented_trc20_transfer_is_rebuilt_exactly() {
        let to = Address::from_evm(
            h("088a2bfcb1c7271029fd69a66859d55560895884")
                .try_into()
                .unwrap(),
        );
        let contract = Contract::trc20_transfer(
            addr("41dd791d6b49e190062d650e6a23c575510d35f2f9"),
            addr("TXYZopYRdj2D9XRtbG411XZZ3kM5VkAeBf"),
            to,
            TokenUnits(100),
        );
        let raw = RawTransaction {
            ref_block_bytes: [0x28, 0xc3],
            ref_block_hash: h("ce6d340282788569").try_into().unwrap(),
            expiration_ms: 1777447227000,
            data: Vec::new(),
            contract,
            timestamp_ms: 1777447168009,
            fee_limit: Sun(100_000_000),
            permission_id: 0,
        };
        assert_eq!(hex::encode(raw.encode()), TRIGGER_RAW);
        assert_eq!(raw.txid().to_hex(), TRIGGER_TXID);
        let decoded = RawTransaction::decode(&h(TRIGGER_RAW)).unwrap();
        assert_eq!(decoded, raw);
        let Contract::TriggerSmartContract { data, .. } = &decoded.contract else {
            panic!("not a trigger");
        };
        assert_eq!(parse_trc20_transfer(data), Some((to, TokenUnits(100))));
    }

    #[test]
    fn reference_block_fields_match_the_getnowblock_example() {
        // documentation-en getnowblock example: number 66987627, blockID
        // 0000000003fe266bf6b6d392f654dc2e... gives 266b and f6b6d392f654dc2e.
        let mut id = [0u8; 32];
        id[..16].copy_from_slice(&h("0000000003fe266bf6b6d392f654dc2e"));
        let r = RefBlock {
            number: 66987627,
            id,
            timestamp_ms: 0,
        };
        assert_eq!(hex::encode(r.ref_block_bytes()), "266b");
        assert_eq!(hex::encode(r.ref_block_hash()), "f6b6d392f654dc2e");
    }

    #[test]
    fn tampering_with_any_signed_byte_breaks_the_owner_signature() {
        let key = PrivateKey::from_hex(V1_KEY).unwrap();
        let raw = RawTransaction::new(
            Contract::Transfer {
                owner: key.address(),
                to: addr("TY72iA3SBtrds3QLYsS7LwYfkzXwAXCRWT"),
                amount: Sun(5_000_000),
            },
            &RefBlock {
                number: 1000,
                id: [3u8; 32],
                timestamp_ms: 1_700_000_000_000,
            },
            1_700_000_000_500,
            Duration::from_secs(60),
            Sun::ZERO,
        );
        let signed = raw.sign(&key);
        let bytes = signed.encode();
        let back = SignedTransaction::decode(&bytes).unwrap();
        assert_eq!(back, signed);
        back.verify_owner().unwrap();

        // Change the amount (last varint byte of the transfer value) and re-decode.
        let mut tampered = raw.clone();
        tampered.contract = Contract::Transfer {
            owner: key.address(),
            to: addr("TY72iA3SBtrds3QLYsS7LwYfkzXwAXCRWT"),
            amount: Sun(6_000_000),
        };
        let forged = SignedTransaction {
            raw_bytes: tampered.encode(),
            txid: tampered.txid(),
            raw: tampered,
            signatures: signed.signatures().to_vec(),
        };
        let forged = SignedTransaction::decode(&forged.encode()).unwrap();
        assert!(matches!(
            forged.verify_owner(),
            Err(VerifyError::WrongSigner { .. } | VerifyError::Signature(_))
        ));

        // Flip each byte of the encoded transaction: decoding fails or the
        // signature no longer matches the owner.
        for i in 0..bytes.len() {
            let mut b = bytes.clone();
            b[i] ^= 0x01;
            if let Ok(t) = SignedTransaction::decode(&b) {
                assert!(t.verify_owner().is_err(), "byte {i} flipped still verifies");
            }
        }

        // Another key's signature, and no signature at all.
        let other = PrivateKey::from_hex(V1_KEY.replace('2', "3").as_str()).unwrap();
        let wrong = raw.sign(&other);
        let wrong = SignedTransaction {
            signatures: wrong.signatures,
            ..signed.clone()
        };
        assert!(matches!(
            wrong.verify_owner(),
            Err(VerifyError::WrongSigner { .. })
        ));
        let unsigned = SignedTransaction {
            signatures: Vec::new(),
            ..signed
        };
        assert_eq!(unsigned.verify_owner(), Err(VerifyError::Missing));
    }

    #[test]
    fn malformed_bytes_are_errors_not_panics() {
        assert_eq!(
            SignedTransaction::decode(&[]),
            Err(DecodeError::Missing("raw_data"))
        );
        assert_eq!(
            RawTransaction::decode(&h("0a05b801")),
            Err(DecodeError::Truncated)
        );
        let raw = h(V2_RAW);
        for cut in 0..raw.len() {
            let _ = RawTransaction::decode(&raw[..cut]);
        }
        assert!(RawTransaction::decode(&raw[..raw.len() - 3]).is_err());
        // A contract type we do not handle.
        let mut c = Vec::new();
        put_varint(&mut c, 1, 4);
        let mut r = Vec::new();
        put_bytes(&mut r, 1, &[1, 2]);
        put_bytes(&mut r, 4, &[0; 8]);
        put_bytes(&mut r, 11, &c);
        assert_eq!(
            RawTransaction::decode(&r),
            Err(DecodeError::Missing("contract.parameter"))
        );
    }

    #[test]
    fn trc20_calldata_round_trips_and_rejects_other_calls() {
        let to = addr("TJRyWwFs9wTFGZg3JbrVriFbNfCug5tDeC");
        let data = trc20_transfer_data(&to, TokenUnits(123_456_789));
        assert_eq!(data.len(), 68);
        assert_eq!(
            parse_trc20_transfer(&data),
            Some((to, TokenUnits(123_456_789)))
        );
        let mut other = data.clone();
        other[0] = 0;
        assert_eq!(parse_trc20_transfer(&other), None);
        assert_eq!(parse_trc20_transfer(&data[..67]), None);
        let mut huge = data.clone();
        huge[40] = 1;
        assert_eq!(parse_trc20_transfer(&huge), None);
    }

    #[test]
    fn selectors_and_event_topic_are_keccak_of_their_signatures() {
        use sha3::Keccak256;
        let k = |s: &str| Keccak256::digest(s.as_bytes());
        assert_eq!(k("transfer(address,uint256)")[..4], TRC20_TRANSFER_SELECTOR);
        assert_eq!(k("balanceOf(address)")[..4], TRC20_BALANCE_OF_SELECTOR);
        assert_eq!(
            hex::encode(k("Transfer(address,address,uint256)")),
            TRANSFER_EVENT_TOPIC
        );
    }

    #[test]
    fn txid_parses_from_hex_only() {
        let t: TxId = V1_TXID.parse().unwrap();
        assert_eq!(t.to_string(), V1_TXID);
        assert!("xyz".parse::<TxId>().is_err());
        assert!(V1_TXID[..62].parse::<TxId>().is_err());
    }

    #[test]
    fn stake_contracts_use_java_trons_numbers_and_round_trip() {
        let owner = addr("TJRabPrwbZy45sbavfcjinPJC18kjpRTv8");
        let receiver = addr("TF17BgPaZYbz8oxbjhriubPDsA7ArKoLX3");
        let delegate = Contract::DelegateResource {
            owner,
            resource: Resource::Energy,
            balance: Sun(5_000_000),
            receiver,
            lock: false,
            lock_period: 0,
        };
        // owner (1), resource ENERGY (2), balance (3), receiver (4); lock
        // and lock_period left out as proto3 defaults.
        let mut want = vec![0x0a, 21];
        want.extend_from_slice(owner.as_bytes());
        want.extend_from_slice(&[0x10, 0x01, 0x18, 0xc0, 0x96, 0xb1, 0x02, 0x22, 21]);
        want.extend_from_slice(receiver.as_bytes());
        assert_eq!(delegate.encode_value(), want);
        assert_eq!(delegate.type_number(), 57);
        let contracts = [
            delegate,
            Contract::FreezeBalanceV2 {
                owner,
                frozen_balance: Sun(7_000_000),
                resource: Resource::Energy,
            },
            Contract::UnfreezeBalanceV2 {
                owner,
                unfreeze_balance: Sun(1_000_000),
                resource: Resource::Bandwidth,
            },
            Contract::UnDelegateResource {
                owner,
                resource: Resource::Energy,
                balance: Sun(2_000_000),
                receiver,
            },
            Contract::DelegateResource {
                owner,
                resource: Resource::Bandwidth,
                balance: Sun(3_000_000),
                receiver,
                lock: true,
                lock_period: 86_400,
            },
            Contract::WithdrawExpireUnfreeze { owner },
        ];
        for (c, n) in contracts.iter().zip([57, 54, 55, 58, 57, 56]) {
            assert_eq!(c.type_number(), n);
            assert_eq!(Contract::decode(&c.encode(0)).unwrap(), (c.clone(), 0));
        }
        // TRON_POWER (2) is refused rather than misread.
        let mut bad = Vec::new();
        put_bytes(&mut bad, 1, owner.as_bytes());
        put_varint(&mut bad, 2, 1_000_000);
        put_varint(&mut bad, 3, 2);
        let mut any = Vec::new();
        put_bytes(
            &mut any,
            1,
            b"type.googleapis.com/protocol.FreezeBalanceV2Contract",
        );
        put_bytes(&mut any, 2, &bad);
        let mut c = Vec::new();
        put_varint(&mut c, 1, 54);
        put_bytes(&mut c, 2, &any);
        assert!(Contract::decode(&c).is_err());
    }

    #[test]
    fn permission_updates_and_permission_ids_encode_as_java_tron_reads_them() {
        let owner = addr("TJRyWwFs9wTFGZg3JbrVriFbNfCug5tDeC");
        let cosigner = addr("THRF3GuPnvvPzKoaT8pJex5XHmo8NNbCb3");
        let mut active = Permission::single(PermissionType::Active, 2, "treasury", owner);
        active.threshold = 2;
        active.operations = vec![0; 32];
        active.operations[0] = 0x02; // TransferContract
        active.keys.push(PermissionKey {
            address: cosigner,
            weight: 1,
        });
        let update = Contract::AccountPermissionUpdate {
            owner,
            owner_permission: Permission::single(PermissionType::Owner, 0, "owner", owner),
            witness: None,
            actives: vec![active.clone()],
        };
        // Owner permission: type and id are 0 and left out.
        let mut key = Vec::new();
        put_bytes(&mut key, 1, owner.as_bytes());
        put_varint(&mut key, 2, 1);
        let mut owner_perm = Vec::new();
        put_bytes(&mut owner_perm, 3, b"owner");
        put_varint(&mut owner_perm, 4, 1);
        put_bytes(&mut owner_perm, 7, &key);
        let mut want = Vec::new();
        put_bytes(&mut want, 1, owner.as_bytes());
        put_bytes(&mut want, 2, &owner_perm);
        put_bytes(&mut want, 4, &active.encode());
        assert_eq!(update.encode_value(), want);
        assert_eq!(update.type_number(), 46);
        assert!(active.allows(1) && !active.allows(31));

        let reference = RefBlock {
            number: 1,
            id: [7; 32],
            timestamp_ms: 1_000,
        };
        let raw = RawTransaction::new(
            update,
            &reference,
            1_000,
            Duration::from_secs(60),
            Sun::ZERO,
        );
        let as_active = raw.clone().with_permission_id(2);
        assert_ne!(raw.txid(), as_active.txid(), "Permission_id is signed");
        let back = RawTransaction::decode(&as_active.encode()).unwrap();
        assert_eq!(back, as_active);
        assert_eq!(back.permission_id, 2);
    }
}
