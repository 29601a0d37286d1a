//! Binary entry point of terraform-provider-hwrds (being built).
fn main() {}
