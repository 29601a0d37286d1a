//! The table of the provider block's settings, one row each: attribute name, environment
//! variable, kind with its range and default, description and sensitivity. The schema,
//! validation and resolution all walk this table, so a new setting is a row here (listed
//! in [`TABLE`]) plus reading its typed value where it is used.

use std::ops::RangeInclusive;

use crate::cty::{AttributePath, PathStep, Type, Value};
use crate::rds::defaults;
use crate::schema::Attribute;

/// One setting of the provider block.
pub struct Setting {
    /// The attribute in the provider block.
    pub name: &'static str,
    /// The environment variable read when the block leaves the attribute unset.
    pub env_var: &'static str,
    pub kind: Kind,
    /// The schema's description, and so the docs'.
    pub description: &'static str,
    /// Terraform hides the value in its output.
    pub sensitive: bool,
    /// The nested block the attribute is in (`assume_role`); `None` for the provider
    /// block's own attributes.
    pub block: Option<&'static str>,
}

/// What a setting holds, its range, and what it is when neither the block nor the
/// environment sets it (`None`: unset). The default lives in the kind so that its type
/// is the setting's.
pub enum Kind {
    /// Text, not empty when set.
    Text { default: Option<&'static str> },
    /// The URL of an API endpoint: https, or http to a loopback address.
    Endpoint { default: Option<&'static str> },
    /// `true` or `false` (also `1` or `0` in the environment).
    Flag { default: bool },
    /// A whole number in the range.
    Whole {
        range: RangeInclusive<u32>,
        default: Option<u32>,
    },
    /// A number in the range.
    Decimal {
        range: RangeInclusive<f64>,
        default: Option<f64>,
    },
}

impl Setting {
    /// Where the setting is in the provider block, for diagnostics.
    pub fn path(&self) -> AttributePath {
        match self.block {
            Some(block) => {
                AttributePath::attribute(block).join(PathStep::Attribute(self.name.into()))
            }
            None => AttributePath::attribute(self.name),
        }
    }

    /// The setting's value in the provider block's `config` (null or absent when unset).
    pub fn value_in<'a>(&self, config: &'a Value) -> Option<&'a Value> {
        match self.block {
            Some(block) => config.get_attr(block)?.get_attr(self.name),
            None => config.get_attr(self.name),
        }
    }

    /// The setting's attribute in the provider schema.
    pub fn attribute(&self) -> Attribute {
        let ty = match self.kind {
            Kind::Text { .. } | Kind::Endpoint { .. } => Type::String,
            Kind::Flag { .. } => Type::Bool,
            Kind::Whole { .. } | Kind::Decimal { .. } => Type::Number,
        };
        let attribute = Attribute::optional(self.name, ty, self.description);
        if self.sensitive {
            attribute.sensitive()
        } else {
            attribute
        }
    }
}

/// Every setting, in the schema's order.
pub const TABLE: &[&Setting] = &[
    &REGION,
    &PROJECT_ID,
    &ACCESS_KEY,
    &SECRET_KEY,
    &SECURITY_TOKEN,
    &ENDPOINT,
    &IAM_ENDPOINT,
    &SHARED_CONFIG_FILE,
    &PROFILE,
    &INSECURE,
    &MAX_RETRIES,
    &MAX_REQUESTS_PER_SECOND,
    &API_QUOTA_PER_MINUTE,
    &MAX_CONCURRENT_UPGRADES,
    &FAILURE_BUDGET,
    &ACCEPT_NEWER_TARGET,
    &ENTERPRISE_PROJECT_ID,
    &METADATA_ENDPOINT,
    &AGENCY_NAME,
    &DOMAIN_NAME,
    &DOMAIN_ID,
    &DURATION,
    &SESSION_NAME,
    &IDP_ID,
    &ID_TOKEN,
    &ID_TOKEN_FILE,
];

/// The nested block of the settings that obtain temporary credentials through IAM.
pub const ASSUME_ROLE: &str = "assume_role";

/// The description of the `assume_role` block.
pub const ASSUME_ROLE_DESCRIPTION: &str = "Temporary credentials through IAM, renewed before they expire for as long as the provider runs: an agency assumed with the keys of the other sources (`agency_name` with `domain_name` or `domain_id`), or an OIDC id token exchanged for temporary keys (`idp_id` with `id_token` or `id_token_file`), optionally followed by an agency. Every attribute falls back to its `HW_ASSUME_ROLE_*` environment variable, as in the official huaweicloud provider.";

/// The largest cap on running upgrades, and the largest failure budget.
const FLEET_LARGEST: u32 = 10_000;

pub const REGION: Setting = Setting {
    name: "region",
    env_var: "HW_REGION_NAME",
    kind: Kind::Text { default: None },
    description: "Huawei Cloud region of the RDS instances, e.g. `ap-southeast-1`. Falls back to `HW_REGION_NAME`. Required unless `project_id` is known (the project lookup needs the region).",
    sensitive: false,
    block: None,
};

pub const PROJECT_ID: Setting = Setting {
    name: "project_id",
    env_var: "HW_PROJECT_ID",
    kind: Kind::Text { default: None },
    description: "Project id of the region. Falls back to `HW_PROJECT_ID`; when neither is set it is looked up once through IAM.",
    sensitive: false,
    block: None,
};

pub const ACCESS_KEY: Setting = Setting {
    name: "access_key",
    env_var: "HW_ACCESS_KEY",
    kind: Kind::Text { default: None },
    description: "Access key id (AK). Falls back to `HW_ACCESS_KEY`.",
    sensitive: false,
    block: None,
};

pub const SECRET_KEY: Setting = Setting {
    name: "secret_key",
    env_var: "HW_SECRET_KEY",
    kind: Kind::Text { default: None },
    description: "Secret access key (SK). Falls back to `HW_SECRET_KEY`. Never logged nor stored in state.",
    sensitive: true,
    block: None,
};

pub const SECURITY_TOKEN: Setting = Setting {
    name: "security_token",
    env_var: "HW_SECURITY_TOKEN",
    kind: Kind::Text { default: None },
    description: "Security token of temporary credentials. Falls back to `HW_SECURITY_TOKEN`.",
    sensitive: true,
    block: None,
};

pub const ENDPOINT: Setting = Setting {
    name: "endpoint",
    env_var: "HWRDS_ENDPOINT",
    kind: Kind::Endpoint { default: None },
    description: "RDS endpoint URL overriding the region's, `https://rds.{region}.myhuaweicloud.com` (`myhuaweicloud.eu` in the EU sovereign cloud, `eu-west-101`), e.g. the hwrds emulator. Falls back to `HWRDS_ENDPOINT`. `http://` is accepted for loopback addresses only.",
    sensitive: false,
    block: None,
};

pub const IAM_ENDPOINT: Setting = Setting {
    name: "iam_endpoint",
    env_var: "HWRDS_IAM_ENDPOINT",
    kind: Kind::Endpoint { default: None },
    description: "IAM endpoint URL used to look up the project id, overriding the region's, `https://iam.{region}.myhuaweicloud.com` (`myhuaweicloud.eu` in the EU sovereign cloud, `eu-west-101`). Falls back to `HWRDS_IAM_ENDPOINT`, then to `endpoint` when that is set.",
    sensitive: false,
    block: None,
};

pub const SHARED_CONFIG_FILE: Setting = Setting {
    name: "shared_config_file",
    env_var: "HW_SHARED_CONFIG_FILE",
    kind: Kind::Text { default: None },
    description: "Path of the Huawei Cloud CLI's shared config file (e.g. `~/.hcloud/config.json`, written by `hcloud configure` with `--cli-auth-encrypt=false`). Its profile supplies credentials, region and project id where neither this block nor the environment does. Falls back to `HW_SHARED_CONFIG_FILE`.",
    sensitive: false,
    block: None,
};

pub const PROFILE: Setting = Setting {
    name: "profile",
    env_var: "HW_PROFILE",
    kind: Kind::Text { default: None },
    description: "Profile of the shared config file to use. Falls back to `HW_PROFILE`, then to the file's `current` profile.",
    sensitive: false,
    block: None,
};

pub const INSECURE: Setting = Setting {
    name: "insecure",
    env_var: "HW_INSECURE",
    kind: Kind::Flag { default: false },
    description: "Skip TLS certificate verification of the API endpoints. Falls back to `HW_INSECURE`. Never use it against the real cloud; the provider warns every time it is set.",
    sensitive: false,
    block: None,
};

pub const MAX_RETRIES: Setting = Setting {
    name: "max_retries",
    env_var: "HW_MAX_RETRIES",
    kind: Kind::Whole {
        range: 0..=20,
        default: Some(defaults::MAX_RETRIES),
    },
    description: "How many times a failed API request (network error, server error) is retried (0-20). Throttled requests (429) are not counted: they are waited out within the operation's timeout. Falls back to `HW_MAX_RETRIES`, default 5.",
    sensitive: false,
    block: None,
};

pub const MAX_REQUESTS_PER_SECOND: Setting = Setting {
    name: "max_requests_per_second",
    env_var: "HWRDS_MAX_REQUESTS_PER_SECOND",
    kind: Kind::Decimal {
        range: 0.1..=1000.0,
        default: Some(defaults::REQUESTS_PER_SECOND),
    },
    description: "Rate limit shared by every API call of the provider (0.1-1000 requests per second), on top of each API's flow-control quota; upgrade submissions go ahead of queued reads. Falls back to `HWRDS_MAX_REQUESTS_PER_SECOND`, default 20.",
    sensitive: false,
    block: None,
};

pub const API_QUOTA_PER_MINUTE: Setting = Setting {
    name: "api_quota_per_minute",
    env_var: "HWRDS_API_QUOTA_PER_MINUTE",
    kind: Kind::Whole {
        range: 1..=1_000_000,
        default: Some(defaults::API_QUOTA_PER_MINUTE),
    },
    description: "The flow-control quota of each RDS API for these credentials, in requests per minute (1-1000000). Huawei's standard policy is 60; raise it only if Huawei raised your tenant's quota. The provider paces every API so that no minute holds more, and when the API answers 429 with its policy it follows that policy instead. Falls back to `HWRDS_API_QUOTA_PER_MINUTE`, default 60.",
    sensitive: false,
    block: None,
};

pub const MAX_CONCURRENT_UPGRADES: Setting = Setting {
    name: "max_concurrent_upgrades",
    env_var: "HWRDS_MAX_CONCURRENT_UPGRADES",
    kind: Kind::Whole {
        range: 1..=FLEET_LARGEST,
        default: None,
    },
    description: "At most this many upgrade jobs of this provider process run at once (submitted and not finished), whatever Terraform's `-parallelism`: further creates and action invocations wait for a slot (logged at INFO, counted against their create timeout; interrupted, they submit nothing and leave nothing in the state). Jobs this run follows again count too; delayed upgrades (`is_delayed`) do not, as they run in the maintenance window. 1-10000; unset means no cap. Falls back to `HWRDS_MAX_CONCURRENT_UPGRADES`.",
    sensitive: false,
    block: None,
};

pub const FAILURE_BUDGET: Setting = Setting {
    name: "failure_budget",
    env_var: "HWRDS_FAILURE_BUDGET",
    kind: Kind::Whole {
        range: 1..=FLEET_LARGEST,
        default: None,
    },
    description: "Once this many upgrade jobs of this provider process have failed, creates and action invocations that have not submitted yet stop with an error naming the failed instances and their fail reasons, submit nothing and leave nothing in the state (the next apply tries them again); jobs already running are followed to the end. 1-10000; unset means no budget. Falls back to `HWRDS_FAILURE_BUDGET`.",
    sensitive: false,
    block: None,
};

pub const ACCEPT_NEWER_TARGET: Setting = Setting {
    name: "accept_newer_target",
    env_var: "HWRDS_ACCEPT_NEWER_TARGET",
    kind: Kind::Flag { default: false },
    description: "What an apply does when, right before an upgrade is submitted, the API would install a newer minor version than the plan's `target_version` (one released since the plan). `false` (default): it submits nothing and fails at `instance_id`, naming both versions; plan again to review the new one. `true`, for configurations whose plans nobody reviews: it installs the newer version and warns; `target_version` keeps what the plan showed and `version_after` records what was installed. Falls back to `HWRDS_ACCEPT_NEWER_TARGET` (`true` or `false`).",
    sensitive: false,
    block: None,
};

pub const METADATA_ENDPOINT: Setting = Setting {
    name: "metadata_endpoint",
    env_var: "HWRDS_METADATA_ENDPOINT",
    kind: Kind::Text {
        default: Some(crate::rds::credentials::source::METADATA_ENDPOINT),
    },
    description: "Address of the ECS/CCE metadata server, whose agency keys are the credentials of last resort (when no other source gives keys). Falls back to `HWRDS_METADATA_ENDPOINT`, default `http://169.254.169.254`; point it at a test server, never elsewhere.",
    sensitive: false,
    block: None,
};

pub const AGENCY_NAME: Setting = Setting {
    name: "agency_name",
    env_var: "HW_ASSUME_ROLE_AGENCY_NAME",
    kind: Kind::Text { default: None },
    description: "Name of the agency to assume, signed with the keys the other sources give (static keys, a profile, ECS metadata, or the OIDC exchange). Falls back to `HW_ASSUME_ROLE_AGENCY_NAME`.",
    sensitive: false,
    block: Some(ASSUME_ROLE),
};

pub const DOMAIN_NAME: Setting = Setting {
    name: "domain_name",
    env_var: "HW_ASSUME_ROLE_DOMAIN_NAME",
    kind: Kind::Text { default: None },
    description: "Name of the account the agency belongs to (this one or another). Falls back to `HW_ASSUME_ROLE_DOMAIN_NAME`. One of `domain_name` and `domain_id` is needed with `agency_name`.",
    sensitive: false,
    block: Some(ASSUME_ROLE),
};

pub const DOMAIN_ID: Setting = Setting {
    name: "domain_id",
    env_var: "HW_ASSUME_ROLE_DOMAIN_ID",
    kind: Kind::Text { default: None },
    description: "Id of the account the agency belongs to. Falls back to `HW_ASSUME_ROLE_DOMAIN_ID`.",
    sensitive: false,
    block: Some(ASSUME_ROLE),
};

pub const DURATION: Setting = Setting {
    name: "duration",
    env_var: "HW_ASSUME_ROLE_DURATION",
    kind: Kind::Whole {
        range: 900..=86_400,
        default: Some(3_600),
    },
    description: "Seconds the temporary credentials are asked to live (900-86400; IAM may give less). They are renewed when a third of their lifetime, at most 10 minutes, is left, so an apply may outlive them. Falls back to `HW_ASSUME_ROLE_DURATION`, default 3600.",
    sensitive: false,
    block: Some(ASSUME_ROLE),
};

pub const SESSION_NAME: Setting = Setting {
    name: "session_name",
    env_var: "HW_ASSUME_ROLE_SESSION_NAME",
    kind: Kind::Text { default: None },
    description: "Name of the agency session, as IAM's audit shows it (5-64 letters, digits, `-` or `_`, starting with a letter). Falls back to `HW_ASSUME_ROLE_SESSION_NAME`.",
    sensitive: false,
    block: Some(ASSUME_ROLE),
};

pub const IDP_ID: Setting = Setting {
    name: "idp_id",
    env_var: "HW_ASSUME_ROLE_IDP_ID",
    kind: Kind::Text { default: None },
    description: "Id of the OIDC identity provider in IAM whose id tokens are exchanged for temporary credentials (e.g. your CI's). Falls back to `HW_ASSUME_ROLE_IDP_ID`.",
    sensitive: false,
    block: Some(ASSUME_ROLE),
};

pub const ID_TOKEN: Setting = Setting {
    name: "id_token",
    env_var: "HW_ASSUME_ROLE_ID_TOKEN",
    kind: Kind::Text { default: None },
    description: "The OIDC id token (a JWT) to exchange. Falls back to `HW_ASSUME_ROLE_ID_TOKEN`. A token that expires before the apply ends cannot be renewed: prefer `id_token_file`. Never logged nor stored in state.",
    sensitive: true,
    block: Some(ASSUME_ROLE),
};

pub const ID_TOKEN_FILE: Setting = Setting {
    name: "id_token_file",
    env_var: "HW_ASSUME_ROLE_ID_TOKEN_FILE",
    kind: Kind::Text { default: None },
    description: "Path of a file holding the OIDC id token, read again at every renewal (CI systems rotate it). Falls back to `HW_ASSUME_ROLE_ID_TOKEN_FILE`.",
    sensitive: false,
    block: Some(ASSUME_ROLE),
};

pub const ENTERPRISE_PROJECT_ID: Setting = Setting {
    name: "enterprise_project_id",
    env_var: "HW_ENTERPRISE_PROJECT_ID",
    kind: Kind::Text { default: None },
    description: "Enterprise project whose instances the provider sees: every instance listing (the data sources, the plan's and the apply's look at an instance) asks only for that project's instances (the API's `eps_id`). Set it when your permissions are scoped to one enterprise project (the condition `g:EnterpriseProjectId`): such an identity may not list the others. Falls back to `HW_ENTERPRISE_PROJECT_ID`; unset, every project's instances.",
    sensitive: false,
    block: None,
};
