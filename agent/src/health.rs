//! The Pi's health, reported to the hub beside the live stream: SoC temperature and the
//! firmware's under-voltage and throttling flags (from `/sys` where the kernel exposes
//! them, else `vcgencmd get_throttled` where it is installed), load, free space on the
//! recordings' filesystem, the upload backlog, the agent's version and uptime. Sent every
//! `[health] interval` as `POST /api/v1/agents/{id}/status` (`wire::health`) with the
//! camera's token; a hub that is down or refuses is tried again at the next interval.
//!
//! Everything is read under `sys_root` and `proc_root` (`/sys`, `/proc`), so tests point
//! them at a fake tree and the readings go through this same code.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};
use wire::health::{AgentHealth, Throttled};

use crate::config::Secret;
use crate::queue::FrameQueue;
use crate::upload::UploadStats;

/// Where the readings come from.
#[derive(Debug, Clone)]
pub struct Probe {
    pub sys_root: PathBuf,
    pub proc_root: PathBuf,
    /// The recordings' directory (free space), when recording.
    pub disk: Option<PathBuf>,
    /// `vcgencmd` is tried only when reading the real `/sys`.
    pub try_vcgencmd: bool,
}

/// Thermal zone 0: the SoC on a Raspberry Pi (millidegrees Celsius).
const THERMAL: &str = "class/thermal/thermal_zone0/temp";
/// The firmware's throttling word (kernels with the Raspberry Pi firmware driver).
const THROTTLED: &[&str] = &[
    "devices/platform/soc/soc:firmware/get_throttled",
    "devices/platform/soc/soc:firmware/raspberrypi-hwmon/get_throttled",
];

impl Probe {
    /// Blocking: reads everything the machine exposes now.
    pub fn read(&self) -> Readings {
        let cpu_temp_c = std::fs::read_to_string(self.sys_root.join(THERMAL))
            .ok()
            .and_then(|t| t.trim().parse::<f64>().ok())
            .map(|milli| milli / 1000.0);
        let throttled = THROTTLED
            .iter()
            .find_map(|p| std::fs::read_to_string(self.sys_root.join(p)).ok())
            .and_then(|t| Throttled::parse(&t))
            .or_else(|| self.try_vcgencmd.then(vcgencmd).flatten());
        let load = std::fs::read_to_string(self.proc_root.join("loadavg"))
            .ok()
            .and_then(|t| {
                let mut it = t.split_whitespace().map(|v| v.parse::<f64>().ok());
                Some([it.next()??, it.next()??, it.next()??])
            });
        let (disk_free_bytes, disk_total_bytes) = match &self.disk {
            Some(d) => match rustix::fs::statvfs(d) {
                Ok(s) => (
                    Some(s.f_bavail.saturating_mul(s.f_frsize)),
                    Some(s.f_blocks.saturating_mul(s.f_frsize)),
                ),
                Err(_) => (None, None),
            },
            None => (None, None),
        };
        Readings {
            cpu_temp_c,
            throttled,
            load,
            disk_free_bytes,
            disk_total_bytes,
        }
    }
}

/// `vcgencmd get_throttled` (Raspberry Pi OS), bounded to 2 s.
fn vcgencmd() -> Option<Throttled> {
    let mut child = std::process::Command::new("vcgencmd")
        .arg("get_throttled")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .ok()?;
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
        }
    }
    let out = child.wait_with_output().ok()?;
    Throttled::parse(&String::from_utf8_lossy(&out.stdout))
}

/// One reading of the machine.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Readings {
    pub cpu_temp_c: Option<f64>,
    pub throttled: Option<Throttled>,
    pub load: Option<[f64; 3]>,
    pub disk_free_bytes: Option<u64>,
    pub disk_total_bytes: Option<u64>,
}

/// What the reporter sends, with its settings.
pub struct Reporter {
    pub url: String,
    pub token: Secret,
    pub interval: Duration,
    pub probe: Probe,
    pub queue: Arc<FrameQueue>,
    pub uploads: Option<Arc<UploadStats>>,
    pub started: Instant,
}

impl Reporter {
    fn report(&self, r: Readings) -> AgentHealth {
        AgentHealth {
            version: env!("CARGO_PKG_VERSION").into(),
            uptime_s: self.started.elapsed().as_secs(),
            cpu_temp_c: r.cpu_temp_c,
            throttled: r.throttled,
            load: r.load,
            disk_free_bytes: r.disk_free_bytes,
            disk_total_bytes: r.disk_total_bytes,
            upload_backlog_segments: self
                .uploads
                .as_ref()
                .map(|u| u.pending.load(Ordering::Relaxed)),
            upload_backlog_bytes: self
                .uploads
                .as_ref()
                .map(|u| u.pending_bytes.load(Ordering::Relaxed)),
            frames_dropped: self.queue.dropped(),
        }
    }

    /// Reports every interval until `cancel`.
    pub async fn run(self, cancel: CancellationToken) {
        let client = match reqwest::Client::builder()
            .no_proxy()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(10))
            .user_agent(concat!("camera-agent/", env!("CARGO_PKG_VERSION")))
            .build()
        {
            Ok(c) => c,
            Err(e) => {
                warn!(error = %e, "health reports: no HTTP client");
                return;
            }
        };
        let mut tick = tokio::time::interval(self.interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut failing = false;
        loop {
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = tick.tick() => {}
            }
            let probe = self.probe.clone();
            let Ok(readings) = tokio::task::spawn_blocking(move || probe.read()).await else {
                continue;
            };
            let body = match serde_json::to_vec(&self.report(readings)) {
                Ok(b) => b,
                Err(_) => continue,
            };
            let sent = client
                .post(&self.url)
                .bearer_auth(self.token.expose())
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await;
            match sent {
                Ok(r) if r.status().is_success() => {
                    if failing {
                        info!("health reports reach the hub again");
                    }
                    failing = false;
                }
                Ok(r) => {
                    if !failing {
                        warn!(
                            status = r.status().as_u16(),
                            "the hub refused a health report"
                        );
                    }
                    failing = true;
                }
                Err(e) => {
                    if !failing {
                        debug!(error = %e, "health report not sent (hub unreachable)");
                    }
                    failing = true;
                }
            }
        }
    }
}

/// The default roots.
pub fn system_probe(disk: Option<&Path>) -> Probe {
    Probe {
        sys_root: "/sys".into(),
        proc_root: "/proc".into(),
        disk: disk.map(Path::to_owned),
        try_vcgencmd: true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readings_from_a_fake_tree() {
        let d = tempfile::tempdir().unwrap();
        let sys = d.path().join("sys");
        let proc = d.path().join("proc");
        std::fs::create_dir_all(sys.join("class/thermal/thermal_zone0")).unwrap();
        std::fs::create_dir_all(sys.join("devices/platform/soc/soc:firmware")).unwrap();
        std::fs::create_dir_all(&proc).unwrap();
        std::fs::write(sys.join(THERMAL), "51234\n").unwrap();
        std::fs::write(sys.join(THROTTLED[0]), "0x50005\n").unwrap();
        std::fs::write(proc.join("loadavg"), "0.52 0.41 0.30 1/123 4567\n").unwrap();
        let p = Probe {
            sys_root: sys,
            proc_root: proc,
            disk: Some(d.path().to_owned()),
            try_vcgencmd: false,
        };
        let r = p.read();
        assert_eq!(r.cpu_temp_c, Some(51.234));
        let t = r.throttled.unwrap();
        assert!(t.under_voltage && t.throttled);
        assert_eq!(r.load, Some([0.52, 0.41, 0.30]));
        assert!(r.disk_total_bytes.unwrap() >= r.disk_free_bytes.unwrap());
        // A machine that exposes nothing: nothing reported, nothing made up.
        let empty = Probe {
            sys_root: d.path().join("none"),
            proc_root: d.path().join("none"),
            disk: None,
            try_vcgencmd: false,
        };
        assert_eq!(empty.read(), Readings::default());
    }
}
