//! Shared pieces of the bench commands: reading a process's CPU time and
//! resident memory from `/proc`, and naming the machine.

use anyhow::Context;

pub mod mjpeg_load;

/// User + system CPU time of `pid`, in clock ticks (USER_HZ, 100 per second).
pub fn cpu_ticks(pid: u32) -> anyhow::Result<u64> {
    stat_cpu_ticks(&format!("/proc/{pid}/stat"))
}

/// User + system CPU time of the calling thread, in clock ticks.
pub fn thread_cpu_ticks() -> anyhow::Result<u64> {
    stat_cpu_ticks("/proc/thread-self/stat")
}

fn stat_cpu_ticks(path: &str) -> anyhow::Result<u64> {
    let stat = std::fs::read_to_string(path)?;
    let rest = &stat[stat.rfind(')').context("stat format")? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    Ok(f[11].parse::<u64>()? + f[12].parse::<u64>()?)
}

/// Clock ticks per second for [`cpu_ticks`] (USER_HZ is 100 on Linux).
pub const TICKS_PER_SEC: f64 = 100.0;

/// CPU time of every live thread of `pid` in nanoseconds (the first field
/// of `/proc/PID/task/*/schedstat`): finer than [`cpu_ticks`] for processes
/// that use little.
pub fn cpu_ns(pid: u32) -> anyhow::Result<u64> {
    let mut total = 0;
    for t in std::fs::read_dir(format!("/proc/{pid}/task"))? {
        let path = t?.path().join("schedstat");
        if let Ok(s) = std::fs::read_to_string(path) {
            total += s
                .split_whitespace()
                .next()
                .context("schedstat")?
                .parse::<u64>()?;
        }
    }
    Ok(total)
}

pub use testkit::process::rss_kib;

/// The CPU model from `/proc/cpuinfo`.
pub fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|s| s.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into())
}

/// The machine, for a report's header: `N cores, CPU model`.
pub fn machine() -> String {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    format!("{cores} cores, {}", cpu_model())
}

/// How long and how often each point of a bench is measured (flattened into each bench's
/// arguments).
#[derive(Debug, Clone, clap::Args)]
pub struct Points {
    /// Seconds measured per point (after a short warm-up).
    #[arg(long, default_value_t = 10)]
    pub seconds: u64,
    /// Frames per second of each camera or agent.
    #[arg(long, default_value_t = 15)]
    pub fps: u32,
    /// Runs per point (servers interleaved); the report takes medians.
    #[arg(long, default_value_t = 1)]
    pub repeats: usize,
}

/// A child process killed (and reaped) when dropped.
pub struct Proc(pub std::process::Child);

impl Proc {
    pub fn pid(&self) -> u32 {
        self.0.id()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Bytes this process caused to be written to storage (`write_bytes` of
/// `/proc/PID/io`; counted when pages are dirtied, so it includes what is
/// still in the page cache).
pub fn write_bytes(pid: u32) -> anyhow::Result<u64> {
    proc_io(pid, "write_bytes:")
}

fn proc_io(pid: u32, key: &str) -> anyhow::Result<u64> {
    let io = std::fs::read_to_string(format!("/proc/{pid}/io"))?;
    let line = io
        .lines()
        .find(|l| l.starts_with(key))
        .with_context(|| format!("{key} in /proc/{pid}/io"))?;
    Ok(line
        .split_whitespace()
        .nth(1)
        .with_context(|| format!("{key} value"))?
        .parse()?)
}

/// Bytes this process read through `read`-like calls, sockets included
/// (`rchar` of `/proc/PID/io`).
pub fn read_chars(pid: u32) -> anyhow::Result<u64> {
    proc_io(pid, "rchar:")
}

/// Appends one result line (a JSON object) to the results file, if any.
/// `fields` are `(key, value)` pairs; values are written as numbers when
/// finite, `null` otherwise.
pub fn record(
    path: Option<&std::path::Path>,
    workload: &str,
    labels: &[(&str, &str)],
    fields: &[(&str, f64)],
) -> anyhow::Result<()> {
    use std::io::Write as _;
    let Some(path) = path else { return Ok(()) };
    let mut line = format!("{{\"workload\":\"{workload}\"");
    for (k, v) in labels {
        line.push_str(&format!(",\"{k}\":\"{v}\""));
    }
    for (k, v) in fields {
        if v.is_finite() {
            line.push_str(&format!(",\"{k}\":{v:.4}"));
        } else {
            line.push_str(&format!(",\"{k}\":null"));
        }
    }
    line.push_str("}\n");
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("results file {}", path.display()))?
        .write_all(line.as_bytes())?;
    Ok(())
}

/// Frames of the test pattern at 640x480 (about 43 KB at quality 97), the
/// camera of the fan-out and ingest workloads.
pub fn camera_frames() -> Vec<Vec<u8>> {
    let p = testpattern::Pattern::new(640, 480);
    (0..30)
        .map(|i| {
            p.render_jpeg(
                testpattern::Stamp {
                    frame: i,
                    millis: u64::from(i) * 66,
                },
                97,
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_our_own_process() {
        let pid = std::process::id();
        assert!(super::rss_kib(pid).unwrap() > 0);
        super::cpu_ticks(pid).unwrap();
    }
}
