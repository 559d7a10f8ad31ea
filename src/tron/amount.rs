//! Amounts as integers in the chain's smallest units: TRX in SUN, TRC-20
//! tokens in their own smallest unit. Never floats.

use std::fmt;

use serde::{Deserialize, Serialize};

/// SUN per TRX.
pub const SUN_PER_TRX: u64 = 1_000_000;

/// An amount of TRX in SUN (1 TRX = 1,000,000 SUN).
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Sun(pub u64);

/// An amount of a TRC-20 token in its smallest unit (USDT has 6 decimals).
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct TokenUnits(pub u64);

macro_rules! checked_ops {
    ($t:ident) => {
        impl $t {
            pub const ZERO: Self = Self(0);

            pub fn checked_add(self, other: Self) -> Option<Self> {
                self.0.checked_add(other.0).map(Self)
            }

            pub fn checked_sub(self, other: Self) -> Option<Self> {
                self.0.checked_sub(other.0).map(Self)
            }

            /// The amount as the signed 64-bit integer that protobuf and the
            /// database use; `None` above `i64::MAX`.
            pub fn to_i64(self) -> Option<i64> {
                i64::try_from(self.0).ok()
            }

            /// From a signed 64-bit integer; `None` when negative.
            pub fn from_i64(v: i64) -> Option<Self> {
                u64::try_from(v).ok().map(Self)
            }
        }
    };
}

checked_ops!(Sun);
checked_ops!(TokenUnits);

impl Sun {
    pub const fn from_trx(trx: u64) -> Self {
        Self(trx * SUN_PER_TRX)
    }

    /// An amount of TRX as people write it, `1500` or `0.25` (at most six
    /// decimals, no sign, no grouping), exactly in SUN.
    pub fn parse_trx(text: &str) -> Result<Self, String> {
        let t = text.trim();
        let refuse = || {
            format!(
                "{text:?} is not an amount of TRX: write it like 1500 or 0.25 (at most 6 decimals)"
            )
        };
        let (whole, frac) = t.split_once('.').unwrap_or((t, ""));
        let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if whole.is_empty() || !digits(whole) || !digits(frac) || frac.len() > 6 {
            return Err(refuse());
        }
        let whole: u64 = whole.parse().map_err(|_| refuse())?;
        let frac: u64 = format!("{frac:0<6}").parse().map_err(|_| refuse())?;
        whole
            .checked_mul(SUN_PER_TRX)
            .and_then(|w| w.checked_add(frac))
            .map(Sun)
            .ok_or_else(refuse)
    }
}

/// The one way amounts are written for people, everywhere (console, CLI,
/// health reasons, policy refusals): `units` of a currency with `decimals`
/// decimals, every decimal shown, thousands grouped with commas, then the
/// symbol: `format_units(19_984_549_000, 6, "TRX")` is `19,984.549000 TRX`.
/// Exact, from the integer; negative amounts (a balance change) get a `-`.
pub fn format_units(units: i128, decimals: u32, symbol: &str) -> String {
    let sign = if units < 0 { "-" } else { "" };
    let u = units.unsigned_abs();
    let scale = 10u128.pow(decimals);
    let whole = group_thousands(u / scale);
    let mut out = format!("{sign}{whole}");
    if decimals > 0 {
        let frac = u % scale;
        out.push_str(&format!(".{frac:0width$}", width = decimals as usize));
    }
    if !symbol.is_empty() {
        out.push(' ');
        out.push_str(symbol);
    }
    out
}

/// `1234567` as `1,234,567`.
pub fn group_thousands(n: u128) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// USDT's decimals on TRON.
pub const USDT_DECIMALS: u32 = 6;

impl fmt::Display for Sun {
    /// `1,012.500000 TRX`: see [`format_units`].
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&format_units(i128::from(self.0), 6, "TRX"))
    }
}

impl TokenUnits {
    /// The amount with the token's decimals and symbol: see [`format_units`].
    pub fn format(self, decimals: u32, symbol: &str) -> String {
        format_units(i128::from(self.0), decimals, symbol)
    }

    /// The amount as USDT: `1,250.000000 USDT`.
    pub fn usdt(self) -> String {
        self.format(USDT_DECIMALS, "USDT")
    }
}

impl fmt::Display for TokenUnits {
    /// The bare integer: a token's symbol and decimals are not known here
    /// (use [`TokenUnits::format`] or [`TokenUnits::usdt`] for people).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arithmetic_is_checked_and_display_exact() {
        assert_eq!(Sun(5).checked_sub(Sun(6)), None);
        assert_eq!(Sun(u64::MAX).checked_add(Sun(1)), None);
        assert_eq!(Sun::from_trx(2).checked_add(Sun(1)), Some(Sun(2_000_001)));
        assert_eq!(Sun(12_500_000).to_string(), "12.500000 TRX");
        assert_eq!(Sun(1).to_string(), "0.000001 TRX");
        assert_eq!(Sun(u64::MAX).to_i64(), None);
        assert_eq!(Sun::from_i64(-1), None);
        assert_eq!(TokenUnits::from_i64(7), Some(TokenUnits(7)));
    }

    #[test]
    fn trx_is_parsed_exactly_or_refused() {
        assert_eq!(Sun::parse_trx("1500"), Ok(Sun(1_500_000_000)));
        assert_eq!(Sun::parse_trx(" 0.25 "), Ok(Sun(250_000)));
        assert_eq!(Sun::parse_trx("1.000001"), Ok(Sun(1_000_001)));
        for bad in [
            "",
            "abc",
            "-1",
            "1.0000001",
            "1,000",
            ".5",
            "1e6",
            "99999999999999999",
        ] {
            assert!(Sun::parse_trx(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn amounts_for_people_group_thousands_and_keep_every_decimal() {
        assert_eq!(Sun(19_984_549_000).to_string(), "19,984.549000 TRX");
        assert_eq!(Sun(900_000_000).to_string(), "900.000000 TRX");
        assert_eq!(Sun(0).to_string(), "0.000000 TRX");
        assert_eq!(Sun(u64::MAX).to_string(), "18,446,744,073,709.551615 TRX");
        assert_eq!(TokenUnits(1_250_000_000).usdt(), "1,250.000000 USDT");
        assert_eq!(format_units(-1_500_000, 6, "TRX"), "-1.500000 TRX");
        assert_eq!(format_units(123_456_789, 2, "EUR"), "1,234,567.89 EUR");
        assert_eq!(format_units(1_000, 0, ""), "1,000");
        assert_eq!(group_thousands(999), "999");
        assert_eq!(group_thousands(100_000), "100,000");
    }
}
