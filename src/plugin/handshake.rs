//! The go-plugin launch contract: magic cookie, protocol negotiation and the handshake
//! line Terraform reads from stdout. Pure functions over the environment's values.

use base64::Engine;

/// The cookie Terraform sets so a provider knows it was launched by Terraform.
pub const MAGIC_COOKIE_KEY: &str = "TF_PLUGIN_MAGIC_COOKIE";
pub const MAGIC_COOKIE_VALUE: &str =
    "d602bf8f470bc67ca7faa0386276bbdd4330efaf76d1a219cb4d6991ca9872b2";
/// go-plugin's core protocol version (the first field of the handshake line).
pub const CORE_PROTOCOL_VERSION: u32 = 1;
/// The only Terraform plugin protocol this provider speaks.
pub const APP_PROTOCOL_VERSION: u32 = 6;

/// What a person who runs the binary by hand sees.
pub const RUN_BY_HAND_MESSAGE: &str = "\
terraform-provider-hwrds is a Terraform plugin and is not meant to be executed directly.
Declare the provider `hwrds/hwrds` in a Terraform configuration and run `terraform init`
and `terraform plan`: Terraform starts this program itself. See the README for set-up.
`terraform-provider-hwrds summary --help`: the pull-request summary of a saved plan.";

/// Whether Terraform launched us (the cookie matches).
pub fn launched_by_terraform(cookie: Option<&str>) -> bool {
    cookie == Some(MAGIC_COOKIE_VALUE)
}

/// Picks protocol 6 from `PLUGIN_PROTOCOL_VERSIONS` (a comma list); absent means 6.
pub fn negotiate(offered: Option<&str>) -> Result<u32, String> {
    let Some(offered) = offered else {
        return Ok(APP_PROTOCOL_VERSION);
    };
    let versions: Vec<&str> = offered
        .split(',')
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .collect();
    if versions
        .iter()
        .any(|v| v.parse::<u32>() == Ok(APP_PROTOCOL_VERSION))
    {
        Ok(APP_PROTOCOL_VERSION)
    } else {
        Err(format!(
            "terraform-provider-hwrds speaks Terraform plugin protocol {APP_PROTOCOL_VERSION} only, \
             but this Terraform offers protocol version(s) {offered:?}. \
             Use Terraform 1.0 or newer (or OpenTofu)."
        ))
    }
}

/// The line go-plugin prints: `1|6|unix|<path>|grpc|<cert>` where `<cert>` is the server
/// certificate's DER in standard base64 without padding (empty without TLS).
pub fn handshake_line(socket_path: &str, server_cert_der: Option<&[u8]>) -> String {
    let cert = server_cert_der
        .map(|der| base64::engine::general_purpose::STANDARD_NO_PAD.encode(der))
        .unwrap_or_default();
    format!("{CORE_PROTOCOL_VERSION}|{APP_PROTOCOL_VERSION}|unix|{socket_path}|grpc|{cert}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookie() {
        assert!(launched_by_terraform(Some(MAGIC_COOKIE_VALUE)));
        assert!(!launched_by_terraform(Some("x")));
        assert!(!launched_by_terraform(None));
    }

    #[test]
    fn negotiation() {
        assert_eq!(negotiate(Some("5,6")), Ok(6));
        assert_eq!(negotiate(None), Ok(6));
        let err = negotiate(Some("5")).unwrap_err();
        assert!(err.contains("protocol 6"), "{err}");
        assert!(negotiate(Some("")).is_err());
    }

    #[test]
    fn line_format() {
        assert_eq!(handshake_line("/tmp/p", None), "1|6|unix|/tmp/p|grpc|");
        // 4 bytes → 6 base64 chars without the `==` padding.
        assert_eq!(
            handshake_line("/tmp/p", Some(&[1, 2, 3, 4])),
            "1|6|unix|/tmp/p|grpc|AQIDBA"
        );
    }
}
