//! Processes disrupted from outside, for the crash tests: Terraform running in the
//! background with its output collected as it comes, signals, finding the provider
//! processes Terraform started, and the emulator killed and started again on the same
//! port (so a Terraform still running carries on against it).

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::{Emulator, Run, Workspace};

/// Sends `signal` (`KILL`, `INT`, …) to `pid`; a process already gone is not an error.
pub fn signal(pid: u32, signal: &str) {
    let _ = Command::new("kill")
        .args([&format!("-{signal}"), &pid.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// `(pid, parent pid, command name)` of every process `/proc` lists.
fn processes() -> Vec<(u32, u32, String)> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|entry| {
            let pid = entry.file_name().to_string_lossy().parse::<u32>().ok()?;
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            // pid (comm) state ppid ...
            let (head, rest) = stat.rsplit_once(") ")?;
            let comm = head.split_once(" (")?.1.to_string();
            let ppid = rest.split_whitespace().nth(1)?.parse::<u32>().ok()?;
            Some((pid, ppid, comm))
        })
        .collect()
}

/// Whether a process name is the hwrds provider's (`comm` is cut at 15 bytes).
fn is_provider(comm: &str) -> bool {
    comm.starts_with("terraform-prov")
}

/// Pids of the running hwrds provider processes whose parent is `parent` (Terraform).
pub fn provider_children(parent: u32) -> Vec<u32> {
    processes()
        .into_iter()
        .filter(|(_, ppid, comm)| *ppid == parent && is_provider(comm))
        .map(|(pid, _, _)| pid)
        .collect()
}

/// Pids of provider processes working in `dir`, whoever their parent is now (a provider
/// whose Terraform was killed lives on, re-parented).
pub fn providers_in(dir: &Path) -> Vec<u32> {
    let dir = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
    processes()
        .into_iter()
        .filter(|(pid, _, comm)| {
            is_provider(comm)
                && std::fs::read_link(format!("/proc/{pid}/cwd")).is_ok_and(|cwd| cwd == dir)
        })
        .map(|(pid, _, _)| pid)
        .collect()
}

/// A Terraform command running in the background.
pub struct Running {
    child: Child,
    stdout: Arc<Mutex<String>>,
    stderr: Arc<Mutex<String>>,
    readers: Vec<std::thread::JoinHandle<()>>,
    args: Vec<String>,
}

fn collect(
    pipe: impl Read + Send + 'static,
    into: Arc<Mutex<String>>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        for line in BufReader::new(pipe).lines().map_while(Result::ok) {
            let mut text = into.lock().unwrap_or_else(|e| e.into_inner());
            text.push_str(&line);
            text.push('\n');
        }
    })
}

impl Workspace {
    /// Starts terraform with `args` (and `-no-color`) without waiting for it.
    pub fn spawn(&self, args: &[&str]) -> Running {
        let mut all: Vec<&str> = args.to_vec();
        if !all.contains(&"-no-color") {
            all.insert(1.min(all.len()), "-no-color");
        }
        let mut child = self
            .command(&all)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start terraform");
        let stdout = Arc::new(Mutex::new(String::new()));
        let stderr = Arc::new(Mutex::new(String::new()));
        let mut readers = Vec::new();
        if let Some(pipe) = child.stdout.take() {
            readers.push(collect(pipe, stdout.clone()));
        }
        if let Some(pipe) = child.stderr.take() {
            readers.push(collect(pipe, stderr.clone()));
        }
        Running {
            child,
            stdout,
            stderr,
            readers,
            args: all.iter().map(|s| s.to_string()).collect(),
        }
    }
}

impl Running {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Polls `done` every 20 ms until it holds; after 60 s panics, saying `what` never
    /// happened, with the output so far.
    #[track_caller]
    pub fn until(&self, what: &str, mut done: impl FnMut() -> bool) {
        let started = Instant::now();
        while !done() {
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "{what} never happened:\n{}",
                self.stdout_so_far()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGKILLs the provider processes it started (at least one must be running).
    #[track_caller]
    pub fn kill_providers(&self) {
        let victims = provider_children(self.pid());
        assert!(!victims.is_empty(), "the provider process is found");
        for pid in victims {
            signal(pid, "KILL");
        }
    }

    /// What it printed on stdout so far.
    pub fn stdout_so_far(&self) -> String {
        self.stdout
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Whether it has exited.
    pub fn has_exited(&mut self) -> bool {
        !matches!(self.child.try_wait(), Ok(None))
    }

    /// Waits at most `timeout` for it to exit (then kills it and panics with its output).
    pub fn wait(mut self, timeout: Duration) -> Run {
        let started = Instant::now();
        let status = loop {
            match self.child.try_wait() {
                Ok(Some(status)) => break Some(status),
                Ok(None) if started.elapsed() < timeout => {
                    std::thread::sleep(Duration::from_millis(50))
                }
                Ok(None) | Err(_) => break None,
            }
        };
        if status.is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        for reader in self.readers.drain(..) {
            let _ = reader.join();
        }
        let run = Run {
            code: status.and_then(|s| s.code()).unwrap_or(-1),
            stdout: self.stdout_so_far(),
            stderr: self
                .stderr
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone(),
        };
        assert!(
            status.is_some(),
            "terraform {:?} did not finish within {timeout:?}:\n{}",
            self.args,
            run.all()
        );
        run
    }
}

impl Emulator {
    /// Kills the emulator, waits `down`, and starts it again from its state file on the
    /// same address, so clients keep their endpoint (as a restarted server would).
    pub fn restart_on_same_port(&mut self, down: Duration) {
        let listen = self.url.trim_start_matches("http://").to_string();
        let _ = self.child.kill();
        let _ = self.child.wait();
        std::thread::sleep(down);
        let started = Instant::now();
        loop {
            match self.try_spawn_on(&listen) {
                Ok(child) => {
                    // Dropping the old handle kills an already dead process: harmless.
                    self.child = child;
                    return;
                }
                Err(e) => {
                    assert!(
                        started.elapsed() < Duration::from_secs(20),
                        "the emulator does not start again on {listen}: {e}"
                    );
                    std::thread::sleep(Duration::from_millis(100));
                }
            }
        }
    }

    fn try_spawn_on(&self, listen: &str) -> Result<Child, String> {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_hwrds-emulator"));
        cmd.args(["--listen", listen, "--config"])
            .arg(&self.config_path)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        if let Some(state) = &self.state_path {
            cmd.arg("--state-file").arg(state);
        }
        let mut child = cmd.spawn().map_err(|e| format!("spawn: {e}"))?;
        let mut line = String::new();
        if let Some(stdout) = child.stdout.take() {
            let _ = BufReader::new(stdout).read_line(&mut line);
        }
        if line.trim() == format!("listening on http://{listen}") {
            Ok(child)
        } else {
            let _ = child.kill();
            let _ = child.wait();
            Err(format!("its first line was {line:?} (its stderr is above)"))
        }
    }
}
