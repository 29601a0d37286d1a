//! The emulator's configuration file (JSON, every key optional) and its defaults.

use serde::{Deserialize, Serialize};

pub use super::flow_control::{Algorithm, FlowControlConfig, RouteLimit};

/// Top-level configuration.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct Config {
    pub access_key: String,
    pub secret_key: String,
    /// When set, requests must carry this `X-Security-Token` (temporary credentials).
    pub security_token: Option<String>,
    pub project_id: String,
    pub region: String,
    /// Default duration of an upgrade job, in seconds (fractions allowed).
    pub job_seconds: f64,
    /// Seconds after a delayed upgrade is submitted until "the maintenance window" opens.
    pub window_opens_after_seconds: f64,
    /// Seconds during which a new job is unknown to `GET /jobs`, absent from the task
    /// center's listings, and not yet reflected in its instance's status (the real API
    /// shows new jobs with a delay). The upgrade API itself refuses a second upgrade as
    /// busy at once.
    pub job_visible_after_seconds: f64,
    pub instances: Option<Vec<InstanceSpec>>,
    /// The emulator's clock is this many seconds ahead of the real one (negative: behind)
    /// when it checks a request's `X-Sdk-Date`, as a server whose clock disagrees with
    /// the client's would; more than 15 minutes apart is `APIGW.0303`.
    pub clock_skew_seconds: f64,
    /// More users, each with its own flow-control quota (`[{"access_key", "secret_key"}]`);
    /// `security_token` applies to the main `access_key` only.
    pub extra_credentials: Vec<Credential>,
    /// The API gateway's flow control (on by default, at the documented standard policy).
    pub flow_control: FlowControlConfig,
    /// Disaster-recovery relations that `GET /instances/disaster-recovery-relation`
    /// lists (none by default).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub dr_relations: Vec<DrRelationSpec>,
    /// How long every temporary credential and IAM token the emulator issues lives, in
    /// seconds (fractions allowed); unset, what the request asks (as IAM does).
    pub temporary_credential_seconds: Option<f64>,
    /// The agencies the main AK/SK may assume.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub agencies: Vec<AgencySpec>,
    /// The OIDC identity providers whose id tokens IAM exchanges.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub identity_providers: Vec<IdentityProviderSpec>,
    /// The agency attached to "this server": its keys are what
    /// `GET /openstack/latest/securitykey` serves. Unset, that route answers 401.
    pub metadata_agency: Option<String>,
    /// How long an access key stays locked after more than five bad signatures in a
    /// row (300 s at the gateway; scaled down in tests).
    pub signature_lock_seconds: f64,
}

/// An agency the main user may assume: its account (name and id) and its name.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AgencySpec {
    pub domain_name: String,
    pub domain_id: String,
    pub agency_name: String,
}

/// An OIDC identity provider: IAM accepts a JWT whose `iss` is `issuer`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct IdentityProviderSpec {
    pub id: String,
    pub issuer: String,
}

/// One DR relation: this region's instance, its master and its DR instances (ids; the
/// peers are reported in the configured region and project).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DrRelationSpec {
    pub instance_id: String,
    pub master_instance_id: String,
    #[serde(default)]
    pub slave_instance_ids: Vec<String>,
}

/// One more user's permanent AK/SK.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Credential {
    pub access_key: String,
    pub secret_key: String,
    /// IAM actions this user's policy does not allow (e.g.
    /// `"rds:instance:upgradeDatabaseVersion"`): requests needing one are refused with
    /// HTTP 403 after the gateway admitted them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deny: Vec<String>,
    /// The enterprise project this user's permissions are scoped to (the condition
    /// `g:EnterpriseProjectId`): its instance listings must name it (`eps_id`) and it may
    /// upgrade only that project's instances; outside it, HTTP 403.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enterprise_project_id: Option<String>,
}

/// A refusal the upgrade API answers instead of starting a job (opt-in, for the rare
/// answers: a running backup, storage full, frozen, replication trouble).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct UpgradeRefusal {
    pub status: u16,
    pub code: String,
    #[serde(default)]
    pub message: String,
    /// Answer in the `{"errCode","externalMessage"}` shape instead of
    /// `{"error_code","error_msg"}`.
    #[serde(default)]
    pub err_code_shape: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            access_key: "EMULATORAK".into(),
            secret_key: "EMULATORSK".into(),
            security_token: None,
            project_id: "0483b6b16e954cb88930a360d2c4e663".into(),
            region: "ap-southeast-1".into(),
            job_seconds: 3.0,
            window_opens_after_seconds: 5.0,
            job_visible_after_seconds: 0.0,
            instances: None,
            clock_skew_seconds: 0.0,
            extra_credentials: Vec::new(),
            flow_control: FlowControlConfig::default(),
            dr_relations: Vec::new(),
            temporary_credential_seconds: None,
            agencies: Vec::new(),
            identity_providers: Vec::new(),
            metadata_agency: None,
            signature_lock_seconds: 300.0,
        }
    }
}

/// One instance as configured.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct InstanceSpec {
    pub id: String,
    pub name: String,
    pub engine: String,
    pub version: String,
    pub complete_version: String,
    pub latest_version: String,
    /// `Single`, `Ha` or `Replica`.
    #[serde(rename = "type")]
    pub instance_type: String,
    pub status: String,
    pub fail_upgrade: bool,
    pub job_seconds: Option<f64>,
    pub job_queryable: bool,
    pub maintenance_window: String,
    /// Availability zones of the nodes (primary first); two different zones make an HA
    /// instance switch back after the upgrade when `second_switch` is true.
    pub availability_zones: Vec<String>,
    /// For a replica: its primary instance.
    pub primary_id: Option<String>,
    /// For a replica: the upgrade API upgrades it alone (as Huawei's newer MySQL guide
    /// describes) instead of refusing it.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub replica_upgradable: bool,
    /// Node statuses to report (e.g. `["ACTIVE", "ABNORMAL"]`); all ACTIVE by default.
    pub node_statuses: Vec<String>,
    /// Refusals of the next upgrade requests that pass the checks, one per request, in
    /// order; afterwards upgrades start as usual.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub upgrade_refusals: Vec<UpgradeRefusal>,
    /// The enterprise project the instance belongs to (`"0"`: the default project).
    pub enterprise_project_id: String,
}

impl Default for InstanceSpec {
    fn default() -> Self {
        InstanceSpec {
            id: String::new(),
            name: String::new(),
            engine: "MySQL".into(),
            version: "8.0".into(),
            complete_version: "8.0.28".into(),
            latest_version: "8.0.32".into(),
            instance_type: "Single".into(),
            status: "ACTIVE".into(),
            fail_upgrade: false,
            job_seconds: None,
            job_queryable: true,
            maintenance_window: "22:00-02:00".into(),
            availability_zones: Vec::new(),
            primary_id: None,
            replica_upgradable: false,
            node_statuses: Vec::new(),
            upgrade_refusals: Vec::new(),
            enterprise_project_id: "0".into(),
        }
    }
}

/// The demo instances used when the configuration lists none.
pub fn demo_instances() -> Vec<InstanceSpec> {
    let spec = |id: &str, name: &str| InstanceSpec {
        id: id.into(),
        name: name.into(),
        ..Default::default()
    };
    vec![
        InstanceSpec {
            ..spec("a1b2c3d4e5f64a7b8c9d0e1f2a3b4c5din01", "orders")
        },
        InstanceSpec {
            instance_type: "Ha".into(),
            availability_zones: vec!["ap-southeast-1a".into(), "ap-southeast-1b".into()],
            complete_version: "8.0.25".into(),
            ..spec("b2c3d4e5f6a74b8c9d0e1f2a3b4c5d6ein01", "payments")
        },
        InstanceSpec {
            engine: "PostgreSQL".into(),
            version: "14".into(),
            complete_version: "14.8".into(),
            latest_version: "14.12".into(),
            instance_type: "Ha".into(),
            availability_zones: vec!["ap-southeast-1a".into(), "ap-southeast-1a".into()],
            job_queryable: false,
            ..spec("c3d4e5f6a7b84c9d0e1f2a3b4c5d6e7fin03", "analytics")
        },
        InstanceSpec {
            instance_type: "Replica".into(),
            primary_id: Some("b2c3d4e5f6a74b8c9d0e1f2a3b4c5d6ein01".into()),
            complete_version: "8.0.25".into(),
            ..spec("d4e5f6a7b8c94d0e1f2a3b4c5d6e7f8ain01", "payments-replica")
        },
        InstanceSpec {
            engine: "SQLServer".into(),
            version: "2019_SE".into(),
            complete_version: String::new(),
            latest_version: String::new(),
            ..spec("e5f6a7b8c9d04e1f2a3b4c5d6e7f8a9bin04", "reporting")
        },
    ]
}
