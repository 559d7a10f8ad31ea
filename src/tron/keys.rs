//! secp256k1 private keys, TRON signatures and signer recovery.
//!
//! A TRON signature is 65 bytes `r || s || v` over the 32-byte txID (ECDSA on
//! the prehash, RFC 6979 deterministic nonces, low S), with `v` the recovery
//! id 0 or 1. java-tron also accepts 27/28, and so does [`TxSignature`].
//! Private keys are zeroized on drop (k256's `SigningKey` does it) and never
//! appear in `Debug` output or errors.

use std::fmt;

use k256::ecdsa::{RecoveryId, Signature, SigningKey, VerifyingKey};
use sha3::{Digest, Keccak256};
use zeroize::Zeroizing;

use super::address::Address;
use super::tx::TxId;

/// Why a private key was refused. Never carries the key or any part of it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// Not 64 hex digits after trimming.
    #[error(
        "a private key is 64 hex digits; got {0} characters (nothing of the key is shown here)"
    )]
    WrongLength(usize),
    /// 64 characters, but not all hex digits.
    #[error("the private key has characters that are not hex digits")]
    NotHex,
    /// Zero, or not below the secp256k1 group order.
    #[error("the private key is out of range for secp256k1 (zero or too large)")]
    OutOfRange,
}

/// Why a signature cannot be checked or does not recover a signer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// Not 65 bytes.
    #[error("a signature is 65 bytes (r, s, v); got {0}")]
    WrongLength(usize),
    /// `v` is not 0, 1, 27 or 28.
    #[error("signature recovery byte v={0} is not 0, 1, 27 or 28")]
    BadRecoveryId(u8),
    /// r or s is zero or out of range, or no public key recovers from it.
    #[error("signature is malformed or does not recover a public key")]
    Malformed,
}

/// A secp256k1 private key. Zeroized when dropped; `Debug` is redacted.
pub struct PrivateKey(SigningKey);

impl PrivateKey {
    /// From the 32 secret bytes.
    pub fn from_bytes(bytes: &[u8; 32]) -> Result<Self, KeyError> {
        SigningKey::from_slice(bytes)
            .map(Self)
            .map_err(|_| KeyError::OutOfRange)
    }

    /// From 64 hex digits, either case, surrounding whitespace ignored.
    pub fn from_hex(s: &str) -> Result<Self, KeyError> {
        let s = s.trim();
        if s.len() != 64 {
            return Err(KeyError::WrongLength(s.chars().count()));
        }
        let mut bytes = Zeroizing::new([0u8; 32]);
        hex::decode_to_slice(s, bytes.as_mut()).map_err(|_| KeyError::NotHex)?;
        Self::from_bytes(&bytes)
    }

    /// The 32 secret bytes, for encryption at rest only; zeroized on drop.
    pub fn to_bytes(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(self.0.to_bytes().into())
    }

    /// The TRON address of this key.
    pub fn address(&self) -> Address {
        address_of(self.0.verifying_key())
    }

    /// Signs a txID: 65 bytes r || s || v with v = 0 or 1.
    pub fn sign(&self, txid: &TxId) -> TxSignature {
        let (sig, recid) = self.0.sign_prehash_recoverable(txid.as_bytes());
        let mut out = [0u8; 65];
        out[..64].copy_from_slice(&sig.to_bytes());
        out[64] = recid.to_byte();
        TxSignature(out)
    }
}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PrivateKey([redacted])")
    }
}

/// The TRON address of a public key: `0x41 || keccak256(X || Y)[12..]`.
fn address_of(key: &VerifyingKey) -> Address {
    let point = key.to_sec1_point(false);
    // Uncompressed SEC1 is 0x04 || X || Y; the hash covers X || Y.
    let hash = Keccak256::digest(&point.as_bytes()[1..]);
    let mut evm = [0u8; 20];
    evm.copy_from_slice(&hash[12..]);
    Address::from_evm(evm)
}

/// A 65-byte TRON signature `r || s || v`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct TxSignature([u8; 65]);

impl TxSignature {
    /// From the 65 bytes as they appear in a transaction. Checks the length
    /// only; [`TxSignature::recover`] checks the rest.
    pub fn from_slice(bytes: &[u8]) -> Result<Self, SignatureError> {
        bytes
            .try_into()
            .map(Self)
            .map_err(|_| SignatureError::WrongLength(bytes.len()))
    }

    pub fn as_bytes(&self) -> &[u8; 65] {
        &self.0
    }

    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// The address whose key made this signature over `txid`, as java-tron
    /// checks it (recover, then compare with the owner address).
    pub fn recover(&self, txid: &TxId) -> Result<Address, SignatureError> {
        let v = self.0[64];
        let recid = match v {
            0..=3 => v,
            27..=30 => v - 27,
            _ => return Err(SignatureError::BadRecoveryId(v)),
        };
        let recid = RecoveryId::from_byte(recid).ok_or(SignatureError::BadRecoveryId(v))?;
        let sig = Signature::from_slice(&self.0[..64]).map_err(|_| SignatureError::Malformed)?;
        let key = VerifyingKey::recover_from_prehash(txid.as_bytes(), &sig, recid)
            .map_err(|_| SignatureError::Malformed)?;
        Ok(address_of(&key))
    }
}

impl fmt::Debug for TxSignature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TxSignature({})", self.to_hex())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (private key, base58 address). Sources: trustwallet/wallet-core
    /// `tests/chains/Tron/AddressTests.cpp` (first two); trezor-firmware unit
    /// test `test_privkey_to_address` (third); trustwallet/trust-core
    /// `Tests/Tron/TronAddressTests.swift` (fourth).
    const KEYS: &[(&str, &str)] = &[
        (
            "BE88DF1D0BF30A923CB39C3BB953178BAAF3726E8D3CE81E7C8462E046E0D835",
            "THRF3GuPnvvPzKoaT8pJex5XHmo8NNbCb3",
        ),
        (
            "2d8f68944bdbfbc0769542fba8fc2d2a3de67393334471624364c7006da2aa54",
            "TJRyWwFs9wTFGZg3JbrVriFbNfCug5tDeC",
        ),
        (
            "8d596057e510b14cbb9bf24f88803a6d6dbd138dd303a62b175b9e6cc0f3f941",
            "TY72iA3SBtrds3QLYsS7LwYfkzXwAXCRWT",
        ),
        (
            "3d2eebd74075e98a55190b062ddd552c5f43f4b8379a1a1bcc8847a1c379a5e3",
            "THyw5GEQrRFjBxjpiQrSkthzkN92BZY2sJ",
        ),
    ];

    #[test]
    fn published_keys_give_published_addresses() {
        for (key, addr) in KEYS {
            let k = PrivateKey::from_hex(key).unwrap();
            assert_eq!(k.address().to_string(), *addr);
            let lower = PrivateKey::from_hex(&format!("  {}\n", key.to_lowercase())).unwrap();
            assert_eq!(lower.address().to_string(), *addr);
        }
    }

    #[test]
    fn bad_keys_are_refused_without_echoing_them() {
        let k = KEYS[0].0;
        assert_eq!(
            PrivateKey::from_hex(&k[..63]).unwrap_err(),
            KeyError::WrongLength(63)
        );
        let bad = format!("{}g", &k[..63]);
        let err = PrivateKey::from_hex(&bad).unwrap_err();
        assert_eq!(err, KeyError::NotHex);
        assert!(!err.to_string().contains(&k[..8]));
        assert_eq!(
            PrivateKey::from_hex(&"0".repeat(64)).unwrap_err(),
            KeyError::OutOfRange
        );
        // The group order n itself is out of range.
        let n = "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141";
        assert_eq!(PrivateKey::from_hex(n).unwrap_err(), KeyError::OutOfRange);
        assert!(PrivateKey::from_hex(&format!("0x{}", &k[2..])).is_err());
        assert!(PrivateKey::from_hex("").is_err());
    }

    #[test]
    fn debug_never_shows_the_key() {
        let k = PrivateKey::from_hex(KEYS[0].0).unwrap();
        let dbg = format!("{k:?}");
        assert_eq!(dbg, "PrivateKey([redacted])");
    }

    #[test]
    fn sign_then_recover_gives_the_signer_and_tampering_does_not() {
        let k = PrivateKey::from_hex(KEYS[2].0).unwrap();
        let txid = TxId::from_bytes([7u8; 32]);
        let sig = k.sign(&txid);
        assert!(sig.as_bytes()[64] <= 1, "v is the recovery id 0/1");
        assert_eq!(sig.recover(&txid).unwrap(), k.address());

        // v in the 27/28 form recovers the same signer, as java-tron allows.
        let mut v27 = *sig.as_bytes();
        v27[64] += 27;
        assert_eq!(
            TxSignature::from_slice(&v27)
                .unwrap()
                .recover(&txid)
                .unwrap(),
            k.address()
        );

        // Another txID, a flipped bit in r, or the other v: a different signer.
        let other = TxId::from_bytes([8u8; 32]);
        assert_ne!(sig.recover(&other).ok(), Some(k.address()));
        let mut flipped = *sig.as_bytes();
        flipped[5] ^= 1;
        assert_ne!(
            TxSignature::from_slice(&flipped)
                .unwrap()
                .recover(&txid)
                .ok(),
            Some(k.address())
        );
        let mut other_v = *sig.as_bytes();
        other_v[64] ^= 1;
        assert_ne!(
            TxSignature::from_slice(&other_v)
                .unwrap()
                .recover(&txid)
                .ok(),
            Some(k.address())
        );
        let mut bad_v = *sig.as_bytes();
        bad_v[64] = 5;
        assert_eq!(
            TxSignature::from_slice(&bad_v).unwrap().recover(&txid),
            Err(SignatureError::BadRecoveryId(5))
        );
        assert_eq!(
            TxSignature::from_slice(&[0u8; 65]).unwrap().recover(&txid),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            TxSignature::from_slice(&[0u8; 64]),
            Err(SignatureError::WrongLength(64))
        );
    }

    #[test]
    fn key_bytes_round_trip() {
        let k = PrivateKey::from_hex(KEYS[1].0).unwrap();
        let again = PrivateKey::from_bytes(&k.to_bytes()).unwrap();
        assert_eq!(again.address(), k.address());
    }
}
