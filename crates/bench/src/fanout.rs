//! `bench-fanout`: one 640x480 15 fps camera fanned out to N MJPEG viewers,
//! through each server under test in the same run: the hub; the raw baseline
//! (the same bytes written to N sockets by a minimal server with nothing
//! else); a threaded Python server in the pattern of the seed Pi recorder
//! (`peers/mjpeg_threaded.py`); and `motion`, reading the camera as an MJPEG
//! netcam and re-serving its own stream.
//!
//! Each frame carries a JPEG comment with its sequence number and send time,
//! so viewers measure delivery and added latency without decoding pictures
//! (motion re-encodes, so it gives no latency). The viewers run on one
//! thread of their own, a sample of them parsing every byte and the rest
//! counting bytes (`bench::mjpeg_load` says what is measured how). Server CPU and RSS are read
//! from `/proc/PID`. Prints one row per run and appends it to `--json`;
//! `scripts/bench-report.py` takes medians and ratios.
#![allow(clippy::print_stdout)]

use std::io::Write as _;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use bench::mjpeg_load::{self, Control, Load, mono_ns, stamp};
use bench::{Proc, cpu_ticks, rss_kib};
use bytes::{Bytes, BytesMut};
use clap::Parser;
use futures_util::SinkExt;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

#[derive(Debug, Parser)]
struct Args {
    /// Viewer counts to measure.
    #[arg(long, value_delimiter = ',', default_value = "1,10,100,500,1000")]
    viewers: Vec<usize>,
    /// Servers to compare: raw, hub, python, motion; `before` is the `--hub-before` binary
    /// measured as the hub is.
    #[arg(long, value_delimiter = ',', default_value = "raw,hub")]
    servers: Vec<String>,
    /// An earlier hub binary, for the `before` server.
    #[arg(long)]
    hub_before: Option<std::path::PathBuf>,
    #[command(flatten)]
    points: bench::Points,
    /// Viewers that read only ~40 KB/s, added to every point and not counted:
    /// what a slow viewer costs the others.
    #[arg(long, default_value_t = 0)]
    slow_viewers: usize,
    /// Viewers that parse every byte (frames, latency, wire bytes per
    /// frame), spread evenly over the others, which only count bytes with
    /// `recv(MSG_TRUNC)`. All viewers parse when there are no more than this.
    #[arg(long, default_value_t = 100)]
    parsing_viewers: usize,
    /// Append one JSON line per measured run to this file.
    #[arg(long)]
    json: Option<std::path::PathBuf>,
    /// Run as the raw baseline server on this port (internal).
    #[arg(long, hide = true)]
    raw_server: Option<u16>,
}

const USER: &str = "bench";
const PASSWORD: &str = "bench-password-123";

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    if let Some(port) = args.raw_server {
        return rt.block_on(raw_server(port));
    }
    rt.block_on(run(args))
}

/// Where the pusher sends frames and where viewers read them.
#[derive(Clone, Copy)]
struct Target {
    /// The hub's ingest websocket, or a `POST /push` stream (raw, python,
    /// and the raw server that feeds motion).
    push: Push,
    /// The port viewers connect to.
    view_port: u16,
    /// Viewers send Basic credentials and read the hub's camera URL.
    hub: bool,
}

#[derive(Clone, Copy)]
enum Push {
    Hub(u16),
    Stream(u16),
}

/// A server under test with whatever feeds it; `pid` is the process measured.
struct Running {
    procs: Vec<Proc>,
    pid: u32,
    target: Target,
}

async fn run(args: Args) -> anyhow::Result<()> {
    let dir = tempfile_dir()?;
    let frames: Arc<Vec<Vec<u8>>> = Arc::new(bench::camera_frames());
    let avg = frames.iter().map(Vec::len).sum::<usize>() / frames.len();
    println!(
        "# fan-out: one 640x480 camera at {} fps, {} KB average JPEG, {} s per point, {} run(s), {} slow viewer(s)",
        args.points.fps,
        avg / 1000,
        args.points.seconds,
        args.points.repeats,
        args.slow_viewers
    );
    println!("machine: {}", bench::machine());
    println!();
    println!(
        "| viewers | server | run | CPU % of a core | RSS MB | frames/s per viewer | delivered % | p50 ms | p99 ms | parsing viewers | reconnects | load client CPU % |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|");
    let workload = if args.slow_viewers > 0 {
        "fanout-slow"
    } else {
        "fanout"
    };
    for &n in &args.viewers {
        for run in 0..args.points.repeats {
            for which in &args.servers {
                let running = match start_server(which, &dir, args.hub_before.as_deref()) {
                    Ok(r) => r,
                    Err(e) => {
                        println!("| {n} | {which} | {run} | skipped: {e:#} |");
                        continue;
                    }
                };
                let r = measure(
                    running.target,
                    &dir,
                    n,
                    args.parsing_viewers,
                    args.slow_viewers,
                    args.points.fps,
                    args.points.seconds,
                    frames.clone(),
                    running.pid,
                )
                .await?;
                println!(
                    "| {n} | {which} | {run} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} | {} | {} | {:.1} |",
                    r.cpu_pct,
                    r.rss_mb,
                    r.fps_per_viewer,
                    r.delivered_pct,
                    r.p50_ms,
                    r.p99_ms,
                    r.parsing,
                    r.reconnects,
                    r.client_cpu_pct
                );
                bench::record(
                    args.json.as_deref(),
                    workload,
                    &[("server", which), ("n", &n.to_string())],
                    &[
                        ("run", run as f64),
                        ("cpu_pct", r.cpu_pct),
                        ("rss_mb", r.rss_mb),
                        ("fps", r.fps_per_viewer),
                        ("delivered_pct", r.delivered_pct),
                        ("p50_ms", r.p50_ms),
                        ("p99_ms", r.p99_ms),
                        ("jpeg_kb", r.jpeg_kb),
                        ("client_cpu_pct", r.client_cpu_pct),
                    ],
                )?;
                drop(running.procs);
                // Let the kernel reap the closed sockets before the next server.
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

fn start_server(
    which: &str,
    dir: &std::path::Path,
    hub_before: Option<&std::path::Path>,
) -> anyhow::Result<Running> {
    let me = std::env::current_exe()?;
    let wait = |port: u16| {
        testkit::process::wait_for_tcp(([127, 0, 0, 1], port).into(), Duration::from_secs(20))
    };
    let raw = |port: u16| -> anyhow::Result<Proc> {
        Ok(Proc(
            Command::new(&me)
                .args(["--raw-server", &port.to_string()])
                .stdout(Stdio::null())
                .spawn()?,
        ))
    };
    let port = testkit::process::free_port();
    // One process serving viewers on `port`.
    let single = |p: Proc, push: Push, hub: bool| -> anyhow::Result<Running> {
        wait(port)?;
        Ok(Running {
            pid: p.pid(),
            procs: vec![p],
            target: Target {
                push,
                view_port: port,
                hub,
            },
        })
    };
    match which {
        "raw" => single(raw(port)?, Push::Stream(port), false),
        "hub" => single(
            start_hub(&testkit::process::bin_path("hub"), dir, port)?,
            Push::Hub(port),
            true,
        ),
        "before" => single(
            start_hub(
                hub_before.context("the before server needs --hub-before")?,
                dir,
                port,
            )?,
            Push::Hub(port),
            true,
        ),
        "python" => {
            let script =
                testkit::process::workspace_root().join("crates/bench/peers/mjpeg_threaded.py");
            let p = Proc(
                Command::new("/usr/bin/python3")
                    .arg(script)
                    .arg(port.to_string())
                    .stdout(Stdio::null())
                    .spawn()
                    .context("python3")?,
            );
            single(p, Push::Stream(port), false)
        }
        "motion" => {
            // motion reads the camera as an MJPEG netcam from a raw server
            // (not measured) and re-serves it on its own stream port.
            let src = raw(port)?;
            wait(port)?;
            let stream_port = testkit::process::free_port();
            let mdir = dir.join(format!("motion-{stream_port}"));
            std::fs::create_dir_all(&mdir)?;
            let conf = mdir.join("motion.conf");
            std::fs::write(
                &conf,
                format!(
                    "daemon off\nsetup_mode off\nlog_level 6\nlog_file {log}\ntarget_dir {dir}\npid_file {dir}/motion.pid\n\
                     netcam_url http://127.0.0.1:{port}/\nwidth 640\nheight 480\nframerate 15\n\
                     picture_output off\nmovie_output off\nemulate_motion off\n\
                     webcontrol_port 0\nstream_port {stream_port}\nstream_localhost on\nstream_maxrate 15\n\
                     stream_auth_method 0\nstream_motion off\nstream_limit 0\n",
                    log = mdir.join("motion.log").display(),
                    dir = mdir.display()
                ),
            )?;
            let m = Proc(
                Command::new("motion")
                    .args(["-n", "-c"])
                    .arg(&conf)
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()
                    .context("motion (apt-get install motion)")?,
            );
            wait(stream_port)?;
            Ok(Running {
                pid: m.pid(),
                procs: vec![m, src],
                target: Target {
                    push: Push::Stream(port),
                    view_port: stream_port,
                    hub: false,
                },
            })
        }
        other => bail!("unknown server {other}"),
    }
}

fn tempfile_dir() -> anyhow::Result<std::path::PathBuf> {
    let d = std::env::temp_dir().join(format!("bench-fanout-{}", std::process::id()));
    std::fs::create_dir_all(&d)?;
    Ok(d)
}

fn start_hub(bin: &std::path::Path, dir: &std::path::Path, port: u16) -> anyhow::Result<Proc> {
    let data = dir.join(format!("hub-{port}"));
    let cfg = dir.join(format!("hub-{port}.toml"));
    std::fs::write(
        &cfg,
        format!(
            // Every viewer comes from 127.0.0.1: lift the per-address cap
            // (512 by default) above the largest point.
            "listen = \"127.0.0.1:{port}\"\ndata_dir = {:?}\nmax_frame_size = \"2MiB\"\n\
             [connections]\nmax_connections = 20000\nmax_per_address = 20000\n\
             [[camera]]\nid = 1\nname = \"cam\"\nkind = \"agent\"\n",
            data.display().to_string()
        ),
    )?;
    let mut add = Command::new(bin)
        .args(["--config"])
        .arg(&cfg)
        .args(["user", "add", USER, "--password-stdin"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    writeln!(add.stdin.take().context("stdin")?, "{PASSWORD}")?;
    if !add.wait()?.success() {
        bail!("hub user add failed");
    }
    let child = Command::new(bin)
        .arg("--config")
        .arg(&cfg)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    Ok(Proc(child))
}

fn hub_token(dir: &std::path::Path, port: u16) -> anyhow::Result<String> {
    let out = Command::new(testkit::process::bin_path("hub"))
        .arg("--config")
        .arg(dir.join(format!("hub-{port}.toml")))
        .args(["token", "1"])
        .stderr(Stdio::null())
        .output()?;
    Ok(String::from_utf8(out.stdout)?.trim().to_owned())
}

struct Result_ {
    cpu_pct: f64,
    rss_mb: f64,
    fps_per_viewer: f64,
    delivered_pct: f64,
    p50_ms: f64,
    p99_ms: f64,
    /// Average size of the JPEGs the viewers got.
    jpeg_kb: f64,
    /// Viewers that parsed every byte (the others counted bytes).
    parsing: usize,
    /// Viewer connections that ended and were opened again.
    reconnects: u64,
    /// CPU of the load client's viewer thread, % of a core.
    client_cpu_pct: f64,
}

#[allow(clippy::too_many_arguments)]
async fn measure(
    target: Target,
    dir: &std::path::Path,
    n: usize,
    parsing: usize,
    slow: usize,
    fps: u32,
    seconds: u64,
    frames: Arc<Vec<Vec<u8>>>,
    pid: u32,
) -> anyhow::Result<Result_> {
    // Pusher.
    let sent = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let pusher = {
        let (sent, stop, frames) = (sent.clone(), stop.clone(), frames.clone());
        let token = match target.push {
            Push::Hub(port) => hub_token(dir, port)?,
            Push::Stream(_) => String::new(),
        };
        tokio::spawn(async move { pusher(target.push, token, fps, frames, sent, stop).await })
    };
    let mut slow_viewers = Vec::new();
    for _ in 0..slow {
        slow_viewers.push(tokio::spawn(slow_viewer(target)));
    }
    // The counted viewers: one thread of their own (see `bench::mjpeg_load`).
    let control = Arc::new(Control::default());
    let load = Load {
        addr: std::net::SocketAddrV4::new(std::net::Ipv4Addr::LOCALHOST, target.view_port),
        request: viewer_request(target).into_bytes(),
        viewers: n,
        parsing,
    };
    let client = {
        let control = control.clone();
        std::thread::Builder::new()
            .name("viewers".into())
            .spawn(move || mjpeg_load::run(&load, &control))?
    };
    // Warm-up: until frames reach the viewers (motion takes a few seconds
    // to open its netcam), then two seconds more.
    let t = Instant::now();
    while control.parts_seen.load(Ordering::Relaxed) == 0 && t.elapsed() < Duration::from_secs(20) {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let cpu0 = cpu_ticks(pid)?;
    let sent0 = sent.load(Ordering::Relaxed);
    let t0 = Instant::now();
    control.recording.store(true, Ordering::Relaxed);
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    control.recording.store(false, Ordering::Relaxed);
    let elapsed = t0.elapsed().as_secs_f64();
    let cpu1 = cpu_ticks(pid)?;
    let rss = rss_kib(pid)? as f64 / 1024.0;
    let sent_n = sent.load(Ordering::Relaxed) - sent0;
    // Let the viewer thread see the end of the window (it reads its CPU then).
    tokio::time::sleep(Duration::from_millis(20)).await;
    control.stop.store(true, Ordering::Relaxed);
    let totals = tokio::task::spawn_blocking(move || client.join())
        .await?
        .map_err(|_| anyhow::anyhow!("viewer thread panicked"))??;
    stop.store(true, Ordering::Relaxed);
    let _ = pusher.await;
    for v in slow_viewers {
        v.abort();
    }
    let got = totals.frames();
    let mut lat = totals.latencies_us.clone();
    lat.sort_unstable();
    let pct = |p: f64| -> f64 {
        if lat.is_empty() {
            return f64::NAN;
        }
        lat[((lat.len() - 1) as f64 * p) as usize] as f64 / 1000.0
    };
    Ok(Result_ {
        cpu_pct: (cpu1 - cpu0) as f64 / 100.0 / elapsed * 100.0,
        rss_mb: rss,
        fps_per_viewer: got / n as f64 / elapsed,
        delivered_pct: if sent_n > 0 {
            100.0 * got / (n as f64 * sent_n as f64)
        } else {
            0.0
        },
        p50_ms: pct(0.5),
        p99_ms: pct(0.99),
        jpeg_kb: if totals.parts > 0 {
            totals.jpeg_bytes as f64 / totals.parts as f64 / 1000.0
        } else {
            f64::NAN
        },
        parsing: totals.parsing_viewers,
        reconnects: totals.reconnects,
        client_cpu_pct: totals.cpu_ticks as f64 / bench::TICKS_PER_SEC / elapsed * 100.0,
    })
}

/// A viewer on a slow link: reads 4 KiB every 100 ms (about one frame in
/// ten at 15 fps) and is not counted.
async fn slow_viewer(target: Target) {
    let Ok(mut s) = connect_viewer(target).await else {
        return;
    };
    let mut buf = vec![0u8; 4096];
    loop {
        match s.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

async fn connect_viewer(target: Target) -> anyhow::Result<TcpStream> {
    let mut s = TcpStream::connect(("127.0.0.1", target.view_port)).await?;
    s.write_all(viewer_request(target).as_bytes()).await?;
    Ok(s)
}

/// A viewer's whole HTTP request.
fn viewer_request(target: Target) -> String {
    if target.hub {
        use base64::Engine;
        let auth = base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASSWORD}"));
        format!(
            "GET /api/v1/cameras/cam/stream HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Basic {auth}\r\n\r\n"
        )
    } else {
        "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".to_owned()
    }
}

async fn pusher(
    push: Push,
    token: String,
    fps: u32,
    frames: Arc<Vec<Vec<u8>>>,
    sent: Arc<AtomicU64>,
    stop: Arc<std::sync::atomic::AtomicBool>,
) -> anyhow::Result<()> {
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / f64::from(fps)));
    let mut seq = 0u64;
    match push {
        Push::Hub(port) => {
            let (mut ws, _) = tokio_tungstenite::connect_async(format!(
                "ws://127.0.0.1:{port}/video-input-stream"
            ))
            .await?;
            let mut hello = BytesMut::new();
            wire::encode_hello(1, &token, &mut hello);
            ws.send(tokio_tungstenite::tungstenite::Message::binary(
                hello.freeze(),
            ))
            .await?;
            while !stop.load(Ordering::Relaxed) {
                tick.tick().await;
                let jpeg = stamp(&frames[seq as usize % frames.len()], seq, mono_ns());
                let mut m = BytesMut::new();
                wire::encode_frame(&jpeg, &mut m);
                ws.send(tokio_tungstenite::tungstenite::Message::binary(m.freeze()))
                    .await?;
                seq += 1;
                sent.fetch_add(1, Ordering::Relaxed);
            }
        }
        Push::Stream(port) => {
            let mut s = TcpStream::connect(("127.0.0.1", port)).await?;
            s.set_nodelay(true)?;
            s.write_all(b"POST /push HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
                .await?;
            while !stop.load(Ordering::Relaxed) {
                tick.tick().await;
                let jpeg = stamp(&frames[seq as usize % frames.len()], seq, mono_ns());
                let mut m = Vec::with_capacity(jpeg.len() + 4);
                m.extend_from_slice(&(jpeg.len() as u32).to_le_bytes());
                m.extend_from_slice(&jpeg);
                s.write_all(&m).await?;
                seq += 1;
                sent.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
    Ok(())
}

/// The raw baseline: one pusher connection (`POST /push` then `u32 len` +
/// JPEG), every other connection an MJPEG viewer that gets each frame's
/// whole part (boundary, headers, JPEG) in one write, latest-wins, with
/// nothing else: no HTTP parsing, no authentication, no chunked coding.
async fn raw_server(port: u16) -> anyhow::Result<()> {
    let l = TcpListener::bind(("127.0.0.1", port)).await?;
    let (tx, _) = watch::channel::<Option<Bytes>>(None);
    let tx = Arc::new(tx);
    loop {
        let (s, _) = l.accept().await?;
        let tx = tx.clone();
        tokio::spawn(async move {
            let mut r = BufReader::new(s);
            let mut first = String::new();
            if r.read_line(&mut first).await.is_err() {
                return;
            }
            if first.starts_with("POST /push") {
                let mut line = String::new();
                while r.read_line(&mut line).await.is_ok_and(|n| n > 0) && line != "\r\n" {
                    line.clear();
                }
                loop {
                    let mut len = [0u8; 4];
                    if r.read_exact(&mut len).await.is_err() {
                        return;
                    }
                    let mut b = vec![0u8; u32::from_le_bytes(len) as usize];
                    if r.read_exact(&mut b).await.is_err() {
                        return;
                    }
                    // The whole part is built once and shared: each viewer
                    // costs one write of the same bytes.
                    let mut part = format!(
                        "--frame\r\nContent-Type: image/jpeg\r\nContent-Length: {}\r\n\r\n",
                        b.len()
                    )
                    .into_bytes();
                    part.extend_from_slice(&b);
                    part.extend_from_slice(b"\r\n");
                    tx.send_replace(Some(Bytes::from(part)));
                }
            }
            // Skip the rest of the request headers.
            let mut line = String::new();
            loop {
                line.clear();
                match r.read_line(&mut line).await {
                    Ok(0) | Err(_) => return,
                    Ok(_) if line == "\r\n" => break,
                    Ok(_) => {}
                }
            }
            let mut s = r.into_inner();
            if s
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Type: multipart/x-mixed-replace; boundary=frame\r\n\r\n")
                .await
                .is_err()
            {
                return;
            }
            let mut rx = tx.subscribe();
            while rx.changed().await.is_ok() {
                let Some(part) = rx.borrow_and_update().clone() else {
                    continue;
                };
                if s.write_all(&part).await.is_err() {
                    return;
                }
            }
        });
    }
}
