//! The diagnostic of a failed project-id lookup. The lookup runs through IAM before the
//! first RDS call that needs the project id, so whichever call triggered it, the user is
//! told it was the lookup (region and IAM URL included) and how to skip it — not that the
//! instance or job they asked for could not be read.

use crate::rds::RdsError;
use crate::tfplugin::Diagnostic;

/// The diagnostic of `e`: the project-lookup one when `e` is a failed project-id lookup,
/// else `otherwise()`, the caller's own.
pub fn or_diagnostic(e: &RdsError, otherwise: impl FnOnce() -> Diagnostic) -> Diagnostic {
    match e {
        RdsError::ProjectLookup { region, url, cause } => Diagnostic::error(
            "Cannot look up the project id",
            format!(
                "Looking up the project id of region {region:?} through IAM (GET {url}) failed: \
                 {cause}. Every RDS call needs the project id: set project_id in the provider \
                 block (or HW_PROJECT_ID in the environment) to skip the lookup, or check the \
                 region, the credentials and iam_endpoint (HWRDS_IAM_ENDPOINT)."
            ),
        ),
        _ => otherwise(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_lookup_names_region_url_and_the_way_around_it() {
        let e = RdsError::ProjectLookup {
            region: "eu-west-101".into(),
            url: "https://iam.eu-west-101.myhuaweicloud.eu/v3/projects?name=eu-west-101".into(),
            cause: Box::new(RdsError::Transport("connection refused".into())),
        };
        let d = or_diagnostic(&e, || {
            unreachable!("a project lookup has its own diagnostic")
        });
        assert_eq!(d.summary, "Cannot look up the project id");
        for part in [
            "\"eu-west-101\"",
            "GET https://iam.eu-west-101.myhuaweicloud.eu/v3/projects?name=eu-west-101",
            "network error: connection refused",
            "HW_PROJECT_ID",
        ] {
            assert!(d.detail.contains(part), "{part} in {}", d.detail);
        }
        let other = RdsError::Transport("reset".into());
        let d = or_diagnostic(&other, || Diagnostic::error("Cannot read", "x"));
        assert_eq!(d.summary, "Cannot read");
    }
}
