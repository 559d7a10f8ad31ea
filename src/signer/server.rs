//! `walletops signer`'s HTTP side: two authenticated routes on a loopback
//! listener (`GET /v1/policy`, `POST /v1/sign`), an append-only log of every
//! signature (JSON lines, fsynced before the signature is returned) and
//! every refusal, and the
//! day's counters rebuilt from that log at start: no worker and no database
//! can reset them.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{Read as _, Write as _};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::auth::{NONCE_HEADER, ReplayGuard, SIGNATURE_HEADER, SharedSecret, TIMESTAMP_HEADER};
use super::remote::SignResponse;
use super::{Core, SignRequest};
use crate::policy::{Refusal, TransferKind, Usage};
use crate::tron::Address;

/// One line of the signer's log: a transaction it signed, or a request it
/// refused (kept here too, where no worker or database can remove it).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LogLine {
    pub at: DateTime<Utc>,
    pub kind: TransferKind,
    pub wallet_id: Uuid,
    pub from: Address,
    pub to: Address,
    pub amount: u64,
    /// The signed transaction's id; none for a refusal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tx_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refused: Option<Refusal>,
}

/// Why the log cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error("cannot open the signer log {path}: {source}")]
    Open {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "the signer log {path} has an unreadable line {line}: {message}; it is append-only, so \
         this means it was altered: restore it before the signer can count today's transfers"
    )]
    Corrupt {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error("cannot write the signer log: {0}")]
    Write(std::io::Error),
}

/// The log file and the counters of the current UTC day.
pub struct Ledger {
    file: File,
    day: NaiveDate,
    per_wallet: HashMap<(TransferKind, Uuid), u64>,
    total: HashMap<TransferKind, u64>,
}

impl Ledger {
    /// Opens (creating) the log and counts today's lines. A last line cut
    /// short by a crash is removed (its signature was never returned: a line
    /// is on disk before its signature leaves); any other unreadable line
    /// refuses the start.
    pub fn open(path: &Path) -> Result<Self, LogError> {
        let open_err = |source| LogError::Open {
            path: path.to_path_buf(),
            source,
        };
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .read(true)
            .open(path)
            .map_err(open_err)?;
        let mut text = String::new();
        file.read_to_string(&mut text).map_err(open_err)?;
        let mut ledger = Self {
            file,
            day: Utc::now().date_naive(),
            per_wallet: HashMap::new(),
            total: HashMap::new(),
        };
        let complete = text.is_empty() || text.ends_with('\n');
        let lines: Vec<&str> = text.lines().collect();
        for (i, line) in lines.iter().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let entry: LogLine = match serde_json::from_str(line) {
                Ok(e) => e,
                Err(_) if !complete && i + 1 == lines.len() => {
                    tracing::warn!(
                        line = i + 1,
                        "signer log: removing a last line cut short by a crash"
                    );
                    let keep = text.rfind('\n').map_or(0, |n| n + 1);
                    ledger.file.set_len(keep as u64).map_err(LogError::Write)?;
                    ledger.file.sync_data().map_err(LogError::Write)?;
                    continue;
                }
                Err(e) => {
                    return Err(LogError::Corrupt {
                        path: path.to_path_buf(),
                        line: i + 1,
                        message: e.to_string(),
                    });
                }
            };
            if entry.at.date_naive() == ledger.day {
                ledger.count(&entry);
            }
        }
        Ok(ledger)
    }

    fn roll(&mut self) {
        let today = Utc::now().date_naive();
        if today != self.day {
            self.day = today;
            self.per_wallet.clear();
            self.total.clear();
        }
    }

    fn count(&mut self, e: &LogLine) {
        if e.refused.is_some() {
            return;
        }
        *self.per_wallet.entry((e.kind, e.wallet_id)).or_default() += e.amount;
        *self.total.entry(e.kind).or_default() += e.amount;
    }

    /// Today's figures for a kind and wallet.
    pub fn usage(&mut self, kind: TransferKind, wallet_id: Uuid) -> Usage {
        self.roll();
        Usage {
            wallet: self
                .per_wallet
                .get(&(kind, wallet_id))
                .copied()
                .unwrap_or(0),
            total: self.total.get(&kind).copied().unwrap_or(0),
        }
    }

    /// Appends a line and syncs it to disk, then counts it.
    pub fn record(&mut self, entry: &LogLine) -> Result<(), LogError> {
        let mut line = serde_json::to_vec(entry).expect("a log line serializes");
        line.push(b'\n');
        self.file.write_all(&line).map_err(LogError::Write)?;
        self.file.sync_data().map_err(LogError::Write)?;
        self.roll();
        if entry.at.date_naive() == self.day {
            self.count(entry);
        }
        Ok(())
    }
}

/// The log line of a request, signed (`tx_id`) or not.
fn line_for(req: &SignRequest, tx_id: Option<String>) -> LogLine {
    LogLine {
        at: Utc::now(),
        kind: req.kind,
        wallet_id: req.wallet_id,
        from: req.from,
        to: req.to,
        amount: req.amount,
        tx_id,
        refused: None,
    }
}

/// What the signer's routes share.
pub struct SignerState {
    pub core: Core,
    pub policy_text: String,
    pub secret: SharedSecret,
    pub replay: ReplayGuard,
    /// Held across check, sign and log, so two requests cannot both fit
    /// under a cap that only one fits under.
    pub ledger: Mutex<Ledger>,
}

type Reply = (StatusCode, String);

fn reply(status: StatusCode, answer: &SignResponse) -> Reply {
    (
        status,
        serde_json::to_string(answer).expect("an answer serializes"),
    )
}

/// Checks a request's authentication; the refusal to send otherwise.
fn authenticate(
    state: &SignerState,
    headers: &HeaderMap,
    method: &str,
    path: &str,
    body: &[u8],
) -> Result<(), Reply> {
    let header = |name| headers.get(name).and_then(|v| v.to_str().ok());
    let refuse = |why: &str| {
        tracing::warn!(path, "signer: refused an unauthenticated request: {why}");
        Err(reply(
            StatusCode::UNAUTHORIZED,
            &SignResponse::Error(format!("not authenticated: {why}")),
        ))
    };
    let (Some(ts), Some(nonce), Some(sig)) = (
        header(TIMESTAMP_HEADER).and_then(|t| t.parse::<i64>().ok()),
        header(NONCE_HEADER),
        header(SIGNATURE_HEADER),
    ) else {
        return refuse("missing or malformed authentication headers");
    };
    if !state.secret.verify(sig, ts, nonce, method, path, body) {
        return refuse("bad signature");
    }
    if let Err(why) = state.replay.admit(ts, nonce, Utc::now().timestamp_millis()) {
        return refuse(why);
    }
    Ok(())
}

async fn policy(State(state): State<Arc<SignerState>>, headers: HeaderMap) -> Reply {
    if let Err(r) = authenticate(&state, &headers, "GET", "/v1/policy", &[]) {
        return r;
    }
    (StatusCode::OK, state.policy_text.clone())
}

async fn sign(State(state): State<Arc<SignerState>>, headers: HeaderMap, body: Bytes) -> Reply {
    if let Err(r) = authenticate(&state, &headers, "POST", "/v1/sign", &body) {
        return r;
    }
    let req: SignRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => {
            return reply(
                StatusCode::BAD_REQUEST,
                &SignResponse::Error(format!("malformed signing request: {e}")),
            );
        }
    };
    let mut ledger = state.ledger.lock().expect("ledger lock");
    let usage = ledger.usage(req.kind, req.wallet_id);
    let signed = match state.core.sign(&req, usage) {
        Ok(s) => s,
        Err(refusal) => {
            tracing::error!(
                kind = %req.kind, from = %req.from, to = %req.to, amount = req.amount,
                rule = refusal.rule.as_str(), "signer: {refusal}"
            );
            let entry = LogLine {
                refused: Some(refusal.clone()),
                ..line_for(&req, None)
            };
            if let Err(e) = ledger.record(&entry) {
                tracing::error!("signer: {e}");
            }
            return reply(StatusCode::FORBIDDEN, &SignResponse::Refused(refusal));
        }
    };
    let entry = line_for(&req, Some(signed.txid().to_hex()));
    // No signature leaves before its line is on disk.
    if let Err(e) = ledger.record(&entry) {
        tracing::error!("signer: {e}");
        return reply(
            StatusCode::INTERNAL_SERVER_ERROR,
            &SignResponse::Error(e.to_string()),
        );
    }
    drop(ledger);
    tracing::info!(
        kind = %entry.kind, from = %entry.from, to = %entry.to, amount = entry.amount,
        tx_id = entry.tx_id.as_deref().unwrap_or(""), "signer: signed"
    );
    reply(StatusCode::OK, &SignResponse::Signed(signed.to_hex()))
}

/// The signer's routes.
pub fn router(state: Arc<SignerState>) -> Router {
    Router::new()
        .route("/v1/policy", get(policy))
        .route("/v1/sign", post(sign))
        .with_state(state)
}

/// Where the signer listens: a TCP address (loopback), or `unix:PATH`, a
/// Unix socket that only its owner and group may connect to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    Tcp(SocketAddr),
    Unix(PathBuf),
}

impl std::str::FromStr for Endpoint {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.strip_prefix("unix:") {
            Some(path) if path.starts_with('/') => Ok(Endpoint::Unix(PathBuf::from(path))),
            Some(_) => Err(format!(
                "{s:?}: a Unix socket needs an absolute path, e.g. unix:/run/walletops-signer/socket"
            )),
            None => s
                .parse()
                .map(Endpoint::Tcp)
                .map_err(|e| format!("{s:?} is neither ADDR:PORT nor unix:/PATH: {e}")),
        }
    }
}

/// A bound listener.
pub enum Bound {
    Tcp(tokio::net::TcpListener),
    Unix(tokio::net::UnixListener, PathBuf),
}

impl Bound {
    /// Binds `endpoint`. A Unix socket left by an earlier run is replaced;
    /// the new one is made mode 0660.
    pub async fn bind(endpoint: &Endpoint) -> std::io::Result<Self> {
        match endpoint {
            Endpoint::Tcp(addr) => Ok(Bound::Tcp(tokio::net::TcpListener::bind(addr).await?)),
            Endpoint::Unix(path) => {
                use std::os::unix::fs::{FileTypeExt as _, PermissionsExt as _};
                if std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_socket()) {
                    std::fs::remove_file(path)?;
                }
                let listener = tokio::net::UnixListener::bind(path)?;
                std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660))?;
                Ok(Bound::Unix(listener, path.clone()))
            }
        }
    }

    /// The URL workers pass to `--signer`.
    pub fn url(&self) -> std::io::Result<String> {
        match self {
            Bound::Tcp(l) => Ok(format!("http://{}", l.local_addr()?)),
            Bound::Unix(_, path) => Ok(format!("unix:{}", path.display())),
        }
    }

    /// Whether only this host can reach it.
    pub fn is_local(&self) -> bool {
        match self {
            Bound::Tcp(l) => l.local_addr().is_ok_and(|a| a.ip().is_loopback()),
            Bound::Unix(..) => true,
        }
    }

    /// Serves until `stop` resolves.
    pub async fn serve(
        self,
        state: Arc<SignerState>,
        stop: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        match self {
            Bound::Tcp(l) => {
                axum::serve(l, router(state))
                    .with_graceful_shutdown(stop)
                    .await
            }
            Bound::Unix(l, path) => {
                let result = axum::serve(l, router(state))
                    .with_graceful_shutdown(stop)
                    .await;
                let _ = std::fs::remove_file(path);
                result
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tron::PrivateKey;

    fn line(kind: TransferKind, wallet_id: Uuid, amount: u64, at: DateTime<Utc>) -> LogLine {
        let a = PrivateKey::from_bytes(&[4; 32]).unwrap().address();
        LogLine {
            at,
            kind,
            wallet_id,
            from: a,
            to: a,
            amount,
            tx_id: Some("00".repeat(32)),
            refused: None,
        }
    }

    #[test]
    fn the_counters_are_rebuilt_from_today_s_lines_and_a_torn_last_line_is_removed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ledger.jsonl");
        let (w, other) = (Uuid::new_v4(), Uuid::new_v4());
        let kind = TransferKind::ConsolidationTrx;
        {
            let mut l = Ledger::open(&path).unwrap();
            l.record(&line(kind, w, 5, Utc::now() - chrono::Duration::days(1)))
                .unwrap();
            l.record(&line(kind, w, 7, Utc::now())).unwrap();
            l.record(&line(kind, other, 3, Utc::now())).unwrap();
            l.record(&line(TransferKind::GasTopup, w, 100, Utc::now()))
                .unwrap();
            // A refusal is logged, not counted.
            l.record(&LogLine {
                refused: Some(Refusal {
                    rule: crate::policy::Rule::Destination,
                    message: "to the attacker".into(),
                }),
                tx_id: None,
                ..line(kind, w, 1000, Utc::now())
            })
            .unwrap();
            assert_eq!(
                l.usage(kind, w),
                Usage {
                    wallet: 7,
                    total: 10
                }
            );
        }
        // A crash in the middle of a line.
        std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap()
            .write_all(b"{\"at\":\"20")
            .unwrap();
        let mut l = Ledger::open(&path).unwrap();
        assert_eq!(
            l.usage(kind, w),
            Usage {
                wallet: 7,
                total: 10
            }
        );
        l.record(&line(kind, w, 1, Utc::now())).unwrap();
        drop(l);
        let mut l = Ledger::open(&path).unwrap();
        assert_eq!(
            l.usage(kind, w),
            Usage {
                wallet: 8,
                total: 11
            }
        );
        drop(l);

        // A line changed in the middle: the signer does not start.
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::write(&path, text.replacen("\"amount\":7", "\"amount\":\"x\"", 1)).unwrap();
        let err = Ledger::open(&path).err().unwrap();
        assert!(matches!(err, LogError::Corrupt { line: 2, .. }), "{err}");
        assert!(
            text.contains("\"refused\":{\"rule\":\"destination\""),
            "{text}"
        );
    }
}
