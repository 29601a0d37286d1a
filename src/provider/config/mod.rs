//! The `hwrds` provider block. Its schema and its validation walk the table of settings
//! ([`settings`]); [`resolve`] reads every setting (block, else environment variable,
//! else default) into one [`ResolvedConfig`] with all diagnostics at their attributes.

mod read;
mod resolve;
mod settings;
mod shared_config;

pub use resolve::{ResolvedConfig, resolve};

use crate::cty::Value;
use crate::schema::{Block, NestedBlock, Schema};
use crate::tfplugin::Diagnostics;

/// Reads an environment variable (a seam so tests need not touch the process env).
pub type Env<'a> = &'a dyn Fn(&str) -> Option<String>;

/// The provider configuration schema: one optional attribute per setting.
pub fn schema() -> Schema {
    let block = Block::new(
        "The hwrds provider manages Huawei Cloud RDS minor version upgrades. Every argument is optional and falls back to the environment variable named in its description.",
    );
    let own = settings::TABLE.iter().filter(|s| s.block.is_none());
    let block = own.fold(block, |block, setting| block.attribute(setting.attribute()));
    let assume_role = settings::TABLE
        .iter()
        .filter(|s| s.block == Some(settings::ASSUME_ROLE))
        .fold(
            Block::new(settings::ASSUME_ROLE_DESCRIPTION),
            |block, setting| block.attribute(setting.attribute()),
        );
    let block = block.block(NestedBlock::single(settings::ASSUME_ROLE, assume_role));
    Schema { version: 0, block }
}

/// Validates what is known of the block (unknown values are checked when configured).
pub fn validate(config: &Value) -> Diagnostics {
    let mut diags = Diagnostics::default();
    for setting in settings::TABLE {
        if let Err(diagnostic) = read::from_block(setting, config) {
            diags.push(diagnostic);
        }
    }
    diags
}

#[cfg(test)]
mod tests;
