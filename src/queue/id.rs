//! Job ids as people read and type them.
//!
//! Job ids are UUIDv7 (`walletops_uuid_v7()`): the first 12 hex digits are
//! the creation time in milliseconds, so jobs created together share them,
//! and the last 16 are random. The short form people see is therefore the
//! *tail*, never the head; and what they type back (in a search, on the
//! command line) may be a prefix or a tail of the 32 hex digits.

use std::collections::HashSet;
use std::fmt;
use std::str::FromStr;

use uuid::Uuid;

/// Hex digits in a short id: with 32 random bits, two of a thousand jobs
/// share a short id about once in ten thousand screens, and
/// [`short_len`] lengthens them when they do.
pub const SHORT_LEN: usize = 8;

/// Fewest hex digits accepted as a fragment: fewer would match too much to
/// be meant.
pub const MIN_FRAGMENT: usize = 4;

/// The id's last [`SHORT_LEN`] hex digits: `f3a9c2e1`.
pub fn short_id(id: &Uuid) -> String {
    short_id_len(id, SHORT_LEN)
}

/// The id's last `len` hex digits (at most 32).
pub fn short_id_len(id: &Uuid, len: usize) -> String {
    let hex = id.simple().to_string();
    hex[32 - len.min(32)..].to_string()
}

/// The shortest tail length, at least [`SHORT_LEN`], at which no two of
/// `ids` look the same, so a screen showing them all tells every one apart.
pub fn short_len<'a>(ids: impl IntoIterator<Item = &'a Uuid> + Clone) -> usize {
    (SHORT_LEN..32)
        .find(|&len| {
            let mut seen = HashSet::new();
            ids.clone()
                .into_iter()
                .all(|id| seen.insert(short_id_len(id, len)))
        })
        .unwrap_or(32)
}

/// What an operator typed to name a job: the full id, or at least
/// [`MIN_FRAGMENT`] hex digits from its start or its end. Hyphens are
/// ignored and case does not matter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdFragment {
    hex: String,
}

/// Why a text cannot name a job.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdFragmentError {
    #[error("{0:?} is not a job id: use hex digits (0-9, a-f) from the id's start or end")]
    NotHex(String),
    #[error("{0:?} is too short to name a job: give at least {MIN_FRAGMENT} hex digits")]
    TooShort(String),
    #[error("{0:?} is longer than a job id (32 hex digits)")]
    TooLong(String),
}

impl IdFragment {
    /// The whole id, when all 32 digits were given.
    pub fn full(&self) -> Option<Uuid> {
        (self.hex.len() == 32)
            .then(|| Uuid::parse_str(&self.hex).ok())
            .flatten()
    }

    /// The digits, lowercase, without hyphens.
    pub fn hex(&self) -> &str {
        &self.hex
    }

    /// The lowest and highest ids that start with these digits.
    pub fn prefix_range(&self) -> (Uuid, Uuid) {
        let pad = |digit: char| {
            let mut hex = self.hex.clone();
            hex.extend(std::iter::repeat_n(digit, 32 - hex.len()));
            Uuid::parse_str(&hex).unwrap_or(Uuid::nil())
        };
        (pad('0'), pad('f'))
    }

    /// Whether `id` starts or ends with these digits.
    pub fn matches(&self, id: &Uuid) -> bool {
        let hex = id.simple().to_string();
        hex.starts_with(&self.hex) || hex.ends_with(&self.hex)
    }
}

impl FromStr for IdFragment {
    type Err = IdFragmentError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let hex: String = s
            .trim()
            .chars()
            .filter(|c| *c != '-')
            .map(|c| c.to_ascii_lowercase())
            .collect();
        if !hex.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(IdFragmentError::NotHex(s.to_string()));
        }
        if hex.len() < MIN_FRAGMENT {
            return Err(IdFragmentError::TooShort(s.to_string()));
        }
        if hex.len() > 32 {
            return Err(IdFragmentError::TooLong(s.to_string()));
        }
        Ok(Self { hex })
    }
}

impl fmt::Display for IdFragment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.hex)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Ids as `walletops_uuid_v7()` makes them in one millisecond: the same
    /// 48-bit time, random rest.
    fn same_millisecond(n: usize) -> Vec<Uuid> {
        (0..n)
            .map(|i| {
                let mut bytes = *Uuid::new_v4().as_bytes();
                bytes[..6].copy_from_slice(&[0x01, 0x93, 0x2a, 0x4b, 0x5c, 0x6d]);
                bytes[6] = 0x70 | (bytes[6] & 0x0f);
                // Force a few tails to collide at 8 digits.
                if i % 50 == 1 {
                    let prev = bytes;
                    bytes[12..].copy_from_slice(&prev[12..]);
                }
                Uuid::from_bytes(bytes)
            })
            .collect()
    }

    #[test]
    fn short_ids_of_one_millisecond_all_differ() {
        let ids = same_millisecond(500);
        let len = short_len(&ids);
        let shown: HashSet<String> = ids.iter().map(|id| short_id_len(id, len)).collect();
        assert_eq!(shown.len(), ids.len());
        // The head is the shared timestamp; the short form never uses it.
        assert!(
            ids.iter()
                .all(|id| id.simple().to_string().starts_with("01932a4b5c6d"))
        );
        assert!(!short_id(&ids[0]).starts_with("0193"));
    }

    #[test]
    fn short_len_grows_only_when_tails_collide() {
        let a = Uuid::parse_str("01932a4b-5c6d-7000-8000-0000deadbeef").unwrap();
        let b = Uuid::parse_str("01932a4b-5c6d-7000-8000-0001deadbeef").unwrap();
        let c = Uuid::parse_str("01932a4b-5c6d-7000-8000-000000000001").unwrap();
        assert_eq!(short_len(&[a, c]), SHORT_LEN);
        assert_eq!(short_len(&[a, b]), 9);
        assert_eq!(short_len(&[a, a]), 32);
        assert_eq!(short_id(&a), "deadbeef");
    }

    #[test]
    fn fragments_match_a_prefix_or_a_tail() {
        let id = Uuid::parse_str("01932a4b-5c6d-7abc-8def-0123deadbeef").unwrap();
        let tail: IdFragment = "DEADBEEF".parse().unwrap();
        let head: IdFragment = "01932a4b-5c6d".parse().unwrap();
        let middle: IdFragment = "7abc8def".parse().unwrap();
        assert!(tail.matches(&id) && head.matches(&id));
        assert!(!middle.matches(&id));
        assert_eq!(
            IdFragment::from_str(&id.to_string()).unwrap().full(),
            Some(id)
        );
        assert_eq!(tail.full(), None);
        let (low, high) = head.prefix_range();
        assert!(low <= id && id <= high);
        assert_eq!(low.to_string(), "01932a4b-5c6d-0000-0000-000000000000");
        assert_eq!(high.to_string(), "01932a4b-5c6d-ffff-ffff-ffffffffffff");
    }

    #[test]
    fn bad_fragments_say_why() {
        assert!(matches!(
            "xyz1".parse::<IdFragment>(),
            Err(IdFragmentError::NotHex(_))
        ));
        assert!(matches!(
            "abc".parse::<IdFragment>(),
            Err(IdFragmentError::TooShort(_))
        ));
        assert!(matches!(
            "0".repeat(33).parse::<IdFragment>(),
            Err(IdFragmentError::TooLong(_))
        ));
    }
}
