//! Entry point of the RDS API emulator (being built).
fn main() {}
