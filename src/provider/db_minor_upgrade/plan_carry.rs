//! What the plan of a new `hwrds_db_minor_upgrade` keeps for the apply's final plan: the
//! version the upgrade starts from and the one it installs, the instance's name, and the
//! upgrade's `impact`, as the plan showed them.
//!
//! Terraform plans every change twice — when the user plans, and again right before
//! applying — and refuses the apply when a value known in the first plan differs in the
//! second (an unknown one may become anything). The target is known in every plan of a
//! new upgrade: the latest minor version listed, which an upgrade under way or just
//! completed does not change. `version_before` is the version the instance reports, which
//! it keeps while an upgrade runs and leaves when the upgrade completes; so a plan that
//! sees an upgrade under way plans it unknown (known once applied), since the upgrade may
//! complete before the final plan.
//!
//! Terraform 1.16+ hands the first plan's private data to the final plan, which then plans
//! both values as the first plan showed them. Terraform up to 1.15 hands nothing over, and
//! one interleaving remains that no rule of the provider's can serve: an upgrade submitted
//! moments before the plan (an apply interrupted right after its POST, then applied again
//! at once) does not show yet — new jobs, and the instance's view of them, show with a
//! delay — so the plan shows `version_before` known; the final plan sees the upgrade
//! under way (and plans it unknown) or done (the instance reports the new version), and
//! Terraform refuses that resource's apply before anything is sent ("inconsistent final
//! plan"); the next apply adopts the upgrade.
//! Planning it known while an upgrade is under way would trade this for a worse case: an
//! upgrade the plan saw running that completes before that resource's final plan — every
//! adopted upgrade of a saved plan applied later, and many in a large fleet's re-apply,
//! whose final plans spread over the whole apply.

use serde::{Deserialize, Serialize};

use super::impact::Zones;
use super::model::{Field, UpgradeState};
use crate::upgrade::facts::InstanceFacts;
use crate::upgrade::job::JobStatus;

/// The planned values the first plan keeps in its private data.
#[derive(Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Carried {
    /// The planned `target_version`: a version, or null when it could not be told.
    target_version: Option<String>,
    /// The planned `version_before` when it was a version (absent when it was unknown or
    /// null, and from plans of earlier builds).
    #[serde(default)]
    version_before: Option<String>,
    /// The planned `instance_name` (absent when null, and from plans of earlier builds):
    /// an instance renamed between the plans keeps the name the plan showed.
    #[serde(default)]
    instance_name: Option<String>,
    /// The planned `impact` (absent when null or unknown, and from plans of earlier
    /// builds): read from the instance (its type, its nodes' zones, its window), which may
    /// change between the plans.
    #[serde(default)]
    impact: Option<String>,
    /// Whether the plan skipped the upgrade (`on_blocked = "skip"`): the final plan skips
    /// it too, though the instance may no longer be blocked.
    #[serde(default)]
    skipped: bool,
}

impl Carried {
    /// What the plan being applied kept, from the private data Terraform hands back to
    /// the final plan; None when there is none (Terraform before 1.16, or a first plan).
    pub fn from_private(first_plan_private: &[u8]) -> Option<Carried> {
        if first_plan_private.is_empty() {
            return None;
        }
        serde_json::from_slice(first_plan_private).ok()
    }

    /// The `target_version` the first plan showed.
    pub fn target_version(&self) -> Option<String> {
        self.target_version.clone()
    }

    /// Whether the first plan skipped the upgrade.
    pub fn skipped(&self) -> bool {
        self.skipped
    }
}

/// The `version_before` of upgrading `facts`' instance: as the first plan showed it when
/// it was carried, else unknown while an upgrade is under way (`under_way`), else the
/// version the instance reports (see the module doc).
pub fn version_before(
    facts: &InstanceFacts,
    under_way: bool,
    carried: Option<&Carried>,
) -> Field<String> {
    match carried.and_then(|c| c.version_before.clone()) {
        Some(planned) => {
            if facts.complete_version.as_deref() != Some(planned.as_str()) || under_way {
                tracing::info!(instance_id = %facts.id, %planned, now = ?facts.complete_version, under_way, "planning the version_before the plan showed");
            }
            Field::Known(planned)
        }
        None if under_way => Field::Unknown,
        None => facts.complete_version.clone().into(),
    }
}

/// The `target_version` of upgrading `facts`' instance, the target the APIs tell `now`:
/// as the first plan showed it when it was carried (Terraform 1.16+), for the last look
/// to check before submitting.
pub fn target_version(
    facts: &InstanceFacts,
    now: Option<String>,
    carried: Option<&Carried>,
) -> Option<String> {
    match carried.map(Carried::target_version) {
        Some(reviewed) => {
            if reviewed != now {
                tracing::info!(instance_id = %facts.id, ?reviewed, ?now, "the target moved since the plan; planning the reviewed one for the apply to check");
            }
            reviewed
        }
        None => now,
    }
}

/// The `instance_name` of upgrading `facts`' instance: as the first plan showed it when
/// it was carried, else its name now (null when it has none).
pub fn instance_name(facts: &InstanceFacts, carried: Option<&Carried>) -> Field<String> {
    match carried.and_then(|c| c.instance_name.clone()) {
        Some(planned) => Field::Known(planned),
        None => Some(facts.name.clone()).filter(|n| !n.is_empty()).into(),
    }
}

/// The `impact` of the upgrade `planned` on `facts`' instance: as the first plan showed
/// it when it was carried, else derived from the plan and the instance's zones.
pub fn impact(
    planned: &UpgradeState,
    facts: &InstanceFacts,
    carried: Option<&Carried>,
) -> Field<String> {
    match carried.and_then(|c| c.impact.clone()) {
        Some(shown) => Field::Known(shown),
        None => super::impact::of(planned, Zones::of(&facts.nodes)),
    }
}

/// The private data of a plan of a new upgrade showing `version_before`,
/// `target_version`, `instance_name` and `impact`: the target when it is known (a version
/// or null; nothing is kept otherwise), the version the upgrade starts from when it is
/// one, the name and the impact when known.
pub fn carry(planned: &UpgradeState) -> Vec<u8> {
    let target_version = match &planned.target_version {
        Field::Known(version) => Some(version.clone()),
        Field::Null => None,
        Field::Unknown => return Vec::new(),
    };
    serde_json::to_vec(&Carried {
        target_version,
        version_before: planned.version_before.known().cloned(),
        instance_name: planned.instance_name.known().cloned(),
        impact: planned.impact.known().cloned(),
        skipped: planned.status.is(&JobStatus::Skipped),
    })
    .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A plan showing `version_before` and `target_version`.
    fn planned(version_before: Field<String>, target_version: Field<String>) -> UpgradeState {
        let mut planned = UpgradeState::new("i-1");
        planned.version_before = version_before;
        planned.target_version = target_version;
        planned
    }

    fn carry(version_before: &Field<String>, target_version: &Field<String>) -> Vec<u8> {
        super::carry(&planned(version_before.clone(), target_version.clone()))
    }

    fn facts(runs: &str) -> InstanceFacts {
        InstanceFacts {
            id: "i-1".into(),
            name: "orders".into(),
            engine: "MySQL".into(),
            version: "8.0".into(),
            complete_version: Some(runs.into()),
            latest_version: Some("8.0.33".into()),
            ..Default::default()
        }
    }

    #[test]
    fn the_planned_values_survive_the_private_data() {
        for target in [Field::from("8.0.32"), Field::Null] {
            let kept = Carried::from_private(&carry(&"8.0.28".into(), &target)).expect("carried");
            assert_eq!(Field::from(kept.target_version()), target);
            assert_eq!(
                version_before(&facts("8.0.33"), true, Some(&kept)),
                Field::from("8.0.28")
            );
        }
        let under_way = Carried::from_private(&carry(&Field::Unknown, &"8.0.32".into()))
            .expect("the target is kept");
        assert_eq!(under_way.target_version().as_deref(), Some("8.0.32"));
        assert_eq!(
            version_before(&facts("8.0.32"), false, Some(&under_way)),
            Field::from("8.0.32"),
            "not carried: derived again"
        );
        assert!(carry(&"8.0.28".into(), &Field::Unknown).is_empty());
        assert_eq!(
            Carried::from_private(&[]),
            None,
            "a first plan, or Terraform before 1.16"
        );
        assert_eq!(Carried::from_private(b"not ours"), None);
    }

    #[test]
    fn the_final_plan_keeps_the_target_the_plan_showed() {
        let now = Some("8.0.33".to_string());
        let facts = facts("8.0.28");
        assert_eq!(
            target_version(&facts, now.clone(), None),
            now,
            "a first plan"
        );
        let reviewed = Carried::from_private(&carry(&"8.0.28".into(), &"8.0.32".into()));
        assert_eq!(
            target_version(&facts, now.clone(), reviewed.as_ref()).as_deref(),
            Some("8.0.32")
        );
        let unknown = Carried::from_private(&carry(&"8.0.28".into(), &Field::Null));
        assert_eq!(
            target_version(&facts, now, unknown.as_ref()),
            None,
            "a plan that could not tell stays so"
        );
    }

    #[test]
    fn a_plan_of_an_earlier_build_carries_the_target_only() {
        let kept = Carried::from_private(br#"{"target_version":"8.0.32"}"#).expect("carried");
        assert_eq!(kept.target_version().as_deref(), Some("8.0.32"));
        assert_eq!(
            version_before(&facts("8.0.28"), false, Some(&kept)),
            Field::from("8.0.28"),
            "derived again"
        );
    }

    #[test]
    fn version_before_is_what_the_instance_reports_unless_carried_or_under_way() {
        assert_eq!(
            version_before(&facts("8.0.28"), false, None),
            Field::from("8.0.28")
        );
        assert_eq!(version_before(&facts("8.0.28"), true, None), Field::Unknown);
        let unreported = InstanceFacts {
            complete_version: None,
            ..facts("8.0.28")
        };
        assert_eq!(version_before(&unreported, false, None), Field::Null);
    }

    #[test]
    fn the_name_the_plan_showed_is_kept_for_the_final_plan() {
        let mut shown = planned("8.0.28".into(), "8.0.32".into());
        shown.instance_name = "orders".into();
        let kept = Carried::from_private(&super::carry(&shown)).expect("carried");
        let renamed = InstanceFacts {
            name: "orders-renamed".into(),
            ..facts("8.0.28")
        };
        assert_eq!(instance_name(&renamed, Some(&kept)), Field::from("orders"));
        assert_eq!(instance_name(&renamed, None), Field::from("orders-renamed"));
        let unnamed = InstanceFacts {
            name: String::new(),
            ..facts("8.0.28")
        };
        let earlier = Carried::from_private(br#"{"target_version":"8.0.32"}"#);
        assert_eq!(instance_name(&unnamed, earlier.as_ref()), Field::Null);
    }

    #[test]
    fn the_impact_the_plan_showed_is_kept_for_the_final_plan() {
        let mut shown = planned("8.0.28".into(), "8.0.32".into());
        shown.engine = "MySQL".into();
        shown.instance_type = "Single".into();
        let single = facts("8.0.28");
        shown.impact = impact(&shown, &single, None);
        let restart = shown.impact.as_deref().expect("known").to_string();
        assert!(restart.starts_with("restart"), "{restart}");
        let kept = Carried::from_private(&super::carry(&shown)).expect("carried");
        let mut now_ha = shown.clone();
        now_ha.instance_type = "Ha".into();
        assert_eq!(
            impact(&now_ha, &single, Some(&kept)),
            Field::Known(restart),
            "the final plan shows what the plan showed"
        );
        let earlier = Carried::from_private(br#"{"target_version":"8.0.32"}"#);
        assert!(
            impact(&now_ha, &single, earlier.as_ref())
                .as_deref()
                .is_some_and(|i| i.contains("switchover")),
            "derived again"
        );
    }
}
