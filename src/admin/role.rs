//! Roles and permissions: who may do what, decided in this one place.

use crate::db::text_enum;

/// An operator's role, as stored in `operators.role` and `api_tokens.role`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    /// Reads everything, changes nothing.
    Viewer,
    /// Dispatches, retries, cancels, clears and resets jobs.
    Operator,
    /// Everything, including start/pause, runtime switches and API tokens.
    Admin,
}

text_enum!(Role, "role", {
    Viewer => "viewer",
    Operator => "operator",
    Admin => "admin",
});

impl Role {
    /// Whether this role may do `permission`: the single table of rights.
    pub fn allows(self, permission: Permission) -> bool {
        use Permission::*;
        match permission {
            Read => true,
            Dispatch | RetryJob | CancelJob | ClearFailed | ResetProcessing => {
                matches!(self, Role::Operator | Role::Admin)
            }
            ControlWorkers | SetConfig | ManageTokens | AcknowledgeSecurity | AcknowledgeAudit => {
                self == Role::Admin
            }
        }
    }
}

/// Something an identity may be allowed to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Permission {
    /// Health, stats, job lists, configuration, the audit trail, events.
    Read,
    ControlWorkers,
    Dispatch,
    RetryJob,
    CancelJob,
    ClearFailed,
    ResetProcessing,
    SetConfig,
    ManageTokens,
    /// Acknowledge policy refusals and other security events.
    AcknowledgeSecurity,
    /// Acknowledge a change made outside walletops (clears its health warning).
    AcknowledgeAudit,
}

impl Permission {
    /// What the refusal message calls it.
    pub fn describe(self) -> &'static str {
        match self {
            Permission::Read => "read",
            Permission::ControlWorkers => "start or pause the workers",
            Permission::Dispatch => "dispatch jobs",
            Permission::RetryJob => "retry jobs",
            Permission::CancelJob => "cancel jobs",
            Permission::ClearFailed => "clear failed jobs",
            Permission::ResetProcessing => "reset processing states",
            Permission::SetConfig => "change the runtime configuration",
            Permission::ManageTokens => "manage API tokens",
            Permission::AcknowledgeSecurity => "acknowledge security events",
            Permission::AcknowledgeAudit => "acknowledge changes made outside walletops",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rights_follow_the_design() {
        use Permission::*;
        let all = [
            Read,
            ControlWorkers,
            Dispatch,
            RetryJob,
            CancelJob,
            ClearFailed,
            ResetProcessing,
            SetConfig,
            ManageTokens,
            AcknowledgeSecurity,
            AcknowledgeAudit,
        ];
        for p in all {
            assert!(Role::Admin.allows(p), "{p:?}");
            assert_eq!(Role::Viewer.allows(p), p == Read, "{p:?}");
        }
        for p in [Dispatch, RetryJob, CancelJob, ClearFailed, ResetProcessing] {
            assert!(Role::Operator.allows(p), "{p:?}");
        }
        for p in [
            ControlWorkers,
            SetConfig,
            ManageTokens,
            AcknowledgeSecurity,
            AcknowledgeAudit,
        ] {
            assert!(!Role::Operator.allows(p), "{p:?}");
        }
    }

    #[test]
    fn roles_parse_and_print() {
        for r in Role::ALL {
            assert_eq!(r.as_str().parse::<Role>(), Ok(*r));
        }
        assert!("root".parse::<Role>().is_err());
        // Column-aligned listings (`operators list`, `tokens list`) pad it.
        assert_eq!(format!("{:<9}|", Role::Admin), "admin    |");
    }
}
