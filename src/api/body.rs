//! Request bodies: read within a deadline and a size limit, then parsed
//! strictly. A body must be one JSON object (`[]`, `"x"` and `1` are
//! refused, however the target type would read them) without duplicate
//! keys (a parser keeping the first or the last of two `"action"`s would
//! let a proxy and this server disagree on what was asked).

use std::fmt;

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use serde::Deserialize;
use serde::de::{self, DeserializeOwned, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use super::AppState;
use super::error::ApiError;

/// The request body's bytes, read within `Limits::body_timeout` (408
/// after) and `BODY_LIMIT` (413 beyond). Handlers authorize first, then
/// parse it with [`parse_object`].
pub struct RawBody(pub Bytes);

impl FromRequest<AppState> for RawBody {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, ApiError> {
        let limit = state.limits.body_timeout;
        match tokio::time::timeout(limit, Bytes::from_request(request, state)).await {
            Ok(Ok(bytes)) => Ok(RawBody(bytes)),
            Ok(Err(rejection)) => Err(ApiError::new(rejection.status(), rejection.body_text())),
            Err(_) => Err(ApiError::new(
                StatusCode::REQUEST_TIMEOUT,
                format!(
                    "the request body did not arrive within {} s; nothing changed",
                    limit.as_secs_f64()
                ),
            )),
        }
    }
}

/// Parses a body that must be a JSON object into `T`: malformed JSON is
/// 400; duplicate keys, anything but an object, and the wrong fields are
/// 422. An empty body reads as `{}`.
pub fn parse_object<T: DeserializeOwned>(RawBody(bytes): &RawBody) -> Result<T, ApiError> {
    let bytes: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) {
        b"{}"
    } else {
        bytes
    };
    // Syntax first (400), then shape (422): a struct parser would report an
    // unknown field before noticing that the JSON itself is broken.
    let Strict(value) = serde_json::from_slice(bytes).map_err(|e| {
        let status = if e.is_data() {
            StatusCode::UNPROCESSABLE_ENTITY
        } else {
            StatusCode::BAD_REQUEST
        };
        ApiError::new(status, format!("invalid request body: {e}"))
    })?;
    let Value::Object(fields) = value else {
        return Err(ApiError::unprocessable(format!(
            "invalid request body: it must be a JSON object, not {}",
            kind(&value)
        )));
    };
    serde_json::from_value(Value::Object(fields))
        .map_err(|e| ApiError::unprocessable(format!("invalid request body: {e}")))
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A JSON value in which no object has a key twice, at any depth.
struct Strict(Value);

impl<'de> Deserialize<'de> for Strict {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(StrictVisitor).map(Strict)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_string()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(Strict(item)) = seq.next_element()? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut fields = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if fields.contains_key(&key) {
                return Err(de::Error::custom(format_args!("duplicate key {key:?}")));
            }
            let Strict(value) = map.next_value()?;
            fields.insert(key, value);
        }
        Ok(Value::Object(fields))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(text: &str) -> Result<Value, (StatusCode, String)> {
        parse_object::<Value>(&RawBody(Bytes::from(text.to_string())))
            .map_err(|e| (e.status, e.message))
    }

    #[test]
    fn only_an_object_without_duplicate_keys_passes() {
        assert_eq!(parse(" ").unwrap(), json!({}));
        assert_eq!(
            parse(r#"{"a": [1, {"b": null}], "c": 1.5}"#).unwrap(),
            json!({"a": [1, {"b": null}], "c": 1.5})
        );
        for (text, what) in [
            ("[]", "an array"),
            (r#""x""#, "a string"),
            ("1", "a number"),
            ("null", "null"),
            ("true", "a boolean"),
        ] {
            let (status, message) = parse(text).unwrap_err();
            assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{text}");
            assert!(message.contains(what), "{text}: {message}");
        }
        for text in [
            r#"{"action": "start", "action": "pause"}"#,
            r#"{"a": {"b": 1, "b": 1}}"#,
            r#"{"a": [{"b": 1, "b": 2}]}"#,
        ] {
            let (status, message) = parse(text).unwrap_err();
            assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{text}");
            assert!(message.contains("duplicate key"), "{text}: {message}");
        }
        let (status, _) = parse("{\"a\": ").unwrap_err();
        assert_eq!(status, StatusCode::BAD_REQUEST);
    }
}
