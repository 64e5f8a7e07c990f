//! `bench-rtsp`: the hub bridging N RTSP cameras versus one
//! `ffmpeg -rtsp_transport tcp -i rtsp://… -c copy -f hls …` process per
//! camera (what the seed HLS server ran), measured the same way: CPU from
//! `/proc/PID/stat` (summed over the ffmpeg processes) over a window after a
//! warm-up, RSS from `/proc/PID/status`. The cameras are the project's
//! GStreamer RTSP test server (`scripts/rtsp-test-server.py`, H.264 + AAC,
//! 640x360 15 fps) on loopback. Also measures what a JPEG snapshot costs:
//! one H.264 key frame decoded with openh264 and encoded as JPEG, in process.
//!
//! Prints Markdown tables with the hub/ffmpeg ratios.
//! Run: `cargo build --release -p hub -p bench && target/release/bench-rtsp`.
#![allow(clippy::print_stdout)]

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use bench::{cpu_ticks, rss_kib};
use clap::Parser;

#[derive(Debug, Parser)]
struct Args {
    /// Camera counts to measure.
    #[arg(long, value_delimiter = ',', default_value = "1,4")]
    cameras: Vec<usize>,
    /// Seconds measured per point (after a warm-up of 5 s).
    #[arg(long, default_value_t = 20)]
    seconds: u64,
    /// The ffmpeg binary for the baseline.
    #[arg(long, default_value = "ffmpeg")]
    ffmpeg: String,
}

const USER: &str = "tapo";
const PASSWORD: &str = "bench-pw-123";
const PYTHON: &str = "/usr/bin/python3";

struct Proc(Child);
impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Start the RTSP test server; returns it and its port.
fn rtsp_server() -> anyhow::Result<(Proc, u16)> {
    use std::io::BufRead;
    let script = testkit::process::workspace_root().join("scripts/rtsp-test-server.py");
    let mut child = Command::new(PYTHON)
        .arg(script)
        .args([
            "--port",
            "0",
            "--auth",
            "digest",
            "--user",
            USER,
            "--password",
            PASSWORD,
        ])
        .args([
            "--width", "640", "--height", "360", "--fps", "15", "--gop", "30",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .context("starting scripts/rtsp-test-server.py (needs python3-gi and GStreamer)")?;
    let out = child.stdout.take().context("stdout")?;
    let proc_ = Proc(child);
    let mut line = String::new();
    std::io::BufReader::new(out).read_line(&mut line)?;
    let port = line
        .trim()
        .strip_prefix("READY rtsp://127.0.0.1:")
        .and_then(|p| p.parse().ok())
        .with_context(|| format!("unexpected server output {line:?}"))?;
    Ok((proc_, port))
}

/// Start the hub with `n` RTSP cameras on `rtsp_port`; returns it once it listens.
fn start_hub(
    dir: &Path,
    n: usize,
    rtsp_port: u16,
    snapshot_interval: &str,
) -> anyhow::Result<Proc> {
    use std::os::unix::fs::PermissionsExt;
    let port = testkit::process::free_port();
    let data = dir.join(format!("hub-{port}"));
    let pw = dir.join("camera.password");
    std::fs::write(&pw, PASSWORD)?;
    std::fs::set_permissions(&pw, std::fs::Permissions::from_mode(0o600))?;
    let mut cfg = format!(
        "listen = \"127.0.0.1:{port}\"\ndata_dir = {:?}\n",
        data.display().to_string()
    );
    for i in 1..=n {
        cfg.push_str(&format!(
            "[[camera]]\nid = {i}\nname = \"cam{i}\"\nkind = \"rtsp\"\nhost = \"127.0.0.1\"\nport = {rtsp_port}\nusername = \"{USER}\"\npassword_file = {:?}\npath = \"stream1\"\nsnapshot_interval = \"{snapshot_interval}\"\n",
            pw.display().to_string()
        ));
    }
    let file = dir.join(format!("hub-{port}.toml"));
    std::fs::write(&file, cfg)?;
    let child = Command::new(testkit::process::bin_path("hub"))
        .arg("--config")
        .arg(&file)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    let p = Proc(child);
    testkit::process::wait_for_tcp(([127, 0, 0, 1], port).into(), Duration::from_secs(20))?;
    Ok(p)
}

/// One ffmpeg per camera, writing a sliding HLS playlist like the seed's.
fn start_ffmpegs(bin: &str, dir: &Path, n: usize, rtsp_port: u16) -> anyhow::Result<Vec<Proc>> {
    let mut v = Vec::new();
    for i in 1..=n {
        let out = dir.join(format!("ffmpeg-{i}"));
        std::fs::create_dir_all(&out)?;
        let child = Command::new(bin)
            .args([
                "-nostdin",
                "-loglevel",
                "error",
                "-rtsp_transport",
                "tcp",
                "-i",
            ])
            .arg(format!(
                "rtsp://{USER}:{PASSWORD}@127.0.0.1:{rtsp_port}/stream1"
            ))
            .args([
                "-c",
                "copy",
                "-f",
                "hls",
                "-hls_time",
                "2",
                "-hls_list_size",
                "6",
            ])
            .args(["-hls_flags", "delete_segments"])
            .arg(out.join("stream.m3u8"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("starting {bin}"))?;
        v.push(Proc(child));
    }
    Ok(v)
}

struct Measured {
    cpu_pct: f64,
    rss_mb: f64,
}

fn measure(pids: &[u32], seconds: u64) -> anyhow::Result<Measured> {
    std::thread::sleep(Duration::from_secs(5));
    let c0: u64 = pids
        .iter()
        .map(|p| cpu_ticks(*p))
        .sum::<anyhow::Result<u64>>()?;
    let t0 = Instant::now();
    std::thread::sleep(Duration::from_secs(seconds));
    let c1: u64 = pids
        .iter()
        .map(|p| cpu_ticks(*p))
        .sum::<anyhow::Result<u64>>()?;
    let secs = t0.elapsed().as_secs_f64();
    let rss: u64 = pids
        .iter()
        .map(|p| rss_kib(*p))
        .sum::<anyhow::Result<u64>>()?;
    Ok(Measured {
        cpu_pct: (c1 - c0) as f64 / bench::TICKS_PER_SEC / secs * 100.0,
        rss_mb: rss as f64 / 1024.0,
    })
}

/// Milliseconds to decode one 640x360 key frame and encode it as JPEG.
fn snapshot_cost_ms() -> anyhow::Result<(f64, usize)> {
    let p = testpattern::Pattern::new(640, 360);
    let mut enc =
        hub::video::encoder::H264Encoder::new(640, 360, 15, 30).map_err(anyhow::Error::msg)?;
    let e = enc
        .encode_i420(
            p.render(testpattern::Stamp::default()).to_i420(),
            media::Time90k(0),
        )
        .map_err(anyhow::Error::msg)?
        .context("no frame")?;
    let track = e.new_track.context("no track")?;
    let mut jpeg_len = 0;
    let runs = 50;
    let t0 = Instant::now();
    for _ in 0..runs {
        jpeg_len = hub::video::snapshot::key_frame_to_jpeg(&track, &e.frame.data)
            .map_err(anyhow::Error::msg)?
            .len();
    }
    Ok((
        t0.elapsed().as_secs_f64() * 1000.0 / f64::from(runs),
        jpeg_len,
    ))
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if Command::new(&args.ffmpeg).arg("-version").output().is_err() {
        bail!("{} not found (apt-get install ffmpeg)", args.ffmpeg);
    }
    let dir: PathBuf = std::env::temp_dir().join(format!("bench-rtsp-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let (_server, rtsp_port) = rtsp_server()?;
    println!(
        "# RTSP bridging: hub vs one ffmpeg -c copy -f hls per camera (640x360 15 fps H.264 + AAC, loopback, {} s per point)",
        args.seconds
    );
    println!();
    println!(
        "| cameras | bridge | CPU % of a core | RSS MB | CPU % per camera | RSS MB per camera | CPU vs ffmpeg | RSS vs ffmpeg |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for &n in &args.cameras {
        let ff = {
            let procs = start_ffmpegs(&args.ffmpeg, &dir, n, rtsp_port)?;
            let pids: Vec<u32> = procs.iter().map(|p| p.0.id()).collect();
            measure(&pids, args.seconds)?
        };
        let hub = {
            let p = start_hub(&dir, n, rtsp_port, "1s")?;
            measure(&[p.0.id()], args.seconds)?
        };
        let nf = n as f64;
        for (name, m) in [("ffmpeg", &ff), ("hub", &hub)] {
            println!(
                "| {n} | {name} | {:.1} | {:.1} | {:.2} | {:.1} | {:.2} | {:.2} |",
                m.cpu_pct,
                m.rss_mb,
                m.cpu_pct / nf,
                m.rss_mb / nf,
                m.cpu_pct / ff.cpu_pct.max(0.01),
                m.rss_mb / ff.rss_mb.max(0.01),
            );
        }
        let _ = std::io::stdout().flush();
    }
    // The snapshot decoder's share: one camera with snapshots every second vs every hour.
    let with = {
        let p = start_hub(&dir, 1, rtsp_port, "1s")?;
        measure(&[p.0.id()], args.seconds)?
    };
    let without = {
        let p = start_hub(&dir, 1, rtsp_port, "1h")?;
        measure(&[p.0.id()], args.seconds)?
    };
    let (ms, jpeg_len) = snapshot_cost_ms()?;
    println!();
    println!("| JPEG snapshots (1 camera) | hub CPU % of a core |");
    println!("|---|---|");
    println!("| snapshot_interval = 1s | {:.2} |", with.cpu_pct);
    println!("| snapshot_interval = 1h | {:.2} |", without.cpu_pct);
    println!(
        "| one 640x360 key frame -> JPEG (openh264 decode + jpeg-encoder, in process) | {ms:.1} ms, {} KB |",
        jpeg_len / 1000
    );
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
