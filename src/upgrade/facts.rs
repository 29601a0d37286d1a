//! The facts about an RDS instance that the checks, the submission and the data sources
//! use: the instance as the API shows it plus the latest minor version available for it
//! (no API states it per instance; [`super::catalog`] derives it), and how versions
//! compare.

use std::cmp::Ordering;

use crate::rds::models::Instance;

/// What the checks need to know about an instance.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct InstanceFacts {
    pub id: String,
    pub name: String,
    /// Engine as the API names it: `MySQL`, `PostgreSQL`, `SQLServer`, ...
    pub engine: String,
    /// Major version, e.g. `8.0`.
    pub version: String,
    /// Full version, e.g. `8.0.28.231003` (MySQL and PostgreSQL only).
    pub complete_version: Option<String>,
    /// Latest minor version available for the instance, when it could be derived.
    pub latest_version: Option<String>,
    pub status: String,
    /// `Single`, `Ha` or `Replica`.
    pub instance_type: String,
    pub nodes: Vec<NodeFacts>,
    /// For a read replica: the id of its primary instance.
    pub primary_id: Option<String>,
    /// Maintenance window (UTC), e.g. `22:00-02:00`: when delayed upgrades run.
    pub maintenance_window: Option<String>,
    /// The enterprise project it belongs to (`0`: the default project).
    pub enterprise_project_id: Option<String>,
}

/// One node of an instance.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NodeFacts {
    pub id: String,
    pub name: String,
    pub role: String,
    pub status: String,
    pub availability_zone: String,
}

impl InstanceFacts {
    /// The facts of an API instance whose latest minor version is `latest`.
    pub fn from_instance(instance: &Instance, latest: Option<String>) -> Self {
        InstanceFacts {
            id: instance.id.clone(),
            name: instance.name.clone(),
            engine: instance.datastore.engine.clone(),
            version: instance.datastore.version.clone(),
            complete_version: instance.datastore.complete_version.clone(),
            latest_version: latest,
            status: instance.status.clone(),
            instance_type: instance.instance_type.clone(),
            nodes: instance
                .nodes
                .iter()
                .map(|n| NodeFacts {
                    id: n.id.clone(),
                    name: n.name.clone(),
                    role: n.role.clone(),
                    status: n.status.clone(),
                    availability_zone: n.availability_zone.clone(),
                })
                .collect(),
            primary_id: instance.primary_id().map(str::to_string),
            maintenance_window: instance.maintenance_window.clone(),
            enterprise_project_id: instance.enterprise_project_id.clone(),
        }
    }

    /// `orders (cee52…in01), MySQL 8.0.28` — how diagnostics name an instance.
    pub fn describe(&self) -> String {
        let version = self.complete_version.as_deref().unwrap_or(&self.version);
        if self.name.is_empty() {
            format!("instance {} ({} {})", self.id, self.engine, version)
        } else {
            format!(
                "instance {} ({}, {} {})",
                self.name, self.id, self.engine, version
            )
        }
    }

    pub fn is_mysql(&self) -> bool {
        self.engine.eq_ignore_ascii_case("mysql")
    }

    pub fn is_postgresql(&self) -> bool {
        self.engine.eq_ignore_ascii_case("postgresql")
    }

    /// Whether the instance is already on the latest minor version; None when unknown
    /// (including when it runs a version newer than the latest listed: the listing is
    /// behind).
    pub fn on_latest(&self) -> Option<bool> {
        let current = self.complete_version.as_deref()?;
        let latest = self.latest_version.as_deref()?;
        match compare_versions(current, latest) {
            Ordering::Less => Some(false),
            Ordering::Equal => Some(true),
            Ordering::Greater => None,
        }
    }
}

/// Compares dotted versions numerically over the components both have, so
/// `8.0.28.231003` and `8.0.28` are equal and `8.0.28` is older than `8.0.32`.
pub fn compare_versions(a: &str, b: &str) -> Ordering {
    let parse = |v: &str| -> Vec<u64> {
        v.split(['.', '-'])
            .map(|part| {
                let digits: String = part.chars().take_while(char::is_ascii_digit).collect();
                digits.parse().unwrap_or(0)
            })
            .collect()
    };
    let (a, b) = (parse(a), parse(b));
    for (x, y) in a.iter().zip(b.iter()) {
        match x.cmp(y) {
            Ordering::Equal => continue,
            other => return other,
        }
    }
    Ordering::Equal
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_compare_numerically() {
        assert_eq!(compare_versions("8.0.28.231003", "8.0.28"), Ordering::Equal);
        assert_eq!(compare_versions("8.0.9", "8.0.28"), Ordering::Less);
        assert_eq!(compare_versions("11.1", "11.2"), Ordering::Less);
        assert_eq!(compare_versions("16.5.21", "16.4"), Ordering::Greater);
    }
}
