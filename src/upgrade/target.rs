//! What a minor upgrade installs. The API takes no target version: it installs the
//! latest minor version of the instance's engine and major version, which no API states
//! per instance. [`Target::of`] derives it from the same latest version the data sources
//! show (the versions API, see [`super::catalog`]) and says why when it cannot be told
//! with confidence — never a guess presented as fact. [`Drift`] is how the target seen
//! right before a submission compares with the one the plan showed.

use std::cmp::Ordering;

use super::facts::{InstanceFacts, compare_versions};

/// The minor version an upgrade of an instance installs, as far as the APIs tell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// The version as the versions API names it (e.g. `8.0.32`, `14.12`): comparable
    /// with the instance's complete version (`8.0.28.231003`) by [`compare_versions`].
    /// When the instance already runs it, the version as the instance reports it
    /// (`8.0.32.240101`): one text for both, never one that reads like a downgrade.
    Version(String),
    /// It cannot be told with confidence.
    Unknown(Unknowable),
}

/// Why the target of an upgrade cannot be told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unknowable {
    /// Not MySQL nor PostgreSQL: no minor upgrade (the checks refuse it).
    UnsupportedEngine,
    /// The instance reports no complete version to compare with.
    NoCompleteVersion,
    /// The versions API lists no minor version of the instance's major version.
    NoMinorListed,
    /// The instance runs a version newer than any the versions API lists: the listing is
    /// behind, and what the upgrade installs cannot be read from it.
    AheadOfListing { runs: String, listed: String },
}

impl Target {
    /// The target of upgrading `facts`' instance (its `latest_version` derived already).
    pub fn of(facts: &InstanceFacts) -> Target {
        if !facts.is_mysql() && !facts.is_postgresql() {
            return Target::Unknown(Unknowable::UnsupportedEngine);
        }
        let Some(runs) = facts.complete_version.as_deref() else {
            return Target::Unknown(Unknowable::NoCompleteVersion);
        };
        let Some(latest) = facts.latest_version.as_deref() else {
            return Target::Unknown(Unknowable::NoMinorListed);
        };
        match compare_versions(runs, latest) {
            Ordering::Greater => Target::Unknown(Unknowable::AheadOfListing {
                runs: runs.to_string(),
                listed: latest.to_string(),
            }),
            Ordering::Equal => Target::Version(runs.to_string()),
            Ordering::Less => Target::Version(latest.to_string()),
        }
    }

    /// The version, when known.
    pub fn version(&self) -> Option<&str> {
        match self {
            Target::Version(v) => Some(v),
            Target::Unknown(_) => None,
        }
    }
}

impl Unknowable {
    /// Why, in a sentence about `facts`' instance; None when the checks already say it
    /// (an engine without minor upgrades is refused).
    pub fn explain(&self, facts: &InstanceFacts) -> Option<String> {
        let who = facts.describe();
        let major = format!("{} {}", facts.engine, facts.version);
        match self {
            Unknowable::UnsupportedEngine => None,
            Unknowable::NoCompleteVersion => Some(format!(
                "The API reports no complete version of {who}, so the minor version the upgrade installs cannot be compared with the one it runs."
            )),
            Unknowable::NoMinorListed => Some(format!(
                "The versions API lists no minor version of {major}, so the version the upgrade of {who} installs cannot be derived. The upgrade installs the latest minor version Huawei Cloud offers for it."
            )),
            Unknowable::AheadOfListing { runs, listed } => Some(format!(
                "{who} runs {runs}, newer than {listed}, the latest minor version of {major} the versions API lists: the listing is behind, so what the upgrade installs cannot be read from it."
            )),
        }
    }
}

/// How the target seen right before a submission compares with the one the plan showed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Drift {
    /// The same version (or it cannot be told now: nothing contradicts the plan).
    Unchanged,
    /// The API would install `now` instead of the `reviewed` version.
    Moved { reviewed: String, now: String },
}

impl Drift {
    /// `now` against the `reviewed` target.
    pub fn between(reviewed: &str, now: &Target) -> Drift {
        match now.version() {
            Some(now) if compare_versions(now, reviewed) != Ordering::Equal => Drift::Moved {
                reviewed: reviewed.to_string(),
                now: now.to_string(),
            },
            _ => Drift::Unchanged,
        }
    }
}

/// Whether the version an instance reports after its upgrade is the `target` (equal as
/// versions: `8.0.32.240101` is `8.0.32`).
pub fn installed(target: &str, version_after: &str) -> bool {
    compare_versions(target, version_after) == Ordering::Equal
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mysql(runs: Option<&str>, latest: Option<&str>) -> InstanceFacts {
        InstanceFacts {
            id: "i1".into(),
            name: "orders".into(),
            engine: "MySQL".into(),
            version: "8.0".into(),
            complete_version: runs.map(str::to_string),
            latest_version: latest.map(str::to_string),
            status: "ACTIVE".into(),
            instance_type: "Single".into(),
            ..Default::default()
        }
    }

    #[test]
    fn the_target_is_the_latest_listed_minor_version() {
        let cases = [
            (Some("8.0.28.231003"), Some("8.0.32"), Some("8.0.32")),
            // Already on it: the target is the version it runs, as it reports it.
            (Some("8.0.32.240101"), Some("8.0.32"), Some("8.0.32.240101")),
            (Some("8.0.35"), Some("8.0.32"), None),
            (Some("8.0.28"), None, None),
            (None, Some("8.0.32"), None),
        ];
        for (runs, latest, target) in cases {
            let facts = mysql(runs, latest);
            assert_eq!(Target::of(&facts).version(), target, "{runs:?} {latest:?}");
        }
    }

    #[test]
    fn an_unknown_target_says_why_unless_the_checks_do() {
        let ahead = Target::of(&mysql(Some("8.0.35"), Some("8.0.32")));
        let Target::Unknown(why) = ahead else {
            panic!("{ahead:?}")
        };
        let text = why.explain(&mysql(Some("8.0.35"), Some("8.0.32"))).unwrap();
        assert!(text.contains("8.0.35") && text.contains("8.0.32"), "{text}");
        let mut sql = mysql(Some("15.0.4"), None);
        sql.engine = "SQLServer".into();
        let Target::Unknown(why) = Target::of(&sql) else {
            panic!("SQL Server has no target")
        };
        assert_eq!(why.explain(&sql), None);
        let Target::Unknown(why) = Target::of(&mysql(Some("8.0.28"), None)) else {
            panic!("nothing listed")
        };
        assert!(
            why.explain(&mysql(None, None))
                .unwrap()
                .contains("MySQL 8.0")
        );
    }

    #[test]
    fn drift_compares_versions_not_strings() {
        let now = |v: &str| Target::Version(v.into());
        assert_eq!(Drift::between("8.0.32", &now("8.0.32")), Drift::Unchanged);
        assert_eq!(Drift::between("8.0.32", &now("8.0.32.0")), Drift::Unchanged);
        assert_eq!(
            Drift::between("8.0.32", &now("8.0.33")),
            Drift::Moved {
                reviewed: "8.0.32".into(),
                now: "8.0.33".into()
            }
        );
        let unknown = Target::Unknown(Unknowable::NoMinorListed);
        assert_eq!(Drift::between("8.0.32", &unknown), Drift::Unchanged);
        assert!(installed("8.0.32", "8.0.32.240101"));
        assert!(!installed("8.0.32", "8.0.33"));
    }
}
