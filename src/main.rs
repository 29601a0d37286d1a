//! terraform-provider-hwrds: serves the hwrds provider as a Terraform plugin, or tells a
//! person who runs it by hand how it is meant to be used.

use std::process::ExitCode;

fn main() -> ExitCode {
    hwrds::plugin::run(env!("CARGO_PKG_VERSION"), |_shutdown, _routes| {})
}
