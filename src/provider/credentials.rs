//! The provider's first credential, obtained when it is configured: a source that renews
//! (an agency, OIDC, ECS metadata) is asked once then, so that a configuration that
//! cannot give keys fails at the provider block, naming the source, the sources tried
//! before it and what IAM or the metadata server answered, instead of at every resource.

use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::cty::{AttributePath, PathStep};
use crate::rds::credentials::Source;
use crate::rds::{CallCtx, RdsClient, RdsError};
use crate::tfplugin::Diagnostic;

/// How long the first credential may take, retries of passing failures included.
const FIRST_CREDENTIAL_WITHIN: Duration = Duration::from_secs(60);

/// Obtains the client's first credential when its source renews; logs the source at
/// DEBUG either way (never a secret).
pub async fn first(client: &RdsClient) -> Result<(), Diagnostic> {
    let holder = client.credentials();
    tracing::debug!(source = %holder.source(), "credentials source");
    if !holder.renews() {
        return Ok(());
    }
    let ctx = CallCtx::new(CancellationToken::new())
        .with_deadline(Instant::now() + FIRST_CREDENTIAL_WITHIN);
    match holder.current(&ctx).await {
        Ok(_) => Ok(()),
        Err(error) => Err(diagnostic(holder.source(), &error)),
    }
}

/// The error at the attribute of the source that gave no keys.
fn diagnostic(source: &Source, error: &RdsError) -> Diagnostic {
    match source {
        Source::Metadata { tried, .. } if !tried.is_empty() => Diagnostic::error_at(
            AttributePath::attribute("access_key"),
            "No credentials",
            format!(
                "{error}. Set access_key and secret_key in the provider block (or HW_ACCESS_KEY and HW_SECRET_KEY), shared_config_file (HW_SHARED_CONFIG_FILE) with a profile holding them, an OIDC identity provider and id token (assume_role, HW_ASSUME_ROLE_IDP_ID and HW_ASSUME_ROLE_ID_TOKEN_FILE), or run on an ECS/CCE server with an agency attached."
            ),
        ),
        _ => Diagnostic::error_at(
            AttributePath::attribute("assume_role").join(PathStep::Attribute(
                match source {
                    Source::Oidc { .. } => "idp_id",
                    _ => "agency_name",
                }
                .into(),
            )),
            "Cannot obtain temporary credentials",
            error.to_string(),
        ),
    }
}
