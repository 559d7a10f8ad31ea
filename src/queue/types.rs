//! The job model: types and statuses parsed once at the edge, the row.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::Postgres;
use sqlx::encode::IsNull;
use sqlx::error::BoxDynError;
use sqlx::postgres::{PgArgumentBuffer, PgHasArrayType, PgTypeInfo, PgValueRef};
use uuid::Uuid;

/// A string that is not one of the known values of an enum.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} {value:?}; valid: {valid}")]
pub struct ParseError {
    what: &'static str,
    value: String,
    valid: &'static str,
}

/// Implements the text form (Display, FromStr, serde, PostgreSQL text) of a
/// fieldless enum from one table of (variant, string).
macro_rules! text_enum {
    ($ty:ident, $what:literal, { $($variant:ident => $text:literal),+ $(,)? }) => {
        impl $ty {
            /// Every value, in declaration order.
            pub const ALL: &'static [$ty] = &[$($ty::$variant),+];

            /// The form stored in `job_logs` and shown to users.
            pub fn as_str(self) -> &'static str {
                match self { $($ty::$variant => $text),+ }
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $ty {
            type Err = ParseError;
            fn from_str(s: &str) -> Result<Self, ParseError> {
                match s {
                    $($text => Ok($ty::$variant),)+
                    _ => Err(ParseError {
                        what: $what,
                        value: s.to_string(),
                        valid: concat!($($text, " "),+).trim_ascii_end(),
                    }),
                }
            }
        }

        impl Serialize for $ty {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }

        impl sqlx::Type<Postgres> for $ty {
            fn type_info() -> PgTypeInfo {
                <str as sqlx::Type<Postgres>>::type_info()
            }
            fn compatible(ty: &PgTypeInfo) -> bool {
                <str as sqlx::Type<Postgres>>::compatible(ty)
            }
        }

        impl PgHasArrayType for $ty {
            fn array_type_info() -> PgTypeInfo {
                <&str as PgHasArrayType>::array_type_info()
            }
        }

        impl sqlx::Encode<'_, Postgres> for $ty {
            fn encode_by_ref(&self, buf: &mut PgArgumentBuffer) -> Result<IsNull, BoxDynError> {
                <&str as sqlx::Encode<Postgres>>::encode(self.as_str(), buf)
            }
        }

        impl<'r> sqlx::Decode<'r, Postgres> for $ty {
            fn decode(value: PgValueRef<'r>) -> Result<Self, BoxDynError> {
                let s = <&str as sqlx::Decode<Postgres>>::decode(value)?;
                Ok(s.parse()?)
            }
        }
    };
}

/// What a job does; the queue only stores and routes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum JobType {
    Sync,
    Consolidation,
    GasTopup,
}

text_enum!(JobType, "job type", {
    Sync => "sync",
    Consolidation => "consolidation",
    GasTopup => "gas-topup",
});

/// Where a job is in its lifecycle (the seed's CHECK values).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum JobStatus {
    Pending,
    Processing,
    Completed,
    Failed,
    Cancelled,
}

text_enum!(JobStatus, "job status", {
    Pending => "pending",
    Processing => "processing",
    Completed => "completed",
    Failed => "failed",
    Cancelled => "cancelled",
});

/// A worker process's state as its `workers` row shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum WorkerState {
    Active,
    Idle,
    Paused,
    Error,
    Stopped,
}

text_enum!(WorkerState, "worker state", {
    Active => "active",
    Idle => "idle",
    Paused => "paused",
    Error => "error",
    Stopped => "stopped",
});

/// One row of `job_logs`. Type and status are optional only because rows
/// written by plain SQL may leave them NULL (the seed's columns allow it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, sqlx::FromRow)]
pub struct Job {
    pub id: Uuid,
    pub job_type: Option<JobType>,
    pub status: Option<JobStatus>,
    pub wallet_address: Option<String>,
    pub wallet_id: Option<Uuid>,
    pub user_id: Option<Uuid>,
    pub data: Option<serde_json::Value>,
    pub retry_count: Option<i32>,
    pub max_retries: Option<i32>,
    pub error_message: Option<String>,
    pub priority: i16,
    pub run_at: DateTime<Utc>,
    pub locked_by: Option<Uuid>,
    pub locked_until: Option<DateTime<Utc>>,
    pub attempt: i32,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub created_at: Option<DateTime<Utc>>,
    pub updated_at: Option<DateTime<Utc>>,
}

/// A job to enqueue. `max_retries` comes from `queue.max_retries`.
#[derive(Debug, Clone, PartialEq)]
pub struct NewJob {
    pub job_type: JobType,
    /// Base58 address; at most one pending or processing job per
    /// (address, type). Jobs without an address are never deduplicated.
    pub wallet_address: Option<String>,
    pub wallet_id: Option<Uuid>,
    pub user_id: Option<Uuid>,
    pub data: serde_json::Value,
    /// Higher runs first.
    pub priority: i16,
    /// Not before this time; `None` is now.
    pub run_at: Option<DateTime<Utc>>,
}

impl NewJob {
    /// A job of this type with no wallet, empty data, priority 0, due now.
    pub fn new(job_type: JobType) -> Self {
        Self {
            job_type,
            wallet_address: None,
            wallet_id: None,
            user_id: None,
            data: serde_json::json!({}),
            priority: 0,
            run_at: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_type_round_trips_and_rejects_unknown_with_the_valid_list() {
        for t in JobType::ALL {
            assert_eq!(t.as_str().parse::<JobType>().unwrap(), *t);
            let json = serde_json::to_string(t).unwrap();
            assert_eq!(serde_json::from_str::<JobType>(&json).unwrap(), *t);
        }
        assert_eq!(JobType::GasTopup.as_str(), "gas-topup");
        let err = "gas_topup".parse::<JobType>().unwrap_err().to_string();
        assert_eq!(
            err,
            "unknown job type \"gas_topup\"; valid: sync consolidation gas-topup"
        );
        assert!(serde_json::from_str::<JobType>("\"Sync\"").is_err());
    }

    #[test]
    fn job_status_round_trips() {
        for s in JobStatus::ALL {
            assert_eq!(s.as_str().parse::<JobStatus>().unwrap(), *s);
        }
        assert!("done".parse::<JobStatus>().is_err());
    }
}
