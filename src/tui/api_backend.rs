//! The [`ConsoleBackend`] over the HTTP API (`walletops console --api URL`):
//! the same screens and actions as over the database, with a personal token
//! instead of database credentials. The server decides what the token may
//! do and audits each action as the token; the console shows a viewer token
//! read-only. The data is `admin::console`'s, turned into the console's view
//! by the same code as the database backend's, so both show the same.
//!
//! A lost API is shown like a lost database: the refresh fails with
//! [`BackendError::Unavailable`] and the console retries.

use std::sync::Arc;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use tokio::task::JoinHandle;
use url::Url;
use uuid::Uuid;

use super::action::{AdminCommand, ConfirmedAction};
use super::admin_backend::{
    cancelled_outcome, cleared_outcome, dispatched_outcome, paused_outcome, reset_outcome,
    retried_outcome, selection_outcome, snapshot_from, wallet_hit,
};
use super::backend::{ActionOutcome, BackendError, Change, ChangeFeed, ConsoleBackend};
use super::history::ReadClock;
use super::model::{
    Access, BulkAction, BulkCount, JobDetail, JobSelection, Role, Snapshot, WalletHit,
};
use crate::admin::console::{ConsoleSnapshot, Whoami};
use crate::admin::overview::WalletMatch;
use crate::config::Secret;

/// A request to the API may take this long; the server's own request
/// timeout is shorter by default, so its 503 usually comes first.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(40);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// The server sends a keep-alive on the event stream every 15 s: a stream
/// silent for this long is dead.
const EVENTS_SILENCE: Duration = Duration::from_secs(45);

/// Why the console cannot start over the API.
#[derive(Debug, thiserror::Error)]
pub enum ApiConnectError {
    /// The URL is not one to talk to.
    #[error("--api {0}: use an http:// or https:// URL, e.g. http://127.0.0.1:8080")]
    BadUrl(String),
    /// Plain HTTP beyond this host would show the token to the network.
    #[error(
        "--api {0}: plain http:// sends the token in clear beyond this host; use https:// \
         (TLS in front of walletops serve) or an SSH tunnel to http://127.0.0.1"
    )]
    Cleartext(String),
    /// The HTTP client cannot be built.
    #[error("cannot build the HTTP client: {0}")]
    Client(String),
    /// The first request failed: unreachable, token refused, not walletops.
    #[error("{0}")]
    Refused(BackendError),
}

/// The console's view of the system through the HTTP API, as one token.
pub struct ApiBackend {
    http: reqwest::Client,
    /// The API's root, ending in `/`.
    base: Url,
    token: Secret,
    changes: Arc<ChangeFeed>,
    follower: JoinHandle<()>,
    history_read: ReadClock,
}

impl ApiBackend {
    /// Checks the URL and the token now (`GET /api/whoami`), before the
    /// terminal is taken, and starts following the event stream.
    pub async fn connect(api: &str, token: Secret) -> Result<(Self, Whoami), ApiConnectError> {
        let backend = Self::new(api, token)?;
        let whoami = backend.whoami().await.map_err(ApiConnectError::Refused)?;
        Ok((backend, whoami))
    }

    /// Who the token is, as the server says now.
    pub async fn whoami(&self) -> Result<Whoami, BackendError> {
        self.get::<Whoami>("api/whoami", &[]).await
    }

    /// Checks the URL (nothing is sent yet) and starts following the event
    /// stream, which retries until the API answers.
    pub fn new(api: &str, token: Secret) -> Result<Self, ApiConnectError> {
        let mut base = Url::parse(api)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
            .ok_or_else(|| ApiConnectError::BadUrl(api.to_string()))?;
        if base.scheme() == "http" && !is_loopback(&base) {
            return Err(ApiConnectError::Cleartext(api.to_string()));
        }
        if !base.path().ends_with('/') {
            base.set_path(&format!("{}/", base.path()));
        }
        crate::tron::client::install_crypto_provider();
        let http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(REQUEST_TIMEOUT)
            .build()
            .map_err(|e| ApiConnectError::Client(crate::db::one_line(&e)))?;
        let events = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .read_timeout(EVENTS_SILENCE)
            .build()
            .map_err(|e| ApiConnectError::Client(crate::db::one_line(&e)))?;
        let changes = Arc::new(ChangeFeed::default());
        Ok(Self {
            follower: tokio::spawn(follow_events(
                events,
                base.clone(),
                token.clone(),
                changes.clone(),
            )),
            http,
            base,
            token,
            changes,
            history_read: ReadClock::default(),
        })
    }

    fn url(&self, path: &str, query: &[(&str, &str)]) -> Url {
        let mut url = self.base.join(path).expect("a relative path joins");
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        url
    }

    /// One request: the status and JSON body of any answer, or
    /// `Unavailable` when none came.
    async fn send(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<Value>,
    ) -> Result<(StatusCode, Value), BackendError> {
        let url = self.url(path, query);
        let mut request = self
            .http
            .request(method, url.clone())
            .bearer_auth(self.token.expose());
        if let Some(body) = body {
            request = request.json(&body);
        }
        let unreachable = |e: reqwest::Error| {
            BackendError::Unavailable(format!(
                "the API at {}: {}",
                self.base,
                crate::db::one_line(&e)
            ))
        };
        let response = request.send().await.map_err(unreachable)?;
        let status = response.status();
        let text = response.text().await.map_err(unreachable)?;
        let value = serde_json::from_str(&text).unwrap_or(Value::Null);
        if value.is_null() && status.is_success() {
            return Err(BackendError::Failed(format!(
                "{url} answered {status} without JSON: is {} a walletops API?",
                self.base
            )));
        }
        Ok((status, value))
    }

    async fn get<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, &str)],
    ) -> Result<T, BackendError> {
        let (status, value) = self.send(Method::GET, path, query, None).await?;
        let value = success(status, value)?;
        serde_json::from_value(value).map_err(|e| {
            BackendError::Failed(format!(
                "the API's answer to {path} is not what this console reads ({e}): \
                 are the console and the server the same version?"
            ))
        })
    }

    async fn post(&self, path: &str, body: Value) -> Result<Value, BackendError> {
        let (status, value) = self.send(Method::POST, path, &[], Some(body)).await?;
        success(status, value)
    }
}

impl Drop for ApiBackend {
    fn drop(&mut self) {
        self.follower.abort();
    }
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// A 2xx answer's body; any other answer as the error the console shows.
fn success(status: StatusCode, value: Value) -> Result<Value, BackendError> {
    if status.is_success() {
        return Ok(value);
    }
    let message = value["error"]
        .as_str()
        .map_or_else(|| format!("the API answered {status}"), str::to_string);
    Err(match status {
        StatusCode::UNAUTHORIZED => {
            BackendError::Refused(format!("the API refused the token: {message}"))
        }
        StatusCode::BAD_GATEWAY | StatusCode::SERVICE_UNAVAILABLE | StatusCode::GATEWAY_TIMEOUT => {
            BackendError::Unavailable(message)
        }
        s if s.is_client_error() => BackendError::Refused(message),
        _ => BackendError::Failed(message),
    })
}

fn access(caller: &Whoami) -> Access {
    let role = caller.role;
    Access {
        operator: Some(format!("token {}", caller.name)),
        role,
        note: (role == Role::Viewer).then(|| "the API token may only read".to_string()),
    }
}

fn field<T: DeserializeOwned>(value: &Value, name: &str) -> Result<T, BackendError> {
    serde_json::from_value(value[name].clone())
        .map_err(|e| BackendError::Failed(format!("the API's answer has no valid {name:?}: {e}")))
}

impl ConsoleBackend for ApiBackend {
    async fn snapshot(&self, job_search: String) -> Result<Snapshot, BackendError> {
        let minutes = self.history_read.minutes().to_string();
        let answer: ConsoleSnapshot = self
            .get(
                "api/console/snapshot",
                &[("jobSearch", &job_search), ("historyMinutes", &minutes)],
            )
            .await?;
        self.history_read.mark();
        Ok(snapshot_from(answer.data, access(&answer.caller)))
    }

    async fn run(&self, action: ConfirmedAction) -> Result<ActionOutcome, BackendError> {
        Ok(match action.command() {
            AdminCommand::PauseWorkers { .. } | AdminCommand::StartWorkers { .. } => {
                let pause = matches!(action.command(), AdminCommand::PauseWorkers { .. });
                let word = if pause { "pause" } else { "start" };
                let done = self
                    .post("api/admin/workers/control", json!({"action": word}))
                    .await?;
                paused_outcome(pause, field(&done, "changed")?)
            }
            AdminCommand::ClearFailed { .. } => {
                let done = self.post("api/admin/jobs/clear-failed", json!({})).await?;
                cleared_outcome(field(&done, "deleted")?)
            }
            AdminCommand::ResetProcessing { .. } => {
                let done = self.post("api/admin/reset-processing", json!({})).await?;
                let wallets: Vec<String> = field(&done, "wallets")?;
                reset_outcome(field(&done, "jobs")?, wallets.len() as u64)
            }
            AdminCommand::RetryJob { job, .. } => {
                let done = self
                    .post("api/admin/jobs/retry", json!({"jobId": job}))
                    .await?;
                retried_outcome(field::<Value>(&done, "job").and_then(|j| field(&j, "id"))?)
            }
            AdminCommand::CancelJob { job, .. } => {
                let done = self
                    .post("api/admin/jobs/cancel", json!({"jobId": job}))
                    .await?;
                cancelled_outcome(field::<Value>(&done, "job").and_then(|j| field(&j, "id"))?)
            }
            AdminCommand::Dispatch { job_type, wallet } => {
                let (status, done) = self
                    .send(
                        Method::POST,
                        "api/admin/dispatch-job",
                        &[],
                        Some(json!({"walletId": wallet.wallet_id, "jobType": job_type.as_str()})),
                    )
                    .await?;
                // 409: the wallet already has such a job; the answer names it.
                let created = status != StatusCode::CONFLICT;
                let done = if created {
                    success(status, done)?
                } else {
                    done
                };
                let job: Uuid = field::<Value>(&done, "job").and_then(|j| field(&j, "id"))?;
                dispatched_outcome(*job_type, created, job, &wallet.address)
            }
            AdminCommand::Selection {
                action,
                selection,
                count,
                ..
            } => {
                let path = match action {
                    BulkAction::Retry => "api/admin/jobs/selection/retry",
                    _ => "api/admin/jobs/selection/cancel",
                };
                let done = self
                    .post(path, json!({"selection": selection, "expect": count.jobs}))
                    .await?;
                let done = BulkCount {
                    jobs: field(&done, "jobs")?,
                    skipped: field(&done, "skipped")?,
                };
                selection_outcome(*action, selection, done)
            }
        })
    }

    async fn count_selection(
        &self,
        action: BulkAction,
        selection: JobSelection,
    ) -> Result<BulkCount, BackendError> {
        let answer = self
            .post(
                "api/admin/jobs/selection/count",
                json!({"action": action, "selection": selection}),
            )
            .await?;
        serde_json::from_value(answer)
            .map_err(|e| BackendError::Failed(format!("the API's count is not valid: {e}")))
    }

    async fn search_wallets(&self, query: &str) -> Result<Vec<WalletHit>, BackendError> {
        let answer: Value = self.get("api/wallets/search", &[("q", query)]).await?;
        let found: Vec<WalletMatch> = field(&answer, "wallets")?;
        Ok(found.into_iter().map(wallet_hit).collect())
    }

    async fn job_detail(&self, id: Uuid) -> Result<JobDetail, BackendError> {
        let detail: crate::admin::jobs::JobDetail = self
            .get("api/jobs/detail", &[("id", &id.to_string())])
            .await?;
        super::admin_backend::job_detail(detail)
    }

    async fn changed(&self) -> Change {
        self.changes.next().await
    }
}

/// Follows `GET /api/events` for as long as the backend lives: every event
/// wakes the console once (it then re-reads everything; an event's data is
/// not used). A lost stream is reported at once and reopened with backoff,
/// and a reopened one counts as a change (events may have been missed).
async fn follow_events(http: reqwest::Client, base: Url, token: Secret, changes: Arc<ChangeFeed>) {
    let url = base.join("api/events").expect("a relative path joins");
    let mut backoff = Duration::from_millis(500);
    loop {
        match http
            .get(url.clone())
            .bearer_auth(token.expose())
            .send()
            .await
        {
            Ok(mut response) if response.status().is_success() => {
                backoff = Duration::from_millis(500);
                changes.link(Change::LinkUp);
                loop {
                    match response.chunk().await {
                        Ok(Some(chunk)) => {
                            // Keep-alives are comment lines; anything else is an event.
                            if chunk
                                .split(|b| *b == b'\n')
                                .any(|l| l.starts_with(b"event:"))
                            {
                                changes.data();
                            }
                        }
                        Ok(None) => {
                            changes
                                .link(Change::LinkDown("the API closed the event stream".into()));
                            break;
                        }
                        Err(e) => {
                            let e = crate::db::one_line(&e);
                            tracing::warn!(error = %e, "console: event stream lost; reopening");
                            changes.link(Change::LinkDown(format!("the API's event stream: {e}")));
                            break;
                        }
                    }
                }
            }
            Ok(response) => {
                tracing::warn!(status = %response.status(), "console: the API refused the event stream; retrying");
                changes.link(Change::LinkDown(format!(
                    "the API refused the event stream ({})",
                    response.status()
                )));
            }
            Err(e) => {
                let e = crate::db::one_line(&e);
                tracing::warn!(error = %e, "console: cannot open the event stream; retrying");
                changes.link(Change::LinkDown(format!("the API at {base}: {e}")));
            }
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(30));
    }
}
