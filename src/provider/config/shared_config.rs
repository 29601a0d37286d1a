//! The Huawei Cloud CLI's shared configuration file (`~/.hcloud/config.json`, as the
//! official provider reads it): `{"current": "<name>", "profiles": [{"name", "mode",
//! "accessKeyId", "secretAccessKey", "securityToken", "region", "projectId", ...}]}`.
//! Reads one profile; what it holds is used where neither the provider block nor the
//! environment gives a value.

use std::fmt;

use serde::Deserialize;

use crate::rds::credentials::Secret;

#[derive(Deserialize, Default)]
#[serde(default)]
struct SharedConfig {
    current: String,
    profiles: Vec<RawProfile>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct RawProfile {
    name: String,
    access_key_id: String,
    secret_access_key: String,
    security_token: String,
    region: String,
    project_id: String,
}

/// The settings one profile provides (empty fields are None).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Profile {
    pub name: String,
    pub access_key: Option<String>,
    pub secret_key: Option<Secret>,
    pub security_token: Option<Secret>,
    pub region: Option<String>,
    pub project_id: Option<String>,
}

fn some(text: String) -> Option<String> {
    Some(text).filter(|t| !t.trim().is_empty())
}

/// Expands a leading `~/` with `home`.
fn expand(path: &str, home: Option<&str>) -> String {
    match (path.strip_prefix("~/"), home) {
        (Some(rest), Some(home)) => format!("{}/{rest}", home.trim_end_matches('/')),
        _ => path.to_string(),
    }
}

/// Why a profile could not be read; its text is fit for a diagnostic and never quotes
/// the file's contents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoadError {
    /// The file (at `path`, `~/` expanded) could not be read.
    Unreadable { path: String, error: String },
    /// The file is not the CLI's JSON; where the parser stopped.
    Malformed {
        path: String,
        line: usize,
        column: usize,
    },
    /// The file has no profile named `wanted`; `names` are those it has.
    NoProfile {
        path: String,
        wanted: String,
        names: Vec<String>,
    },
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoadError::Unreadable { path, error } => {
                write!(f, "cannot read the shared config file {path}: {error}")
            }
            LoadError::Malformed { path, line, column } => write!(
                f,
                "the shared config file {path} is not a Huawei Cloud CLI configuration (JSON with \"current\" and \"profiles\"): error at line {line}, column {column}"
            ),
            LoadError::NoProfile {
                path,
                wanted,
                names,
            } => write!(
                f,
                "the shared config file {path} has no profile {wanted:?} (profiles: {})",
                names.join(", ")
            ),
        }
    }
}

impl std::error::Error for LoadError {}

/// Reads `profile` (or the file's `current` one) from the file at `path`.
pub fn load(path: &str, profile: Option<&str>, home: Option<&str>) -> Result<Profile, LoadError> {
    let full = expand(path, home);
    let text = std::fs::read_to_string(&full).map_err(|e| LoadError::Unreadable {
        path: full.clone(),
        error: e.to_string(),
    })?;
    let config: SharedConfig = serde_json::from_str(&text).map_err(|e| LoadError::Malformed {
        path: full.clone(),
        line: e.line(),
        column: e.column(),
    })?;
    let wanted = profile.map(str::to_string).unwrap_or(config.current);
    let found = config
        .profiles
        .iter()
        .find(|p| p.name == wanted)
        .ok_or_else(|| LoadError::NoProfile {
            path: full.clone(),
            wanted: wanted.clone(),
            names: config.profiles.iter().map(|p| p.name.clone()).collect(),
        })?;
    Ok(Profile {
        name: found.name.clone(),
        access_key: some(found.access_key_id.clone()),
        secret_key: some(found.secret_access_key.clone()).map(Secret::new),
        security_token: some(found.security_token.clone()).map(Secret::new),
        region: some(found.region.clone()),
        project_id: some(found.project_id.clone()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = r#"{"current": "dev", "profiles": [
        {"name": "dev", "mode": "AKSK", "accessKeyId": "AK1", "secretAccessKey": "SK1", "region": "ap-southeast-1", "projectId": ""},
        {"name": "prod", "mode": "AKSK", "accessKeyId": "AK2", "secretAccessKey": "SK2", "securityToken": "T2", "region": "eu-west-101", "projectId": "p2"}
    ]}"#;

    #[test]
    fn profiles_by_name_or_current() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("config.json"), FILE).unwrap();
        let home = dir.path().to_str();
        let dev = load("~/config.json", None, home).unwrap();
        assert_eq!(dev.access_key.as_deref(), Some("AK1"));
        assert_eq!(dev.project_id, None);
        let prod = load("~/config.json", Some("prod"), home).unwrap();
        assert_eq!(prod.secret_key.as_ref().map(Secret::expose), Some("SK2"));
        assert_eq!(prod.security_token.as_ref().map(Secret::expose), Some("T2"));
        assert_eq!(prod.region.as_deref(), Some("eu-west-101"));
        let missing = load("~/config.json", Some("qa"), home)
            .unwrap_err()
            .to_string();
        assert!(missing.contains("no profile \"qa\"") && missing.contains("dev, prod"));
        assert!(
            !format!("{prod:?}").contains("SK2"),
            "secrets stay redacted"
        );
    }

    #[test]
    fn unreadable_and_malformed_files() {
        assert!(
            load("/nonexistent/config.json", None, None)
                .unwrap_err()
                .to_string()
                .contains("cannot read")
        );
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.json");
        std::fs::write(&path, "{\"profiles\": [secret").unwrap();
        let err = load(path.to_str().unwrap(), None, None)
            .unwrap_err()
            .to_string();
        assert!(err.contains("line 1") && !err.contains("secret"), "{err}");
    }
}
