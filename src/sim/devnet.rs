//! What makes `walletops tron-sim` a devnet: test accounts derived from a
//! seed and funded at genesis, and the chain kept in a state file across
//! restarts (serde JSON of the chain, written to a temporary file and
//! renamed over the old one, so a crash mid-write leaves the last save).

use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::SimConfig;
use super::chain::{Block, Chain, Dropped, Executed, Known, Origin, State};
use crate::tron::address::Address;
use crate::tron::keys::PrivateKey;
use crate::tron::tx::{SignedTransaction, TxId};

/// The state file's format; a file of another version is refused.
const STATE_VERSION: u32 = 2;

/// `n` private keys derived from `seed`: key i is the SHA-256 of the seed
/// and i, skipping the rare hash that is not a valid key. The same seed
/// gives the same accounts on every start, as devnets do.
pub fn dev_keys(seed: &str, n: usize) -> Vec<PrivateKey> {
    (0u64..)
        .filter_map(|i| {
            let mut h = Sha256::new();
            h.update(seed.as_bytes());
            h.update(i.to_be_bytes());
            PrivateKey::from_bytes(&h.finalize().into()).ok()
        })
        .take(n)
        .collect()
}

/// Why a state file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum StateFileError {
    /// The file exists but cannot be read.
    #[error("cannot read the state file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// Not JSON of the state format (torn, edited, another program's).
    #[error(
        "the state file {path} is not a tron-sim state ({source}); move it away to start a new chain there"
    )]
    Corrupt {
        path: PathBuf,
        source: serde_json::Error,
    },
    /// Another version of the format.
    #[error(
        "the state file {path} is format {found}, this tron-sim reads format {STATE_VERSION}; move it away to start a new chain there"
    )]
    Version { path: PathBuf, found: u32 },
    /// A chain with another USDT contract than this start's.
    #[error(
        "the state file {path} is a chain whose USDT contract is {found}, not {expected}; start with --usdt-contract {found} or use another file"
    )]
    Contract {
        path: PathBuf,
        found: Address,
        expected: Address,
    },
    /// Well-formed, but its parts do not fit together.
    #[error(
        "the state file {path} is inconsistent: {reason}; move it away to start a new chain there"
    )]
    Inconsistent { path: PathBuf, reason: String },
    /// Saving failed; the previous save, if any, is intact.
    #[error("cannot write the state file {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

#[derive(Serialize, Deserialize)]
struct StoredTx {
    /// The `Transaction` protobuf, hex.
    transaction: String,
    executed: Option<Executed>,
    /// [`Executed::asset`], which the receipt does not serialize.
    asset: Option<String>,
    origin: Origin,
}

/// The `&'static str` of an asset name read back.
fn asset_name(name: &str) -> Option<&'static str> {
    ["TRX", "USDT", "TRC20", "STAKE", "PERMISSION"]
        .into_iter()
        .find(|a| *a == name)
}

/// Everything of a [`Chain`] but its configuration (which comes from the
/// command line of each start).
#[derive(Serialize, Deserialize)]
struct Snapshot {
    version: u32,
    usdt_contract: Address,
    /// The blocks kept: pruning may have dropped the oldest.
    blocks: VecDeque<Block>,
    state: State,
    /// The state as of the solidified head, which a fork goes back to.
    solid_state: State,
    solid_burned: u64,
    forks: u64,
    pool: Vec<TxId>,
    limbo: Vec<TxId>,
    txs: Vec<StoredTx>,
    applied: VecDeque<TxId>,
    dropped: Vec<Dropped>,
    broadcasts: HashMap<TxId, u32>,
    funded_trx: u64,
    funded_usdt: u64,
    burned: u64,
}

/// The chain's state as the file keeps it; taken under the chain lock,
/// written after it is released.
pub struct Saved(Snapshot);

impl Saved {
    pub fn of(chain: &Chain) -> Self {
        let mut limbo: Vec<TxId> = chain.limbo.iter().copied().collect();
        limbo.sort();
        Saved(Snapshot {
            version: STATE_VERSION,
            usdt_contract: chain.config.usdt_contract,
            blocks: chain.blocks.clone(),
            state: chain.state.clone(),
            solid_state: chain.solid_state.clone(),
            solid_burned: chain.solid_burned,
            forks: chain.forks,
            pool: chain.pool.clone(),
            limbo,
            txs: chain
                .txs
                .values()
                .map(|k| StoredTx {
                    transaction: k.tx.to_hex(),
                    executed: k.executed.clone(),
                    asset: k.executed.as_ref().map(|e| e.asset.to_string()),
                    origin: k.origin,
                })
                .collect(),
            applied: chain.applied.clone(),
            dropped: chain.dropped.clone(),
            broadcasts: chain.broadcasts.clone(),
            funded_trx: chain.funded_trx,
            funded_usdt: chain.funded_usdt,
            burned: chain.burned,
        })
    }

    /// Writes `path` whole or not at all.
    pub fn write(&self, path: &Path) -> Result<(), StateFileError> {
        let write_err = |source| StateFileError::Write {
            path: path.to_path_buf(),
            source,
        };
        let json = serde_json::to_vec(&self.0).map_err(|e| write_err(std::io::Error::other(e)))?;
        let mut tmp = path.as_os_str().to_owned();
        tmp.push(".tmp");
        std::fs::write(&tmp, json).map_err(write_err)?;
        std::fs::rename(&tmp, path).map_err(write_err)
    }
}

/// The chain saved in `path`, under `config`; `None` when there is no file
/// yet (a new chain starts there).
pub fn load(path: &Path, config: &SimConfig) -> Result<Option<Chain>, StateFileError> {
    let p = || path.to_path_buf();
    let text = match std::fs::read(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(StateFileError::Read { path: p(), source }),
    };
    // The version first, so an old format is named as such, not as corrupt.
    #[derive(Deserialize)]
    struct Version {
        version: u32,
    }
    let version: Version = serde_json::from_slice(&text)
        .map_err(|source| StateFileError::Corrupt { path: p(), source })?;
    if version.version != STATE_VERSION {
        return Err(StateFileError::Version {
            path: p(),
            found: version.version,
        });
    }
    let s: Snapshot = serde_json::from_slice(&text)
        .map_err(|source| StateFileError::Corrupt { path: p(), source })?;
    if s.usdt_contract != config.usdt_contract {
        return Err(StateFileError::Contract {
            path: p(),
            found: s.usdt_contract,
            expected: config.usdt_contract,
        });
    }
    let inconsistent = |reason: String| StateFileError::Inconsistent { path: p(), reason };
    // Pruning drops the oldest blocks, so the first need not be 0.
    if s.blocks.is_empty()
        || s.blocks
            .iter()
            .zip(s.blocks.iter().skip(1))
            .any(|(a, b)| b.number != a.number + 1)
    {
        return Err(inconsistent("its blocks are not numbered n, n+1, …".into()));
    }
    let head = s.blocks.back().expect("not empty").number;
    if s.blocks[0].number > head.saturating_sub(config.solidify_blocks) {
        return Err(inconsistent(format!(
            "its solidified head (block {head} less --solidify-blocks {}) is pruned; start with the --solidify-blocks it was saved with",
            config.solidify_blocks
        )));
    }
    let mut txs = HashMap::new();
    for stored in s.txs {
        let bytes = hex::decode(&stored.transaction)
            .map_err(|e| inconsistent(format!("a transaction is not hex: {e}")))?;
        let tx = SignedTransaction::decode(&bytes)
            .map_err(|e| inconsistent(format!("a transaction does not decode: {e}")))?;
        let mut executed = stored.executed;
        if let Some(ex) = &mut executed {
            let name = stored.asset.unwrap_or_default();
            ex.asset =
                asset_name(&name).ok_or_else(|| inconsistent(format!("unknown asset {name:?}")))?;
        }
        txs.insert(
            tx.txid(),
            Known {
                tx: tx.into(),
                executed,
                origin: stored.origin,
            },
        );
    }
    if let Some(missing) = s
        .applied
        .iter()
        .chain(&s.pool)
        .chain(&s.limbo)
        .find(|id| !txs.contains_key(*id))
    {
        return Err(inconsistent(format!(
            "transaction {missing} is listed but not stored"
        )));
    }
    let mut chain = Chain::new(config.clone(), 0);
    chain.blocks = s.blocks;
    chain.state = s.state;
    chain.solid_state = s.solid_state;
    chain.solid_burned = s.solid_burned;
    chain.forks = s.forks;
    // A token declared since the save starts with an empty ledger.
    for token in &config.tokens {
        for state in [&mut chain.state, &mut chain.solid_state] {
            state.tokens.entry(token.address).or_default();
        }
    }
    chain.pool = s.pool;
    chain.limbo = s.limbo.into_iter().collect();
    chain.txs = txs;
    chain.applied = s.applied;
    chain.dropped = s.dropped;
    chain.broadcasts = s.broadcasts;
    chain.funded_trx = s.funded_trx;
    chain.funded_usdt = s.funded_usdt;
    chain.burned = s.burned;
    chain.reindex();
    Ok(Some(chain))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dev_keys_are_deterministic_and_distinct() {
        let a = dev_keys("seed", 3);
        let b = dev_keys("seed", 3);
        let c = dev_keys("other", 3);
        let addrs = |ks: &[PrivateKey]| ks.iter().map(PrivateKey::address).collect::<Vec<_>>();
        assert_eq!(addrs(&a), addrs(&b));
        assert_ne!(addrs(&a), addrs(&c));
        assert_ne!(a[0].address(), a[1].address());
    }

    #[test]
    fn a_saved_chain_loads_back_with_its_balances_and_blocks() {
        let dir = std::env::temp_dir().join(format!("tron-sim-state-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("chain.json");
        let config = SimConfig::default();
        let mut chain = Chain::new(config.clone(), 1_000);
        let who = dev_keys("t", 1)[0].address();
        chain.fund(who, 5_000_000, 7, 1_000).unwrap();
        chain.produce_block(4_000, Vec::new());
        // A delegation: its map is keyed by a pair, which JSON keys are not.
        let receiver = dev_keys("t", 2)[1].address();
        chain
            .state
            .delegations
            .entry((who, receiver))
            .or_default()
            .balance = [3, 0];
        Saved::of(&chain).write(&path).unwrap();
        let back = load(&path, &config).unwrap().expect("the file exists");
        assert_eq!(back.head().number, 1);
        assert_eq!(back.head().id, chain.head().id);
        assert_eq!(back.state.accounts[&who].trx, 5_000_000);
        assert_eq!(back.state.usdt[&who], 7);
        assert_eq!(back.state.delegations[&(who, receiver)].balance, [3, 0]);

        std::fs::write(&path, b"{\"version\": 2, \"blocks\": [").unwrap();
        let err = load(&path, &config).err().expect("a torn file is refused");
        assert!(matches!(err, StateFileError::Corrupt { .. }), "{err}");
        assert!(err.to_string().contains("move it away"), "{err}");
        std::fs::write(&path, b"{\"version\": 9}").unwrap();
        let err = load(&path, &config)
            .err()
            .expect("another format is refused");
        assert!(
            matches!(err, StateFileError::Version { found: 9, .. }),
            "{err}"
        );
        assert!(load(&dir.join("absent.json"), &config).unwrap().is_none());

        // A pruned chain loads back from its oldest kept block and can fork.
        let pruned_config = SimConfig {
            keep_blocks: Some(3),
            solidify_blocks: 1,
            ..SimConfig::default()
        };
        let mut chain = Chain::new(pruned_config.clone(), 1_000);
        chain.fund(who, 5_000_000, 0, 1_000).unwrap();
        for i in 1..=6 {
            chain.produce_block(1_000 + i * 3_000, Vec::new());
        }
        let first = chain.blocks[0].number;
        assert!(first > 0, "pruned");
        Saved::of(&chain).write(&path).unwrap();
        let mut back = load(&path, &pruned_config).unwrap().expect("saved");
        assert_eq!(back.blocks[0].number, first);
        assert_eq!(back.head().id, chain.head().id);
        assert_eq!(back.solid_state().accounts[&who].trx, 5_000_000);
        back.fork(1, 0.0).expect("the solid state came back too");
        assert_ne!(back.head().id, chain.head().id);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
