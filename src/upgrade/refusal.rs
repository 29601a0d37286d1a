//! The upgrade API's refusals that name a cause the user must fix before an upgrade can
//! be submitted: storage full, frozen, engine versions inconsistent, replication abnormal
//! or lagging, and a permission the caller's IAM policy does not grant — each with what
//! to do. Busy answers are not here: those are waited out ([`RdsError::is_busy`]).

use super::facts::InstanceFacts;
use crate::rds::RdsError;

/// The IAM action a minor version upgrade needs.
pub const UPGRADE_ACTION: &str = "rds:instance:upgradeDatabaseVersion";
/// The action [`UPGRADE_ACTION`] depends on.
pub const UPGRADE_ACTION_DEPENDENCY: &str = "rds:instance:modify";

/// Why the API refused to start the upgrade, when the answer says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// `DBS.200316` (409).
    StorageFull,
    /// `DBS.280449` (400).
    Frozen,
    /// `DBS.200037` (400).
    EngineVersionInconsistent,
    /// `DBS.200038` (400).
    ReplicationAbnormal,
    /// `DBS.200039` (400).
    ReplicationDelay,
    /// HTTP 403 that is a policy refusal ([`RdsError::is_permission_denied`]).
    PermissionDenied,
    /// Any other refusal (HTTP 4xx, not busy) of an upgrade of a read replica: the API
    /// upgrades it only with its primary.
    ReplicaAlone,
}

impl Refusal {
    /// The refusal an error of the upgrade call is, if it is one of these.
    pub fn of(error: &RdsError) -> Option<Refusal> {
        if error.is_permission_denied() {
            return Some(Refusal::PermissionDenied);
        }
        Some(match error.code()? {
            "DBS.200316" => Refusal::StorageFull,
            "DBS.280449" => Refusal::Frozen,
            "DBS.200037" => Refusal::EngineVersionInconsistent,
            "DBS.200038" => Refusal::ReplicationAbnormal,
            "DBS.200039" => Refusal::ReplicationDelay,
            _ => return None,
        })
    }

    /// The refusal an error of the upgrade of `facts` is: [`Refusal::of`], else, for a
    /// read replica, any client-error refusal that is not busy.
    pub fn of_upgrade(facts: &InstanceFacts, error: &RdsError) -> Option<Refusal> {
        Refusal::of(error).or_else(|| {
            let refused = matches!(
                error,
                RdsError::Api {
                    status: 400..=499,
                    ..
                }
            ) && !error.is_busy()
                && !error.is_throttled();
            (refused && facts.instance_type.eq_ignore_ascii_case("replica"))
                .then_some(Refusal::ReplicaAlone)
        })
    }

    /// A one-line summary for the diagnostic.
    pub fn summary(self) -> &'static str {
        match self {
            Refusal::StorageFull => "Upgrade refused: the instance's storage is full",
            Refusal::Frozen => "Upgrade refused: the instance is frozen",
            Refusal::EngineVersionInconsistent => {
                "Upgrade refused: the instance's engine versions are inconsistent"
            }
            Refusal::ReplicationAbnormal => {
                "Upgrade refused: primary/standby replication is abnormal"
            }
            Refusal::ReplicationDelay => {
                "Upgrade refused: primary/standby replication delay is over 5 minutes"
            }
            Refusal::PermissionDenied => "Upgrade refused: permission denied",
            Refusal::ReplicaAlone => "Upgrade refused: the read replica is not upgraded alone",
        }
    }

    /// The cause and what to do about it.
    pub fn advice(self) -> String {
        match self {
            Refusal::StorageFull => "Its storage is full. Scale up the instance's storage \
                 (or free space) and apply again."
                .to_string(),
            Refusal::Frozen => "It is frozen (usually an overdue payment or an expired \
                 subscription). Unfreeze it — settle the bill or renew, or ask Huawei Cloud \
                 support — and apply again."
                .to_string(),
            Refusal::EngineVersionInconsistent => "Its nodes do not run the same engine \
                 version. Ask Huawei Cloud support to bring the nodes to one version, then \
                 apply again."
                .to_string(),
            Refusal::ReplicationAbnormal => "Replication between its primary and standby \
                 is abnormal. Wait for replication to recover (or repair it), then apply \
                 again."
                .to_string(),
            Refusal::ReplicationDelay => "Its standby lags the primary by more than 5 \
                 minutes. Wait until the replication delay drops (reduce the write load), \
                 then apply again."
                .to_string(),
            Refusal::PermissionDenied => format!(
                "The access key's IAM identity is not allowed to upgrade it. A minor \
                 version upgrade needs the IAM action {UPGRADE_ACTION} (which depends on \
                 {UPGRADE_ACTION_DEPENDENCY}) on the instance: grant both (mind conditions \
                 on g:EnterpriseProjectId and g:ResourceTag/<tag-key>), then apply again. \
                 A plan needs only read actions."
            ),
            Refusal::ReplicaAlone => "The API does not upgrade this read replica on its \
                 own. Upgrade its primary instance: its read replicas are upgraded with it."
                .to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rds::error::from_response;

    #[test]
    fn each_code_is_its_refusal() {
        for (status, code, refusal) in [
            (409, "DBS.200316", Refusal::StorageFull),
            (400, "DBS.280449", Refusal::Frozen),
            (400, "DBS.200037", Refusal::EngineVersionInconsistent),
            (400, "DBS.200038", Refusal::ReplicationAbnormal),
            (400, "DBS.200039", Refusal::ReplicationDelay),
            (403, "DBS.200010", Refusal::PermissionDenied),
        ] {
            let body = format!(r#"{{"errCode":"{code}","externalMessage":"m"}}"#);
            let e = from_response(status, body.as_bytes(), None);
            assert_eq!(Refusal::of(&e), Some(refusal), "{code}");
            assert!(!e.is_busy(), "{code} is never waited out");
        }
        let advice = Refusal::PermissionDenied.advice();
        assert!(advice.contains(UPGRADE_ACTION) && advice.contains(UPGRADE_ACTION_DEPENDENCY));
        for busy in ["DBS.201205", "DBS.200019", "DBS.01280030"] {
            let body = format!(r#"{{"error_code":"{busy}","error_msg":"m"}}"#);
            let e = from_response(409, body.as_bytes(), None);
            assert_eq!(Refusal::of(&e), None, "{busy} is busy, not a refusal");
            assert!(e.is_busy(), "{busy}");
        }
        assert_eq!(Refusal::of(&RdsError::Cancelled), None);

        let mut facts = InstanceFacts {
            instance_type: "Replica".into(),
            ..Default::default()
        };
        let replica_refused = from_response(400, br#"{"error_code":"DBS.200023"}"#, None);
        assert_eq!(
            Refusal::of_upgrade(&facts, &replica_refused),
            Some(Refusal::ReplicaAlone)
        );
        let busy = from_response(409, br#"{"error_code":"DBS.201205"}"#, None);
        assert_eq!(Refusal::of_upgrade(&facts, &busy), None);
        let server = from_response(500, br#"{"error_code":"DBS.200001"}"#, None);
        assert_eq!(Refusal::of_upgrade(&facts, &server), None);
        facts.instance_type = "Single".into();
        assert_eq!(Refusal::of_upgrade(&facts, &replica_refused), None);
    }
}
