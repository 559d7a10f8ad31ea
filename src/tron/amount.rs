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
}

impl fmt::Display for Sun {
    /// `12.500000 TRX`: exact, from the integer.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}.{:06} TRX",
            self.0 / SUN_PER_TRX,
            self.0 % SUN_PER_TRX
        )
    }
}

impl fmt::Display for TokenUnits {
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
}
