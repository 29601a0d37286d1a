//! Schema building blocks for the provider, resources and data sources: attributes with
//! their modes, defaults and replacement rules, nested blocks, and descriptions (which
//! become the generated docs). Protocol-neutral: `tfplugin` turns these into proto.

use crate::cty::{Type, Value};

/// A versioned schema of a provider, resource or data source.
#[derive(Debug, Clone, PartialEq)]
pub struct Schema {
    pub version: i64,
    pub block: Block,
}

/// A configuration block: attributes and nested blocks.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Block {
    pub description: String,
    pub attributes: Vec<Attribute>,
    /// Nested blocks (`block_types` in the protocol).
    pub blocks: Vec<NestedBlock>,
    pub deprecated: bool,
}

/// Who sets an attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Required,
    Optional,
    /// Set by the provider only.
    Computed,
    /// Set by the user, or by the provider when the user does not.
    OptionalComputed,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Attribute {
    pub name: String,
    pub ty: Type,
    pub description: String,
    pub mode: Mode,
    pub sensitive: bool,
    /// Value planned when the configuration leaves the attribute null
    /// (only for `OptionalComputed`).
    pub default: Option<Value>,
    /// A change of this attribute replaces the resource.
    pub requires_replace: bool,
    /// A computed value that an in-place update never changes (an id, a creation time):
    /// the plan keeps the prior value instead of showing it as unknown.
    pub stable: bool,
    pub deprecated: bool,
}

/// How a nested block repeats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nesting {
    /// At most one block: an object, or null when absent.
    Single,
    List,
    Set,
    /// Blocks with a label each: a map of objects keyed by label.
    Map,
    /// Exactly one block that is never null (absent means all attributes null).
    Group,
}

#[derive(Debug, Clone, PartialEq)]
pub struct NestedBlock {
    pub name: String,
    pub nesting: Nesting,
    pub block: Block,
    pub min_items: i64,
    pub max_items: i64,
}

impl Attribute {
    fn new(name: &str, ty: Type, mode: Mode, description: &str) -> Self {
        Attribute {
            name: name.to_string(),
            ty,
            description: description.to_string(),
            mode,
            sensitive: false,
            default: None,
            requires_replace: false,
            stable: false,
            deprecated: false,
        }
    }

    pub fn required(name: &str, ty: Type, description: &str) -> Self {
        Self::new(name, ty, Mode::Required, description)
    }

    pub fn optional(name: &str, ty: Type, description: &str) -> Self {
        Self::new(name, ty, Mode::Optional, description)
    }

    pub fn computed(name: &str, ty: Type, description: &str) -> Self {
        Self::new(name, ty, Mode::Computed, description)
    }

    pub fn optional_computed(name: &str, ty: Type, description: &str) -> Self {
        Self::new(name, ty, Mode::OptionalComputed, description)
    }

    pub fn sensitive(mut self) -> Self {
        self.sensitive = true;
        self
    }

    /// Planned when the configuration leaves the attribute null; makes it optional+computed.
    pub fn default(mut self, value: Value) -> Self {
        self.mode = Mode::OptionalComputed;
        self.default = Some(value);
        self
    }

    pub fn requires_replace(mut self) -> Self {
        self.requires_replace = true;
        self
    }

    /// Keeps the prior value through in-place updates (see [`Attribute::stable`] field).
    pub fn stable(mut self) -> Self {
        self.stable = true;
        self
    }

    pub fn deprecated(mut self) -> Self {
        self.deprecated = true;
        self
    }

    pub fn is_computed(&self) -> bool {
        matches!(self.mode, Mode::Computed | Mode::OptionalComputed)
    }
}

impl Block {
    pub fn new(description: &str) -> Self {
        Block {
            description: description.to_string(),
            ..Default::default()
        }
    }

    pub fn attribute(mut self, attribute: Attribute) -> Self {
        self.attributes.push(attribute);
        self
    }

    pub fn block(mut self, block: NestedBlock) -> Self {
        self.blocks.push(block);
        self
    }

    pub fn deprecated(mut self) -> Self {
        self.deprecated = true;
        self
    }

    pub fn find_attribute(&self, name: &str) -> Option<&Attribute> {
        self.attributes.iter().find(|a| a.name == name)
    }

    /// The object type of a value of this block (nested blocks included).
    pub fn value_type(&self) -> Type {
        let attrs = self
            .attributes
            .iter()
            .map(|a| (a.name.clone(), a.ty.clone()))
            .chain(self.blocks.iter().map(|b| {
                let inner = b.block.value_type();
                let ty = match b.nesting {
                    Nesting::Single | Nesting::Group => inner,
                    Nesting::List => Type::list(inner),
                    Nesting::Set => Type::set(inner),
                    Nesting::Map => Type::map(inner),
                };
                (b.name.clone(), ty)
            }));
        Type::object(attrs)
    }
}

impl NestedBlock {
    pub fn single(name: &str, block: Block) -> Self {
        NestedBlock {
            name: name.to_string(),
            nesting: Nesting::Single,
            block,
            min_items: 0,
            max_items: 0,
        }
    }

    pub fn list(name: &str, block: Block) -> Self {
        NestedBlock {
            nesting: Nesting::List,
            ..Self::single(name, block)
        }
    }

    pub fn set(name: &str, block: Block) -> Self {
        NestedBlock {
            nesting: Nesting::Set,
            ..Self::single(name, block)
        }
    }

    pub fn map(name: &str, block: Block) -> Self {
        NestedBlock {
            nesting: Nesting::Map,
            ..Self::single(name, block)
        }
    }

    pub fn group(name: &str, block: Block) -> Self {
        NestedBlock {
            nesting: Nesting::Group,
            ..Self::single(name, block)
        }
    }

    /// Bounds on the number of blocks (0 = no bound); Terraform checks them.
    pub fn items(mut self, min: i64, max: i64) -> Self {
        self.min_items = min;
        self.max_items = max;
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn value_type_includes_blocks() {
        let block = Block::new("r")
            .attribute(Attribute::required("name", Type::String, "n"))
            .block(NestedBlock::list(
                "rule",
                Block::new("").attribute(Attribute::optional("port", Type::Number, "")),
            ))
            .block(NestedBlock::single(
                "timeouts",
                Block::new("").attribute(Attribute::optional("create", Type::String, "")),
            ));
        assert_eq!(
            block.value_type().to_json().to_string(),
            r#"["object",{"name":"string","rule":["list",["object",{"port":"number"}]],"timeouts":["object",{"create":"string"}]}]"#
        );
        let with_default = Attribute::optional("x", Type::Bool, "").default(Value::Bool(true));
        assert_eq!(with_default.mode, Mode::OptionalComputed);
    }

    #[test]
    fn map_and_group_blocks_have_their_value_types() {
        let inner = || Block::new("").attribute(Attribute::optional("v", Type::String, ""));
        let block = Block::new("r")
            .block(NestedBlock::map("tags", inner()))
            .block(NestedBlock::group("settings", inner()).items(1, 1));
        assert_eq!(
            block.value_type().to_json().to_string(),
            r#"["object",{"settings":["object",{"v":"string"}],"tags":["map",["object",{"v":"string"}]]}]"#
        );
        assert_eq!(
            (block.blocks[1].min_items, block.blocks[1].max_items),
            (1, 1)
        );
    }
}
