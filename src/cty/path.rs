//! Attribute paths: where in a value a diagnostic points.

/// One step of an attribute path.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PathStep {
    Attribute(String),
    ElementKeyString(String),
    ElementKeyInt(i64),
}

/// A path from the root of a value (resource or provider config) to a nested part.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct AttributePath(pub Vec<PathStep>);

impl AttributePath {
    pub fn root() -> Self {
        AttributePath(Vec::new())
    }

    /// The path of a top-level attribute.
    pub fn attribute(name: impl Into<String>) -> Self {
        AttributePath(vec![PathStep::Attribute(name.into())])
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn push(&mut self, step: PathStep) {
        self.0.push(step);
    }

    /// This path extended by one step.
    pub fn join(&self, step: PathStep) -> Self {
        let mut next = self.clone();
        next.push(step);
        next
    }
}

impl std::fmt::Display for AttributePath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, step) in self.0.iter().enumerate() {
            match step {
                PathStep::Attribute(name) if i == 0 => write!(f, "{name}")?,
                PathStep::Attribute(name) => write!(f, ".{name}")?,
                PathStep::ElementKeyString(key) => write!(f, "[{key:?}]")?,
                PathStep::ElementKeyInt(index) => write!(f, "[{index}]")?,
            }
        }
        Ok(())
    }
}
