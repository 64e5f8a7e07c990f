//! `bench-ingest`: N agents pushing a 640x480 camera at 15 fps (about 43 KB
//! JPEGs, the agent wire protocol with HMAC tokens) into one hub, against the
//! machine's limit for the same bytes: a plain websocket sink that reads every
//! message and drops it. Measures server CPU, RSS, and RSS per agent (RSS with
//! the agents connected minus RSS of the same server idle).
//!
//! Prints one row per run and appends it to `--json`;
//! `scripts/bench-report.py` takes medians and ratios.
#![allow(clippy::print_stdout)]

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use bench::{Proc, cpu_ticks, rss_kib};
use bytes::BytesMut;
use clap::Parser;
use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::Message;

#[derive(Debug, Parser)]
struct Args {
    /// Agent counts to measure.
    #[arg(long, value_delimiter = ',', default_value = "1,50,200")]
    agents: Vec<u32>,
    #[command(flatten)]
    points: bench::Points,
    /// Append one JSON line per measured run to this file.
    #[arg(long)]
    json: Option<std::path::PathBuf>,
    /// Run as the websocket sink on this port (internal).
    #[arg(long, hide = true)]
    sink_server: Option<u16>,
}

/// The hub secret the bench writes (tokens are derived from it with
/// `wire::make_token`, as `hub token` does).
const SECRET: &str = "bench-secret-0123456789abcdef";

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    if let Some(port) = args.sink_server {
        return rt.block_on(sink(port));
    }
    rt.block_on(run(args))
}

async fn run(args: Args) -> anyhow::Result<()> {
    let dir = std::env::temp_dir().join(format!("bench-ingest-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let frames = Arc::new(bench::camera_frames());
    let avg = frames.iter().map(Vec::len).sum::<usize>() / frames.len();
    println!(
        "# ingest: N agents at {} fps, {} KB average JPEG, {} s per point, {} run(s); machine: {}",
        args.points.fps,
        avg / 1000,
        args.points.seconds,
        args.points.repeats,
        bench::machine()
    );
    println!();
    println!(
        "| agents | server | run | CPU % of a core | RSS MB | idle RSS MB | KiB per agent | frames/s per agent | agents cut off |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for &n in &args.agents {
        for run in 0..args.points.repeats {
            for which in ["sink", "hub"] {
                let port = testkit::process::free_port();
                let p = if which == "hub" {
                    start_hub(&dir, port, n)?
                } else {
                    Proc(
                        Command::new(std::env::current_exe()?)
                            .args(["--sink-server", &port.to_string()])
                            .stdout(Stdio::null())
                            .spawn()?,
                    )
                };
                testkit::process::wait_for_tcp(
                    ([127, 0, 0, 1], port).into(),
                    Duration::from_secs(20),
                )?;
                tokio::time::sleep(Duration::from_millis(500)).await;
                let idle_kib = rss_kib(p.pid())?;
                let m = measure(
                    port,
                    n,
                    args.points.fps,
                    args.points.seconds,
                    frames.clone(),
                    p.pid(),
                )
                .await?;
                let per_agent_kib = (m.rss_kib as f64 - idle_kib as f64) / f64::from(n);
                println!(
                    "| {n} | {which} | {run} | {:.1} | {:.1} | {:.1} | {per_agent_kib:.0} | {:.1} | {} |",
                    m.cpu_pct,
                    m.rss_kib as f64 / 1024.0,
                    idle_kib as f64 / 1024.0,
                    m.fps_per_agent,
                    m.cut_off
                );
                bench::record(
                    args.json.as_deref(),
                    "ingest",
                    &[("server", which), ("n", &n.to_string())],
                    &[
                        ("run", run as f64),
                        ("cpu_pct", m.cpu_pct),
                        ("rss_mb", m.rss_kib as f64 / 1024.0),
                        ("idle_rss_mb", idle_kib as f64 / 1024.0),
                        ("kib_per_agent", per_agent_kib),
                        ("fps", m.fps_per_agent),
                        ("cut_off", m.cut_off as f64),
                    ],
                )?;
                drop(p);
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

fn start_hub(dir: &std::path::Path, port: u16, n: u32) -> anyhow::Result<Proc> {
    use std::os::unix::fs::PermissionsExt;
    let secret = dir.join("secret");
    std::fs::write(&secret, SECRET)?;
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600))?;
    let mut cfg = format!(
        "listen = \"127.0.0.1:{port}\"\ndata_dir = {:?}\nsecret_file = {:?}\nmax_frame_size = \"2MiB\"\n",
        dir.join(format!("hub-{port}")).display().to_string(),
        secret.display().to_string()
    );
    for id in 1..=n {
        cfg.push_str(&format!(
            "[[camera]]\nid = {id}\nname = \"cam{id}\"\nkind = \"agent\"\n"
        ));
    }
    let file = dir.join(format!("hub-{port}.toml"));
    std::fs::write(&file, cfg)?;
    Ok(Proc(
        Command::new(testkit::process::bin_path("hub"))
            .arg("--config")
            .arg(&file)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting the hub")?,
    ))
}

struct Measured {
    cpu_pct: f64,
    rss_kib: u64,
    fps_per_agent: f64,
    cut_off: u64,
}

async fn measure(
    port: u16,
    n: u32,
    fps: u32,
    seconds: u64,
    frames: Arc<Vec<Vec<u8>>>,
    pid: u32,
) -> anyhow::Result<Measured> {
    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicU64::new(0));
    let cut_off = Arc::new(AtomicU64::new(0));
    let period = Duration::from_secs_f64(1.0 / f64::from(fps));
    let mut agents = Vec::new();
    for id in 1..=n {
        let (stop, sent, cut_off, frames) =
            (stop.clone(), sent.clone(), cut_off.clone(), frames.clone());
        // Agents start spread over one frame period, as independent cameras do.
        let phase = period.mul_f64(f64::from(id - 1) / f64::from(n));
        agents.push(tokio::spawn(async move {
            if agent(port, id, phase, period, frames, &sent, &stop)
                .await
                .is_err()
            {
                cut_off.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let cpu0 = cpu_ticks(pid)?;
    let sent0 = sent.load(Ordering::Relaxed);
    let t0 = Instant::now();
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    let cpu1 = cpu_ticks(pid)?;
    let elapsed = t0.elapsed().as_secs_f64();
    let sent_n = sent.load(Ordering::Relaxed) - sent0;
    let rss = rss_kib(pid)?;
    stop.store(true, Ordering::Relaxed);
    for a in agents {
        let _ = tokio::time::timeout(Duration::from_secs(2), a).await;
    }
    Ok(Measured {
        cpu_pct: (cpu1 - cpu0) as f64 / bench::TICKS_PER_SEC / elapsed * 100.0,
        rss_kib: rss,
        fps_per_agent: sent_n as f64 / f64::from(n) / elapsed,
        cut_off: cut_off.load(Ordering::Relaxed),
    })
}

/// One agent: the ingest websocket, the hello with its HMAC token, then one
/// frame per period until stopped. A send error means the server cut it off.
async fn agent(
    port: u16,
    id: u32,
    phase: Duration,
    period: Duration,
    frames: Arc<Vec<Vec<u8>>>,
    sent: &AtomicU64,
    stop: &AtomicBool,
) -> anyhow::Result<()> {
    let (mut ws, _) =
        tokio_tungstenite::connect_async(format!("ws://127.0.0.1:{port}/video-input-stream"))
            .await?;
    let token = wire::make_token(wire::TokenScheme::default(), SECRET.as_bytes(), id);
    let mut hello = BytesMut::new();
    wire::encode_hello(id, &token, &mut hello);
    ws.send(Message::binary(hello.freeze())).await?;
    tokio::time::sleep(phase).await;
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut i = 0usize;
    while !stop.load(Ordering::Relaxed) {
        tick.tick().await;
        let mut m = BytesMut::with_capacity(frames[0].len() + 64);
        wire::encode_frame(&frames[i % frames.len()], &mut m);
        ws.send(Message::binary(m.freeze())).await?;
        sent.fetch_add(1, Ordering::Relaxed);
        i += 1;
    }
    let _ = ws.close(None).await;
    Ok(())
}

/// The machine's limit: a websocket server that reads every message and
/// drops it (no hello check, no decoding, no fan-out).
async fn sink(port: u16) -> anyhow::Result<()> {
    let l = TcpListener::bind(("127.0.0.1", port)).await?;
    loop {
        let (s, _) = l.accept().await?;
        tokio::spawn(async move {
            let Ok(mut ws) = tokio_tungstenite::accept_async(s).await else {
                return;
            };
            while let Some(Ok(_)) = ws.next().await {}
        });
    }
}
