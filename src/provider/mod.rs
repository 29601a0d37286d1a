//! (being built)

pub mod checks;
