//! The simulator's TRC-20 tokens (USDT and any `--token SYMBOL:DECIMALS`):
//! the standard interface answered as a Solidity token would, from its ABI
//! encoding (dynamic strings, 32-byte words) to its `Transfer` and
//! `Approval` logs and its reverts, with energy costs shaped like
//! mainnet's (writing a storage slot that was zero costs more).
//!
//! A call reads the state and returns its effects; the chain applies them
//! only when the transaction succeeds, and a constant call never does.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sha3::{Digest, Keccak256};

use super::SimConfig;
use super::chain::State;
use crate::tron::address::Address;
use crate::tron::tx::{TRANSFER_EVENT_TOPIC, address_word, uint_word};

/// topic0 of `Approval(address,address,uint256)`.
pub const APPROVAL_EVENT_TOPIC: &str =
    "8c5be1e5ebec7d5bd14f71427d1e84f3dd0314c0f7b2291e5b200ac8c7c3b925";
/// Energy of a call that reads storage only (`balanceOf`, `allowance`...).
pub const VIEW_ENERGY: u64 = 935;
/// Energy a reverted call burns (a `require` failing early).
pub const REVERT_ENERGY: u64 = 10_000;
/// Base (pre-dynamic-energy) EVM costs that shape the others: writing a
/// slot that holds a value, and a transfer to a holder (two such writes).
const BASE_SLOT_WRITE: u64 = 5_000;
const BASE_TRANSFER: u64 = 14_650;

const NAME: [u8; 4] = [0x06, 0xfd, 0xde, 0x03];
const SYMBOL: [u8; 4] = [0x95, 0xd8, 0x9b, 0x41];
const DECIMALS: [u8; 4] = [0x31, 0x3c, 0xe5, 0x67];
const TOTAL_SUPPLY: [u8; 4] = [0x18, 0x16, 0x0d, 0xdd];
const BALANCE_OF: [u8; 4] = [0x70, 0xa0, 0x82, 0x31];
const TRANSFER: [u8; 4] = [0xa9, 0x05, 0x9c, 0xbb];
const APPROVE: [u8; 4] = [0x09, 0x5e, 0xa7, 0xb3];
const ALLOWANCE: [u8; 4] = [0xdd, 0x62, 0xed, 0x3e];
const TRANSFER_FROM: [u8; 4] = [0x23, 0xb8, 0x72, 0xdd];
/// `Error(string)`, the selector of a revert reason.
const ERROR_STRING: [u8; 4] = [0x08, 0xc3, 0x79, 0xa0];

/// A token the simulator serves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenSpec {
    pub address: Address,
    pub name: String,
    pub symbol: String,
    pub decimals: u8,
}

impl TokenSpec {
    /// USDT as mainnet's contract names itself.
    pub fn usdt(address: Address) -> Self {
        Self {
            address,
            name: "Tether USD".into(),
            symbol: "USDT".into(),
            decimals: 6,
        }
    }

    /// A declared token at an address derived from its symbol, so the same
    /// `--token` gives the same contract on every start.
    pub fn declared(symbol: &str, decimals: u8) -> Self {
        let hash = Keccak256::digest(format!("tron-sim token {symbol}").as_bytes());
        let evm: [u8; 20] = hash[12..].try_into().expect("20 bytes");
        Self {
            address: Address::from_evm(evm),
            name: symbol.to_string(),
            symbol: symbol.to_string(),
            decimals,
        }
    }
}

/// Why a `--token` declaration is not `SYMBOL:DECIMALS`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenSpecError {
    #[error("expected SYMBOL:DECIMALS (e.g. USDC:6), got {0:?}")]
    Shape(String),
    #[error("the symbol must be 1 to 11 ASCII letters or digits, got {0:?}")]
    Symbol(String),
    #[error("decimals must be a whole number from 0 to 77, got {0:?}")]
    Decimals(String),
}

impl std::str::FromStr for TokenSpec {
    type Err = TokenSpecError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (symbol, decimals) = s
            .split_once(':')
            .ok_or_else(|| TokenSpecError::Shape(s.to_string()))?;
        if symbol.is_empty()
            || symbol.len() > 11
            || !symbol.chars().all(|c| c.is_ascii_alphanumeric())
        {
            return Err(TokenSpecError::Symbol(symbol.to_string()));
        }
        // 10^77 is the largest power of ten a uint256 holds.
        let decimals = decimals
            .parse::<u8>()
            .ok()
            .filter(|d| *d <= 77)
            .ok_or_else(|| TokenSpecError::Decimals(decimals.to_string()))?;
        Ok(Self::declared(symbol, decimals))
    }
}

/// Holder → balance, one map per token (USDT's is `State::usdt`).
pub type Balances = BTreeMap<Address, u64>;
/// Owner → spender → amount, one map per token. Amounts are uint256
/// words: clients approve `2^256 - 1` for "unlimited".
pub type Allowances = BTreeMap<Address, BTreeMap<Address, Word>>;

/// One token's ledger as a call reads it.
pub struct Ledger<'a> {
    balances: &'a Balances,
    allowances: Option<&'a Allowances>,
}

impl Ledger<'_> {
    pub fn balance(&self, holder: &Address) -> u64 {
        self.balances.get(holder).copied().unwrap_or(0)
    }

    fn allowance(&self, owner: &Address, spender: &Address) -> Word {
        self.allowances
            .and_then(|a| a.get(owner))
            .and_then(|m| m.get(spender))
            .copied()
            .unwrap_or_default()
    }
}

/// A uint256, big-endian.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Word(pub [u8; 32]);

impl Word {
    const MAX: Word = Word([0xff; 32]);

    fn is_zero(&self) -> bool {
        self.0 == [0; 32]
    }

    /// The value when it fits a u64.
    fn to_u64(self) -> Option<u64> {
        crate::tron::tx::word_to_u64(&self.0)
    }

    fn at_least(self, amount: u64) -> bool {
        self.to_u64().is_none_or(|v| v >= amount)
    }

    /// `self - amount`; the caller has checked `at_least(amount)`.
    fn minus(self, amount: u64) -> Word {
        let mut out = self.0;
        let mut borrow = 0u16;
        let sub = uint_word(amount);
        for i in (0..32).rev() {
            let d = i32::from(out[i]) - i32::from(sub[i]) - i32::from(borrow);
            (out[i], borrow) = if d < 0 {
                ((d + 256) as u8, 1)
            } else {
                (d as u8, 0)
            };
        }
        Word(out)
    }
}

/// An EVM log as the receipt shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Log {
    pub address: Address,
    pub topics: Vec<[u8; 32]>,
    pub data: Vec<u8>,
}

/// A state change a successful call makes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    Balance {
        holder: Address,
        amount: u64,
    },
    Allowance {
        owner: Address,
        spender: Address,
        amount: Word,
    },
}

/// What a call did: its return data (or revert data), energy and effects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    pub reverted: bool,
    pub output: Vec<u8>,
    pub energy: u64,
    pub logs: Vec<Log>,
    pub effects: Vec<Effect>,
    /// A `transfer`/`transferFrom`: (from, to, amount), for the ledger.
    pub moved: Option<(Address, Address, u64)>,
}

impl Call {
    /// A read-only call's answer.
    fn view(output: Vec<u8>) -> Self {
        Self::returning(output)
    }

    /// A successful call returning `output`, before its energy, logs and
    /// effects are added.
    fn returning(output: Vec<u8>) -> Self {
        Self {
            reverted: false,
            output,
            energy: VIEW_ENERGY,
            logs: Vec::new(),
            effects: Vec::new(),
            moved: None,
        }
    }

    /// A revert with Solidity's `Error(string)` data, or none.
    fn revert(reason: Option<&str>) -> Self {
        let output = reason.map_or_else(Vec::new, |r| {
            let mut o = ERROR_STRING.to_vec();
            o.extend(encode_string(r));
            o
        });
        Self {
            reverted: true,
            output,
            energy: REVERT_ENERGY,
            logs: Vec::new(),
            effects: Vec::new(),
            moved: None,
        }
    }
}

/// `abi.encode(string)`: offset, length, bytes padded to a word.
fn encode_string(s: &str) -> Vec<u8> {
    let mut out = uint_word(32).to_vec();
    out.extend(uint_word(s.len() as u64));
    out.extend(s.as_bytes());
    out.resize(64 + s.len().div_ceil(32) * 32, 0);
    out
}

/// The first four bytes of the Keccak-256 of a function signature, as
/// `triggerconstantcontract` derives them from `function_selector`.
pub fn selector(signature: &str) -> [u8; 4] {
    Keccak256::digest(signature.as_bytes())[..4]
        .try_into()
        .expect("4 bytes")
}

/// The ledger of `token`, if the simulator serves that contract.
pub fn ledger<'a>(config: &SimConfig, state: &'a State, token: &Address) -> Option<Ledger<'a>> {
    let balances = if *token == config.usdt_contract {
        &state.usdt
    } else {
        state.tokens.get(token)?
    };
    Some(Ledger {
        balances,
        allowances: state.allowances.get(token),
    })
}

/// The token's name, symbol and decimals, if the simulator serves it.
pub fn spec(config: &SimConfig, token: &Address) -> Option<TokenSpec> {
    if *token == config.usdt_contract {
        return Some(TokenSpec::usdt(*token));
    }
    config.tokens.iter().find(|t| t.address == *token).cloned()
}

/// Costs derived from the configured USDT transfer energies, so that
/// approve and transferFrom scale with them: a slot write that was
/// non-zero, one that was zero, and the call's own overhead.
struct Costs {
    slot: u64,
    new_slot: u64,
    overhead: u64,
}

impl Costs {
    fn of(config: &SimConfig) -> Self {
        let (holder, new) = (
            config.usdt_energy_to_holder,
            config.usdt_energy_to_new_holder,
        );
        let slot = holder * BASE_SLOT_WRITE / BASE_TRANSFER;
        Self {
            slot,
            new_slot: slot + new.saturating_sub(holder),
            overhead: holder.saturating_sub(2 * slot),
        }
    }
}

/// Energy of a transfer: more when the recipient's balance slot is zero.
pub fn transfer_energy(config: &SimConfig, ledger: &Ledger<'_>, to: &Address) -> u64 {
    if ledger.balance(to) > 0 {
        config.usdt_energy_to_holder
    } else {
        config.usdt_energy_to_new_holder
    }
}

/// Calls `data` on `token` as `caller`; `None` when no such token exists.
pub fn call(
    config: &SimConfig,
    state: &State,
    token: &Address,
    caller: &Address,
    data: &[u8],
) -> Option<Call> {
    let spec = spec(config, token)?;
    let ledger = ledger(config, state, token)?;
    let Some((sel, args)) = data.split_first_chunk::<4>() else {
        return Some(Call::revert(None));
    };
    let word = |i: usize| -> Option<[u8; 32]> { args.get(i * 32..i * 32 + 32)?.try_into().ok() };
    // Solidity's decoder reverts on short calldata and on address words
    // with high bits set.
    let address = |i: usize| -> Option<Address> {
        let w = word(i)?;
        w[..12]
            .iter()
            .all(|b| *b == 0)
            .then(|| Address::from_evm(w[12..].try_into().expect("20 bytes")))
    };
    let costs = Costs::of(config);
    let call = match *sel {
        NAME => Call::view(encode_string(&spec.name)),
        SYMBOL => Call::view(encode_string(&spec.symbol)),
        DECIMALS => Call::view(uint_word(u64::from(spec.decimals)).to_vec()),
        TOTAL_SUPPLY => {
            let total: u128 = ledger.balances.values().map(|v| u128::from(*v)).sum();
            let mut w = [0u8; 32];
            w[16..].copy_from_slice(&total.to_be_bytes());
            Call::view(w.to_vec())
        }
        BALANCE_OF => match address(0) {
            Some(holder) => Call::view(uint_word(ledger.balance(&holder)).to_vec()),
            None => Call::revert(None),
        },
        ALLOWANCE => match (address(0), address(1)) {
            (Some(owner), Some(spender)) => {
                Call::view(ledger.allowance(&owner, &spender).0.to_vec())
            }
            _ => Call::revert(None),
        },
        TRANSFER => match (address(0), word(1).map(Word)) {
            (Some(to), Some(amount)) => transfer(config, token, &ledger, *caller, to, amount),
            _ => Call::revert(None),
        },
        APPROVE => match (address(0), word(1).map(Word)) {
            (Some(spender), Some(amount)) => {
                let rewrite = amount.is_zero() || !ledger.allowance(caller, &spender).is_zero();
                let mut c = Call::returning(uint_word(1).to_vec());
                c.energy = costs.overhead + if rewrite { costs.slot } else { costs.new_slot };
                c.logs.push(Log {
                    address: *token,
                    topics: vec![
                        topic(APPROVAL_EVENT_TOPIC),
                        address_word(caller),
                        address_word(&spender),
                    ],
                    data: amount.0.to_vec(),
                });
                c.effects.push(Effect::Allowance {
                    owner: *caller,
                    spender,
                    amount,
                });
                c
            }
            _ => Call::revert(None),
        },
        TRANSFER_FROM => match (address(0), address(1), word(2).map(Word)) {
            (Some(from), Some(to), Some(amount)) => {
                let allowed = ledger.allowance(&from, caller);
                match amount.to_u64() {
                    Some(a) if allowed.at_least(a) => {
                        let mut c = transfer(config, token, &ledger, from, to, amount);
                        // An unlimited allowance is never written down.
                        if !c.reverted && allowed != Word::MAX {
                            c.energy += costs.slot;
                            c.effects.push(Effect::Allowance {
                                owner: from,
                                spender: *caller,
                                amount: allowed.minus(a),
                            });
                        }
                        c
                    }
                    _ => Call::revert(Some("ERC20: insufficient allowance")),
                }
            }
            _ => Call::revert(None),
        },
        _ => Call::revert(None),
    };
    Some(call)
}

fn topic(hex_text: &str) -> [u8; 32] {
    hex::decode(hex_text)
        .expect("constant hex")
        .try_into()
        .expect("32 bytes")
}

fn transfer(
    config: &SimConfig,
    token: &Address,
    ledger: &Ledger<'_>,
    from: Address,
    to: Address,
    amount: Word,
) -> Call {
    let have = ledger.balance(&from);
    let Some(amount) = amount.to_u64().filter(|a| *a <= have) else {
        return Call::revert(Some("ERC20: transfer amount exceeds balance"));
    };
    let mut c = Call::returning(uint_word(1).to_vec());
    c.energy = transfer_energy(config, ledger, &to);
    c.logs.push(Log {
        address: *token,
        topics: vec![
            topic(TRANSFER_EVENT_TOPIC),
            address_word(&from),
            address_word(&to),
        ],
        data: uint_word(amount).to_vec(),
    });
    c.effects.push(Effect::Balance {
        holder: from,
        amount: have - amount,
    });
    // Read after the debit, so that a transfer to oneself changes nothing.
    let to_before = if to == from {
        have - amount
    } else {
        ledger.balance(&to)
    };
    c.effects.push(Effect::Balance {
        holder: to,
        amount: to_before + amount,
    });
    c.moved = Some((from, to, amount));
    c
}

/// Applies a successful call's effects to `token`'s ledger.
pub fn apply(config: &SimConfig, state: &mut State, token: &Address, effects: Vec<Effect>) {
    for e in effects {
        match e {
            Effect::Balance { holder, amount } => {
                let balances = if *token == config.usdt_contract {
                    &mut state.usdt
                } else {
                    state.tokens.entry(*token).or_default()
                };
                balances.insert(holder, amount);
            }
            Effect::Allowance {
                owner,
                spender,
                amount,
            } => {
                state
                    .allowances
                    .entry(*token)
                    .or_default()
                    .entry(owner)
                    .or_default()
                    .insert(spender, amount);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selectors_and_topics_are_keccak_of_their_signatures() {
        for (sel, sig) in [
            (NAME, "name()"),
            (SYMBOL, "symbol()"),
            (DECIMALS, "decimals()"),
            (TOTAL_SUPPLY, "totalSupply()"),
            (BALANCE_OF, "balanceOf(address)"),
            (TRANSFER, "transfer(address,uint256)"),
            (APPROVE, "approve(address,uint256)"),
            (ALLOWANCE, "allowance(address,address)"),
            (TRANSFER_FROM, "transferFrom(address,address,uint256)"),
            (ERROR_STRING, "Error(string)"),
        ] {
            assert_eq!(sel, selector(sig), "{sig}");
        }
        assert_eq!(
            hex::encode(Keccak256::digest(b"Approval(address,address,uint256)")),
            APPROVAL_EVENT_TOPIC
        );
    }

    #[test]
    fn strings_are_abi_encoded_as_solidity_returns_them() {
        let e = encode_string("Tether USD");
        assert_eq!(e.len(), 96);
        assert_eq!(e[31], 0x20);
        assert_eq!(e[63], 10);
        assert_eq!(&e[64..74], b"Tether USD");
        assert!(e[74..].iter().all(|b| *b == 0));
        assert_eq!(encode_string("").len(), 64);
        assert_eq!(encode_string(&"x".repeat(32)).len(), 96);
    }

    #[test]
    fn words_subtract_with_borrow_and_compare_beyond_u64() {
        let mut big = [0u8; 32];
        big[23] = 1; // 2^64
        let w = Word(big);
        assert!(w.at_least(u64::MAX));
        assert_eq!(w.minus(1), Word(uint_word(u64::MAX)));
        assert_eq!(Word::MAX.minus(0), Word::MAX);
        assert_eq!(Word(uint_word(5)).minus(5), Word::default());
    }

    #[test]
    fn token_declarations_parse_or_say_what_is_wrong() {
        let t: TokenSpec = "USDC:6".parse().unwrap();
        assert_eq!((t.symbol.as_str(), t.decimals), ("USDC", 6));
        assert_eq!(t, "USDC:6".parse().unwrap(), "deterministic address");
        assert_ne!(t.address, "DAI:18".parse::<TokenSpec>().unwrap().address);
        for bad in ["USDC", "USDC:", ":6", "US DC:6", "USDC:78", "USDC:-1"] {
            assert!(bad.parse::<TokenSpec>().is_err(), "{bad}");
        }
    }
}
