//! What the benchmark reads from /proc: resident memory of a process, and a sampler that
//! follows the provider processes Terraform starts (CPU time and peak memory).

use std::collections::{HashMap, HashSet};
use std::path::Path;

/// A `Vm…` line of /proc/<pid>/status (e.g. `VmRSS`, `VmHWM`), in bytes.
pub fn status_bytes(pid: u32, field: &str) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = text.lines().find(|l| l.split(':').next() == Some(field))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// The fields of /proc/<pid>/stat after the command name, (ppid, utime + stime in ticks).
fn stat(pid: u32) -> Option<(u32, u64)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may contain spaces: split after the last ')'.
    let rest = &text[text.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // rest starts at field 3 (state): ppid is field 4, utime 14, stime 15.
    let ppid = fields.get(1)?.parse().ok()?;
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((ppid, utime + stime))
}

/// Clock ticks per second for /proc/<pid>/stat times (`getconf CLK_TCK`, else 100).
pub fn clock_ticks() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

/// What the sampler saw of one provider process.
#[derive(Debug, Default, Clone, Copy)]
struct Seen {
    cpu_ticks: u64,
    hwm_bytes: u64,
}

/// Follows the children of one process (Terraform) whose executable has a given file
/// name, sampling each one's CPU time and peak resident memory (VmHWM) until it exits.
/// CPU used after a process's last sample (at most one polling interval) is missed.
pub struct ProviderSampler {
    parent: u32,
    exe_name: String,
    ignored: HashSet<u32>,
    seen: HashMap<u32, Seen>,
}

/// The totals over every provider process the sampler saw.
#[derive(Debug, Default, Clone, Copy)]
pub struct ProviderUsage {
    pub processes: usize,
    /// utime + stime summed over the processes, in seconds.
    pub cpu_seconds: f64,
    /// The largest VmHWM of any one process, in bytes.
    pub peak_rss_bytes: u64,
}

impl ProviderSampler {
    pub fn new(parent: u32, exe: &Path) -> ProviderSampler {
        ProviderSampler {
            parent,
            exe_name: exe
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            ignored: HashSet::new(),
            seen: HashMap::new(),
        }
    }

    /// One pass over /proc: finds new provider processes and samples the known ones.
    pub fn sample(&mut self) {
        let Ok(entries) = std::fs::read_dir("/proc") else {
            return;
        };
        for entry in entries.flatten() {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|s| s.parse::<u32>().ok())
            else {
                continue;
            };
            if self.ignored.contains(&pid) || self.seen.contains_key(&pid) {
                continue;
            }
            match stat(pid) {
                Some((ppid, _)) if ppid == self.parent => {
                    // A child that has not exec'd yet is looked at again next pass.
                    let exe = std::fs::read_link(format!("/proc/{pid}/exe")).ok();
                    if exe.as_deref().and_then(Path::file_name)
                        == Some(std::ffi::OsStr::new(&self.exe_name))
                    {
                        self.seen.insert(pid, Seen::default());
                    }
                }
                Some(_) => {
                    self.ignored.insert(pid);
                }
                None => {}
            }
        }
        for (pid, seen) in self.seen.iter_mut() {
            if let Some((_, ticks)) = stat(*pid) {
                seen.cpu_ticks = seen.cpu_ticks.max(ticks);
            }
            if let Some(hwm) = status_bytes(*pid, "VmHWM") {
                seen.hwm_bytes = seen.hwm_bytes.max(hwm);
            }
        }
    }

    pub fn usage(&self, ticks_per_second: f64) -> ProviderUsage {
        ProviderUsage {
            processes: self.seen.len(),
            cpu_seconds: self.seen.values().map(|s| s.cpu_ticks).sum::<u64>() as f64
                / ticks_per_second,
            peak_rss_bytes: self.seen.values().map(|s| s.hwm_bytes).max().unwrap_or(0),
        }
    }
}
