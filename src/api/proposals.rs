//! `GET` and `POST /api/admin/config/proposals`: changes to the keys that
//! move money, proposed by one admin, approved by another, applied after a
//! delay (`admin::proposals`).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Deserializer};
use serde_json::{Value, json};
use uuid::Uuid;

use super::AppState;
use super::auth::Caller;
use super::body::{RawBody, parse_object};
use super::error::ApiError;
use crate::admin::{Permission, proposals};

/// `GET /api/admin/config/proposals`: open proposals with their countdowns
/// (due ones are applied first, so the answer is current).
pub async fn list(
    State(state): State<AppState>,
    Caller(identity): Caller,
) -> Result<Response, ApiError> {
    identity.authorize(Permission::Read)?;
    proposals::apply_due_quietly(&state.pool).await;
    let list = proposals::list(&state.pool, false, 100).await?;
    Ok(Json(json!({"proposals": list})).into_response())
}

/// A present JSON value, `null` included (absent stays `None`): proposing
/// `null` unsets an address, so it must not read as "no value given".
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(d).map(Some)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StepBody {
    action: String,
    key: Option<String>,
    #[serde(default, deserialize_with = "present")]
    value: Option<Value>,
    id: Option<String>,
}

/// `POST /api/admin/config/proposals`: `{"action": "propose", "key", "value"}`
/// (201), `{"action": "approve" | "cancel", "id"}` (200). Admin only.
pub async fn step(
    State(state): State<AppState>,
    Caller(identity): Caller,
    body: RawBody,
) -> Result<Response, ApiError> {
    identity.authorize(Permission::SetConfig)?;
    let body: StepBody = parse_object(&body)?;
    let id = || -> Result<Uuid, ApiError> {
        let id = body
            .id
            .as_deref()
            .ok_or_else(|| ApiError::unprocessable("id is required to approve or cancel"))?;
        id.parse()
            .map_err(|_| ApiError::unprocessable("id is not a UUID"))
    };
    let (status, proposal) = match body.action.as_str() {
        "propose" => {
            let (Some(key), Some(value)) = (body.key.as_deref(), body.value.clone()) else {
                return Err(ApiError::unprocessable(
                    "key and value are required to propose (value null unsets an address)",
                ));
            };
            let p = proposals::propose(&state.pool, &identity, key, value).await?;
            (StatusCode::CREATED, p)
        }
        "approve" => (
            StatusCode::OK,
            proposals::approve(&state.pool, &identity, id()?).await?,
        ),
        "cancel" => (
            StatusCode::OK,
            proposals::cancel(&state.pool, &identity, id()?).await?,
        ),
        other => {
            return Err(ApiError::unprocessable(format!(
                "action must be \"propose\", \"approve\" or \"cancel\", not {other:?}"
            )));
        }
    };
    Ok((status, Json(json!({"success": true, "proposal": proposal}))).into_response())
}
