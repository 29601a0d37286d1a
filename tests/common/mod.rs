//! Support shared by the integration tests: finding Terraform, running it in an isolated
//! workspace against a locally built provider, and reading its output and state; the
//! emulator process; and, in the modules, the crate's client for it, the instances the
//! tests name, what the emulator says is true, processes disrupted from outside, the
//! provider driven in process, and what the tables of the resource's rules share.
//!
//! Each test crate declares it `pub mod common;` and uses a part of it: as items of the
//! crate's public interface none of them is reported unused in a crate that needs only
//! others, while everything inside stays checked as usual.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

pub mod client;
pub mod fixtures;
pub mod in_process;
pub mod processes;
pub mod rule_tables;
pub mod signed;
pub mod truth;

/// The repository root.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn tool(name: &str) -> PathBuf {
    let path = repo_root().join(".tools/bin").join(name);
    assert!(
        path.exists(),
        "{} is missing: run `make test` (it installs Terraform with scripts/install-terraform)",
        path.display()
    );
    path
}

/// Terraform 1.15.5: `TF_ACC_TERRAFORM_PATH`, else `.tools/bin/terraform`.
pub fn terraform() -> PathBuf {
    match std::env::var_os("TF_ACC_TERRAFORM_PATH") {
        Some(path) => PathBuf::from(path),
        None => tool("terraform"),
    }
}

/// Terraform 1.6.6 (the line OpenTofu forked from): `.tools/bin/terraform-1.6`.
pub fn terraform_16() -> PathBuf {
    tool("terraform-1.6")
}

/// The output of one Terraform command.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// stdout and stderr together, for assertions and failure messages.
    pub fn all(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }

    #[track_caller]
    pub fn assert_ok(&self) -> &Self {
        assert_eq!(self.code, 0, "terraform failed:\n{}", self.all());
        self
    }
}

/// A temporary Terraform working directory whose CLI configuration points the given
/// provider sources at provider binaries of this build (dev_overrides, from a plugin
/// directory inside the workspace), isolated from the user's setup.
pub struct Workspace {
    pub dir: tempfile::TempDir,
    terraform: PathBuf,
    env: Vec<(String, String)>,
}

impl Workspace {
    /// `terraform plan -out=tfplan`, then `terraform show -json tfplan`: the saved plan.
    pub fn saved_plan(&self) -> serde_json::Value {
        self.run(&["plan", "-input=false", "-out=tfplan"])
            .assert_ok();
        let shown = self.run(&["show", "-json", "tfplan"]);
        shown.assert_ok();
        serde_json::from_str(&shown.stdout).expect("plan JSON")
    }
    /// `terraform plan -out=tfplan -json` into plan.log.jsonl and `terraform show -json
    /// tfplan` into plan.json (what `terraform-provider-hwrds summary` reads): the log
    /// and the plan.
    pub fn saved_plan_and_log(&self) -> (String, serde_json::Value) {
        let plan = self.run(&["plan", "-input=false", "-out=tfplan", "-json"]);
        plan.assert_ok();
        self.write("plan.log.jsonl", &plan.stdout);
        let shown = self.run(&["show", "-json", "tfplan"]);
        shown.assert_ok();
        self.write("plan.json", &shown.stdout);
        let plan_json = serde_json::from_str(&shown.stdout).expect("plan JSON");
        (plan.stdout, plan_json)
    }

    /// `providers`: (provider source such as `hwrds/hwrds`, the provider's executable).
    pub fn new(terraform: PathBuf, providers: &[(&str, &Path)], main_tf: &str) -> Workspace {
        let dir = tempfile::tempdir().expect("temp dir");
        let lines: String = providers
            .iter()
            .map(|(source, binary)| {
                let plugins = plugin_dir(dir.path(), source, binary);
                format!("    \"{source}\" = \"{}\"\n", plugins.display())
            })
            .collect();
        let cli_config = format!(
            "provider_installation {{\n  dev_overrides {{\n{lines}  }}\n  direct {{}}\n}}\n"
        );
        std::fs::write(dir.path().join("cli.tfrc"), cli_config).expect("write cli config");
        std::fs::write(dir.path().join("main.tf"), main_tf).expect("write main.tf");
        let home = dir.path().join("home");
        std::fs::create_dir_all(&home).expect("home dir");
        let env = vec![
            (
                "TF_CLI_CONFIG_FILE".to_string(),
                dir.path().join("cli.tfrc").display().to_string(),
            ),
            ("TF_IN_AUTOMATION".to_string(), "1".to_string()),
            ("CHECKPOINT_DISABLE".to_string(), "1".to_string()),
            ("TF_INPUT".to_string(), "0".to_string()),
            ("HOME".to_string(), home.display().to_string()),
            (
                "HWRDS_METADATA_ENDPOINT".to_string(),
                NO_METADATA.to_string(),
            ),
        ];
        Workspace {
            dir,
            terraform,
            env,
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn set_env(&mut self, key: &str, value: &str) {
        self.env.retain(|(k, _)| k != key);
        self.env.push((key.to_string(), value.to_string()));
    }

    /// Removes a variable this workspace would set (the test process sets no HW_*).
    pub fn unset_env(&mut self, key: &str) {
        self.env.retain(|(k, _)| k != key);
    }

    pub fn write(&self, name: &str, content: &str) {
        std::fs::write(self.path().join(name), content).expect("write file");
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(&self.terraform);
        cmd.args(args)
            .current_dir(self.path())
            .env_remove("TF_LOG")
            .env_remove("TF_LOG_PROVIDER")
            .env_remove("TF_CLI_ARGS")
            .stdin(Stdio::null());
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        cmd
    }

    /// Runs terraform with `args` (and `-no-color`), at most `timeout`.
    pub fn run_with_timeout(&self, args: &[&str], timeout: Duration) -> Run {
        let mut all: Vec<&str> = args.to_vec();
        let takes_no_color = [
            "plan", "apply", "destroy", "import", "validate", "show", "refresh", "output", "init",
        ];
        if !args.is_empty() && !args.contains(&"-no-color") && takes_no_color.contains(&args[0]) {
            all.insert(1, "-no-color");
        }
        let child = self
            .command(&all)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start terraform");
        let output = wait_with_timeout(child, timeout, &all);
        Run {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// Runs terraform with `args` and sends it SIGINT (Ctrl-C) `after` the moment `marker`
    /// appears on its stdout; returns everything it printed once it has stopped.
    pub fn run_interrupted(&self, args: &[&str], marker: &str, after: Duration) -> Run {
        use std::io::BufRead;
        let mut child = self
            .command(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start terraform");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel::<String>();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
            {
                let _ = tx.send(line);
            }
        });
        let mut seen = String::new();
        let started = std::time::Instant::now();
        while !seen.contains(marker) {
            assert!(
                started.elapsed() < Duration::from_secs(90),
                "{marker:?} never appeared:\n{seen}"
            );
            if let Ok(line) = rx.recv_timeout(Duration::from_millis(100)) {
                seen.push_str(&line);
                seen.push('\n');
            }
        }
        std::thread::sleep(after);
        Command::new("kill")
            .args(["-INT", &child.id().to_string()])
            .status()
            .expect("send SIGINT");
        let started = std::time::Instant::now();
        while child.try_wait().expect("wait").is_none() {
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "terraform did not stop after SIGINT:\n{seen}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        while let Ok(line) = rx.recv_timeout(Duration::from_millis(200)) {
            seen.push_str(&line);
            seen.push('\n');
        }
        let out = child.wait_with_output().expect("collect output");
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: seen,
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    pub fn run(&self, args: &[&str]) -> Run {
        self.run_with_timeout(args, Duration::from_secs(180))
    }

    pub fn apply(&self) -> Run {
        self.run(&["apply", "-auto-approve", "-input=false"])
    }

    /// `terraform plan -detailed-exitcode`: 0 no changes, 2 changes, 1 error.
    pub fn plan(&self) -> Run {
        self.run(&["plan", "-detailed-exitcode", "-input=false"])
    }

    /// The state file as JSON.
    pub fn state(&self) -> serde_json::Value {
        let text = std::fs::read_to_string(self.path().join("terraform.tfstate"))
            .expect("terraform.tfstate exists");
        serde_json::from_str(&text).expect("state is JSON")
    }

    /// The `attributes` of the managed resource at `address` (e.g. `hwrdstest_thing.a`).
    pub fn resource_attributes(&self, address: &str) -> serde_json::Value {
        let (ty, name) = address.split_once('.').expect("type.name");
        let state = self.state();
        let resources = state["resources"].as_array().cloned().unwrap_or_default();
        let found = resources
            .iter()
            .find(|r| r["type"] == ty && r["name"] == name && r["mode"] == "managed")
            .unwrap_or_else(|| panic!("{address} not in state: {state}"));
        found["instances"][0]["attributes"].clone()
    }

    /// The `attributes` of each instance of the managed resource `name` (a `for_each`
    /// fleet), keyed by `instance_id`; empty when it is not in the state.
    pub fn fleet_attributes(
        &self,
        name: &str,
    ) -> std::collections::HashMap<String, serde_json::Value> {
        let state = self.state();
        state["resources"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|r| r["name"] == name && r["mode"] == "managed")
            .flat_map(|r| r["instances"].as_array().cloned().unwrap_or_default())
            .map(|i| {
                let attrs = i["attributes"].clone();
                let id = attrs["instance_id"].as_str().unwrap_or("").to_string();
                (id, attrs)
            })
            .collect()
    }
}

/// Collects a child's output (draining both pipes, so a chatty Terraform never blocks)
/// and kills it if it outlives `timeout`.
fn wait_with_timeout(child: std::process::Child, timeout: Duration, args: &[&str]) -> Output {
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(timeout) {
        Ok(output) => output.expect("collect terraform output"),
        Err(_) => {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
            let output = rx.recv().ok().and_then(Result::ok);
            let (stdout, stderr) = output.map(|o| (o.stdout, o.stderr)).unwrap_or_default();
            panic!(
                "terraform {args:?} did not finish within {timeout:?}:\n{}\n{}",
                String::from_utf8_lossy(&stdout),
                String::from_utf8_lossy(&stderr)
            );
        }
    }
}

/// `<workspace>/plugins/<name>/`, holding `terraform-provider-<name>` as a link to
/// `binary`, where `name` is the last part of `source`.
fn plugin_dir(workspace: &Path, source: &str, binary: &Path) -> PathBuf {
    let name = source.rsplit('/').next().unwrap_or(source);
    let dir = workspace.join("plugins").join(name);
    std::fs::create_dir_all(&dir).expect("plugin dir");
    std::os::unix::fs::symlink(binary, dir.join(format!("terraform-provider-{name}")))
        .expect("link provider binary");
    dir
}

/// A running `hwrds-emulator` process (killed on drop).
pub struct Emulator {
    pub child: std::process::Child,
    pub url: String,
    pub config_path: PathBuf,
    pub state_path: Option<PathBuf>,
    _dir: std::sync::Arc<tempfile::TempDir>,
}

/// `HWRDS_METADATA_ENDPOINT` of every provider the tests start: a loopback port nothing
/// listens on, so that a provider left without keys never contacts 169.254.169.254.
pub const NO_METADATA: &str = "http://127.0.0.1:9";

/// The emulator's default credentials and project.
pub const ACCESS_KEY: &str = "EMULATORAK";
pub const SECRET_KEY: &str = "EMULATORSK";
pub const PROJECT_ID: &str = "0483b6b16e954cb88930a360d2c4e663";

impl Emulator {
    /// Starts the emulator with `config` (JSON), optionally persisting to a state file.
    ///
    /// The emulator's flow control is on by default, as the cloud's is; a `config`
    /// without a `flow_control` key gets `"flow_control": {"enabled": false}` here, so
    /// tests of other behaviour are not slowed by the documented 60 requests per minute.
    /// Tests that exercise flow control pass their own `flow_control`.
    pub fn start(mut config: serde_json::Value, with_state_file: bool) -> Emulator {
        if let Some(keys) = config.as_object_mut() {
            keys.entry("flow_control")
                .or_insert_with(|| serde_json::json!({"enabled": false}));
        }
        let dir = std::sync::Arc::new(tempfile::tempdir().expect("temp dir"));
        let config_path = dir.path().join("emulator.json");
        std::fs::write(&config_path, config.to_string()).expect("write emulator config");
        let state_path = with_state_file.then(|| dir.path().join("state.json"));
        Self::spawn(config_path, state_path, dir)
    }

    fn spawn(
        config_path: PathBuf,
        state_path: Option<PathBuf>,
        dir: std::sync::Arc<tempfile::TempDir>,
    ) -> Emulator {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_hwrds-emulator"));
        cmd.args(["--listen", "127.0.0.1:0", "--config"])
            .arg(&config_path)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        if let Some(state) = &state_path {
            cmd.arg("--state-file").arg(state);
        }
        let mut child = cmd.spawn().expect("start hwrds-emulator");
        let mut line = String::new();
        std::io::BufRead::read_line(
            &mut std::io::BufReader::new(child.stdout.take().expect("stdout")),
            &mut line,
        )
        .expect("read first line");
        let url = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_string();
        Emulator {
            child,
            url,
            config_path,
            state_path,
            _dir: dir,
        }
    }

    /// Kills the process and starts a new one on the same config and state file.
    pub fn restart(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        // Dropping the old handle kills an already dead process: harmless.
        *self = Self::spawn(
            self.config_path.clone(),
            self.state_path.clone(),
            self._dir.clone(),
        );
    }

    /// The emulator's demo instances ([`fixtures`] names them), each upgrade job lasting
    /// `job_seconds`.
    pub fn demo(job_seconds: f64) -> Emulator {
        Self::start(serde_json::json!({"job_seconds": job_seconds}), false)
    }

    pub fn stats(&self) -> serde_json::Value {
        let (status, body) = http(&self.url, "GET", "/__emulator/stats", None);
        assert_eq!(status, 200, "{body}");
        serde_json::from_str(&body).expect("stats JSON")
    }

    pub fn admin(&self, path: &str, body: serde_json::Value) {
        let (status, text) = http(&self.url, "POST", path, Some(&body.to_string()));
        assert_eq!(status, 200, "{path}: {text}");
    }

    pub fn faults(&self, body: serde_json::Value) {
        self.admin("/__emulator/faults", body);
    }

    /// Closes `route`'s gate (`"<METHOD> <route template>"`) at `hold` (`before`,
    /// `after`), or opens it (`none`).
    pub fn gate(&self, route: &str, hold: &str) {
        self.admin(
            "/__emulator/gate",
            serde_json::json!({"route": route, "hold": hold}),
        );
    }

    /// Requests waiting at `route`'s gate now.
    pub fn held(&self, route: &str) -> u64 {
        self.stats()["held"][route].as_u64().unwrap_or(0)
    }

    /// Upgrade POSTs of `instance_id` that reached the handler.
    pub fn upgrade_posts(&self, instance_id: &str) -> u64 {
        self.stats()["upgrade_posts"][instance_id]
            .as_u64()
            .unwrap_or(0)
    }

    /// Whether the emulator was started with its flow control on (the config file's
    /// `flow_control.enabled`, on by default); run-time changes are not seen here.
    pub fn flow_control_enabled(&self) -> bool {
        let config: serde_json::Value = std::fs::read_to_string(&self.config_path)
            .ok()
            .and_then(|text| serde_json::from_str(&text).ok())
            .unwrap_or_default();
        config["flow_control"]["enabled"].as_bool() != Some(false)
    }

    /// Upgrade jobs started for `instance_id`.
    pub fn upgrade_jobs(&self, instance_id: &str) -> u64 {
        self.stats()["upgrade_jobs"][instance_id]
            .as_u64()
            .unwrap_or(0)
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The sum over routes of one of the emulator's per-route counters (`requests`,
/// `throttled`) in `stats`.
pub fn stats_total(stats: &serde_json::Value, key: &str) -> u64 {
    stats[key]
        .as_object()
        .map(|m| m.values().filter_map(|v| v.as_u64()).sum())
        .unwrap_or(0)
}

/// One of the emulator's counters in `stats`: `stats[name][key]`, 0 when absent.
pub fn counter(stats: &serde_json::Value, name: &str, key: &str) -> u64 {
    stats[name][key].as_u64().unwrap_or(0)
}

/// A minimal HTTP/1.1 request for the emulator's unsigned admin routes.
pub fn http(base: &str, method: &str, path: &str, body: Option<&str>) -> (u16, String) {
    use std::io::{Read, Write};
    let host = base.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(host).expect("connect to emulator");
    let body = body.unwrap_or("");
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .expect("send request");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("read response");
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

/// The `terraform` block every hwrds configuration starts with.
pub const HWRDS_HEADER: &str = r#"
terraform {
  required_providers {
    hwrds = { source = "hwrds/hwrds" }
  }
}
"#;

/// A workspace using this build's hwrds provider, with `body` after the header; no
/// endpoint and no credentials.
pub fn hwrds_only_workspace(terraform: PathBuf, body: &str) -> Workspace {
    Workspace::new(
        terraform,
        &[("hwrds/hwrds", &hwrds_binary())],
        &format!("{HWRDS_HEADER}{body}"),
    )
}

/// [`hwrds_workspace`] on Terraform 1.15.5 ([`terraform`]).
pub fn workspace(emu: &Emulator, body: &str) -> Workspace {
    hwrds_workspace(terraform(), emu, body)
}

/// A workspace using this build's hwrds provider against `emu` (credentials and endpoint
/// from the environment, as a user would set them), with `body` after the header.
pub fn hwrds_workspace(terraform: PathBuf, emu: &Emulator, body: &str) -> Workspace {
    let mut ws = hwrds_only_workspace(terraform, body);
    ws.set_env("HWRDS_ENDPOINT", &emu.url);
    ws.set_env("HW_REGION_NAME", "ap-southeast-1");
    ws.set_env("HW_ACCESS_KEY", ACCESS_KEY);
    ws.set_env("HW_SECRET_KEY", SECRET_KEY);
    if !emu.flow_control_enabled() {
        // An emulator that meters nothing: the provider need not pace either, as for a
        // tenant whose quota was raised.
        ws.set_env("HWRDS_API_QUOTA_PER_MINUTE", "1000000");
    }
    ws
}

/// This build's provider executable.
pub fn hwrds_binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_terraform-provider-hwrds"))
}

/// The planned changes of `hwrds_db_minor_upgrade` resources in a plan as `terraform show
/// -json` prints it.
pub fn upgrade_changes(plan: &serde_json::Value) -> impl Iterator<Item = &serde_json::Value> {
    plan["resource_changes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|c| c["type"] == "hwrds_db_minor_upgrade")
}

/// A planned change's actions, joined: `update`, `delete,create`.
pub fn change_actions(change: &serde_json::Value) -> String {
    change["change"]["actions"]
        .as_array()
        .expect("actions")
        .iter()
        .map(|a| a.as_str().unwrap_or_default())
        .collect::<Vec<_>>()
        .join(",")
}
