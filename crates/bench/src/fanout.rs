//! `bench-fanout`: one 640x480 15 fps camera fanned out to N MJPEG viewers,
//! through the hub and through a raw baseline (the same bytes written to N
//! sockets by a minimal server with nothing else), in the same run.
//!
//! Each frame carries a JPEG comment with its sequence number and send time,
//! so viewers measure delivery and added latency without decoding pictures.
//! Server CPU and RSS are read from `/proc/PID`. Results print as a Markdown
//! table with the hub/raw ratios.
#![allow(clippy::print_stdout)]

use std::io::Write as _;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use bench::{cpu_model, cpu_ticks, rss_kib};
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
    /// Seconds measured per point (after a warm-up of 2 s).
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    #[arg(long, default_value_t = 15)]
    fps: u32,
    /// Run as the raw baseline server on this port (internal).
    #[arg(long, hide = true)]
    raw_server: Option<u16>,
}

const USER: &str = "bench";
const PASSWORD: &str = "bench-password-123";
const COM_TAG: &[u8; 8] = b"BENCHSEQ";

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

/// Frames of the test pattern at 640x480, with a comment segment to fill in.
fn frames() -> Vec<Vec<u8>> {
    let p = testpattern::Pattern::new(640, 480);
    (0..30)
        .map(|i| {
            p.render_jpeg(
                testpattern::Stamp {
                    frame: i,
                    millis: u64::from(i) * 66,
                },
                90,
            )
        })
        .collect()
}

/// Insert `FFFE len "BENCHSEQ" seq(8) sent_ns(8)` after SOI.
fn stamp(jpeg: &[u8], seq: u64, sent_ns: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(jpeg.len() + 30);
    out.extend_from_slice(&jpeg[..2]);
    out.extend_from_slice(&[0xFF, 0xFE, 0, 26]);
    out.extend_from_slice(COM_TAG);
    out.extend_from_slice(&seq.to_be_bytes());
    out.extend_from_slice(&sent_ns.to_be_bytes());
    out.extend_from_slice(&jpeg[2..]);
    out
}

fn read_stamp(jpeg: &[u8]) -> Option<(u64, u64)> {
    if jpeg.len() < 30 || jpeg[2..4] != [0xFF, 0xFE] || &jpeg[6..14] != COM_TAG {
        return None;
    }
    let seq = u64::from_be_bytes(jpeg[14..22].try_into().ok()?);
    let ns = u64::from_be_bytes(jpeg[22..30].try_into().ok()?);
    Some((seq, ns))
}

/// Nanoseconds since the first call. The pusher and every viewer live in
/// this process, so one monotonic origin serves both ends.
fn mono_ns() -> u64 {
    static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    START.get_or_init(Instant::now).elapsed().as_nanos() as u64
}

#[derive(Clone, Copy)]
enum Target {
    Hub { port: u16 },
    Raw { port: u16 },
}

struct Proc {
    child: std::process::Child,
}
impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn run(args: Args) -> anyhow::Result<()> {
    let hub_bin = testkit::process::bin_path("hub");
    let me = std::env::current_exe()?;
    let dir = tempfile_dir()?;
    let frames: Arc<Vec<Vec<u8>>> = Arc::new(frames());
    let avg = frames.iter().map(Vec::len).sum::<usize>() / frames.len();
    println!(
        "# fan-out: one 640x480 camera at {} fps, {} KB average JPEG, {} s per point",
        args.fps,
        avg / 1000,
        args.seconds
    );
    println!(
        "machine: {} cores, {}",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1),
        cpu_model()
    );
    println!();
    println!(
        "| viewers | server | CPU % of a core | RSS MB | frames/s per viewer | delivered % | p50 ms | p99 ms | CPU vs raw |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");

    for &n in &args.viewers {
        let mut raw_cpu = None;
        for which in ["raw", "hub"] {
            let port = testkit::process::free_port();
            let (proc_, target) = if which == "hub" {
                (start_hub(&hub_bin, &dir, port)?, Target::Hub { port })
            } else {
                let child = Command::new(&me)
                    .args(["--raw-server", &port.to_string()])
                    .stdout(Stdio::null())
                    .spawn()?;
                (Proc { child }, Target::Raw { port })
            };
            testkit::process::wait_for_tcp(([127, 0, 0, 1], port).into(), Duration::from_secs(20))?;
            let r = measure(
                target,
                &dir,
                n,
                args.fps,
                args.seconds,
                frames.clone(),
                proc_.child.id(),
            )
            .await?;
            let ratio = match (which, raw_cpu) {
                ("raw", _) => {
                    raw_cpu = Some(r.cpu_pct);
                    "1.00".to_owned()
                }
                (_, Some(base)) if base > 0.0 => format!("{:.2}", r.cpu_pct / base),
                _ => "-".to_owned(),
            };
            println!(
                "| {n} | {which} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} | {ratio} |",
                r.cpu_pct, r.rss_mb, r.fps_per_viewer, r.delivered_pct, r.p50_ms, r.p99_ms
            );
            drop(proc_);
        }
    }
    Ok(())
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
            "listen = \"127.0.0.1:{port}\"\ndata_dir = {:?}\nmax_frame_size = \"2MiB\"\n[[camera]]\nid = 1\nname = \"cam\"\nkind = \"agent\"\n",
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
    Ok(Proc { child })
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
}

async fn measure(
    target: Target,
    dir: &std::path::Path,
    n: usize,
    fps: u32,
    seconds: u64,
    frames: Arc<Vec<Vec<u8>>>,
    pid: u32,
) -> anyhow::Result<Result_> {
    let port = match target {
        Target::Hub { port } | Target::Raw { port } => port,
    };
    let recording = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let latencies = Arc::new(std::sync::Mutex::new(Vec::<u32>::with_capacity(
        n * 16 * seconds as usize,
    )));
    let received = Arc::new(AtomicU64::new(0));
    let mut viewers = Vec::new();
    for _ in 0..n {
        let (rec, lat, got) = (recording.clone(), latencies.clone(), received.clone());
        viewers.push(tokio::spawn(async move {
            let _ = viewer(target, rec, lat, got).await;
        }));
    }
    // Pusher.
    let sent = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let pusher = {
        let (sent, stop, frames) = (sent.clone(), stop.clone(), frames.clone());
        let token = match target {
            Target::Hub { port } => hub_token(dir, port)?,
            Target::Raw { .. } => String::new(),
        };
        tokio::spawn(async move { pusher(target, token, fps, frames, sent, stop).await })
    };
    tokio::time::sleep(Duration::from_secs(2)).await;
    let cpu0 = cpu_ticks(pid)?;
    let sent0 = sent.load(Ordering::Relaxed);
    let t0 = Instant::now();
    recording.store(true, Ordering::Relaxed);
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    recording.store(false, Ordering::Relaxed);
    let elapsed = t0.elapsed().as_secs_f64();
    // Viewers hand over their last latencies when the next frame arrives
    // after recording stops: let a few more frames through first.
    let settle = tokio::time::sleep(Duration::from_millis(300));
    let cpu1 = cpu_ticks(pid)?;
    let rss = rss_kib(pid)? as f64 / 1024.0;
    let sent_n = sent.load(Ordering::Relaxed) - sent0;
    settle.await;
    stop.store(true, Ordering::Relaxed);
    let _ = pusher.await;
    for v in viewers {
        v.abort();
    }
    let got = received.load(Ordering::Relaxed) as f64;
    let mut lat = std::mem::take(&mut *latencies.lock().unwrap_or_else(|e| e.into_inner()));
    lat.sort_unstable();
    let pct = |p: f64| -> f64 {
        if lat.is_empty() {
            return f64::NAN;
        }
        lat[((lat.len() - 1) as f64 * p) as usize] as f64 / 1000.0
    };
    let _ = port;
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
    })
}

async fn pusher(
    target: Target,
    token: String,
    fps: u32,
    frames: Arc<Vec<Vec<u8>>>,
    sent: Arc<AtomicU64>,
    stop: Arc<std::sync::atomic::AtomicBool>,
) -> anyhow::Result<()> {
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / f64::from(fps)));
    let mut seq = 0u64;
    match target {
        Target::Hub { port } => {
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
        Target::Raw { port } => {
            let mut s = TcpStream::connect(("127.0.0.1", port)).await?;
            s.write_all(b"PUSH\r\n").await?;
            while !stop.load(Ordering::Relaxed) {
                tick.tick().await;
                let jpeg = stamp(&frames[seq as usize % frames.len()], seq, mono_ns());
                s.write_all(&(jpeg.len() as u32).to_le_bytes()).await?;
                s.write_all(&jpeg).await?;
                seq += 1;
                sent.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
    Ok(())
}

/// One MJPEG viewer: undo chunked transfer coding if the server used it,
/// split parts by their Content-Length, record each frame's latency.
async fn viewer(
    target: Target,
    recording: Arc<std::sync::atomic::AtomicBool>,
    lat: Arc<std::sync::Mutex<Vec<u32>>>,
    got: Arc<AtomicU64>,
) -> anyhow::Result<()> {
    let port = match target {
        Target::Hub { port } | Target::Raw { port } => port,
    };
    let s = TcpStream::connect(("127.0.0.1", port)).await?;
    let mut r = BufReader::with_capacity(64 * 1024, s);
    let auth = {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASSWORD}"))
    };
    r.get_mut()
        .write_all(
            format!("GET /api/v1/cameras/cam/stream HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Basic {auth}\r\n\r\n")
                .as_bytes(),
        )
        .await?;
    // Response head.
    let mut line = String::new();
    let mut chunked = false;
    loop {
        line.clear();
        if r.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        if line
            .to_ascii_lowercase()
            .starts_with("transfer-encoding: chunked")
        {
            chunked = true;
        }
        if line == "\r\n" {
            break;
        }
    }
    let mut acc = BytesMut::with_capacity(128 * 1024);
    let mut local = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        // Append the next piece of body bytes to `acc`.
        if chunked {
            line.clear();
            if r.read_line(&mut line).await? == 0 {
                return Ok(());
            }
            let size = usize::from_str_radix(line.trim_end(), 16).context("chunk size")?;
            if size == 0 {
                return Ok(());
            }
            let start = acc.len();
            acc.resize(start + size, 0);
            r.read_exact(&mut acc[start..]).await?;
            let mut crlf = [0u8; 2];
            r.read_exact(&mut crlf).await?;
        } else {
            let n = r.read(&mut buf).await?;
            if n == 0 {
                return Ok(());
            }
            acc.extend_from_slice(&buf[..n]);
        }
        // Take every complete part.
        while let Some(body) = take_part(&mut acc) {
            let now = mono_ns();
            if recording.load(Ordering::Relaxed)
                && let Some((_, sent)) = read_stamp(&body)
            {
                got.fetch_add(1, Ordering::Relaxed);
                local.push(((now.saturating_sub(sent)) / 1000).min(u64::from(u32::MAX)) as u32);
            }
            if local.len() >= 64 || (!local.is_empty() && !recording.load(Ordering::Relaxed)) {
                lat.lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .append(&mut local);
            }
        }
    }
}

/// Split one `--boundary / headers / body` part off the front of `acc`.
fn take_part(acc: &mut BytesMut) -> Option<Bytes> {
    let head_end = acc.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&acc[..head_end]).ok()?;
    let len: usize = head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.eq_ignore_ascii_case("content-length")
            .then(|| v.trim().parse().ok())?
    })?;
    let total = head_end + 4 + len + 2;
    if acc.len() < total {
        return None;
    }
    let mut part = acc.split_to(total);
    let _ = part.split_to(head_end + 4);
    part.truncate(len);
    Some(part.freeze())
}

/// The raw baseline: one pusher connection (`PUSH\r\n` then `u32 len` +
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
            if first.starts_with("PUSH") {
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
