//! `bench-agent`: the agent on its own, streaming to a websocket sink that
//! counts frames. CPU per frame (process CPU over frames delivered) and RSS
//! in steady state, for:
//!
//! - MJPEG passthrough: the `rpicam` source with `peers/fake_rpicam_vid.py`
//!   writing ready 640x480 JPEGs (about 43 KB) at 30 fps, so the agent only
//!   splits the stream and sends it;
//! - the test pattern rendered and JPEG-encoded by the agent (640x480 and
//!   1280x720), the cost of a camera that must encode.
//!
//! CPU time is the sum of the agent's threads' `schedstat` run time
//! (nanoseconds; clock ticks are too coarse for passthrough).
//! Per-stage costs (YUYV to JPEG, openh264) come from `agent bench-encode`.
//! Prints one row per run and appends it to `--json`.
#![allow(clippy::print_stdout)]

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use bench::{Proc, cpu_ns, rss_kib};
use clap::Parser;
use futures_util::StreamExt;
use tokio::net::TcpListener;

#[derive(Debug, Parser)]
struct Args {
    /// Seconds measured per case (after a warm-up of 4 s).
    #[arg(long, default_value_t = 20)]
    seconds: u64,
    /// Runs per case; the report takes medians.
    #[arg(long, default_value_t = 1)]
    repeats: usize,
    /// Append one JSON line per measured run to this file.
    #[arg(long)]
    json: Option<std::path::PathBuf>,
}

struct Case {
    name: &'static str,
    kind: &'static str,
    width: u32,
    height: u32,
    fps: u32,
}

const CASES: &[Case] = &[
    Case {
        name: "MJPEG passthrough 640x480",
        kind: "rpicam",
        width: 640,
        height: 480,
        fps: 30,
    },
    Case {
        name: "test pattern + JPEG 640x480",
        kind: "testsrc",
        width: 640,
        height: 480,
        fps: 30,
    },
    Case {
        name: "test pattern + JPEG 1280x720",
        kind: "testsrc",
        width: 1280,
        height: 720,
        fps: 30,
    },
];

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let dir = std::env::temp_dir().join(format!("bench-agent-{}", std::process::id()));
    let jpegs = dir.join("jpegs");
    std::fs::create_dir_all(&jpegs)?;
    for (i, f) in bench::camera_frames().iter().enumerate() {
        std::fs::write(jpegs.join(format!("{i:03}.jpg")), f)?;
    }
    // The sink: counts the binary messages after each connection's hello.
    let frames = Arc::new(AtomicU64::new(0));
    let l = TcpListener::bind("127.0.0.1:0").await?;
    let port = l.local_addr()?.port();
    {
        let frames = frames.clone();
        tokio::spawn(async move {
            while let Ok((s, _)) = l.accept().await {
                let frames = frames.clone();
                tokio::spawn(async move {
                    let Ok(mut ws) = tokio_tungstenite::accept_async(s).await else {
                        return;
                    };
                    let mut hello = true;
                    while let Some(Ok(m)) = ws.next().await {
                        if m.is_binary() {
                            if !hello {
                                frames.fetch_add(1, Ordering::Relaxed);
                            }
                            hello = false;
                        }
                    }
                });
            }
        });
    }
    println!(
        "# agent alone: {} s per case, {} run(s), websocket sink on loopback; machine: {}",
        args.seconds,
        args.repeats,
        bench::cpu_model()
    );
    println!();
    println!("| case | run | frames/s | CPU % of a core | CPU ms per frame | RSS MB |");
    println!("|---|---|---|---|---|---|");
    let fake = testkit::process::workspace_root().join("crates/bench/peers/fake_rpicam_vid.py");
    for run in 0..args.repeats {
        for case in CASES {
            let cfg = dir.join("agent.toml");
            std::fs::write(
                &cfg,
                format!(
                    "hub_url = \"ws://127.0.0.1:{port}/video-input-stream\"\ncamera_id = 1\ntoken = \"bench\"\nstate_dir = {:?}\n\
                     [source]\nkind = \"{}\"\nwidth = {}\nheight = {}\nfps = {}\njpeg_quality = 80\n\
                     [source.rpicam]\nbinary = {:?}\n",
                    dir.join("state").display().to_string(),
                    case.kind,
                    case.width,
                    case.height,
                    case.fps,
                    fake.display().to_string()
                ),
            )?;
            let p = Proc(
                Command::new(testkit::process::bin_path("agent"))
                    .args(["run", "--config"])
                    .arg(&cfg)
                    .env("BENCH_JPEG_DIR", &jpegs)
                    .env("RUST_LOG", "warn")
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()
                    .context("starting the agent")?,
            );
            tokio::time::sleep(Duration::from_secs(4)).await;
            let (c0, f0, t0) = (
                cpu_ns(p.pid())?,
                frames.load(Ordering::Relaxed),
                Instant::now(),
            );
            tokio::time::sleep(Duration::from_secs(args.seconds)).await;
            let (c1, f1, secs) = (
                cpu_ns(p.pid())?,
                frames.load(Ordering::Relaxed),
                t0.elapsed().as_secs_f64(),
            );
            let rss = rss_kib(p.pid())? as f64 / 1024.0;
            drop(p);
            let n = (f1 - f0) as f64;
            let cpu_s = (c1 - c0) as f64 / 1e9;
            let ms_per_frame = if n > 0.0 {
                cpu_s * 1000.0 / n
            } else {
                f64::NAN
            };
            println!(
                "| {} | {run} | {:.1} | {:.2} | {ms_per_frame:.3} | {rss:.1} |",
                case.name,
                n / secs,
                cpu_s / secs * 100.0,
            );
            bench::record(
                args.json.as_deref(),
                "agent",
                &[("case", case.name)],
                &[
                    ("run", run as f64),
                    ("fps", n / secs),
                    ("cpu_pct", cpu_s / secs * 100.0),
                    ("cpu_ms_per_frame", ms_per_frame),
                    ("rss_mb", rss),
                ],
            )?;
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
