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

/// What the benchmark needs from /proc/<pid>/stat.
struct Stat {
    ppid: u32,
    /// utime + stime, in clock ticks.
    cpu_ticks: u64,
    /// cutime + cstime: the CPU of the children it has waited for, in clock ticks.
    children_ticks: u64,
}

fn stat(pid: u32) -> Option<Stat> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may contain spaces: split after the last ')'.
    let rest = &text[text.rfind(')')? + 1..];
    let fields: Vec<u64> = rest
        .split_whitespace()
        .skip(1) // the state letter (field 3)
        .take(14)
        .map(|f| f.parse().unwrap_or(0))
        .collect();
    // fields[0] is field 4 (ppid); utime, stime, cutime, cstime are fields 14 to 17.
    Some(Stat {
        ppid: u32::try_from(*fields.first()?).ok()?,
        cpu_ticks: fields.get(10)? + fields.get(11)?,
        children_ticks: fields.get(12)? + fields.get(13)?,
    })
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
/// name, sampling each one's peak resident memory (VmHWM) until it exits, and their CPU
/// time: Terraform's cutime+cstime (its children already reaped; Terraform's only children
/// are provider plugins) plus the CPU of those still running, at Terraform's last sample.
pub struct ProviderSampler {
    parent: u32,
    exe_name: String,
    ignored: HashSet<u32>,
    seen: HashMap<u32, Seen>,
    cpu_ticks: u64,
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
            cpu_ticks: 0,
        }
    }

    /// One pass over /proc: finds new provider processes and samples the known ones.
    pub fn sample(&mut self) {
        // Read first: a child reaped during this pass is then counted among the running.
        let reaped = stat(self.parent).map(|s| s.children_ticks);
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
            match stat(pid).map(|s| s.ppid) {
                Some(ppid) if ppid == self.parent => {
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
        let mut running = 0;
        for (pid, seen) in self.seen.iter_mut() {
            if let Some(ticks) = stat(*pid).map(|s| s.cpu_ticks) {
                seen.cpu_ticks = seen.cpu_ticks.max(ticks);
                running += ticks;
            }
            if let Some(hwm) = status_bytes(*pid, "VmHWM") {
                seen.hwm_bytes = seen.hwm_bytes.max(hwm);
            }
        }
        if let Some(reaped) = reaped {
            self.cpu_ticks = self.cpu_ticks.max(reaped + running);
        }
    }

    pub fn usage(&self, ticks_per_second: f64) -> ProviderUsage {
        ProviderUsage {
            processes: self.seen.len(),
            cpu_seconds: self
                .cpu_ticks
                .max(self.seen.values().map(|s| s.cpu_ticks).sum::<u64>())
                as f64
                / ticks_per_second,
            peak_rss_bytes: self.seen.values().map(|s| s.hwm_bytes).max().unwrap_or(0),
        }
    }
}
