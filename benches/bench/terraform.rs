//! Running real Terraform and the RDS emulator for the benchmark: isolated workspaces
//! whose CLI configuration finds hwrds through dev_overrides and hashicorp/null through
//! the filesystem mirror, timed runs (optionally sampling the provider processes), and
//! the emulator process with its admin routes.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::procfs::{ProviderSampler, ProviderUsage};

/// Where everything the benchmark runs lives.
pub struct Tools {
    pub terraform: PathBuf,
    pub ours: PathBuf,
    pub emulator: PathBuf,
    pub peer: PathBuf,
    pub mirror: PathBuf,
    pub ticks_per_second: f64,
}

/// The emulator's default credentials, project and region.
/// The rate limit and the per-API quota are raised to the emulator's capacity: sections
/// 1–4 measure what the provider adds, not the default pacing meant to spare a real
/// tenant's quota (60 requests per minute per API); sections 5 and 6 set their own.
pub const PROVIDER_ENV: [(&str, &str); 7] = [
    // Never 169.254.169.254: a loopback port nothing listens on.
    ("HWRDS_METADATA_ENDPOINT", "http://127.0.0.1:9"),
    ("HWRDS_MAX_REQUESTS_PER_SECOND", "1000"),
    ("HWRDS_API_QUOTA_PER_MINUTE", "1000000"),
    ("HW_REGION_NAME", "ap-southeast-1"),
    ("HW_ACCESS_KEY", "EMULATORAK"),
    ("HW_SECRET_KEY", "EMULATORSK"),
    ("HW_PROJECT_ID", "0483b6b16e954cb88930a360d2c4e663"),
];

/// Our provider's source address.
pub const OURS_SOURCE: &str = "registry.terraform.io/hwrds/hwrds";
/// The resource type the Terraform sections measure.
pub const OURS_RESOURCE: &str = "hwrds_db_minor_upgrade";

/// The result of one Terraform command.
pub struct Run {
    pub code: i32,
    pub wall: Duration,
    pub output: String,
    /// The provider processes' usage, when sampled.
    pub usage: Option<ProviderUsage>,
}

impl Run {
    /// Ok with the run, or an error holding the tail of Terraform's output.
    pub fn ok(self, what: &str) -> Result<Run, String> {
        self.ok_with(what, &[0])
    }

    /// Ok with the run when its exit code is one of `codes`.
    pub fn ok_with(self, what: &str, codes: &[i32]) -> Result<Run, String> {
        if codes.contains(&self.code) {
            return Ok(self);
        }
        let tail: Vec<&str> = self.output.lines().rev().take(30).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        Err(format!(
            "`terraform {what}` exited with {}:\n{}",
            self.code,
            tail.join("\n")
        ))
    }
}

/// A temporary Terraform working directory with its own CLI configuration and HOME.
pub struct Workspace {
    dir: tempfile::TempDir,
    terraform: PathBuf,
    env: Vec<(String, String)>,
}

impl Workspace {
    pub fn new(tools: &Tools, main_tf: &str) -> Result<Workspace, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let ours_dir = tools
            .ours
            .parent()
            .expect("provider binary has a directory");
        let cli_config = format!(
            "provider_installation {{\n  dev_overrides {{\n    \"{OURS_SOURCE}\" = \"{}\"\n  }}\n  \
             filesystem_mirror {{\n    path    = \"{}\"\n    include = [\"registry.terraform.io/hashicorp/null\"]\n  }}\n}}\n",
            ours_dir.display(),
            tools.mirror.display()
        );
        let home = dir.path().join("home");
        std::fs::create_dir_all(&home).map_err(|e| e.to_string())?;
        std::fs::write(dir.path().join("cli.tfrc"), cli_config).map_err(|e| e.to_string())?;
        std::fs::write(dir.path().join("main.tf"), main_tf).map_err(|e| e.to_string())?;
        let env = vec![
            (
                "TF_CLI_CONFIG_FILE".to_string(),
                dir.path().join("cli.tfrc").display().to_string(),
            ),
            ("TF_IN_AUTOMATION".into(), "1".into()),
            ("CHECKPOINT_DISABLE".into(), "1".into()),
            ("TF_INPUT".into(), "0".into()),
            ("HOME".into(), home.display().to_string()),
        ];
        Ok(Workspace {
            dir,
            terraform: tools.terraform.clone(),
            env,
        })
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn set_env(&mut self, key: &str, value: &str) {
        self.env.retain(|(k, _)| k != key);
        self.env.push((key.to_string(), value.to_string()));
    }

    /// Leaves `key` out of Terraform's environment (and so the provider's).
    pub fn unset_env(&mut self, key: &str) {
        self.env.retain(|(k, _)| k != key);
    }

    pub fn write(&self, name: &str, content: &str) -> Result<(), String> {
        std::fs::write(self.path().join(name), content).map_err(|e| e.to_string())
    }

    /// Removes the state, so the next plan starts from nothing.
    pub fn forget_state(&self) {
        for name in ["terraform.tfstate", "terraform.tfstate.backup"] {
            let _ = std::fs::remove_file(self.path().join(name));
        }
    }

    /// Runs `terraform <args>` (at most `timeout`), sampling the processes of the
    /// provider binary `sample` when given.
    pub fn run(&self, args: &[&str], sample: Option<(&Path, f64)>, timeout: Duration) -> Run {
        let mut command = Command::new(&self.terraform);
        command
            .args(args)
            .current_dir(self.path())
            .env_remove("TF_LOG")
            .env_remove("TF_LOG_PROVIDER")
            .env_remove("TF_CLI_ARGS")
            .env_remove("TF_PLUGIN_CACHE_DIR")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (key, value) in &self.env {
            command.env(key, value);
        }
        let start = Instant::now();
        let mut child = match command.spawn() {
            Ok(child) => child,
            Err(e) => {
                return Run {
                    code: -1,
                    wall: start.elapsed(),
                    output: format!("cannot start {}: {e}", self.terraform.display()),
                    usage: None,
                };
            }
        };
        let pid = child.id();
        let stdout = drain(child.stdout.take());
        let stderr = drain(child.stderr.take());
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let status = child.wait();
            let _ = tx.send((status, Instant::now()));
        });
        let mut sampler = sample.map(|(exe, _)| ProviderSampler::new(pid, exe));
        let (status, end) = loop {
            if let Some(sampler) = sampler.as_mut() {
                sampler.sample();
            }
            match rx.recv_timeout(Duration::from_millis(10)) {
                Ok(done) => break done,
                Err(_) if start.elapsed() > timeout => {
                    let _ = Command::new("kill")
                        .args(["-KILL", &pid.to_string()])
                        .status();
                    let (status, end) = rx.recv().expect("waiter thread");
                    let _ = status;
                    let mut output = collect(stdout, stderr);
                    output.push_str(&format!("\n(killed after {timeout:?})"));
                    return Run {
                        code: -1,
                        wall: end - start,
                        output,
                        usage: None,
                    };
                }
                Err(_) => {}
            }
        };
        let code = status.ok().and_then(|s| s.code()).unwrap_or(-1);
        Run {
            code,
            wall: end - start,
            output: collect(stdout, stderr),
            usage: sampler
                .zip(sample)
                .map(|(sampler, (_, ticks))| sampler.usage(ticks)),
        }
    }
}

type Drained = std::thread::JoinHandle<Vec<u8>>;

fn drain(pipe: Option<impl Read + Send + 'static>) -> Option<Drained> {
    pipe.map(|mut pipe| {
        std::thread::spawn(move || {
            let mut buffer = Vec::new();
            let _ = pipe.read_to_end(&mut buffer);
            buffer
        })
    })
}

fn collect(stdout: Option<Drained>, stderr: Option<Drained>) -> String {
    let text = |handle: Option<Drained>| {
        handle
            .and_then(|h| h.join().ok())
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    };
    format!("{}\n{}", text(stdout), text(stderr))
}

/// `instances` RDS instance ids the emulator and the configurations share.
pub fn instance_ids(count: usize) -> Vec<String> {
    (0..count)
        .map(|i| format!("be9c{:028x}in01", i as u128 + 1))
        .collect()
}

/// A running `hwrds-emulator` (killed on drop).
pub struct Emulator {
    child: Child,
    pub url: String,
    _dir: tempfile::TempDir,
}

impl Emulator {
    /// Starts the emulator with `ids` as MySQL Single instances at 8.0.28 (8.0.32 available)
    /// whose upgrade jobs take `job_seconds`, with its flow control off: these sections
    /// measure what the provider adds, unthrottled.
    pub fn start(tools: &Tools, ids: &[String], job_seconds: f64) -> Result<Emulator, String> {
        Self::start_with(
            tools,
            ids,
            job_seconds,
            serde_json::json!({"enabled": false}),
        )
    }

    /// [`Emulator::start`] with the given `flow_control` configuration.
    pub fn start_with(
        tools: &Tools,
        ids: &[String],
        job_seconds: f64,
        flow_control: serde_json::Value,
    ) -> Result<Emulator, String> {
        let instances: Vec<serde_json::Value> = ids
            .iter()
            .enumerate()
            .map(|(i, id)| {
                serde_json::json!({
                    "id": id, "name": format!("bench-{i}"), "engine": "MySQL", "version": "8.0",
                    "complete_version": "8.0.28", "latest_version": "8.0.32", "type": "Single",
                    "status": "ACTIVE", "job_seconds": job_seconds
                })
            })
            .collect();
        let config = serde_json::json!({
            "job_seconds": job_seconds,
            "instances": instances,
            "flow_control": flow_control,
        });
        Self::start_config(tools, config)
    }

    /// The emulator with the whole configuration `config`.
    pub fn start_config(tools: &Tools, config: serde_json::Value) -> Result<Emulator, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let config_path = dir.path().join("emulator.json");
        std::fs::write(&config_path, config.to_string()).map_err(|e| e.to_string())?;
        let mut child = Command::new(&tools.emulator)
            .args(["--listen", "127.0.0.1:0", "--config"])
            .arg(&config_path)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("{}: {e}", tools.emulator.display()))?;
        let mut line = String::new();
        let mut stdout = std::io::BufReader::new(child.stdout.take().expect("piped stdout"));
        let read = std::io::BufRead::read_line(&mut stdout, &mut line);
        match line.trim().strip_prefix("listening on ") {
            Some(url) if read.is_ok() => Ok(Emulator {
                child,
                url: url.to_string(),
                _dir: dir,
            }),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                Err(format!("unexpected first emulator line {line:?}"))
            }
        }
    }

    /// `GET /__emulator/stats`.
    pub fn stats(&self) -> Result<serde_json::Value, String> {
        let (status, body) = http(&self.url, "GET", "/__emulator/stats", "")?;
        if status != 200 {
            return Err(format!("stats: HTTP {status}: {body}"));
        }
        serde_json::from_str(&body).map_err(|e| format!("stats: {e}"))
    }

    /// `POST /__emulator/reset`: the configured instances again, counters at zero.
    pub fn reset(&self) -> Result<(), String> {
        let (status, body) = http(&self.url, "POST", "/__emulator/reset", "{}")?;
        if status == 200 {
            Ok(())
        } else {
            Err(format!("reset: HTTP {status}: {body}"))
        }
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A minimal HTTP/1.1 exchange for the emulator's unsigned admin routes.
fn http(base: &str, method: &str, path: &str, body: &str) -> Result<(u16, String), String> {
    use std::io::Write;
    let host = base.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(host).map_err(|e| e.to_string())?;
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .map_err(|e| e.to_string())?;
    let mut response = String::new();
    stream
        .read_to_string(&mut response)
        .map_err(|e| e.to_string())?;
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    Ok((status, body))
}

/// The configuration of N `hwrds_db_minor_upgrade`s over `var.ids`.
pub fn ours_config() -> String {
    format!(
        r#"terraform {{
  required_providers {{
    hwrds = {{ source = "hwrds/hwrds" }}
  }}
}}

provider "hwrds" {{}}

variable "ids" {{
  type = list(string)
}}

resource "{OURS_RESOURCE}" "u" {{
  count       = length(var.ids)
  instance_id = var.ids[count.index]
}}
"#
    )
}

/// The configuration of N `null_resource`s; `sized` gives each as many `triggers` as a
/// completed `hwrds_db_minor_upgrade` holds attributes, with values of the same length,
/// so Terraform handles state objects of the same size.
pub fn peer_config(count: usize, sized: bool) -> String {
    let triggers = if sized {
        r#"
  triggers = {
    id                  = "b${count.index}in01/847bb66b-beaf-a6c2-b01c-d52b81317bd2"
    instance_id         = "b${count.index}in01"
    is_delayed          = "false"
    second_switch       = "true"
    wait_for_completion = "true"
    job_id              = "847bb66b-beaf-a6c2-b01c-d52b81317bd2"
    status              = "Completed"
    progress            = "100%"
    fail_reason         = ""
    engine              = "MySQL"
    instance_type       = "Single"
    version_before      = "8.0.28"
    version_after       = "8.0.32"
    submitted_at        = "2026-11-26T21:29:31Z"
    finished_at         = "2026-11-26T21:29:32Z"
  }"#
    } else {
        ""
    };
    format!(
        r#"terraform {{
  required_providers {{
    null = {{ source = "hashicorp/null", version = "2.1.2" }}
  }}
}}

resource "null_resource" "r" {{
  count = {count}{triggers}
}}
"#
    )
}

/// A workspace for ours over `ids`, pointed at `emulator_url`.
pub fn ours_workspace(
    tools: &Tools,
    ids: &[String],
    emulator_url: &str,
) -> Result<Workspace, String> {
    let mut workspace = Workspace::new(tools, &ours_config())?;
    workspace.write(
        "terraform.tfvars.json",
        &serde_json::json!({ "ids": ids }).to_string(),
    )?;
    workspace.set_env("HWRDS_ENDPOINT", emulator_url);
    for (key, value) in PROVIDER_ENV {
        workspace.set_env(key, value);
    }
    Ok(workspace)
}

/// A workspace for `count` null_resources, initialised from the mirror (not timed).
pub fn peer_workspace(tools: &Tools, count: usize, sized: bool) -> Result<Workspace, String> {
    let workspace = Workspace::new(tools, &peer_config(count, sized))?;
    workspace
        .run(
            &["init", "-input=false", "-no-color"],
            None,
            Duration::from_secs(120),
        )
        .ok("init")?;
    Ok(workspace)
}

/// Whether `terraform providers schema -json` in `workspace` lists `resource` for `source`.
pub fn schema_lists(workspace: &Workspace, source: &str, resource: &str) -> Result<bool, String> {
    let run = workspace
        .run(
            &["providers", "schema", "-json"],
            None,
            Duration::from_secs(120),
        )
        .ok("providers schema -json")?;
    let json_line = run
        .output
        .lines()
        .find(|l| l.starts_with('{'))
        .ok_or("no JSON in `terraform providers schema -json`")?;
    let schema: serde_json::Value = serde_json::from_str(json_line).map_err(|e| e.to_string())?;
    Ok(schema["provider_schemas"][source]["resource_schemas"]
        .get(resource)
        .is_some())
}

/// The first line of `terraform version`.
pub fn version(tools: &Tools) -> String {
    Command::new(&tools.terraform)
        .arg("version")
        .env_remove("TF_CLI_CONFIG_FILE")
        .env("CHECKPOINT_DISABLE", "1")
        .output()
        .ok()
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .find(|l| l.starts_with("Terraform v"))
                .map(str::to_string)
        })
        .unwrap_or_else(|| "unknown".into())
}
