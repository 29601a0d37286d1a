//! terraform-provider-hwrds: serves the hwrds provider as a Terraform plugin, or tells a
//! person who runs it by hand how it is meant to be used; `terraform-provider-hwrds
//! summary --plan plan.json [--log plan.log.jsonl]` prints the pull-request summary of a
//! saved plan (Terraform launches the plugin without arguments).

use std::process::ExitCode;
use std::sync::Arc;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Some((first, rest)) = args.split_first()
        && first == hwrds::summary::SUBCOMMAND
    {
        return hwrds::summary::run(rest);
    }
    hwrds::plugin::run(env!("CARGO_PKG_VERSION"), |shutdown, routes| {
        let provider = Arc::new(hwrds::provider::HwrdsProvider::new());
        hwrds::tfplugin::register(provider, shutdown, routes);
    })
}
