//! Private keys at rest: XChaCha20-Poly1305 under the master key, a random
//! 24-byte nonce per key, the wallet id as associated data (so a sealed key
//! copied onto another wallet row does not open). Pure crypto, no database.

use std::fmt;
use std::path::Path;

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use uuid::Uuid;
use zeroize::Zeroizing;

use crate::config::MasterKeySource;
use crate::tron::PrivateKey;

/// Nonce length of XChaCha20-Poly1305: random nonces never collide in practice.
pub const NONCE_LEN: usize = 24;

/// What can go wrong with the master key or a sealed key. Never carries key
/// material.
#[derive(Debug, thiserror::Error)]
pub enum CustodyError {
    /// No master key configured.
    #[error(
        "no wallet master key: set WALLET_MASTER_KEY (64 hex digits) or WALLET_MASTER_KEY_FILE"
    )]
    NoMasterKey,
    /// The master key is not 32 bytes as 64 hex digits.
    #[error("the wallet master key ({origin}) must be 64 hex digits (32 bytes)")]
    BadMasterKey { origin: String },
    /// The master key file cannot be read.
    #[error("cannot read the wallet master key file {path}: {source}")]
    MasterKeyFile {
        path: String,
        source: std::io::Error,
    },
    /// Authentication failed: another master key sealed this key, or the
    /// stored bytes were altered or moved to another wallet row.
    #[error(
        "the master key does not open the stored key of wallet {wallet_id}: wrong WALLET_MASTER_KEY, or the stored key was altered"
    )]
    WrongMasterKey { wallet_id: Uuid },
    /// The stored nonce has the wrong length.
    #[error("the stored key of wallet {wallet_id} is malformed (nonce length {len})")]
    Malformed { wallet_id: Uuid, len: usize },
}

/// The 32-byte master key. Zeroized on drop; `Debug` is redacted.
pub struct MasterKey(Zeroizing<[u8; 32]>);

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MasterKey([redacted])")
    }
}

/// A private key as stored: ciphertext (with its tag) and nonce.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedKey {
    pub ciphertext: Vec<u8>,
    pub nonce: Vec<u8>,
}

impl MasterKey {
    /// From 64 hex digits (surrounding whitespace ignored); `origin` names
    /// where they came from, for the error.
    pub fn from_hex(text: &str, origin: &str) -> Result<Self, CustodyError> {
        let mut key = Zeroizing::new([0u8; 32]);
        hex::decode_to_slice(text.trim(), key.as_mut()).map_err(|_| {
            CustodyError::BadMasterKey {
                origin: origin.to_string(),
            }
        })?;
        Ok(Self(key))
    }

    /// From the configured source (`Settings.master_key`).
    pub fn load(source: Option<&MasterKeySource>) -> Result<Self, CustodyError> {
        match source {
            None => Err(CustodyError::NoMasterKey),
            Some(MasterKeySource::Hex(secret)) => {
                Self::from_hex(secret.expose(), "WALLET_MASTER_KEY")
            }
            Some(MasterKeySource::File(path)) => Self::from_file(path),
        }
    }

    fn from_file(path: &Path) -> Result<Self, CustodyError> {
        let text = Zeroizing::new(std::fs::read_to_string(path).map_err(|source| {
            CustodyError::MasterKeyFile {
                path: path.display().to_string(),
                source,
            }
        })?);
        Self::from_hex(&text, &format!("file {}", path.display()))
    }

    fn cipher(&self) -> XChaCha20Poly1305 {
        XChaCha20Poly1305::new(&(*self.0).into())
    }

    /// Seals `key` for the wallet row `wallet_id`, with a fresh random nonce.
    pub fn seal(&self, wallet_id: Uuid, key: &PrivateKey) -> SealedKey {
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::fill(&mut nonce).expect("the operating system's random source works");
        let secret = key.to_bytes();
        let ciphertext = self
            .cipher()
            .encrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: secret.as_ref(),
                    aad: wallet_id.as_bytes(),
                },
            )
            .expect("encryption of 32 bytes cannot fail");
        SealedKey {
            ciphertext,
            nonce: nonce.to_vec(),
        }
    }

    /// Opens a sealed key of the wallet row `wallet_id`.
    pub fn open(&self, wallet_id: Uuid, sealed: &SealedKey) -> Result<PrivateKey, CustodyError> {
        let nonce: [u8; NONCE_LEN] =
            sealed
                .nonce
                .as_slice()
                .try_into()
                .map_err(|_| CustodyError::Malformed {
                    wallet_id,
                    len: sealed.nonce.len(),
                })?;
        let plain = Zeroizing::new(
            self.cipher()
                .decrypt(
                    &XNonce::from(nonce),
                    Payload {
                        msg: &sealed.ciphertext,
                        aad: wallet_id.as_bytes(),
                    },
                )
                .map_err(|_| CustodyError::WrongMasterKey { wallet_id })?,
        );
        let bytes: &[u8; 32] = plain
            .as_slice()
            .try_into()
            .map_err(|_| CustodyError::WrongMasterKey { wallet_id })?;
        PrivateKey::from_bytes(bytes).map_err(|_| CustodyError::WrongMasterKey { wallet_id })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MASTER: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
    const KEY: &str = "8d596057e510b14cbb9bf24f88803a6d6dbd138dd303a62b175b9e6cc0f3f941";

    #[test]
    fn seal_then_open_gives_the_key_back_and_nonces_differ() {
        let m = MasterKey::from_hex(MASTER, "test").unwrap();
        let key = PrivateKey::from_hex(KEY).unwrap();
        let id = Uuid::new_v4();
        let a = m.seal(id, &key);
        let b = m.seal(id, &key);
        assert_ne!(a.nonce, b.nonce);
        assert_ne!(a.ciphertext, b.ciphertext);
        assert_eq!(a.ciphertext.len(), 32 + 16);
        assert!(!hex::encode(&a.ciphertext).contains(&KEY[..16]));
        assert_eq!(m.open(id, &a).unwrap().address(), key.address());
    }

    #[test]
    fn wrong_master_key_other_wallet_or_altered_bytes_do_not_open() {
        let m = MasterKey::from_hex(MASTER, "test").unwrap();
        let key = PrivateKey::from_hex(KEY).unwrap();
        let id = Uuid::new_v4();
        let sealed = m.seal(id, &key);

        let other = MasterKey::from_hex(&MASTER.replace('0', "f"), "test").unwrap();
        let err = other.open(id, &sealed).unwrap_err();
        assert!(matches!(err, CustodyError::WrongMasterKey { .. }));
        assert!(err.to_string().contains("wrong WALLET_MASTER_KEY"), "{err}");

        assert!(matches!(
            m.open(Uuid::new_v4(), &sealed),
            Err(CustodyError::WrongMasterKey { .. })
        ));
        let mut altered = sealed.clone();
        altered.ciphertext[0] ^= 1;
        assert!(m.open(id, &altered).is_err());
        let mut short = sealed;
        short.nonce.pop();
        assert!(matches!(
            m.open(id, &short),
            Err(CustodyError::Malformed { len: 23, .. })
        ));
    }

    #[test]
    fn master_keys_are_checked_and_never_shown() {
        assert!(matches!(
            MasterKey::from_hex("abcd", "WALLET_MASTER_KEY"),
            Err(CustodyError::BadMasterKey { .. })
        ));
        let err = MasterKey::from_hex(&format!("{}zz", &MASTER[..62]), "WALLET_MASTER_KEY")
            .unwrap_err()
            .to_string();
        assert!(!err.contains(&MASTER[..16]), "{err}");
        let m = MasterKey::from_hex(&format!(" {MASTER}\n"), "test").unwrap();
        assert_eq!(format!("{m:?}"), "MasterKey([redacted])");
        assert!(matches!(
            MasterKey::load(None),
            Err(CustodyError::NoMasterKey)
        ));

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("master.hex");
        std::fs::write(&path, format!("{MASTER}\n")).unwrap();
        assert!(MasterKey::load(Some(&MasterKeySource::File(path))).is_ok());
        assert!(matches!(
            MasterKey::load(Some(&MasterKeySource::File(dir.path().join("nope")))),
            Err(CustodyError::MasterKeyFile { .. })
        ));
    }
}
