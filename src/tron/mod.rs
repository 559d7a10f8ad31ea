//! Pure TRON chain code: addresses, keys and signing, transactions and the
//! full-node HTTP client. Nothing here touches the database (README.md,
//! Architecture); `wallets` and `jobs` build on it, and so does the
//! simulator (`crate::sim`).
//!
//! Facts about the real network, with sources, are in `docs/tron.md`.

pub mod address;
pub mod amount;
pub mod client;
pub mod keys;
pub mod tx;

pub use address::{Address, AddressError};
pub use amount::{Sun, TokenUnits, format_units};
pub use keys::{KeyError, PrivateKey, SignatureError, TxSignature};
pub use tx::{Contract, DecodeError, RawTransaction, RefBlock, SignedTransaction, TxId};

/// Mainnet USDT (Tether), `TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t` (docs/tron.md,
/// USDT contracts).
pub const MAINNET_USDT: &str = "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t";
