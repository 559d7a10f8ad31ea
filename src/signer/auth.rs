//! Request authentication between workers and `walletops signer`: an
//! HMAC-SHA256, under a secret both read from a file, over the request's
//! timestamp, a random nonce, its method and path, and its body. The signer
//! refuses a stale timestamp and a nonce it has already seen, so a recorded
//! request cannot be replayed.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Mutex;

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use zeroize::Zeroizing;

pub const TIMESTAMP_HEADER: &str = "x-walletops-timestamp";
pub const NONCE_HEADER: &str = "x-walletops-nonce";
pub const SIGNATURE_HEADER: &str = "x-walletops-signature";

/// How far a request's timestamp may be from the signer's clock.
pub const WINDOW_MS: i64 = 30_000;

/// The shared secret. Never printed.
pub struct SharedSecret(Zeroizing<Vec<u8>>);

impl std::fmt::Debug for SharedSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SharedSecret([redacted])")
    }
}

/// Why the secret cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("cannot read the signer secret file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error(
        "the signer secret in {path} is too short: use at least 32 random bytes, e.g. `head -c 32 /dev/urandom | xxd -p -c 64 > FILE`"
    )]
    TooShort { path: String },
}

impl SharedSecret {
    /// The file's content, surrounding whitespace ignored; at least 32 bytes.
    pub fn from_file(path: &Path) -> Result<Self, SecretError> {
        let text =
            Zeroizing::new(
                std::fs::read_to_string(path).map_err(|source| SecretError::Read {
                    path: path.display().to_string(),
                    source,
                })?,
            );
        let bytes = text.trim().as_bytes().to_vec();
        if bytes.len() < 32 {
            return Err(SecretError::TooShort {
                path: path.display().to_string(),
            });
        }
        Ok(Self(Zeroizing::new(bytes)))
    }

    fn mac(
        &self,
        timestamp_ms: i64,
        nonce: &str,
        method: &str,
        path: &str,
        body: &[u8],
    ) -> Hmac<Sha256> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes any key length");
        mac.update(format!("{timestamp_ms}\n{nonce}\n{method} {path}\n").as_bytes());
        mac.update(body);
        mac
    }

    /// The signature header's value for a request.
    pub fn sign(
        &self,
        timestamp_ms: i64,
        nonce: &str,
        method: &str,
        path: &str,
        body: &[u8],
    ) -> String {
        hex::encode(
            self.mac(timestamp_ms, nonce, method, path, body)
                .finalize()
                .into_bytes(),
        )
    }

    /// Whether `signature` (hex) is this request's, compared in constant time.
    pub fn verify(
        &self,
        signature: &str,
        timestamp_ms: i64,
        nonce: &str,
        method: &str,
        path: &str,
        body: &[u8],
    ) -> bool {
        let Ok(tag) = hex::decode(signature) else {
            return false;
        };
        self.mac(timestamp_ms, nonce, method, path, body)
            .verify_slice(&tag)
            .is_ok()
    }
}

/// A fresh random nonce (16 bytes as hex).
pub fn nonce() -> String {
    let mut b = [0u8; 16];
    getrandom::fill(&mut b).expect("the operating system's random source works");
    hex::encode(b)
}

/// The nonces seen within the window: a second use of one is a replay.
#[derive(Debug, Default)]
pub struct ReplayGuard {
    seen: Mutex<HashMap<String, i64>>,
}

impl ReplayGuard {
    /// Accepts a (timestamp, nonce) once, when the timestamp is within
    /// [`WINDOW_MS`] of `now_ms`; the reason otherwise.
    pub fn admit(&self, timestamp_ms: i64, nonce: &str, now_ms: i64) -> Result<(), &'static str> {
        if (now_ms - timestamp_ms).abs() > WINDOW_MS {
            return Err(
                "the request's timestamp is outside the accepted window (clock skew or a replay)",
            );
        }
        if nonce.len() < 16 || nonce.len() > 128 {
            return Err("the request's nonce must be 16 to 128 characters");
        }
        let mut seen = self.seen.lock().expect("replay guard lock");
        // A nonce older than the window cannot come back: its timestamp would be refused.
        seen.retain(|_, at| now_ms - *at <= 2 * WINDOW_MS);
        if seen.contains_key(nonce) {
            return Err("the request's nonce was already used: a replayed request");
        }
        seen.insert(nonce.to_string(), timestamp_ms);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_covers_every_part_and_a_nonce_is_good_once() {
        let s = SharedSecret(Zeroizing::new(vec![7; 32]));
        let sig = s.sign(1000, "abcdabcdabcdabcd", "POST", "/v1/sign", b"{}");
        assert!(s.verify(&sig, 1000, "abcdabcdabcdabcd", "POST", "/v1/sign", b"{}"));
        assert!(!s.verify(&sig, 1001, "abcdabcdabcdabcd", "POST", "/v1/sign", b"{}"));
        assert!(!s.verify(&sig, 1000, "abcdabcdabcdabce", "POST", "/v1/sign", b"{}"));
        assert!(!s.verify(&sig, 1000, "abcdabcdabcdabcd", "POST", "/v1/sign", b"{ }"));
        assert!(!s.verify("zz", 1000, "abcdabcdabcdabcd", "POST", "/v1/sign", b"{}"));
        let other = SharedSecret(Zeroizing::new(vec![8; 32]));
        assert!(!other.verify(&sig, 1000, "abcdabcdabcdabcd", "POST", "/v1/sign", b"{}"));

        let g = ReplayGuard::default();
        assert!(g.admit(1000, "abcdabcdabcdabcd", 1000).is_ok());
        assert!(g.admit(1000, "abcdabcdabcdabcd", 1500).is_err());
        assert!(
            g.admit(1000, "ffffffffffffffff", 1000 + WINDOW_MS + 1)
                .is_err()
        );
    }
}
