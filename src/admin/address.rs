//! A minimal TRON address check (base58check, version byte 0x41) for
//! validating configuration and API input.
//!
//! TO MOVE: the `tron` module (branch `tron`) owns TRON addresses; once its
//! `tron::address` lands, this file goes and its callers use that type.

use std::fmt;
use std::str::FromStr;

use sha2::{Digest, Sha256};

/// A valid base58 TRON address (checksum verified).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TronAddress(String);

impl TronAddress {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TronAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for TronAddress {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = |why: &str| Err(format!("{s:?} is not a TRON address: {why}"));
        if s.len() != 34 || !s.starts_with('T') {
            return bad("expected 34 base58 characters starting with T");
        }
        let Ok(bytes) = bs58::decode(s).into_vec() else {
            return bad("not base58");
        };
        if bytes.len() != 25 || bytes[0] != 0x41 {
            return bad("wrong length or version byte");
        }
        let check = Sha256::digest(Sha256::digest(&bytes[..21]));
        if check[..4] != bytes[21..] {
            return bad("checksum mismatch");
        }
        Ok(Self(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_real_addresses_and_refuses_damaged_ones() {
        // The mainnet USDT contract.
        let usdt = "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t";
        assert_eq!(usdt.parse::<TronAddress>().unwrap().as_str(), usdt);
        // One character changed breaks the checksum.
        assert!(
            "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6u"
                .parse::<TronAddress>()
                .is_err()
        );
        assert!("0x41abc".parse::<TronAddress>().is_err());
        assert!("T' OR 1=1 --".parse::<TronAddress>().is_err());
        assert!("".parse::<TronAddress>().is_err());
    }
}
