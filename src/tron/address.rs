//! TRON addresses: `0x41` followed by the last 20 bytes of the Keccak-256 of
//! the public key. Two spellings of the same 21 bytes: base58check (`T...`,
//! 34 characters) and hex (`41...`, 42 characters). Parsed once at every edge
//! into [`Address`]; displayed in base58, as the database stores it.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The first byte of every mainnet (and testnet) TRON address.
pub const ADDRESS_PREFIX: u8 = 0x41;

/// A TRON account or contract address (21 bytes, first byte `0x41`).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Address([u8; 21]);

/// Why a string or byte string is not a TRON address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddressError {
    /// Nothing was given.
    #[error("address is empty")]
    Empty,
    /// A character outside the base58 alphabet (0, O, I and l are not in it).
    #[error("address has a character {character:?} at position {index} that is not base58")]
    BadCharacter { character: char, index: usize },
    /// The base58check checksum does not match: usually a typo.
    #[error("address checksum does not match (a mistyped character?)")]
    BadChecksum,
    /// A hex address with characters that are not hex digits.
    #[error("hex address has characters that are not hex digits")]
    BadHex,
    /// The decoded address is not 21 bytes long.
    #[error("address decodes to {0} bytes; a TRON address has 21 (0x41 and 20 bytes)")]
    WrongLength(usize),
    /// The first byte is not `0x41`.
    #[error("address starts with byte 0x{0:02x}; TRON addresses start with 0x41 (T... in base58)")]
    WrongPrefix(u8),
}

impl Address {
    /// From the 21 bytes, which must start with `0x41`.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, AddressError> {
        let arr: [u8; 21] = bytes
            .try_into()
            .map_err(|_| AddressError::WrongLength(bytes.len()))?;
        if arr[0] != ADDRESS_PREFIX {
            return Err(AddressError::WrongPrefix(arr[0]));
        }
        Ok(Self(arr))
    }

    /// From the 20-byte form used inside contracts (ABI words, event logs).
    pub fn from_evm(bytes: [u8; 20]) -> Self {
        let mut arr = [ADDRESS_PREFIX; 21];
        arr[1..].copy_from_slice(&bytes);
        Self(arr)
    }

    /// The 21 bytes, as protobuf carries them.
    pub fn as_bytes(&self) -> &[u8; 21] {
        &self.0
    }

    /// The 20 bytes after the prefix: the form inside contracts.
    pub fn evm_bytes(&self) -> [u8; 20] {
        self.0[1..].try_into().expect("21 - 1 = 20 bytes")
    }

    /// `41` followed by 40 lowercase hex digits (`visible=false` in the API).
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// The base58check form, `T...` (`visible=true` in the API).
    pub fn to_base58(&self) -> String {
        bs58::encode(self.0).with_check().into_string()
    }

    fn parse_hex(s: &str) -> Result<Self, AddressError> {
        let bytes = hex::decode(s).map_err(|_| AddressError::BadHex)?;
        Self::from_bytes(&bytes)
    }

    fn parse_base58(s: &str) -> Result<Self, AddressError> {
        let bytes = bs58::decode(s)
            .with_check(None)
            .into_vec()
            .map_err(|e| match e {
                bs58::decode::Error::InvalidCharacter { character, index } => {
                    AddressError::BadCharacter { character, index }
                }
                bs58::decode::Error::NonAsciiCharacter { index } => AddressError::BadCharacter {
                    character: s[index..].chars().next().unwrap_or('?'),
                    index,
                },
                // Too short to even hold a checksum.
                bs58::decode::Error::NoChecksum => AddressError::WrongLength(0),
                _ => AddressError::BadChecksum,
            })?;
        Self::from_bytes(&bytes)
    }
}

/// Base58 `T...` (34 characters) or hex `41...` (42 hex digits). A string of
/// hex digits of any length other than 34 is read as hex: base58 has no `0`,
/// and no base58 address is 42 characters long, so the two never collide in
/// practice, and errors name the form the caller evidently meant.
impl FromStr for Address {
    type Err = AddressError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.is_empty() {
            return Err(AddressError::Empty);
        }
        if s.len() != 34 && s.bytes().all(|b| b.is_ascii_hexdigit()) {
            if !s.len().is_multiple_of(2) {
                return Err(AddressError::BadHex);
            }
            return Self::parse_hex(s);
        }
        Self::parse_base58(s)
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_base58())
    }
}

impl fmt::Debug for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Address({})", self.to_base58())
    }
}

impl Serialize for Address {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_base58())
    }
}

impl<'de> Deserialize<'de> for Address {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (base58, hex) pairs. Sources: trustwallet/wallet-core
    /// `tests/chains/Tron/AddressTests.cpp` (first two); trezor-firmware
    /// `test_privkey_to_address` (third); trustwallet/trust-core
    /// `Tests/Tron/TronAddressTests.swift` (fourth); mah454/tron4j
    /// `Base58CheckTest.java` (fifth). All recomputed; see docs/tron.md §1.
    const PAIRS: &[(&str, &str)] = &[
        (
            "THRF3GuPnvvPzKoaT8pJex5XHmo8NNbCb3",
            "4151b5659b685047f35498f763dce619c4720d2aa7",
        ),
        (
            "TJRyWwFs9wTFGZg3JbrVriFbNfCug5tDeC",
            "415cd0fb0ab3ce40f3051414c604b27756e69e43db",
        ),
        (
            "TY72iA3SBtrds3QLYsS7LwYfkzXwAXCRWT",
            "41f2cd810c48c401d392ead3c6e1e1cb9f57750a58",
        ),
        (
            "THyw5GEQrRFjBxjpiQrSkthzkN92BZY2sJ",
            "4157e42069ecdf9636ac3a50f31cf66e36dae5c951",
        ),
        (
            "TJAAinkKN2h9KxtBZXw6SyL7HwCQXnzFsE",
            "4159d3ad9d126e153b9564417d3a05cf51c1964edf",
        ),
    ];

    #[test]
    fn base58_and_hex_are_two_spellings_of_the_same_bytes() {
        for (b58, hx) in PAIRS {
            let a: Address = b58.parse().unwrap();
            let b: Address = hx.parse().unwrap();
            assert_eq!(a, b);
            assert_eq!(a.to_string(), *b58);
            assert_eq!(a.to_hex(), *hx);
            assert_eq!(Address::from_evm(a.evm_bytes()), a);
            // Upper-case hex is the same address.
            assert_eq!(hx.to_uppercase().parse::<Address>().unwrap(), a);
        }
    }

    #[test]
    fn usdt_contract_addresses_from_the_facts_sheet() {
        // Mainnet USDT, official docs / TronGrid token_info.
        let usdt: Address = "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t".parse().unwrap();
        assert_eq!(usdt.to_hex(), "41a614f803b6fd780986a42c78ec9c7f77e6ded13c");
    }

    #[test]
    fn bad_addresses_get_the_error_that_names_the_problem() {
        // One character changed: the checksum catches it.
        assert_eq!(
            "THRF3GuPnvvPzKoaT8pJex5XHmo8NNbCb4".parse::<Address>(),
            Err(AddressError::BadChecksum)
        );
        assert!(matches!(
            "THRF3GuPnvvPzKoaT8pJex5XHmo8NNbCb0".parse::<Address>(),
            Err(AddressError::BadCharacter { character: '0', .. })
        ));
        assert!(matches!(
            "THRF3GuPnvvPzKoaT8pJex5XHmo8NNbCé".parse::<Address>(),
            Err(AddressError::BadCharacter { .. })
        ));
        // A Bitcoin address: valid base58check, wrong length/prefix.
        assert_eq!(
            "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa".parse::<Address>(),
            Err(AddressError::WrongPrefix(0x00))
        );
        // An Ethereum-style address without the 0x41 prefix.
        assert_eq!(
            "51b5659b685047f35498f763dce619c4720d2aa7".parse::<Address>(),
            Err(AddressError::WrongLength(20))
        );
        assert_eq!(
            "4251b5659b685047f35498f763dce619c4720d2aa7".parse::<Address>(),
            Err(AddressError::WrongPrefix(0x42))
        );
        assert_eq!(
            "4151b5659b685047f35498f763dce619c4720d2aa".parse::<Address>(),
            Err(AddressError::BadHex)
        );
        assert_eq!("".parse::<Address>(), Err(AddressError::Empty));
        // Surrounding whitespace is the caller's to strip; the type is strict.
        assert!(
            " THRF3GuPnvvPzKoaT8pJex5XHmo8NNbCb3"
                .parse::<Address>()
                .is_err()
        );
        assert_eq!(
            Address::from_bytes(&[0x41; 20]),
            Err(AddressError::WrongLength(20))
        );
    }

    #[test]
    fn serde_uses_base58_and_accepts_hex() {
        let a: Address = PAIRS[0].0.parse().unwrap();
        let json = serde_json::to_string(&a).unwrap();
        assert_eq!(json, format!("\"{}\"", PAIRS[0].0));
        let back: Address = serde_json::from_str(&format!("\"{}\"", PAIRS[0].1)).unwrap();
        assert_eq!(back, a);
        assert!(serde_json::from_str::<Address>("\"Tnope\"").is_err());
    }
}
