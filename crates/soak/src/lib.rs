//! The soak run (`scripts/soak.sh [MINUTES]`): the release `hub` bridging two RTSP
//! cameras (`scripts/rtsp-test-server.py`) and a simulated Reolink camera
//! (`reolink::sim`, in this process), fed by 30 `agent` processes (test pattern, some
//! recording and uploading), watched by 100 MJPEG viewers, with retention short enough
//! that the hub and the agents delete while they record.
//!
//! Every 10 s it samples the hub's resident memory and open file descriptors (and the
//! agents' sums), lists the segments on disk and checks that no process has died. At the
//! end it stops everything with SIGTERM, decodes every remaining segment with ffprobe,
//! runs `hub check`, counts WARN/ERROR lines and panics in every log, and prints a
//! summary. The run fails on a dead process, a panic or ERROR line, an invalid or
//! unfinished segment, retention that never deleted, a camera offline at the end, a
//! viewer that got no frame, or hub growth above the thresholds.
#![allow(clippy::print_stdout)]

pub mod fleet;
pub mod logs;
pub mod sample;
pub mod segments;
pub mod viewers;

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::Context;
use fleet::Plan;
use reolink::sim::{SimCamera, SimConfig, SimTransport};
use sample::Sample;

#[derive(Debug, clap::Parser)]
#[command(about = "Soak run of the hub with agents, cameras and viewers; see scripts/soak.sh")]
pub struct Options {
    /// Length of the run in minutes (after start-up).
    #[arg(long, default_value_t = 20.0)]
    pub minutes: f64,
    /// Agent processes (cameras 1..=N on the hub).
    #[arg(long, default_value_t = 30)]
    pub agents: usize,
    /// MJPEG viewers, spread over all cameras.
    #[arg(long, default_value_t = 100)]
    pub viewers: usize,
    /// Seconds between samples.
    #[arg(long, default_value_t = 10)]
    pub sample_secs: u64,
    /// Directory for configuration, data and logs (default: a new one under the
    /// temporary directory, removed after a passing run).
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Keep the directory after a passing run.
    #[arg(long)]
    pub keep: bool,
    /// Fail if the hub's RSS grows faster than this after the warm-up (MiB per hour)
    /// and, in total, by more than --max-rss-growth-mib.
    #[arg(long, default_value_t = 64.0)]
    pub max_rss_mib_per_hour: f64,
    /// See --max-rss-mib-per-hour.
    #[arg(long, default_value_t = 16.0)]
    pub max_rss_growth_mib: f64,
    /// Fail if the hub's open file descriptors grow by more than this after the warm-up
    /// (mean of the last three samples against the first three).
    #[arg(long, default_value_t = 20.0)]
    pub max_fd_growth: f64,
}

/// Runs the soak; `Ok(false)` if a check failed (the summary says which).
pub async fn run(opts: Options) -> anyhow::Result<bool> {
    let dir = match &opts.dir {
        Some(d) => d.clone(),
        None => std::env::temp_dir().join(format!("soak-{}", std::process::id())),
    };
    std::fs::create_dir_all(&dir).with_context(|| format!("{}", dir.display()))?;
    let ok = run_in(&opts, &dir).await?;
    if ok && !opts.keep && opts.dir.is_none() {
        let _ = std::fs::remove_dir_all(&dir);
    } else {
        println!("run directory kept: {}", dir.display());
    }
    Ok(ok)
}

struct Series {
    hub: Vec<Sample>,
    agents: Vec<Sample>,
}

async fn run_in(opts: &Options, dir: &Path) -> anyhow::Result<bool> {
    let run_for = Duration::from_secs_f64(opts.minutes * 60.0);
    let warmup = (run_for / 4).min(Duration::from_secs(300));
    let plan = Plan {
        agents: opts.agents,
        hub_segment: Duration::from_secs(10),
        hub_max_age: Duration::from_secs(60),
        agent_segment: Duration::from_secs(5),
        agent_max_age: Duration::from_secs(45),
        record_every: 5,
    };
    if !Path::new(segments::FFPROBE).exists() {
        anyhow::bail!(
            "{} is missing (scripts/install-test-deps.sh)",
            segments::FFPROBE
        );
    }
    println!(
        "soak: {:.1} min, {} agents ({} recording and uploading), {} MJPEG viewers, 2 RTSP + 1 Reolink camera; directory {}",
        opts.minutes,
        plan.agents,
        plan.agents / plan.record_every,
        opts.viewers,
        dir.display()
    );

    // Cameras.
    let (mut rtsp, rtsp_port) = fleet::start_rtsp_server(dir)?;
    let mut sim_cfg = SimConfig::new(SimTransport::Tcp);
    sim_cfg.password = fleet::REOLINK_PASSWORD.into();
    let sim = SimCamera::start(sim_cfg)
        .await
        .context("Reolink simulator")?;

    // Hub and agents.
    let hub_setup = fleet::write_hub(dir, &plan, rtsp_port, sim.port())?;
    let mut hub = fleet::start_hub(dir, &hub_setup)?;
    let mut agents = Vec::new();
    for i in 1..=plan.agents {
        agents.push(fleet::start_agent(dir, &plan, &hub_setup, i)?);
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let base = format!("http://127.0.0.1:{}", hub_setup.port);
    let mut cameras = hub_setup.agent_cameras.clone();
    cameras.extend(hub_setup.video_cameras.iter().cloned());
    let vstats = Arc::new(viewers::ViewerStats::default());
    let mut viewer_set = viewers::start(
        &base,
        fleet::USER,
        fleet::PASSWORD,
        &cameras,
        opts.viewers,
        vstats.clone(),
    );

    // Sampling.
    let mut csv = std::fs::File::create(dir.join("samples.csv"))?;
    writeln!(
        csv,
        "seconds,hub_rss_kib,hub_fds,agents_rss_kib,agents_fds,hub_segments,agent_segments,viewer_frames,viewer_failures,load1"
    )?;
    let mut series = Series {
        hub: Vec::new(),
        agents: Vec::new(),
    };
    let mut seen_hub = BTreeSet::new();
    let mut seen_agents = BTreeSet::new();
    let mut died = Vec::new();
    let mut checks = Checks::default();
    let rec_dirs: Vec<PathBuf> = agents.iter().filter_map(|a| a.rec_dir.clone()).collect();
    let hub_rec = hub_setup.data_dir.join("recordings");
    let start = Instant::now();
    let mut tick = tokio::time::interval(Duration::from_secs(opts.sample_secs.max(1)));
    loop {
        tick.tick().await;
        let at = start.elapsed();
        if let Some(s) = hub.exited() {
            died.push(format!("hub exited: {s}"));
        }
        if let Some(s) = rtsp.exited() {
            died.push(format!("rtsp server exited: {s}"));
        }
        for a in &mut agents {
            if let Some(s) = a.proc_.exited() {
                died.push(format!("{} exited: {s}", a.proc_.name));
            }
        }
        if !died.is_empty() {
            break;
        }
        let hub_sample = Sample {
            at,
            rss_kib: sample::rss_kib(hub.pid())?,
            fds: sample::fd_count(hub.pid())?,
        };
        let mut agent_sample = Sample {
            at,
            rss_kib: 0,
            fds: 0,
        };
        for a in &agents {
            agent_sample.rss_kib += sample::rss_kib(a.proc_.pid()).unwrap_or(0);
            agent_sample.fds += sample::fd_count(a.proc_.pid()).unwrap_or(0);
        }
        let h = segments::list(&hub_rec);
        seen_hub.extend(h.finished.iter().cloned());
        let mut agent_segs = 0;
        for d in &rec_dirs {
            let l = segments::list(d);
            agent_segs += l.finished.len();
            seen_agents.extend(l.finished);
        }
        // Every finished segment is checked while it exists (retention deletes it later).
        checks
            .probe_new(seen_hub.iter().chain(&seen_agents))
            .await?;
        let frames = vstats.frames.load(Ordering::Relaxed);
        let failures = vstats.failures.load(Ordering::Relaxed);
        let load = sample::loadavg();
        writeln!(
            csv,
            "{},{},{},{},{},{},{},{},{},{:.2}",
            at.as_secs(),
            hub_sample.rss_kib,
            hub_sample.fds,
            agent_sample.rss_kib,
            agent_sample.fds,
            h.finished.len(),
            agent_segs,
            frames,
            failures,
            load
        )?;
        println!(
            "[{:>5}s] hub RSS {:.1} MiB, {} fds | agents RSS {:.1} MiB, {} fds | segments hub {} agents {} (seen {}+{}) | viewer frames {frames}, failures {failures} | load {load:.2}",
            at.as_secs(),
            hub_sample.rss_kib as f64 / 1024.0,
            hub_sample.fds,
            agent_sample.rss_kib as f64 / 1024.0,
            agent_sample.fds,
            h.finished.len(),
            agent_segs,
            seen_hub.len(),
            seen_agents.len(),
        );
        series.hub.push(hub_sample);
        series.agents.push(agent_sample);
        if at >= run_for {
            break;
        }
    }
    let elapsed = start.elapsed();

    // Cameras online at the end, as the hub sees them.
    let offline = offline_cameras(&base).await;

    // Stop: viewers, agents, hub, cameras; every process must exit cleanly on SIGTERM.
    viewer_set.shutdown().await;
    let mut unclean = Vec::new();
    for a in &agents {
        a.proc_.term();
    }
    for a in &mut agents {
        match a.proc_.wait(Duration::from_secs(20)).await {
            Some(s) if s.success() => {}
            Some(s) => unclean.push(format!("{}: {s}", a.proc_.name)),
            None => unclean.push(format!(
                "{}: still running 20 s after SIGTERM",
                a.proc_.name
            )),
        }
    }
    hub.term();
    match hub.wait(Duration::from_secs(20)).await {
        Some(s) if s.success() => {}
        Some(s) => unclean.push(format!("hub: {s}")),
        None => unclean.push("hub: still running 20 s after SIGTERM".into()),
    }
    rtsp.term();
    let _ = rtsp.wait(Duration::from_secs(10)).await;
    sim.stop().await;

    // Segments: every one left on disk is decoded.
    let final_hub = segments::list(&hub_rec);
    let mut final_agents = segments::Listing::default();
    for d in &rec_dirs {
        let l = segments::list(d);
        final_agents.finished.extend(l.finished);
        final_agents.partial.extend(l.partial);
    }
    checks
        .probe_new(final_hub.finished.iter().chain(&final_agents.finished))
        .await?;
    let Checks {
        probed,
        invalid,
        frames: frames_checked,
        vanished,
    } = checks;
    let check = fleet::hub_cmd(&hub_setup.config).arg("check").output()?;
    let check_out = String::from_utf8_lossy(&check.stdout).trim().to_owned();
    let deleted_hub = seen_hub.iter().filter(|p| !p.exists()).count();
    let deleted_agents = seen_agents.iter().filter(|p| !p.exists()).count();

    // Logs.
    let mut hub_logs = logs::LogCounts::default();
    hub_logs.add_file(&hub.log);
    let mut agent_logs = logs::LogCounts::default();
    for a in &agents {
        agent_logs.add_file(&a.proc_.log);
    }

    // Summary and verdict.
    let mut failures = died;
    failures.extend(unclean);
    let mut out = String::new();
    let _ = writeln!(out, "\n## Soak summary\n");
    let _ = writeln!(
        out,
        "ran {:.1} min ({} samples every {} s, warm-up {} s); machine: {} cores, load average at the end {:.2}",
        elapsed.as_secs_f64() / 60.0,
        series.hub.len(),
        opts.sample_secs,
        warmup.as_secs(),
        std::thread::available_parallelism().map_or(1, |n| n.get()),
        sample::loadavg()
    );
    let _ = writeln!(
        out,
        "\n| quantity | first | after warm-up | last | max | growth after warm-up | per hour |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|");
    let mib = |s: &Sample| s.rss_kib as f64 / 1024.0;
    let fds = |s: &Sample| s.fds as f64;
    let hub_rss = sample::trend(&series.hub, warmup, mib);
    let hub_fds = sample::trend(&series.hub, warmup, fds);
    for (name, t) in [
        ("hub RSS (MiB)", hub_rss),
        ("hub open fds", hub_fds),
        (
            "agents' RSS, sum (MiB)",
            sample::trend(&series.agents, warmup, mib),
        ),
        (
            "agents' open fds, sum",
            sample::trend(&series.agents, warmup, fds),
        ),
    ] {
        if let Some(t) = t {
            let _ = writeln!(
                out,
                "| {name} | {:.1} | {:.1} | {:.1} | {:.1} | {:+.1} | {:+.1} |",
                t.first, t.after_warmup, t.last, t.max, t.growth, t.per_hour
            );
        }
    }
    if let Some(t) = hub_rss
        && t.per_hour > opts.max_rss_mib_per_hour
        && t.growth > opts.max_rss_growth_mib
    {
        failures.push(format!(
            "hub RSS grew {:.1} MiB after the warm-up ({:.1} MiB/h; limits {} MiB and {} MiB/h)",
            t.growth, t.per_hour, opts.max_rss_growth_mib, opts.max_rss_mib_per_hour
        ));
    }
    if let Some(t) = hub_fds
        && t.growth > opts.max_fd_growth
    {
        failures.push(format!(
            "hub open fds grew by {:.1} after the warm-up (limit {})",
            t.growth, opts.max_fd_growth
        ));
    }
    let vf = vstats.frames.load(Ordering::Relaxed);
    let per_viewer = vstats
        .per_viewer
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    let min_viewer = per_viewer.iter().copied().min().unwrap_or(0);
    let _ = writeln!(
        out,
        "\nviewers: {} streams, {vf} frames ({:.1} frames/s per viewer), fewest frames for one viewer {min_viewer}; streams opened {}, failed or ended {}",
        opts.viewers,
        vf as f64 / opts.viewers.max(1) as f64 / elapsed.as_secs_f64(),
        vstats.connects.load(Ordering::Relaxed),
        vstats.failures.load(Ordering::Relaxed),
    );
    for e in vstats
        .last_errors
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
    {
        let _ = writeln!(out, "  viewer stream failure: {e}");
    }
    if min_viewer == 0 {
        failures.push("a viewer received no frame".into());
    }
    let _ = writeln!(
        out,
        "segments: hub recorded and uploaded {} seen, {} deleted by retention, {} left; agents {} seen, {} deleted, {} left",
        seen_hub.len(),
        deleted_hub,
        final_hub.finished.len(),
        seen_agents.len(),
        deleted_agents,
        final_agents.finished.len()
    );
    let _ = writeln!(
        out,
        "checked {} segments with ffprobe as they were finished ({} frames decoded): {} invalid, {} deleted before their check; unfinished .partial files: hub {}, agents {}",
        probed.len() - vanished,
        frames_checked,
        invalid.len(),
        vanished,
        final_hub.partial.len(),
        final_agents.partial.len()
    );
    for i in &invalid {
        let _ = writeln!(out, "  INVALID {i}");
    }
    let _ = writeln!(out, "hub check: {check_out}");
    if !invalid.is_empty() {
        failures.push(format!("{} invalid segments", invalid.len()));
    }
    let partials = final_hub.partial.len() + final_agents.partial.len();
    if partials > 0 {
        failures.push(format!("{partials} segments left unfinished after SIGTERM"));
    }
    if !check.status.success() || !check_out.contains("0 repairs, 0 problems left") {
        failures.push(format!("hub check: {check_out}"));
    }
    if elapsed >= Duration::from_secs(110) && (deleted_hub == 0 || deleted_agents == 0) {
        failures.push("retention deleted nothing on the hub or on the agents".into());
    }
    if !offline.is_empty() {
        failures.push(format!("cameras offline at the end: {offline:?}"));
    }
    for (who, l) in [("hub", &hub_logs), ("agents", &agent_logs)] {
        let _ = writeln!(
            out,
            "{who} logs: {} lines, {} WARN, {} ERROR, {} panics",
            l.lines, l.warn, l.error, l.panics
        );
        for (msg, n) in l.distinct.iter().take(15) {
            let _ = writeln!(out, "  {n:>5} x {msg}");
        }
        if l.error > 0 || l.panics > 0 {
            failures.push(format!(
                "{who} logs: {} ERROR, {} panics",
                l.error, l.panics
            ));
        }
    }
    if failures.is_empty() {
        let _ = writeln!(out, "\nSOAK PASSED");
    } else {
        let _ = writeln!(out, "\nSOAK FAILED:");
        for f in &failures {
            let _ = writeln!(out, "  - {f}");
        }
    }
    print!("{out}");
    std::fs::write(dir.join("summary.md"), &out)?;
    drop(agents);
    Ok(failures.is_empty())
}

/// Segments checked so far.
#[derive(Default)]
struct Checks {
    probed: BTreeSet<PathBuf>,
    invalid: Vec<String>,
    frames: u64,
    /// Deleted between listing and check.
    vanished: usize,
}

impl Checks {
    /// Decodes every segment of `files` not checked yet.
    async fn probe_new(&mut self, files: impl Iterator<Item = &PathBuf>) -> anyhow::Result<()> {
        let new: Vec<PathBuf> = files
            .filter(|f| !self.probed.contains(*f))
            .cloned()
            .collect();
        self.probed.extend(new.iter().cloned());
        let results = tokio::task::spawn_blocking(move || {
            new.into_iter()
                .map(|f| {
                    let r = segments::probe(&f);
                    (f, r)
                })
                .collect::<Vec<_>>()
        })
        .await?;
        for (f, r) in results {
            match r {
                Ok(p) => self.frames += p.frames,
                Err(_) if !f.exists() => self.vanished += 1,
                Err(e) => self.invalid.push(format!("{}: {e}", f.display())),
            }
        }
        Ok(())
    }
}

/// Cameras the hub reports offline (all of them if it cannot be asked).
async fn offline_cameras(base: &str) -> Vec<String> {
    let resp = testkit::http_client()
        .get(format!("{base}/api/cameras"))
        .basic_auth(fleet::USER, Some(fleet::PASSWORD))
        .timeout(Duration::from_secs(10))
        .send()
        .await;
    let text = match resp {
        Ok(r) => r.text().await.unwrap_or_default(),
        Err(e) => return vec![format!("(cannot ask the hub: {e})")],
    };
    let v: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
    let Some(list) = v["cameras"].as_array() else {
        return vec![format!("(unexpected /api/cameras answer: {text:.200})")];
    };
    list.iter()
        .filter(|c| c["online"] != true)
        .map(|c| c["name"].as_str().unwrap_or("?").to_owned())
        .collect()
}
