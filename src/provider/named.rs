//! Diagnostics named after their instance: every warning and error of the resource and
//! the action begins with the instance's name (`orders: Instance is frozen`), or its id
//! when no name is known. Terraform folds warnings with the same summary into one
//! ("and one more similar warning elsewhere"); in a fleet's plan the name keeps each
//! instance's warnings apart, and tells the reader which instance each is about.

use crate::tfplugin::Diagnostics;

/// `diags` with each summary beginning with `who` (`"<who>: <summary>"`); a summary that
/// does already, or an empty `who`, is left as it is.
pub fn named(mut diags: Diagnostics, who: &str) -> Diagnostics {
    if who.is_empty() {
        return diags;
    }
    let prefix = format!("{who}: ");
    for d in &mut diags.0 {
        if !d.summary.starts_with(&prefix) {
            d.summary = format!("{prefix}{}", d.summary);
        }
    }
    diags
}

/// How diagnostics name an instance: its `name` when it has one, else its `id`.
pub fn who<'a>(name: Option<&'a str>, id: &'a str) -> &'a str {
    name.filter(|n| !n.is_empty()).unwrap_or(id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tfplugin::Diagnostic;

    #[test]
    fn each_summary_begins_with_the_instance_once() {
        let diags = Diagnostics(vec![
            Diagnostic::warning("second_switch has no effect on this instance", "d"),
            Diagnostic::error("orders: Instance is frozen", "d"),
        ]);
        let named = named(named(diags, "orders"), "orders");
        let summaries: Vec<&str> = named.iter().map(|d| d.summary.as_str()).collect();
        assert_eq!(
            summaries,
            [
                "orders: second_switch has no effect on this instance",
                "orders: Instance is frozen"
            ]
        );
        let untouched = super::named(Diagnostics::from(Diagnostic::error("x", "")), "");
        assert_eq!(untouched.iter().next().unwrap().summary, "x");
        assert_eq!(who(Some("orders"), "i-1"), "orders");
        assert_eq!(who(Some(""), "i-1"), "i-1");
        assert_eq!(who(None, "i-1"), "i-1");
    }
}
