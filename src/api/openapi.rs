//! `GET /api/openapi.json`: an OpenAPI 3 description of every route, built
//! from the same route table as the router (a test checks the two agree and
//! that every described route answers).

use axum::Json;
use axum::extract::State;
use serde_json::{Map, Value, json};

use super::auth::Caller;
use super::error::ApiError;
use super::{AppState, ROUTES, Route};
use crate::admin::Permission;

pub async fn openapi(
    State(_): State<AppState>,
    Caller(identity): Caller,
) -> Result<Json<Value>, ApiError> {
    identity.authorize(Permission::Read)?;
    Ok(Json(document()))
}

fn error_response(description: &str) -> Value {
    json!({"description": description, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}})
}

fn operation(route: &Route) -> Value {
    let mut responses = Map::new();
    responses.insert("200".into(), json!({"description": "OK"}));
    if route.auth {
        responses.insert(
            "401".into(),
            error_response("missing, unknown, revoked or expired token"),
        );
        responses.insert(
            "403".into(),
            error_response("the token's role may not do this"),
        );
    }
    responses.insert(
        "503".into(),
        error_response(
            "too many connections (or event streams), or the request took longer than the server's request timeout",
        ),
    );
    let mut op = json!({
        "summary": route.summary,
        "operationId": route.operation_id,
        "responses": responses,
    });
    if !route.auth {
        op["security"] = json!([]);
    }
    if !route.params.is_empty() {
        op["parameters"] = route
            .params
            .iter()
            .map(|(name, description)| {
                json!({"name": name, "in": "query", "description": description, "schema": {"type": "string"}})
            })
            .collect();
    }
    if let Some(schema) = route.body_schema {
        op["requestBody"] = json!({
            "required": schema != "Empty",
            "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{schema}")}}}
        });
        let r = op["responses"]
            .as_object_mut()
            .expect("responses is an object");
        r.insert("400".into(), error_response("malformed JSON"));
        r.insert(
            "408".into(),
            error_response("the body did not arrive within the server's body timeout"),
        );
        r.insert("413".into(), error_response("body too large"));
        r.insert(
            "422".into(),
            error_response(
                "not a JSON object, a key given twice, or a field missing or invalid; nothing changed",
            ),
        );
    }
    if route.operation_id == "dispatchJob" {
        let r = op["responses"]
            .as_object_mut()
            .expect("responses is an object");
        r.remove("200");
        r.insert("201".into(), json!({"description": "job queued"}));
        r.insert("404".into(), error_response("no such wallet"));
        r.insert("409".into(), error_response("the wallet already has a pending or processing job of this type; the body's `job` is that job"));
    }
    op
}

/// The whole document.
pub fn document() -> Value {
    let mut paths = Map::new();
    for route in ROUTES {
        let entry = paths.entry(route.path).or_insert_with(|| json!({}));
        entry[route.method.to_ascii_lowercase()] = operation(route);
    }
    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "walletops admin API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Operator actions over the walletops job queue; every change is audited."
        },
        "paths": paths,
        "security": [{"bearer": []}],
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Error": {"type": "object", "required": ["error"], "properties": {"error": {"type": "string"}}},
                "WorkersControl": {
                    "type": "object", "required": ["action"], "additionalProperties": false,
                    "properties": {"action": {"type": "string", "enum": ["start", "pause"]}}
                },
                "DispatchJob": {
                    "type": "object", "required": ["jobType"], "additionalProperties": false,
                    "description": "walletId or address locates the wallet; userId, when given, must own it.",
                    "properties": {
                        "walletId": {"type": "string", "format": "uuid"},
                        "userId": {"type": "string", "format": "uuid"},
                        "address": {"type": "string", "description": "base58 TRON address"},
                        "jobType": {"type": "string", "enum": ["sync", "consolidation", "gas-topup"]}
                    }
                },
                "ConfigProposalStep": {
                    "type": "object", "required": ["action"], "additionalProperties": false,
                    "description": "propose: key and value (JSON; null unsets an address); approve or cancel: id. A different admin than the proposer must approve; the change takes effect policy.change_delay_seconds after approval.",
                    "properties": {
                        "action": {"type": "string", "enum": ["propose", "approve", "cancel"]},
                        "key": {"type": "string"},
                        "value": {},
                        "id": {"type": "string", "format": "uuid"}
                    }
                },
                "JobId": {
                    "type": "object", "required": ["jobId"], "additionalProperties": false,
                    "properties": {"jobId": {"type": "string", "format": "uuid"}}
                },
                "Selection": {
                    "type": "object", "required": ["status"], "additionalProperties": false,
                    "description": "Jobs in this status that every other field given matches.",
                    "properties": {
                        "status": {"type": "string", "enum": ["pending", "failed", "cancelled"], "description": "retry: failed or cancelled; cancel: pending"},
                        "jobType": {"type": "string", "enum": ["sync", "consolidation", "gas-topup"]},
                        "errorLike": {"type": "string", "description": "text the error message contains, any case"},
                        "errorClass": {"type": "string", "description": "a failure group's class, exactly (GET /api/admin/jobs/failures)"},
                        "walletAddress": {"type": "string", "description": "the wallet's address, exactly"}
                    }
                },
                "SelectionCount": {
                    "type": "object", "required": ["action", "selection"], "additionalProperties": false,
                    "properties": {
                        "action": {"type": "string", "enum": ["retry", "cancel"]},
                        "selection": {"$ref": "#/components/schemas/Selection"}
                    }
                },
                "SelectionAction": {
                    "type": "object", "required": ["selection"], "additionalProperties": false,
                    "properties": {
                        "selection": {"$ref": "#/components/schemas/Selection"},
                        "expect": {"type": "integer", "minimum": 0, "description": "the count shown: when another number of jobs matches, nothing changes (409)"}
                    }
                },
                "Empty": {"type": "object", "additionalProperties": false}
            }
        }
    })
}
