//! terraform-provider-hwrds: serves the hwrds provider as a Terraform plugin, or tells a
//! person who runs it by hand how it is meant to be used.

use std::process::ExitCode;
use std::sync::Arc;

fn main() -> ExitCode {
    hwrds::plugin::run(env!("CARGO_PKG_VERSION"), |shutdown, routes| {
        let provider = Arc::new(hwrds::provider::HwrdsProvider::new());
        hwrds::tfplugin::register(provider, shutdown, routes);
    })
}
