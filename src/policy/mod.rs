//! The funds policy: a TOML file on the host that signs, never in the
//! database. It names where money may go (treasuries), who may pay gas
//! (gas wallets), which token a sweep moves, which transfer kinds are
//! allowed, and per-transfer and per-day caps. Parsed once into integers and
//! addresses (unknown keys are errors); [`Policy::check`] is the rule every
//! signature passes, pure and without I/O, so the in-process signer and
//! `walletops signer` apply exactly the same one.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::tron::{Address, Sun};

pub use crate::transfers::{Asset, TransferKind};

/// Caps of one transfer kind, in the kind's smallest unit (SUN or USDT
/// units). A day is a UTC calendar day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Caps {
    /// The most one transfer may move.
    pub per_transfer: u64,
    /// The most one deposit wallet may send (sweeps) or receive (top-ups) in a day.
    pub per_wallet_per_day: u64,
    /// The most all transfers of this kind together may move in a day.
    pub total_per_day: u64,
}

/// The gas top-up caps, plus how far above the estimated need a top-up may go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TopupCaps {
    pub per_transfer: u64,
    pub per_wallet_per_day: u64,
    pub total_per_day: u64,
    /// A top-up may exceed the estimated need of one USDT transfer by this
    /// many percent (and never more, whatever `gas.topup_sun` says).
    pub margin_pct: u64,
}

impl TopupCaps {
    fn caps(&self) -> Caps {
        Caps {
            per_transfer: self.per_transfer,
            per_wallet_per_day: self.per_wallet_per_day,
            total_per_day: self.total_per_day,
        }
    }
}

/// The file as written.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyFile {
    treasuries: Vec<Address>,
    gas_wallets: Vec<Address>,
    usdt_contract: Address,
    allowed_kinds: Vec<TransferKind>,
    max_fee_limit_sun: u64,
    #[serde(default = "default_change_delay")]
    change_delay_seconds: u64,
    gas_topup: TopupCaps,
    sweep_usdt: Caps,
    sweep_trx: Caps,
    #[serde(default)]
    energy_wallets: Vec<Address>,
    #[serde(default)]
    energy_stake: Option<Caps>,
    #[serde(default)]
    energy_delegate: Option<Caps>,
}

fn default_change_delay() -> u64 {
    86_400
}

/// A validated policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// Allowed consolidation destinations; the first is the default.
    pub treasuries: Vec<Address>,
    /// Wallets allowed to pay gas top-ups; the first is the default.
    pub gas_wallets: Vec<Address>,
    /// The token a USDT sweep calls.
    pub usdt_contract: Address,
    pub allowed_kinds: BTreeSet<TransferKind>,
    /// The most TRX a contract call may burn for energy.
    pub max_fee_limit: Sun,
    /// The minimum delay of a two-person change (for the proposals).
    pub change_delay: Duration,
    pub gas_topup: TopupCaps,
    pub sweep_usdt: Caps,
    pub sweep_trx: Caps,
    /// Wallets that may stake, lend and take back energy; empty: no energy
    /// kind can be signed.
    pub energy_wallets: Vec<Address>,
    /// Caps of staking, in SUN staked (none: nothing may be staked).
    pub energy_stake: Option<Caps>,
    /// Caps of lending, in SUN of stake lent (none: nothing may be lent).
    pub energy_delegate: Option<Caps>,
}

/// Caps that allow nothing: the caps of an energy kind the file leaves out.
const NOTHING: Caps = Caps {
    per_transfer: 0,
    per_wallet_per_day: 0,
    total_per_day: 0,
};

/// Taking energy back is always safe: no cap.
const UNLIMITED: Caps = Caps {
    per_transfer: u64::MAX,
    per_wallet_per_day: u64::MAX,
    total_per_day: u64::MAX,
};

/// Why a policy cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// No policy file where one was looked for.
    #[error(
        "no funds policy at {path}: a signing worker needs one (--policy FILE or WALLETOPS_POLICY); \
         write one with `walletops policy init --treasury ADDR --gas ADDR --out {path}`"
    )]
    Missing { path: PathBuf },
    #[error("cannot read the funds policy {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// Not valid TOML, an unknown key, a wrong type.
    #[error("the funds policy {path} is malformed: {message}")]
    Parse { path: PathBuf, message: String },
    /// Parsed, but not a policy walletops can sign under.
    #[error("the funds policy {path} is invalid: {message}")]
    Invalid { path: PathBuf, message: String },
    /// No location could be worked out.
    #[error("no funds policy given: pass --policy FILE or set WALLETOPS_POLICY")]
    NoPath,
}

/// Where the policy is: the flag or `WALLETOPS_POLICY`, else
/// `$XDG_CONFIG_HOME/walletops/policy.toml`.
pub fn resolve_path(flag: Option<&Path>) -> Result<PathBuf, PolicyError> {
    if let Some(p) = flag {
        return Ok(p.to_path_buf());
    }
    crate::config::xdg_dir("XDG_CONFIG_HOME", ".config")
        .map(|d| d.join("walletops").join("policy.toml"))
        .ok_or(PolicyError::NoPath)
}

impl Policy {
    /// Reads and validates the policy at `path`.
    pub fn load(path: &Path) -> Result<Self, PolicyError> {
        Self::load_with_text(path).map(|(policy, _)| policy)
    }

    /// [`Self::load`], with the text it read: what `walletops signer` serves
    /// is then exactly what it enforces.
    pub fn load_with_text(path: &Path) -> Result<(Self, String), PolicyError> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(PolicyError::Missing {
                    path: path.to_path_buf(),
                });
            }
            Err(source) => {
                return Err(PolicyError::Read {
                    path: path.to_path_buf(),
                    source,
                });
            }
        };
        let policy = Self::parse(&text).map_err(|e| match e {
            ParseError::Toml(message) => PolicyError::Parse {
                path: path.to_path_buf(),
                message,
            },
            ParseError::Invalid(message) => PolicyError::Invalid {
                path: path.to_path_buf(),
                message,
            },
        })?;
        Ok((policy, text))
    }

    /// Parses and validates policy text.
    pub fn parse(text: &str) -> Result<Self, ParseError> {
        let file: PolicyFile =
            toml::from_str(text).map_err(|e| ParseError::Toml(e.to_string().trim().to_string()))?;
        let invalid = |m: String| Err(ParseError::Invalid(m));
        if file.treasuries.is_empty() {
            return invalid("treasuries is empty: name at least one treasury address".into());
        }
        if file.gas_wallets.is_empty() {
            return invalid("gas_wallets is empty: name at least one gas wallet address".into());
        }
        for t in &file.treasuries {
            if file.gas_wallets.contains(t) {
                return invalid(format!("{t} is both a treasury and a gas wallet"));
            }
        }
        for e in &file.energy_wallets {
            if file.gas_wallets.contains(e) || file.treasuries.contains(e) {
                return invalid(format!(
                    "{e} is an energy wallet and also a gas wallet or a treasury: \
                     give the energy pool a wallet of its own"
                ));
            }
        }
        for a in file
            .treasuries
            .iter()
            .chain(&file.gas_wallets)
            .chain(&file.energy_wallets)
        {
            if *a == file.usdt_contract {
                return invalid(format!(
                    "{a} is the USDT contract itself: it can be neither a treasury, a gas wallet \
                     nor an energy wallet"
                ));
            }
        }
        let energy_kinds = [
            TransferKind::EnergyStake,
            TransferKind::EnergyDelegate,
            TransferKind::EnergyReclaim,
        ];
        if file.energy_wallets.is_empty()
            && let Some(k) = energy_kinds.iter().find(|k| file.allowed_kinds.contains(k))
        {
            return invalid(format!(
                "allowed_kinds has {k} but energy_wallets is empty: name the energy wallet"
            ));
        }
        for (kind, caps, name) in [
            (
                TransferKind::EnergyStake,
                &file.energy_stake,
                "energy_stake",
            ),
            (
                TransferKind::EnergyDelegate,
                &file.energy_delegate,
                "energy_delegate",
            ),
        ] {
            if file.allowed_kinds.contains(&kind) && caps.is_none() {
                return invalid(format!(
                    "allowed_kinds has {kind} but the policy has no [{name}] caps: add them"
                ));
            }
        }
        if file.allowed_kinds.is_empty() {
            return invalid("allowed_kinds is empty: nothing could ever be signed".into());
        }
        for (name, c) in [
            ("gas_topup", file.gas_topup.caps()),
            ("sweep_usdt", file.sweep_usdt),
            ("sweep_trx", file.sweep_trx),
            ("energy_stake", file.energy_stake.unwrap_or(NOTHING)),
            ("energy_delegate", file.energy_delegate.unwrap_or(NOTHING)),
        ] {
            if !(c.per_transfer <= c.per_wallet_per_day && c.per_wallet_per_day <= c.total_per_day)
            {
                return invalid(format!(
                    "[{name}] must have per_transfer <= per_wallet_per_day <= total_per_day \
                     (found {}, {}, {})",
                    c.per_transfer, c.per_wallet_per_day, c.total_per_day
                ));
            }
        }
        if file.gas_topup.margin_pct > 1000 {
            return invalid(format!(
                "[gas_topup] margin_pct {} is above 1000",
                file.gas_topup.margin_pct
            ));
        }
        Ok(Self {
            treasuries: file.treasuries,
            gas_wallets: file.gas_wallets,
            usdt_contract: file.usdt_contract,
            allowed_kinds: file.allowed_kinds.into_iter().collect(),
            max_fee_limit: Sun(file.max_fee_limit_sun),
            change_delay: Duration::from_secs(file.change_delay_seconds),
            gas_topup: file.gas_topup,
            sweep_usdt: file.sweep_usdt,
            sweep_trx: file.sweep_trx,
            energy_wallets: file.energy_wallets,
            energy_stake: file.energy_stake,
            energy_delegate: file.energy_delegate,
        })
    }

    /// A starting policy with conservative caps: one treasury, one gas
    /// wallet, the mainnet USDT contract unless told otherwise.
    pub fn starting(treasury: Address, gas: Address, usdt: Address) -> Result<Self, ParseError> {
        Self::parse(&Self::starting_text(treasury, gas, usdt))
    }

    /// The text `walletops policy init` writes, with a comment per key.
    pub fn starting_text(treasury: Address, gas: Address, usdt: Address) -> String {
        format!(
            r#"# walletops funds policy: checked at the moment of signing, never read from
# the database. Amounts are integers: TRX in SUN (1 TRX = 1000000 SUN), USDT
# in its smallest unit (1 USDT = 1000000 units). A day is a UTC day.
# `walletops policy check FILE` prints what it allows.

# Where sweeps may go (one or more); the first is used when
# consolidation.treasury_address is unset.
treasuries = ["{treasury}"]
# Wallets that may pay gas top-ups (one or more; their keys must be imported);
# the first is used when gas.wallet_address is unset.
gas_wallets = ["{gas}"]
# The energy pool (gas.mode delegate or auto): wallets that stake TRX for
# energy and lend it to deposit wallets for their sweeps. Lending goes only
# to our deposit wallets (the signer checks their stored keys), never
# locked; taking it back is always allowed. To use it, name the wallet here,
# add "energy-stake", "energy-delegate" and "energy-reclaim" to
# allowed_kinds, and uncomment the caps at the end.
energy_wallets = []
# The token a USDT sweep calls (mainnet USDT: TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t).
usdt_contract = "{usdt}"
# The transfer kinds that may be signed at all.
allowed_kinds = ["consolidation-usdt", "consolidation-trx", "gas-topup"]
# The most TRX (SUN) a USDT transfer may burn for energy.
max_fee_limit_sun = 100000000
# The least delay, in seconds, before an approved payout-address change takes effect.
change_delay_seconds = 86400

# Caps per kind, in SUN (TRX) or USDT units: per_transfer (one transfer),
# per_wallet_per_day (what one deposit wallet sends in sweeps, or receives
# in top-ups, in a UTC day), total_per_day (all wallets together). Transfers
# signed today count, whether landed, on their way or expired unsent.
[gas_topup]
per_transfer = 50000000          # 50 TRX
per_wallet_per_day = 100000000   # 100 TRX
total_per_day = 2000000000       # 2,000 TRX
margin_pct = 20                  # above the estimated need of one USDT transfer

[sweep_usdt]
per_transfer = 100000000000      # 100,000 USDT
per_wallet_per_day = 200000000000    # 200,000 USDT
total_per_day = 1000000000000    # 1,000,000 USDT

[sweep_trx]
per_transfer = 10000000000       # 10,000 TRX
per_wallet_per_day = 20000000000 # 20,000 TRX
total_per_day = 100000000000     # 100,000 TRX

# The energy pool's caps (see energy_wallets above), in SUN of staked TRX:
# uncomment them to use it.
# [energy_stake]
# per_transfer = 100000000000      # 100,000 TRX staked at once
# per_wallet_per_day = 100000000000
# total_per_day = 100000000000
# [energy_delegate]
# per_transfer = 20000000000       # 20,000 TRX of stake lent to one wallet at once
# per_wallet_per_day = 200000000000
# total_per_day = 10000000000000
"#
        )
    }

    /// The caps of a kind.
    pub fn caps(&self, kind: TransferKind) -> Caps {
        match kind {
            TransferKind::ConsolidationUsdt => self.sweep_usdt,
            TransferKind::ConsolidationTrx => self.sweep_trx,
            TransferKind::GasTopup => self.gas_topup.caps(),
            TransferKind::EnergyStake => self.energy_stake.unwrap_or(NOTHING),
            TransferKind::EnergyDelegate => self.energy_delegate.unwrap_or(NOTHING),
            TransferKind::EnergyReclaim => UNLIMITED,
        }
    }

    pub fn is_energy_wallet(&self, a: &Address) -> bool {
        self.energy_wallets.contains(a)
    }

    /// A wallet of ours that is not a deposit wallet: gas, treasury or energy.
    fn is_house_wallet(&self, a: &Address) -> bool {
        self.is_gas_wallet(a) || self.is_treasury(a) || self.is_energy_wallet(a)
    }

    pub fn is_treasury(&self, a: &Address) -> bool {
        self.treasuries.contains(a)
    }

    pub fn is_gas_wallet(&self, a: &Address) -> bool {
        self.gas_wallets.contains(a)
    }

    /// What this policy allows, in words (`walletops policy check`).
    pub fn describe(&self) -> String {
        let list = |v: &[Address]| {
            v.iter()
                .map(Address::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        };
        let mut s = String::new();
        s.push_str(&format!(
            "Sweeps may go only to: {}.\n",
            list(&self.treasuries)
        ));
        s.push_str(&format!(
            "Gas top-ups may be paid only by: {}, and only to deposit wallets whose stored key matches their address.\n",
            list(&self.gas_wallets)
        ));
        if self.energy_wallets.is_empty() {
            s.push_str("No energy wallet: energy can be neither staked nor lent.\n");
        } else {
            s.push_str(&format!(
                "Energy may be staked and lent only by: {}, lent only unlocked and only to deposit wallets whose stored key matches their address; taking it back is always allowed.\n",
                list(&self.energy_wallets)
            ));
        }
        s.push_str(&format!(
            "USDT sweeps call the token {}; a contract call may burn at most {}.\n",
            self.usdt_contract,
            Asset::Trx.format(self.max_fee_limit.0)
        ));
        for &kind in TransferKind::ALL {
            if !self.allowed_kinds.contains(&kind) {
                s.push_str(&format!("{kind}: not allowed.\n"));
                continue;
            }
            if kind == TransferKind::EnergyReclaim {
                s.push_str(&format!("{kind}: no cap.\n"));
                continue;
            }
            let c = self.caps(kind);
            let a = |units: u64| kind.asset().format(units);
            s.push_str(&format!(
                "{kind}: at most {} per transfer, {} per wallet per UTC day, {} in total per UTC day",
                a(c.per_transfer),
                a(c.per_wallet_per_day),
                a(c.total_per_day)
            ));
            if kind == TransferKind::GasTopup {
                s.push_str(&format!(
                    ", and never more than {}% above the estimated need",
                    self.gas_topup.margin_pct
                ));
            }
            s.push_str(".\n");
        }
        s.push_str(&format!(
            "Payout-address changes wait at least {} s.\n",
            self.change_delay.as_secs()
        ));
        s
    }

    /// The one rule every signature passes. `t` is the transfer as the
    /// signed transaction itself says it (the caller decodes it), `usage`
    /// what was already signed today for the same kind.
    pub fn check(&self, t: &Transfer, usage: Usage) -> Result<(), Refusal> {
        let refuse = |rule: Rule, message: String| Err(Refusal { rule, message });
        if !self.allowed_kinds.contains(&t.kind) {
            return refuse(
                Rule::KindNotAllowed,
                format!("{} transfers are not allowed by the policy", t.kind),
            );
        }
        match t.kind {
            TransferKind::ConsolidationUsdt | TransferKind::ConsolidationTrx => {
                if self.is_house_wallet(&t.from) {
                    return refuse(
                        Rule::Sender,
                        format!(
                            "a sweep's sender must be a deposit wallet; {} is a policy gas, treasury or energy wallet",
                            t.from
                        ),
                    );
                }
                if !self.is_treasury(&t.to) {
                    return refuse(
                        Rule::Destination,
                        format!("sweep destination {} is not a treasury of the policy", t.to),
                    );
                }
            }
            TransferKind::GasTopup => {
                if !self.is_gas_wallet(&t.from) {
                    return refuse(
                        Rule::Sender,
                        format!(
                            "a gas top-up's sender must be a policy gas wallet; {} is not",
                            t.from
                        ),
                    );
                }
                if self.is_house_wallet(&t.to) {
                    return refuse(
                        Rule::Destination,
                        format!(
                            "gas top-up recipient {} is a policy gas, treasury or energy wallet, not a deposit wallet",
                            t.to
                        ),
                    );
                }
                let need = t.topup_need.unwrap_or(0);
                let allowed = need
                    .saturating_mul(100 + self.gas_topup.margin_pct)
                    .div_ceil(100);
                if t.amount > allowed {
                    return refuse(
                        Rule::TopupAboveNeed,
                        format!(
                            "gas top-up of {} is more than the estimated need of {} plus {}%",
                            Asset::Trx.format(t.amount),
                            Asset::Trx.format(need),
                            self.gas_topup.margin_pct
                        ),
                    );
                }
            }
            TransferKind::EnergyStake
            | TransferKind::EnergyDelegate
            | TransferKind::EnergyReclaim => {
                if !self.is_energy_wallet(&t.from) {
                    return refuse(
                        Rule::Sender,
                        format!(
                            "{} must be signed by a policy energy wallet; {} is not",
                            t.kind, t.from
                        ),
                    );
                }
                if t.kind == TransferKind::EnergyStake && t.to != t.from {
                    return refuse(
                        Rule::Destination,
                        format!("a stake is the energy wallet's own, not {}'s", t.to),
                    );
                }
                if t.kind == TransferKind::EnergyDelegate && self.is_house_wallet(&t.to) {
                    return refuse(
                        Rule::Destination,
                        format!(
                            "energy may be lent only to deposit wallets; {} is a policy gas, treasury or energy wallet",
                            t.to
                        ),
                    );
                }
            }
        }
        let caps = self.caps(t.kind);
        let a = |units: u64| t.kind.asset().format(units);
        if t.amount > caps.per_transfer {
            return refuse(
                Rule::PerTransferCap,
                format!(
                    "{} of {} is above the per-transfer cap of {}",
                    t.kind,
                    a(t.amount),
                    a(caps.per_transfer)
                ),
            );
        }
        if usage.wallet.saturating_add(t.amount) > caps.per_wallet_per_day {
            return refuse(
                Rule::WalletDailyCap,
                format!(
                    "{} of {} would bring this wallet's total today to {}, above its daily cap of {}",
                    t.kind,
                    a(t.amount),
                    a(usage.wallet.saturating_add(t.amount)),
                    a(caps.per_wallet_per_day)
                ),
            );
        }
        if usage.total.saturating_add(t.amount) > caps.total_per_day {
            return refuse(
                Rule::TotalDailyCap,
                format!(
                    "{} of {} would bring today's total to {}, above the daily cap of {}",
                    t.kind,
                    a(t.amount),
                    a(usage.total.saturating_add(t.amount)),
                    a(caps.total_per_day)
                ),
            );
        }
        Ok(())
    }
}

/// Why [`Policy::parse`] failed.
#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    #[error("{0}")]
    Toml(String),
    #[error("{0}")]
    Invalid(String),
}

/// A transfer as the policy judges it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transfer {
    pub kind: TransferKind,
    pub from: Address,
    pub to: Address,
    /// SUN for TRX, token units for USDT.
    pub amount: u64,
    /// Gas top-ups: the estimated TRX (SUN) the recipient's USDT transfer needs.
    pub topup_need: Option<u64>,
}

/// What was already signed today (UTC) of the transfer's kind: for its
/// deposit wallet (the sender of a sweep, the recipient of a top-up), and in
/// total.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    pub wallet: u64,
    pub total: u64,
}

/// The rule a refused transfer broke.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Rule {
    /// The kind is not in `allowed_kinds`.
    KindNotAllowed,
    /// The sender has the wrong role for the kind.
    Sender,
    /// The destination is not allowed for the kind.
    Destination,
    /// A top-up recipient is not one of our deposit wallets (its row's
    /// address does not match its stored key).
    Recipient,
    /// A top-up above the estimated need plus the margin.
    TopupAboveNeed,
    PerTransferCap,
    WalletDailyCap,
    TotalDailyCap,
    /// The transaction to sign is not the transfer it was described as.
    Mismatch,
    /// The transaction may burn more than `max_fee_limit_sun`.
    FeeLimit,
    /// A delegation the pool could not take back at once (locked), or of
    /// a resource other than energy.
    Delegation,
}

impl Rule {
    pub fn as_str(self) -> &'static str {
        match self {
            Rule::KindNotAllowed => "kind-not-allowed",
            Rule::Sender => "sender",
            Rule::Destination => "destination",
            Rule::Recipient => "recipient",
            Rule::TopupAboveNeed => "topup-above-need",
            Rule::PerTransferCap => "per-transfer-cap",
            Rule::WalletDailyCap => "wallet-daily-cap",
            Rule::TotalDailyCap => "total-daily-cap",
            Rule::Mismatch => "mismatch",
            Rule::FeeLimit => "fee-limit",
            Rule::Delegation => "delegation",
        }
    }
}

/// A transfer the policy refuses: the rule and what was wrong.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("policy refused the transfer ({}): {message}", rule.as_str())]
pub struct Refusal {
    pub rule: Rule,
    pub message: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tron::PrivateKey;

    fn addr(n: u8) -> Address {
        PrivateKey::from_bytes(&[n; 32]).unwrap().address()
    }

    fn usdt() -> Address {
        crate::tron::MAINNET_USDT.parse().unwrap()
    }

    fn policy() -> Policy {
        Policy::starting(addr(1), addr(2), usdt()).unwrap()
    }

    #[test]
    fn the_starting_policy_parses_and_says_what_it_allows() {
        let p = policy();
        assert_eq!(p.treasuries, vec![addr(1)]);
        assert_eq!(p.change_delay, Duration::from_secs(86_400));
        let words = p.describe();
        assert!(
            words.contains(&format!("Sweeps may go only to: {}", addr(1))),
            "{words}"
        );
        assert!(
            words.contains("gas-topup: at most 50.000000 TRX per transfer"),
            "{words}"
        );
        assert_eq!(Asset::Usdt.format(1_500_000), "1.500000 USDT");
        assert_eq!(Asset::Trx.format(1_234_500_000), "1,234.500000 TRX");
    }

    #[test]
    fn the_documented_example_is_valid() {
        let text = include_str!("../../assets/policy.example.toml");
        Policy::parse(text).unwrap();
    }

    #[test]
    fn unknown_keys_bad_types_and_unsafe_choices_are_refused() {
        let text = Policy::starting_text(addr(1), addr(2), usdt());
        let unknown = format!("{text}\nextra = 1\n");
        assert!(matches!(Policy::parse(&unknown), Err(ParseError::Toml(m)) if m.contains("extra")));
        let float = text.replace("margin_pct = 20", "margin_pct = 2.5");
        assert!(matches!(Policy::parse(&float), Err(ParseError::Toml(_))));
        let token = Policy::starting_text(usdt(), addr(2), usdt());
        assert!(
            matches!(Policy::parse(&token), Err(ParseError::Invalid(m)) if m.contains("USDT contract"))
        );
        let both = Policy::starting_text(addr(1), addr(1), usdt());
        assert!(matches!(Policy::parse(&both), Err(ParseError::Invalid(_))));
        let caps = text.replace("per_transfer = 50000000 ", "per_transfer = 500000000 ");
        assert!(
            matches!(Policy::parse(&caps), Err(ParseError::Invalid(m)) if m.contains("gas_topup"))
        );
    }

    #[test]
    fn energy_is_staked_and_lent_only_by_the_pool_and_lent_only_to_deposit_wallets() {
        let pool = addr(7);
        let text = Policy::starting_text(addr(1), addr(2), usdt())
            .replace("energy_wallets = []", &format!("energy_wallets = [\"{pool}\"]"))
            .replace(
                r#"allowed_kinds = ["consolidation-usdt", "consolidation-trx", "gas-topup"]"#,
                r#"allowed_kinds = ["consolidation-usdt", "energy-stake", "energy-delegate", "energy-reclaim"]"#,
            );
        // Allowed without caps: refused until the caps are written.
        assert!(
            matches!(Policy::parse(&text), Err(ParseError::Invalid(m)) if m.contains("[energy_stake]"))
        );
        let p = Policy::parse(
            &text
                .replace("# [energy_", "[energy_")
                .replace("# per_transfer =", "per_transfer =")
                .replace("# per_wallet_per_day =", "per_wallet_per_day =")
                .replace("# total_per_day =", "total_per_day ="),
        )
        .unwrap();
        let t = |kind, from, to, amount| Transfer {
            kind,
            from,
            to,
            amount,
            topup_need: None,
        };
        let rule = |x: Transfer| p.check(&x, Usage::default()).map_err(|r| r.rule);
        let lend = TransferKind::EnergyDelegate;
        assert_eq!(rule(t(lend, pool, addr(5), 1_000_000_000)), Ok(()));
        assert_eq!(
            rule(t(lend, addr(5), addr(6), 1_000_000_000)),
            Err(Rule::Sender)
        );
        for house in [addr(1), addr(2), pool] {
            assert_eq!(
                rule(t(lend, pool, house, 1_000_000_000)),
                Err(Rule::Destination)
            );
        }
        assert_eq!(
            rule(t(lend, pool, addr(5), 20_000_000_001)),
            Err(Rule::PerTransferCap)
        );
        let stake = TransferKind::EnergyStake;
        assert_eq!(rule(t(stake, pool, pool, 1_000_000)), Ok(()));
        assert_eq!(
            rule(t(stake, pool, addr(5), 1_000_000)),
            Err(Rule::Destination)
        );
        // Taking back: from anyone, any amount.
        let reclaim = TransferKind::EnergyReclaim;
        assert_eq!(rule(t(reclaim, pool, addr(66), u64::MAX)), Ok(()));
        assert_eq!(rule(t(reclaim, addr(5), addr(66), 1)), Err(Rule::Sender));
        // A sweep from the pool is no sweep.
        assert_eq!(
            rule(t(TransferKind::ConsolidationUsdt, pool, addr(1), 1)),
            Err(Rule::Sender)
        );
        // Energy kinds need an energy wallet.
        let none = Policy::starting_text(addr(1), addr(2), usdt())
            .replace(r#""gas-topup"]"#, r#""gas-topup", "energy-reclaim"]"#);
        assert!(
            matches!(Policy::parse(&none), Err(ParseError::Invalid(m)) if m.contains("energy_wallets is empty"))
        );
    }

    #[test]
    fn each_rule_refuses_what_it_names() {
        let p = policy();
        let sweep = Transfer {
            kind: TransferKind::ConsolidationUsdt,
            from: addr(5),
            to: addr(1),
            amount: 1_000_000,
            topup_need: None,
        };
        assert!(p.check(&sweep, Usage::default()).is_ok());
        let rule = |t: Transfer, u: Usage| p.check(&t, u).unwrap_err().rule;
        assert_eq!(
            rule(
                Transfer {
                    to: addr(9),
                    ..sweep
                },
                Usage::default()
            ),
            Rule::Destination
        );
        assert_eq!(
            rule(
                Transfer {
                    from: addr(2),
                    ..sweep
                },
                Usage::default()
            ),
            Rule::Sender
        );
        assert_eq!(
            rule(
                Transfer {
                    amount: 100_000_000_001,
                    ..sweep
                },
                Usage::default()
            ),
            Rule::PerTransferCap
        );
        assert_eq!(
            rule(
                sweep,
                Usage {
                    wallet: 200_000_000_000,
                    total: 0
                }
            ),
            Rule::WalletDailyCap
        );
        assert_eq!(
            rule(
                sweep,
                Usage {
                    wallet: 0,
                    total: 1_000_000_000_000
                }
            ),
            Rule::TotalDailyCap
        );
        let topup = Transfer {
            kind: TransferKind::GasTopup,
            from: addr(2),
            to: addr(5),
            amount: 12_000_000,
            topup_need: Some(10_000_000),
        };
        assert!(p.check(&topup, Usage::default()).is_ok());
        assert_eq!(
            rule(
                Transfer {
                    amount: 12_000_001,
                    ..topup
                },
                Usage::default()
            ),
            Rule::TopupAboveNeed
        );
        assert_eq!(
            rule(
                Transfer {
                    from: addr(5),
                    ..topup
                },
                Usage::default()
            ),
            Rule::Sender
        );
        assert_eq!(
            rule(
                Transfer {
                    to: addr(1),
                    ..topup
                },
                Usage::default()
            ),
            Rule::Destination
        );
        let mut only_sweeps = p.clone();
        only_sweeps.allowed_kinds.remove(&TransferKind::GasTopup);
        assert_eq!(
            only_sweeps
                .check(&topup, Usage::default())
                .unwrap_err()
                .rule,
            Rule::KindNotAllowed
        );
    }
}
