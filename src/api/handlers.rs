//! The endpoints of the admin page walletops replaced, kept for its
//! clients: each parses and validates its input, then calls the same
//! `admin` action as the console and the CLI.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use super::AppState;
use super::auth::Caller;
use super::body::{RawBody, parse_object};
use super::error::ApiError;
use crate::admin::jobs::{self, Dispatch};
use crate::admin::wallet_lookup::WalletRef;
use crate::admin::{JobType, Permission, control, stats};
use crate::tron::Address;

/// A body for endpoints that take none: empty or an empty JSON object.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NoFields {}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ControlBody {
    action: String,
}

/// `POST /api/admin/workers/control {"action": "start" | "pause"}`
pub async fn workers_control(
    State(state): State<AppState>,
    Caller(identity): Caller,
    body: RawBody,
) -> Result<Response, ApiError> {
    identity.authorize(Permission::ControlWorkers)?;
    let body: ControlBody = parse_object(&body)?;
    let paused = match body.action.as_str() {
        "start" => false,
        "pause" => true,
        other => {
            return Err(ApiError::unprocessable(format!(
                "action must be \"start\" or \"pause\", not {other:?}"
            )));
        }
    };
    let outcome = control::set_paused(&state.pool, &identity, paused).await?;
    Ok(
        Json(json!({"success": true, "paused": outcome.paused, "changed": outcome.changed}))
            .into_response(),
    )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct DispatchBody {
    wallet_id: Option<String>,
    user_id: Option<String>,
    address: Option<String>,
    job_type: String,
}

fn uuid_field(name: &str, value: &str) -> Result<Uuid, ApiError> {
    value
        .parse()
        .map_err(|_| ApiError::unprocessable(format!("{name} is not a UUID")))
}

/// `POST /api/admin/dispatch-job {"walletId", "userId", "address", "jobType"}`:
/// `walletId` or `address` locates the wallet (both must agree when both are
/// given); `userId`, when given, must own it. 201 with the new job, 409 with
/// the existing one.
pub async fn dispatch_job(
    State(state): State<AppState>,
    Caller(identity): Caller,
    body: RawBody,
) -> Result<Response, ApiError> {
    identity.authorize(Permission::Dispatch)?;
    let body: DispatchBody = parse_object(&body)?;
    let job_type = body
        .job_type
        .parse::<JobType>()
        .map_err(|e| ApiError::unprocessable(e.to_string()))?;
    let user_id = body
        .user_id
        .as_deref()
        .map(|u| uuid_field("userId", u))
        .transpose()?;
    let address = body
        .address
        .as_deref()
        .map(|a| {
            a.parse::<Address>().map_err(|e| {
                ApiError::unprocessable(format!("address {a:?} is not a TRON address: {e}"))
            })
        })
        .transpose()?;
    let wallet_id = body
        .wallet_id
        .as_deref()
        .map(|w| uuid_field("walletId", w))
        .transpose()?;
    let wallet = match (wallet_id, &address) {
        (Some(id), _) => WalletRef::Id(id),
        (None, Some(address)) => WalletRef::Address(*address),
        (None, None) => {
            return Err(ApiError::unprocessable(
                "walletId or address is required to locate the wallet",
            ));
        }
    };
    if let (Some(_), Some(address)) = (wallet_id, &address) {
        // Both given: they must name the same wallet, checked before anything changes.
        let mut conn = state
            .pool
            .acquire()
            .await
            .map_err(crate::admin::AdminError::from)?;
        let found = crate::admin::wallet_lookup::find(&mut conn, &wallet).await?;
        if found.address != address.to_string() {
            return Err(ApiError::unprocessable(format!(
                "walletId {} is wallet {}, not {address}",
                found.id, found.address
            )));
        }
    }
    let done = jobs::dispatch(
        &state.pool,
        &identity,
        &Dispatch {
            wallet,
            user_id,
            job_type,
        },
    )
    .await?;
    if done.created {
        Ok((
            StatusCode::CREATED,
            Json(json!({"success": true, "job": done.job, "wallet": done.wallet})),
        )
            .into_response())
    } else {
        Err(ApiError {
            extra: Some((
                "job",
                serde_json::to_value(&done.job).unwrap_or(Value::Null),
            )),
            ..ApiError::new(
                StatusCode::CONFLICT,
                format!(
                    "wallet {} already has a {job_type} job in progress",
                    done.wallet.address
                ),
            )
        })
    }
}

/// `POST /api/admin/jobs/clear-failed` (no body needed)
pub async fn clear_failed(
    State(state): State<AppState>,
    Caller(identity): Caller,
    body: RawBody,
) -> Result<Response, ApiError> {
    identity.authorize(Permission::ClearFailed)?;
    let NoFields {} = parse_object(&body)?;
    let cleared = jobs::clear_failed(&state.pool, &identity).await?;
    Ok(Json(json!({"success": true, "deleted": cleared.deleted})).into_response())
}

/// `POST /api/admin/reset-processing` (no body needed)
pub async fn reset_processing(
    State(state): State<AppState>,
    Caller(identity): Caller,
    body: RawBody,
) -> Result<Response, ApiError> {
    identity.authorize(Permission::ResetProcessing)?;
    let NoFields {} = parse_object(&body)?;
    let reset = jobs::reset_processing(&state.pool, &identity).await?;
    Ok(
        Json(json!({"success": true, "jobs": reset.jobs, "wallets": reset.wallets}))
            .into_response(),
    )
}

/// `GET /api/workers/stats`
pub async fn workers_stats(
    State(state): State<AppState>,
    Caller(identity): Caller,
) -> Result<Response, ApiError> {
    identity.authorize(Permission::Read)?;
    Ok(Json(stats::snapshot(&state.pool).await?).into_response())
}

/// `GET /healthz`: the process answers; no auth, no data.
pub async fn healthz() -> StatusCode {
    StatusCode::OK
}
