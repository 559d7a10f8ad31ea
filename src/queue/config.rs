//! The queue's runtime switches: the settings registry's
//! [`QueueSettings`](crate::settings::QueueSettings), read with the queue's
//! error.

use crate::settings::SettingsError;

use super::QueueError;

/// The `system_config` values the queue and the engine act on.
pub use crate::settings::QueueSettings as QueueConfig;

impl From<SettingsError> for QueueError {
    fn from(e: SettingsError) -> Self {
        match e {
            SettingsError::Sql(e) => QueueError::Sql(e),
            SettingsError::Invalid { key, message } => QueueError::Config { key, message },
            SettingsError::Corrupt(message) => QueueError::Config {
                key: "system_config",
                message,
            },
        }
    }
}
