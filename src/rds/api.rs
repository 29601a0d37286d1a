//! The operations of the API the client calls ([`Api`]): each one's method and route
//! as the gateway meters them, whether it is a submission, and the page size of the
//! listings. Not here: the quota of an operation and its pacing (`quota`).

use std::fmt;

use reqwest::Method;

/// One operation of the API: a method and a path template, as the gateway meters them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Api {
    IamProjects,
    ListInstances,
    Upgrade,
    ShowJob,
    ListTasks,
    TaskDetail,
    ListScheduleTasks,
    Datastores,
    SmallVersions,
    DrRelations,
}

impl Api {
    pub const ALL: [Api; 10] = [
        Api::IamProjects,
        Api::ListInstances,
        Api::Upgrade,
        Api::ShowJob,
        Api::ListTasks,
        Api::TaskDetail,
        Api::ListScheduleTasks,
        Api::Datastores,
        Api::SmallVersions,
        Api::DrRelations,
    ];

    /// `METHOD /path/{template}`, spelled as the emulator's per-route statistics are.
    pub fn route(self) -> &'static str {
        match self {
            Api::IamProjects => "GET /v3/projects",
            Api::ListInstances => "GET /v3/{project_id}/instances",
            Api::Upgrade => "POST /v3/{project_id}/instances/{instance_id}/db-upgrade",
            Api::ShowJob => "GET /v3/{project_id}/jobs",
            Api::ListTasks => "GET /v3/{project_id}/tasklist",
            Api::TaskDetail => "GET /v3/{project_id}/instances/{instance_id}/tasklist/detail",
            Api::ListScheduleTasks => "GET /v3/{project_id}/schedule-tasks",
            Api::Datastores => "GET /v3/{project_id}/datastores/{database_name}",
            Api::SmallVersions => "GET /v3/{project_id}/datastores/{database_name}/small-version",
            Api::DrRelations => "GET /v3/{project_id}/instances/disaster-recovery-relation",
        }
    }

    pub fn method(self) -> Method {
        match self {
            Api::Upgrade => Method::POST,
            _ => Method::GET,
        }
    }

    /// Submissions change something, are never resent blindly, and go first.
    pub fn is_submission(self) -> bool {
        matches!(self, Api::Upgrade)
    }

    /// Items one request of a listing returns at most (the most its `limit` allows); 1
    /// for the APIs that list nothing.
    pub fn page_size(self) -> usize {
        match self {
            Api::ListInstances => 100,
            Api::ListTasks | Api::ListScheduleTasks => 50,
            _ => 1,
        }
    }

    /// Requests a listing of `items` takes: one per page, one at least.
    pub fn pages(self, items: usize) -> usize {
        items.div_ceil(self.page_size()).max(1)
    }
}

impl fmt::Display for Api {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.route())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_are_the_emulators_templates() {
        assert_eq!(Api::ShowJob.route(), "GET /v3/{project_id}/jobs");
        assert!(Api::Upgrade.route().starts_with("POST "));
        assert!(Api::ALL.iter().filter(|a| a.is_submission()).count() == 1);
        for api in Api::ALL {
            assert!(api.route().starts_with(api.method().as_str()));
        }
    }
}
