//! The default endpoints of a region: which Huawei Cloud a region belongs to, that
//! cloud's domain, and the `https://{service}.{region}.{domain}` rule every service of
//! the official SDK's region tables follows; and [`check_endpoint`], which configured
//! overrides (`endpoint`, `iam_endpoint`) must pass (the client applies those before
//! falling back to these).
//!
//! The rule, as Huawei's SDK region tables (`huaweicloudsdkrds/v3/region/rds_region.py`,
//! `huaweicloudsdkiam/v3/region/iam_region.py`) have it: each service endpoint is
//! regional, under `myhuaweicloud.com`, except in the EU sovereign cloud (Huawei Cloud
//! Europe), whose regions live under `myhuaweicloud.eu`. `tests/regions.rs` checks this
//! against every region of both tables.

use std::fmt;
use std::net::IpAddr;

/// A Huawei Cloud with its own domain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cloud {
    /// The international and Chinese mainland regions, under `myhuaweicloud.com`.
    Global,
    /// The EU sovereign cloud (Huawei Cloud Europe), under `myhuaweicloud.eu`.
    EuSovereign,
}

/// Regions of the EU sovereign cloud (`eu-west-0`, Paris, is a region of the global one).
const EU_SOVEREIGN_REGIONS: &[&str] = &["eu-west-101"];

impl Cloud {
    /// The cloud `region` belongs to; a region hwrds does not know is taken as global.
    pub fn of(region: &str) -> Cloud {
        if EU_SOVEREIGN_REGIONS.contains(&region) {
            Cloud::EuSovereign
        } else {
            Cloud::Global
        }
    }

    /// The domain the cloud's endpoints live under.
    pub fn domain(self) -> &'static str {
        match self {
            Cloud::Global => "myhuaweicloud.com",
            Cloud::EuSovereign => "myhuaweicloud.eu",
        }
    }
}

/// A Huawei Cloud service hwrds calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    Rds,
    Iam,
}

impl fmt::Display for Service {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Service::Rds => "rds",
            Service::Iam => "iam",
        })
    }
}

/// The default endpoint of `service` in `region`.
pub fn service_endpoint(service: Service, region: &str) -> String {
    format!("https://{service}.{region}.{}", Cloud::of(region).domain())
}

/// The default RDS endpoint of a region.
pub fn rds_endpoint(region: &str) -> String {
    service_endpoint(Service::Rds, region)
}

/// The default IAM endpoint of a region (where its project id is looked up).
pub fn iam_endpoint(region: &str) -> String {
    service_endpoint(Service::Iam, region)
}

/// Why an endpoint URL is refused; its text quotes the URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EndpointError {
    NotAUrl {
        url: String,
        error: String,
    },
    NoHost(String),
    /// `http://` to a host that is not this machine.
    PlainHttp(String),
    Scheme {
        url: String,
        scheme: String,
    },
}

impl fmt::Display for EndpointError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EndpointError::NotAUrl { url, error } => {
                write!(f, "{url:?} is not a valid URL: {error}")
            }
            EndpointError::NoHost(url) => write!(f, "{url:?} has no host"),
            EndpointError::PlainHttp(url) => write!(
                f,
                "{url:?} uses plain http to a non-loopback host; credentials and requests must travel over https. http:// is accepted only for a local emulator (127.0.0.1, ::1, localhost)."
            ),
            EndpointError::Scheme { url, scheme } => {
                write!(f, "{url:?} has scheme {scheme:?}; use https://")
            }
        }
    }
}

impl std::error::Error for EndpointError {}

/// Checks an endpoint URL: https, or http to a loopback address only.
pub fn check_endpoint(url: &str) -> Result<(), EndpointError> {
    let parsed = reqwest::Url::parse(url).map_err(|e| EndpointError::NotAUrl {
        url: url.to_string(),
        error: e.to_string(),
    })?;
    let host = parsed
        .host_str()
        .ok_or_else(|| EndpointError::NoHost(url.to_string()))?;
    match parsed.scheme() {
        "https" => Ok(()),
        "http" => {
            let bare = host.trim_start_matches('[').trim_end_matches(']');
            let loopback =
                bare == "localhost" || bare.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback());
            if loopback {
                Ok(())
            } else {
                Err(EndpointError::PlainHttp(url.to_string()))
            }
        }
        other => Err(EndpointError::Scheme {
            url: url.to_string(),
            scheme: other.to_string(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints() {
        assert!(check_endpoint("https://rds.ap-southeast-1.myhuaweicloud.com").is_ok());
        assert!(check_endpoint("http://127.0.0.1:8080").is_ok());
        assert!(check_endpoint("http://[::1]:8080").is_ok());
        assert!(check_endpoint("http://localhost:1").is_ok());
        assert!(
            check_endpoint("http://10.0.0.1")
                .unwrap_err()
                .to_string()
                .contains("loopback")
        );
        assert!(check_endpoint("ftp://x").is_err());
        assert!(check_endpoint("not a url").is_err());
    }

    #[test]
    fn the_eu_sovereign_cloud_has_its_own_domain() {
        assert_eq!(
            rds_endpoint("eu-west-101"),
            "https://rds.eu-west-101.myhuaweicloud.eu"
        );
        assert_eq!(
            iam_endpoint("eu-west-101"),
            "https://iam.eu-west-101.myhuaweicloud.eu"
        );
        assert_eq!(
            iam_endpoint("eu-west-0"),
            "https://iam.eu-west-0.myhuaweicloud.com"
        );
        assert_eq!(
            rds_endpoint("ap-southeast-1"),
            "https://rds.ap-southeast-1.myhuaweicloud.com"
        );
        assert_eq!(Cloud::of("cn-north-4"), Cloud::Global);
    }
}
