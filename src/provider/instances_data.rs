//! `hwrds_db_instances`: the project's RDS instances, filtered by engine, name prefix or
//! regular expression, type and status — each with the same attributes as
//! `hwrds_db_instance`, so a fleet upgrade is one `for_each`.

use std::sync::Arc;

use super::ProviderState;
use super::instance_data::instance_attributes;
use super::instance_data::{instance_values, scheduled_tasks};
use super::project_lookup;
use crate::cty::{AttributePath, Type, Value};
use crate::rds::CallCtx;
use crate::rds::models::Instance;
use crate::schema::{Attribute, Block, Schema};
use crate::tfplugin::{Ctx, DataSource, Diagnostic, Diagnostics, StateResult};

pub struct InstancesDataSource {
    pub(super) provider: Arc<ProviderState>,
}

/// The object type of one listed instance.
fn instance_type() -> Type {
    let mut attributes = vec![
        ("id".to_string(), Type::String),
        ("name".to_string(), Type::String),
    ];
    attributes.extend(instance_attributes().into_iter().map(|a| (a.name, a.ty)));
    Type::object(attributes)
}

/// The filters as configured.
struct Filters {
    engine: Option<String>,
    name_prefix: Option<String>,
    name_regex: Option<regex_lite::Regex>,
    instance_type: Option<String>,
    status: Option<String>,
}

impl Filters {
    fn from_config(config: &Value) -> Result<Filters, Diagnostic> {
        let text = |name| {
            config
                .get_attr(name)
                .and_then(Value::as_str)
                .map(str::to_string)
        };
        let name_regex = match text("name_regex") {
            Some(pattern) => Some(regex_lite::Regex::new(&pattern).map_err(|e| {
                Diagnostic::error_at(
                    AttributePath::attribute("name_regex"),
                    "Invalid regular expression",
                    format!("name_regex {pattern:?} is not a valid regular expression: {e}"),
                )
            })?),
            None => None,
        };
        Ok(Filters {
            engine: text("engine"),
            name_prefix: text("name_prefix"),
            name_regex,
            instance_type: text("type"),
            status: text("status"),
        })
    }

    fn matches(&self, instance: &Instance) -> bool {
        let same = |want: &Option<String>, have: &str| {
            want.as_deref().is_none_or(|w| w.eq_ignore_ascii_case(have))
        };
        same(&self.engine, &instance.datastore.engine)
            && same(&self.instance_type, &instance.instance_type)
            && same(&self.status, &instance.status)
            && self
                .name_prefix
                .as_deref()
                .is_none_or(|p| instance.name.starts_with(p))
            && self
                .name_regex
                .as_ref()
                .is_none_or(|r| r.is_match(&instance.name))
    }
}

#[async_trait::async_trait]
impl DataSource for InstancesDataSource {
    fn type_name(&self) -> &'static str {
        "hwrds_db_instances"
    }

    fn schema(&self) -> Schema {
        let filter = |name, description| Attribute::optional(name, Type::String, description);
        let block = Block::new("The project's RDS instances matching every filter given, sorted by name, each with its versions and whether a minor upgrade is available.")
            .attribute(filter("engine", "Only instances of this engine (`MySQL`, `PostgreSQL`, ...; case-insensitive)."))
            .attribute(filter("name_prefix", "Only instances whose name starts with this."))
            .attribute(filter("name_regex", "Only instances whose name matches this regular expression."))
            .attribute(filter("type", "Only instances of this type: `Single`, `Ha` or `Replica`."))
            .attribute(filter("status", "Only instances with this status, e.g. `ACTIVE`."))
            .attribute(Attribute::computed("id", Type::String, "A digest of the filters."))
            .attribute(Attribute::computed(
                "instances",
                Type::list(instance_type()),
                "Matching instances: `id`, `name` and the attributes of `hwrds_db_instance`.",
            ));
        Schema { version: 0, block }
    }

    async fn validate_config(&self, config: &Value) -> Diagnostics {
        match Filters::from_config(config) {
            Ok(_) => Diagnostics::default(),
            Err(d) => Diagnostics::from(d),
        }
    }

    async fn read(&self, ctx: &Ctx, config: &Value) -> StateResult {
        let client = match self.provider.client() {
            Ok(c) => c,
            Err(d) => return StateResult::error(d),
        };
        let filters = match Filters::from_config(config) {
            Ok(f) => f,
            Err(d) => return StateResult::error(Diagnostics::from(d)),
        };
        let call = CallCtx::new(ctx.cancel.clone());
        let all = match self.provider.catalog.all(client, &call).await {
            Ok(all) => all,
            Err(e) => {
                return StateResult::error(Diagnostics::from(project_lookup::or_diagnostic(
                    &e,
                    || {
                        Diagnostic::error(
                            "Cannot list the RDS instances",
                            format!("Listing the project's instances failed: {e}"),
                        )
                    },
                )));
            }
        };
        let mut matching: Vec<&Instance> = all.iter().filter(|i| filters.matches(i)).collect();
        matching.sort_by(|a, b| a.name.cmp(&b.name).then_with(|| a.id.cmp(&b.id)));
        let (scheduled, diagnostics) = if matching.is_empty() {
            (Vec::new(), Diagnostics::default())
        } else {
            scheduled_tasks(&self.provider, client, &call).await
        };
        let mut listed = Vec::with_capacity(matching.len());
        for instance in matching {
            let facts = match self.provider.catalog.facts(client, &call, instance).await {
                Ok(f) => f,
                Err(e) => {
                    return StateResult::error(Diagnostics::from(Diagnostic::error(
                        "Cannot read the available versions",
                        format!(
                            "Listing {} versions for instance {} failed: {e}",
                            instance.datastore.engine, instance.name
                        ),
                    )));
                }
            };
            let mut object = vec![
                ("id", Value::string(&instance.id)),
                ("name", Value::string(&instance.name)),
            ];
            object.extend(instance_values(&facts, &scheduled));
            listed.push(Value::object(object));
        }
        let mut state = config.clone();
        let digest = ["engine", "name_prefix", "name_regex", "type", "status"]
            .iter()
            .map(|k| {
                config
                    .get_attr(k)
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string()
            })
            .collect::<Vec<_>>()
            .join("|");
        state.set_attr("id", Value::string(format!("instances:{digest}")));
        state.set_attr("instances", Value::List(listed));
        StateResult {
            state: Some(state),
            private: Vec::new(),
            diagnostics,
        }
    }
}
