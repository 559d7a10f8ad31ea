//! The routes behind `walletops console --api`: who the token is, one
//! snapshot of everything the console shows, wallet search, and retry and
//! cancel of one job. With the endpoints of the admin page walletops replaced
//! (`handlers`), these are every screen and action of the console, so a jump box or a wall screen needs a token
//! only, never database credentials.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

use super::AppState;
use super::auth::Caller;
use super::body::{RawBody, parse_object};
use super::error::ApiError;
use crate::admin::console::{self, ConsoleSnapshot, Whoami};
use crate::admin::jobs::{BulkAction, JobSelection};
use crate::admin::{self, Identity, Permission, Source, overview};

/// The longest search text accepted.
const SEARCH_MAX: usize = 200;

async fn whoami_of(state: &AppState, identity: &Identity) -> Whoami {
    let refresh_seconds = Some(
        crate::settings::UiSettings::load(&state.pool)
            .await
            .refresh
            .as_secs(),
    );
    Whoami {
        role: identity.role,
        name: match &identity.source {
            Source::Token { name, .. } => name.clone(),
            _ => identity.to_string(),
        },
        refresh_seconds,
    }
}

/// `GET /api/whoami`
pub async fn whoami(
    State(state): State<AppState>,
    Caller(identity): Caller,
) -> Result<Response, ApiError> {
    identity.authorize(Permission::Read)?;
    Ok(Json(whoami_of(&state, &identity).await).into_response())
}

/// A query string parsed strictly: unknown parameters are refused (422).
fn query<T>(q: Result<Query<T>, QueryRejection>) -> Result<T, ApiError> {
    q.map(|Query(t)| t)
        .map_err(|r| ApiError::unprocessable(r.body_text()))
}

fn bounded(name: &str, text: String) -> Result<String, ApiError> {
    if text.chars().count() > SEARCH_MAX {
        return Err(ApiError::unprocessable(format!(
            "{name} is longer than {SEARCH_MAX} characters"
        )));
    }
    Ok(text)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SnapshotQuery {
    #[serde(default)]
    job_search: String,
    history_minutes: Option<u32>,
}

/// `GET /api/console/snapshot?jobSearch=TEXT&historyMinutes=N`
pub async fn snapshot(
    State(state): State<AppState>,
    Caller(identity): Caller,
    q: Result<Query<SnapshotQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    identity.authorize(Permission::Read)?;
    let q = query(q)?;
    let search = bounded("jobSearch", q.job_search)?;
    let caller = whoami_of(&state, &identity).await;
    let minutes = q.history_minutes.unwrap_or(console::HISTORY_MINUTES);
    if !(1..=console::HISTORY_MINUTES).contains(&minutes) {
        return Err(ApiError::unprocessable(format!(
            "historyMinutes must be 1 to {}",
            console::HISTORY_MINUTES
        )));
    }
    let data = console::read(&state.pool, &search, minutes).await?;
    Ok(Json(ConsoleSnapshot { caller, data }).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SearchQuery {
    #[serde(default)]
    q: String,
}

/// `GET /api/wallets/search?q=TEXT`
pub async fn search_wallets(
    State(state): State<AppState>,
    Caller(identity): Caller,
    q: Result<Query<SearchQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    identity.authorize(Permission::Read)?;
    let q = bounded("q", query(q)?.q)?;
    let wallets = overview::search_wallets(&state.pool, &q).await?;
    Ok(Json(json!({ "wallets": wallets })).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DetailQuery {
    id: Uuid,
}

/// `GET /api/jobs/detail?id=UUID`
pub async fn job_detail(
    State(state): State<AppState>,
    Caller(identity): Caller,
    q: Result<Query<DetailQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    identity.authorize(Permission::Read)?;
    let DetailQuery { id } = query(q)?;
    let detail = admin::jobs::detail(&state.pool, id).await?;
    Ok(Json(detail).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct JobBody {
    job_id: Uuid,
}

/// `POST /api/admin/jobs/retry {"jobId"}`
pub async fn retry_job(
    State(state): State<AppState>,
    Caller(identity): Caller,
    body: RawBody,
) -> Result<Response, ApiError> {
    identity.authorize(Permission::RetryJob)?;
    let JobBody { job_id } = parse_object(&body)?;
    let job = admin::jobs::retry(&state.pool, &identity, job_id).await?;
    Ok(Json(json!({"success": true, "job": job})).into_response())
}

/// `POST /api/admin/jobs/cancel {"jobId"}`
pub async fn cancel_job(
    State(state): State<AppState>,
    Caller(identity): Caller,
    body: RawBody,
) -> Result<Response, ApiError> {
    identity.authorize(Permission::CancelJob)?;
    let JobBody { job_id } = parse_object(&body)?;
    let job = admin::jobs::cancel(&state.pool, &identity, job_id).await?;
    Ok(Json(json!({"success": true, "job": job})).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FailuresQuery {
    #[serde(default)]
    limit: Option<u32>,
}

/// `GET /api/admin/jobs/failures?limit=N`
pub async fn job_failures(
    State(state): State<AppState>,
    Caller(identity): Caller,
    q: Result<Query<FailuresQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    identity.authorize(Permission::Read)?;
    let limit = query(q)?.limit.unwrap_or(20);
    if !(1..=100).contains(&limit) {
        return Err(ApiError::unprocessable("limit must be 1 to 100"));
    }
    let failures = admin::jobs::failures(&state.pool, limit).await?;
    Ok(Json(failures).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct CountBody {
    action: BulkAction,
    selection: JobSelection,
}

/// `POST /api/admin/jobs/selection/count {"action", "selection"}`
pub async fn count_selection(
    State(state): State<AppState>,
    Caller(identity): Caller,
    body: RawBody,
) -> Result<Response, ApiError> {
    identity.authorize(Permission::Read)?;
    let CountBody { action, selection } = parse_object(&body)?;
    if action == BulkAction::Clear {
        return Err(ApiError::unprocessable("action must be retry or cancel"));
    }
    let count = admin::jobs::count_selection(&state.pool, action, &selection).await?;
    Ok(Json(count).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct SelectionBody {
    selection: JobSelection,
    #[serde(default)]
    expect: Option<u64>,
}

async fn act_on_selection(
    state: &AppState,
    identity: &Identity,
    action: BulkAction,
    body: &RawBody,
) -> Result<Response, ApiError> {
    let SelectionBody { selection, expect } = parse_object(body)?;
    let done =
        admin::jobs::act_on_selection(&state.pool, identity, action, &selection, expect).await?;
    Ok(Json(json!({"success": true, "jobs": done.jobs, "skipped": done.skipped})).into_response())
}

/// `POST /api/admin/jobs/selection/retry {"selection", "expect"?}`
pub async fn retry_selection(
    State(state): State<AppState>,
    Caller(identity): Caller,
    body: RawBody,
) -> Result<Response, ApiError> {
    identity.authorize(Permission::RetryJob)?;
    act_on_selection(&state, &identity, BulkAction::Retry, &body).await
}

/// `POST /api/admin/jobs/selection/cancel {"selection", "expect"?}`
pub async fn cancel_selection(
    State(state): State<AppState>,
    Caller(identity): Caller,
    body: RawBody,
) -> Result<Response, ApiError> {
    identity.authorize(Permission::CancelJob)?;
    act_on_selection(&state, &identity, BulkAction::Cancel, &body).await
}
