//! `bench-rtsp`: the hub bridging and recording N RTSP cameras versus one
//! `ffmpeg -rtsp_transport tcp -i rtsp://… -c copy -f hls …` process per
//! camera (what the seed HLS server ran), measured the same way: CPU from
//! `/proc/PID/stat` (summed over the ffmpeg processes) over a window after a
//! warm-up, RSS from `/proc/PID/status`, bytes written from `/proc/PID/io`.
//! The cameras are the project's GStreamer RTSP test server
//! (`scripts/rtsp-test-server.py`, H.264 + AAC, size and bit rate from the
//! arguments) on loopback; its media is shared, so one encoder feeds every
//! session and the camera's cost does not grow with N.
//!
//! Write amplification, two ways: bytes written to storage (`write_bytes`)
//! per byte read from the cameras (`rchar`: RTP payload plus RTSP framing
//! and audio; ffmpeg's `recvfrom` and `rtsp-floor`'s `recv` are not counted there, so
//! their input is taken as the hub's from the same shared stream, and is unknown ("-") in a run
//! without the hub), over the same window; and for the hub, its
//! whole-life `write_bytes` over the `mdat` payload of the recordings it
//! wrote (database included), i.e. per media byte.
//!
//! The hub runs with its default settings, so it makes JPEG pictures only while someone
//! looks: `hub` has no viewer, `hub+viewer` one MJPEG viewer per camera (a grid of every
//! camera open); `--hub-before` measures an earlier binary the same way. Also measures
//! what a JPEG snapshot costs: one H.264 key frame decoded with openh264 and encoded as
//! JPEG, in process. Prints one row per run and
//! appends it to `--json`.
//! Run: `cargo build --release -p hub -p bench && target/release/bench-rtsp`.
#![allow(clippy::print_stdout)]

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use bench::{Proc, cpu_ticks, read_chars, rss_kib, write_bytes};
use clap::Parser;

#[derive(Debug, Parser)]
struct Args {
    /// Camera counts to measure.
    #[arg(long, value_delimiter = ',', default_value = "1,8,32")]
    cameras: Vec<usize>,
    /// Seconds measured per point (after a warm-up of 5 s).
    #[arg(long, default_value_t = 20)]
    seconds: u64,
    /// The ffmpeg binary for the baseline.
    #[arg(long, default_value = "ffmpeg")]
    ffmpeg: String,
    #[arg(long, default_value_t = 1920)]
    width: u32,
    #[arg(long, default_value_t = 1080)]
    height: u32,
    /// The camera's H.264 bit rate in kbit/s.
    #[arg(long, default_value_t = 4000)]
    kbps: u32,
    /// Runs per point (bridges interleaved); the report takes medians.
    #[arg(long, default_value_t = 1)]
    repeats: usize,
    /// Append one JSON line per measured run to this file.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Skip the snapshot-cost comparison.
    #[arg(long)]
    no_snapshot: bool,
    /// Bridges measured per point, in this order: `ffmpeg`; `hub` (default settings,
    /// nobody looking at a JPEG view); `hub+viewer` (one MJPEG viewer per camera, i.e. a
    /// grid of every camera open); `before`, `before+snapshots` (the `--hub-before`
    /// binary with `snapshot_interval = "1h"` and with the default "1s"); `floor`,
    /// `floor+sha256`, `floor+epoll`, `floor+epoll+sha256` (`rtsp-floor`: the raw limit
    /// of a recorder, every byte read from the cameras appended to a file, without and
    /// with SHA-256, from a thread per camera or from one `epoll` thread).
    #[arg(long, value_delimiter = ',', default_value = "ffmpeg,hub,hub+viewer")]
    bridges: Vec<String>,
    /// An earlier hub binary for the `before` bridges.
    #[arg(long)]
    hub_before: Option<PathBuf>,
    /// Only the motion comparison: one camera with the hub's motion detection on its
    /// sub-stream (`stream2`) vs without, vs `ffmpeg` decoding the same sub-stream.
    #[arg(long)]
    motion_only: bool,
}

const USER: &str = "tapo";
const PASSWORD: &str = "bench-pw-123";
const PYTHON: &str = "/usr/bin/python3";

/// Start the RTSP test server; returns it and its port.
fn rtsp_server(a: &Args, auth: &str) -> anyhow::Result<(Proc, u16)> {
    use std::io::BufRead;
    let script = testkit::process::workspace_root().join("scripts/rtsp-test-server.py");
    let mut child = Command::new(PYTHON)
        .arg(script)
        .args([
            "--port",
            "0",
            "--auth",
            auth,
            "--user",
            USER,
            "--password",
            PASSWORD,
        ])
        .args(["--fps", "15", "--gop", "30", "--pattern", "moving"])
        .args([
            "--width",
            &a.width.to_string(),
            "--height",
            &a.height.to_string(),
        ])
        .args(["--kbps", &a.kbps.to_string()])
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
) -> anyhow::Result<(Proc, PathBuf)> {
    let bin = testkit::process::bin_path("hub");
    start_hub_with(&bin, dir, n, rtsp_port, snapshot_interval, "").map(|(p, d, _)| (p, d))
}

/// [`start_hub`] of binary `bin` with `extra` keys for every camera; also returns the
/// port it listens on (anonymous viewing is on, for the bench's viewers).
fn start_hub_with(
    bin: &Path,
    dir: &Path,
    n: usize,
    rtsp_port: u16,
    snapshot_interval: &str,
    extra: &str,
) -> anyhow::Result<(Proc, PathBuf, u16)> {
    use std::os::unix::fs::PermissionsExt;
    let port = testkit::process::free_port();
    let data = dir.join(format!("hub-{port}"));
    let pw = dir.join("camera.password");
    std::fs::write(&pw, PASSWORD)?;
    std::fs::set_permissions(&pw, std::fs::Permissions::from_mode(0o600))?;
    let mut cfg = format!(
        "listen = \"127.0.0.1:{port}\"\nallow_anonymous_viewing = true\ndata_dir = {:?}\n",
        data.display().to_string()
    );
    for i in 1..=n {
        cfg.push_str(&format!(
            "[[camera]]\nid = {i}\nname = \"cam{i}\"\nkind = \"rtsp\"\nhost = \"127.0.0.1\"\nport = {rtsp_port}\nusername = \"{USER}\"\npassword_file = {:?}\npath = \"stream1\"\nsnapshot_interval = \"{snapshot_interval}\"\n{extra}",
            pw.display().to_string()
        ));
    }
    let file = dir.join(format!("hub-{port}.toml"));
    std::fs::write(&file, cfg)?;
    let child = Command::new(bin)
        .arg("--config")
        .arg(&file)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    let p = Proc(child);
    testkit::process::wait_for_tcp(([127, 0, 0, 1], port).into(), Duration::from_secs(20))?;
    Ok((p, data, port))
}

/// One MJPEG viewer per camera (`cam1`..`camN`) on the hub at `port`: a thread each
/// that reads the stream and throws the bytes away. Stopped when dropped.
struct Viewers {
    socks: Vec<std::net::TcpStream>,
    threads: Vec<std::thread::JoinHandle<u64>>,
}

impl Viewers {
    fn start(port: u16, n: usize) -> anyhow::Result<Viewers> {
        use std::io::Read as _;
        let mut v = Viewers {
            socks: Vec::new(),
            threads: Vec::new(),
        };
        for i in 1..=n {
            let mut s = std::net::TcpStream::connect(("127.0.0.1", port))?;
            write!(
                s,
                "GET /api/v1/cameras/cam{i}/stream HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
            )?;
            v.socks.push(s.try_clone()?);
            v.threads.push(std::thread::spawn(move || {
                let mut buf = vec![0u8; 64 * 1024];
                let mut total = 0u64;
                while let Ok(k) = s.read(&mut buf) {
                    if k == 0 {
                        break;
                    }
                    total += k as u64;
                }
                total
            }));
        }
        Ok(v)
    }

    /// Stops them; the bytes each received.
    fn stop(mut self) -> Vec<u64> {
        for s in &self.socks {
            let _ = s.shutdown(std::net::Shutdown::Both);
        }
        std::mem::take(&mut self.threads)
            .into_iter()
            .map(|t| t.join().unwrap_or(0))
            .collect()
    }
}

impl Drop for Viewers {
    fn drop(&mut self) {
        for s in &self.socks {
            let _ = s.shutdown(std::net::Shutdown::Both);
        }
    }
}

/// `ffmpeg` reading the stand-in's `path` over RTSP/TCP (its outputs to be added).
fn ffmpeg_reading(bin: &str, rtsp_port: u16, path: &str) -> Command {
    let mut c = Command::new(bin);
    c.args([
        "-nostdin",
        "-loglevel",
        "error",
        "-rtsp_transport",
        "tcp",
        "-i",
    ])
    .arg(format!(
        "rtsp://{USER}:{PASSWORD}@127.0.0.1:{rtsp_port}/{path}"
    ))
    .stdout(Stdio::null())
    .stderr(Stdio::null());
    c
}

/// One ffmpeg per camera, writing a sliding HLS playlist like the seed's.
fn start_ffmpegs(bin: &str, dir: &Path, n: usize, rtsp_port: u16) -> anyhow::Result<Vec<Proc>> {
    let mut v = Vec::new();
    for i in 1..=n {
        let out = dir.join("ffmpeg").join(i.to_string());
        std::fs::create_dir_all(&out)?;
        let child = ffmpeg_reading(bin, rtsp_port, "stream1")
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
            .spawn()
            .with_context(|| format!("starting {bin}"))?;
        v.push(Proc(child));
    }
    Ok(v)
}

struct Measured {
    cpu_pct: f64,
    rss_mb: f64,
    /// Bytes written to storage during the window, per second.
    write_bps: f64,
    /// Bytes read (`rchar`: the camera sockets, RTSP framing included),
    /// per second.
    read_bps: f64,
}

fn measure(pids: &[u32], seconds: u64) -> anyhow::Result<Measured> {
    std::thread::sleep(Duration::from_secs(5));
    let sum = |f: fn(u32) -> anyhow::Result<u64>| -> anyhow::Result<u64> {
        pids.iter().map(|p| f(*p)).sum::<anyhow::Result<u64>>()
    };
    let (c0, w0, r0) = (sum(cpu_ticks)?, sum(write_bytes)?, sum(read_chars)?);
    let t0 = Instant::now();
    std::thread::sleep(Duration::from_secs(seconds));
    let (c1, w1, r1) = (sum(cpu_ticks)?, sum(write_bytes)?, sum(read_chars)?);
    let secs = t0.elapsed().as_secs_f64();
    Ok(Measured {
        cpu_pct: (c1 - c0) as f64 / bench::TICKS_PER_SEC / secs * 100.0,
        rss_mb: sum(rss_kib)? as f64 / 1024.0,
        write_bps: (w1 - w0) as f64 / secs,
        read_bps: (r1 - r0) as f64 / secs,
    })
}

/// The `rtsp-floor` flags of a bridge named `floor[+sha256][+epoll]`, or `None` for
/// any other name.
fn floor_flags(name: &str) -> Option<Vec<&'static str>> {
    let mut parts = name.split('+');
    if parts.next() != Some("floor") {
        return None;
    }
    parts
        .map(|f| match f {
            "sha256" => Some("--sha256"),
            "epoll" => Some("--epoll"),
            _ => None,
        })
        .collect()
}

/// Measures `rtsp-floor` (bridge `floor[+sha256][+epoll]`) at `n` cameras, with a fresh
/// camera server (no authentication) for each attempt; an attempt whose server or floor
/// died is made again, up to [`MAX_ATTEMPTS`] times.
fn floor(
    args: &Args,
    name: &str,
    flags: &[&str],
    n: usize,
    dir: &Path,
    gen_ticks: &mut u64,
    gen_secs: &mut f64,
) -> anyhow::Result<Measured> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let (mut server, rtsp_port) = rtsp_server(args, "none")?;
        let g0 = (cpu_ticks(server.pid())?, Instant::now());
        let out = dir.join("floor");
        let mut c = Command::new(testkit::process::bin_path("rtsp-floor"));
        c.arg(rtsp_port.to_string())
            .arg(n.to_string())
            .arg(&out)
            .args(flags)
            .stdout(Stdio::null());
        let mut p = Proc(c.spawn().context("starting rtsp-floor")?);
        let m = measure(&[p.pid()], args.seconds);
        let died =
            matches!(p.0.try_wait(), Ok(Some(_))) || matches!(server.0.try_wait(), Ok(Some(_)));
        *gen_ticks += cpu_ticks(server.pid()).unwrap_or(g0.0) - g0.0;
        *gen_secs += g0.1.elapsed().as_secs_f64();
        drop(p);
        let _ = std::fs::remove_dir_all(&out);
        match m {
            Ok(m) if !died => return Ok(m),
            Err(e) if attempt == MAX_ATTEMPTS => return Err(e),
            Ok(_) if attempt == MAX_ATTEMPTS => bail!("{name} at {n} cameras: no full run"),
            _ => eprintln!(
                "warning: {name} at {n} cameras: the camera server or the floor died; measuring again"
            ),
        }
    }
}

/// Sum of the `mdat` payload bytes of every MP4 file under `dir` (the media
/// the recorder wrote), counting a box still being written as far as it goes.
fn mdat_bytes(dir: &Path) -> u64 {
    let mut total = 0;
    let Ok(rd) = std::fs::read_dir(dir) else {
        return 0;
    };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            total += mdat_bytes(&p);
            continue;
        }
        let Ok(data) = std::fs::read(&p) else {
            continue;
        };
        let mut pos = 0usize;
        while pos + 8 <= data.len() {
            let size32 = u32::from_be_bytes(data[pos..pos + 4].try_into().unwrap_or_default());
            let kind = &data[pos + 4..pos + 8];
            let (head, size) = match size32 {
                0 => (8, data.len() - pos),
                1 if pos + 16 <= data.len() => (
                    16,
                    u64::from_be_bytes(data[pos + 8..pos + 16].try_into().unwrap_or_default())
                        as usize,
                ),
                n => (8, n as usize),
            };
            if size < head {
                break;
            }
            let end = (pos + size).min(data.len());
            if kind == b"mdat" {
                total += end.saturating_sub(pos + head) as u64;
            }
            pos += size;
        }
    }
    total
}

/// Milliseconds to decode one 640x360 key frame and encode it as JPEG.
fn snapshot_cost_ms() -> anyhow::Result<(f64, usize)> {
    let p = testpattern::Pattern::new(640, 360);
    let mut enc = codec::H264Encoder::new(codec::EncoderSettings {
        width: 640,
        height: 360,
        fps: 15,
        bitrate_bps: 640 * 360 * 15 / 4,
        gop: 30,
    })?;
    let e = enc
        .encode_frame(
            &p.render(testpattern::Stamp::default()).to_i420(),
            media::Time90k(0),
        )?
        .context("no frame")?;
    let track = e.new_track.context("no track")?;
    let mut jpeg_len = 0;
    let runs = 50;
    let t0 = Instant::now();
    for _ in 0..runs {
        jpeg_len = hub::sources::snapshot::key_frame_to_jpeg(&track, &e.frame.data)
            .map_err(anyhow::Error::msg)?
            .len();
    }
    Ok((
        t0.elapsed().as_secs_f64() * 1000.0 / f64::from(runs),
        jpeg_len,
    ))
}

/// The hub's motion detection on one camera's sub-stream: hub CPU with and without it,
/// and `ffmpeg` decoding the same sub-stream (`-f null`), each over `seconds`, the three
/// interleaved in every one of `repeats` rounds (so a busy machine weighs on all alike);
/// medians of the rounds.
fn motion_cost(args: &Args, dir: &Path) -> anyhow::Result<()> {
    let (_server, rtsp_port) = rtsp_server(args, "digest")?;
    let motion = "motion_path = \"stream2\"\n[camera.motion]\n";
    let (mut with, mut without, mut ffmpeg) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..args.repeats.max(1) {
        let w = {
            let bin = testkit::process::bin_path("hub");
            let (p, _, _) = start_hub_with(&bin, dir, 1, rtsp_port, "1h", motion)?;
            measure(&[p.pid()], args.seconds)?.cpu_pct
        };
        let wo = {
            let (p, _) = start_hub(dir, 1, rtsp_port, "1h")?;
            measure(&[p.pid()], args.seconds)?.cpu_pct
        };
        let f = {
            let child = ffmpeg_reading(&args.ffmpeg, rtsp_port, "stream2")
                .args(["-an", "-f", "null", "-"])
                .spawn()?;
            let p = Proc(child);
            measure(&[p.pid()], args.seconds)?.cpu_pct
        };
        eprintln!(
            "round {}: hub with {w:.2} %, without {wo:.2} %, ffmpeg {f:.2} %",
            round + 1
        );
        bench::record(
            args.json.as_deref(),
            "rtsp-motion",
            &[("n", "1")],
            &[
                ("hub_with_cpu_pct", w),
                ("hub_without_cpu_pct", wo),
                ("ffmpeg_decode_cpu_pct", f),
            ],
        )?;
        with.push(w);
        without.push(wo);
        ffmpeg.push(f);
    }
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (with, without, ffmpeg) = (median(with), median(without), median(ffmpeg));
    let detection = with - without;
    println!();
    println!(
        "| motion on the sub-stream ({}x{} 15 fps, 1 camera; median of {} interleaved rounds of {} s) | CPU % of a core |",
        (args.width / 4) * 2,
        (args.height / 4) * 2,
        args.repeats.max(1),
        args.seconds
    );
    println!("|---|---|");
    println!("| hub with motion detection | {with:.2} |");
    println!("| hub without | {without:.2} |");
    println!("| the detection (difference) | {detection:.2} |");
    println!("| ffmpeg decoding the sub-stream (-f null) | {ffmpeg:.2} |");
    println!(
        "| detection / ffmpeg decode | {:.2}x |",
        detection / ffmpeg.max(0.01)
    );
    Ok(())
}

/// Runs of one point, at most, when the camera server fails (see `main`).
const MAX_ATTEMPTS: usize = 5;

/// What `n` cameras of `kbps` send, in bytes per second.
fn nf_bytes_per_sec(n: usize, kbps: u32) -> f64 {
    n as f64 * f64::from(kbps) * 1000.0 / 8.0
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    for b in &args.bridges {
        let known = matches!(
            b.as_str(),
            "ffmpeg" | "hub" | "hub+viewer" | "before" | "before+snapshots"
        ) || floor_flags(b).is_some();
        if !known {
            bail!("unknown bridge {b:?}");
        }
    }
    if Command::new(&args.ffmpeg).arg("-version").output().is_err() {
        bail!("{} not found (apt-get install ffmpeg)", args.ffmpeg);
    }
    let dir: PathBuf = std::env::temp_dir().join(format!("bench-rtsp-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    if args.motion_only {
        let r = motion_cost(&args, &dir);
        let _ = std::fs::remove_dir_all(&dir);
        return r;
    }
    println!(
        "# RTSP bridging + recording: hub vs one ffmpeg -c copy -f hls per camera ({}x{} 15 fps H.264 ~{} kbit/s + AAC, loopback, {} s per point, {} run(s))",
        args.width, args.height, args.kbps, args.seconds, args.repeats
    );
    println!();
    println!(
        "| cameras | bridge | run | CPU % of a core | RSS MB | CPU % per camera | RSS MB per camera | in Mbit/s per camera | written MB/s | written per byte in | written per media byte | camera server CPU % |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|");
    for &n in &args.cameras {
        for run in 0..args.repeats {
            // The bridges in the order given (ffmpeg makes no JPEGs; the hub makes
            // them only for its viewers).
            let mut rows: Vec<(&str, Measured, Option<f64>)> = Vec::new();
            let with_ffmpeg = args.bridges.iter().any(|b| b == "ffmpeg");
            // A fresh camera server for every bridge: after a few dozen
            // sessions were torn down, the GStreamer server stopped
            // answering new ones (32 cameras got no media).
            let mut gen_ticks = 0;
            let mut gen_secs = 0.0;
            if with_ffmpeg {
                let (server, rtsp_port) = rtsp_server(&args, "digest")?;
                let g0 = (cpu_ticks(server.pid())?, Instant::now());
                let procs = start_ffmpegs(&args.ffmpeg, &dir, n, rtsp_port)?;
                let pids: Vec<u32> = procs.iter().map(Proc::pid).collect();
                let m = measure(&pids, args.seconds)?;
                gen_ticks += cpu_ticks(server.pid())? - g0.0;
                gen_secs += g0.1.elapsed().as_secs_f64();
                drop(procs);
                let _ = std::fs::remove_dir_all(dir.join("ffmpeg"));
                rows.push(("ffmpeg", m, None));
            }
            for name in args.bridges.iter().filter(|b| *b != "ffmpeg") {
                if let Some(flags) = floor_flags(name) {
                    let m = floor(&args, name, &flags, n, &dir, &mut gen_ticks, &mut gen_secs)?;
                    rows.push((name.as_str(), m, None));
                    continue;
                }
                let (bin, snap, viewers) = match name.as_str() {
                    "hub" => (testkit::process::bin_path("hub"), "1s", false),
                    "hub+viewer" => (testkit::process::bin_path("hub"), "1s", true),
                    "before" | "before+snapshots" => (
                        args.hub_before
                            .clone()
                            .context("the before bridges need --hub-before")?,
                        if name == "before" { "1h" } else { "1s" },
                        false,
                    ),
                    other => bail!("unknown bridge {other:?}"),
                };
                // Now and then the GStreamer server aborts when many sessions PLAY at
                // once (`gst_rtsp_media_get_rates: assertion failed`, with this hub and
                // earlier ones alike): the hub then gets no media (0.0 % CPU). Such a run
                // is reported on stderr and measured again, with a fresh server.
                let expected_bps = nf_bytes_per_sec(n, args.kbps);
                let mut attempt = 0;
                let (m, wa) = loop {
                    attempt += 1;
                    let (mut server, rtsp_port) = rtsp_server(&args, "digest")?;
                    let g0 = (cpu_ticks(server.pid())?, Instant::now());
                    let (p, data, port) = start_hub_with(&bin, &dir, n, rtsp_port, snap, "")?;
                    let watching = if viewers {
                        Some(Viewers::start(port, n)?)
                    } else {
                        None
                    };
                    let m = measure(&[p.pid()], args.seconds)?;
                    if let Some(w) = watching {
                        let got = w.stop();
                        let blind = got.iter().filter(|b| **b < 10_000).count();
                        if blind > 0 {
                            eprintln!("warning: {blind} of {n} viewers got (almost) no pictures");
                        }
                    }
                    gen_ticks += cpu_ticks(server.pid())? - g0.0;
                    gen_secs += g0.1.elapsed().as_secs_f64();
                    // Whole life: bytes written to storage over the media
                    // payload of the recordings.
                    let written = write_bytes(p.pid())?;
                    drop(p);
                    let media = mdat_bytes(&data.join("recordings"));
                    let _ = std::fs::remove_dir_all(&data);
                    let aborted = matches!(server.0.try_wait(), Ok(Some(_)));
                    if (!aborted && m.read_bps >= expected_bps / 4.0) || attempt == MAX_ATTEMPTS {
                        break (m, written as f64 / media.max(1) as f64);
                    }
                    eprintln!(
                        "warning: {name} at {n} cameras read {:.0} B/s of about {expected_bps:.0}{}; \
                         measuring again",
                        m.read_bps,
                        if aborted {
                            " (the camera server aborted)"
                        } else {
                            ""
                        }
                    );
                };
                rows.push((name.as_str(), m, Some(wa)));
            }
            let gen_cpu = gen_ticks as f64 / bench::TICKS_PER_SEC / gen_secs * 100.0;
            let nf = n as f64;
            // ffmpeg and rtsp-floor receive with recvfrom and recv, which `rchar`
            // does not count: their input is the hub's, from the same shared stream.
            let hub_in = rows
                .iter()
                .find(|r| r.0 == "hub")
                .map_or(0.0, |r| r.1.read_bps);
            for (_, m, _) in rows.iter_mut() {
                if m.read_bps < hub_in / 2.0 {
                    m.read_bps = hub_in;
                }
            }
            // Without the hub in the run, the input of ffmpeg and rtsp-floor is unknown:
            // "-" (NaN in the JSON), not a ratio over zero.
            let shown = |v: f64, digits: usize| {
                if v.is_finite() {
                    format!("{v:.digits$}")
                } else {
                    "-".to_owned()
                }
            };
            for (name, m, file_wa) in &rows {
                let known_in = if m.read_bps > 0.0 {
                    m.read_bps
                } else {
                    f64::NAN
                };
                let per_in = m.write_bps / known_in;
                println!(
                    "| {n} | {name} | {run} | {:.1} | {:.1} | {:.2} | {:.1} | {} | {:.2} | {} | {} | {gen_cpu:.1} |",
                    m.cpu_pct,
                    m.rss_mb,
                    m.cpu_pct / nf,
                    m.rss_mb / nf,
                    shown(known_in * 8.0 / 1e6 / nf, 2),
                    m.write_bps / 1e6,
                    shown(per_in, 3),
                    shown(file_wa.unwrap_or(f64::NAN), 3),
                );
                bench::record(
                    args.json.as_deref(),
                    "rtsp",
                    &[("server", name), ("n", &n.to_string())],
                    &[
                        ("run", run as f64),
                        ("cpu_pct", m.cpu_pct),
                        ("rss_mb", m.rss_mb),
                        ("in_mbit_per_cam", known_in * 8.0 / 1e6 / nf),
                        ("write_mbps", m.write_bps / 1e6),
                        ("write_per_in", per_in),
                        ("write_amp", file_wa.unwrap_or(f64::NAN)),
                        ("camera_server_cpu_pct", gen_cpu),
                    ],
                )?;
            }
            let _ = std::io::stdout().flush();
        }
    }
    if args.no_snapshot {
        let _ = std::fs::remove_dir_all(&dir);
        return Ok(());
    }
    let (ms, jpeg_len) = snapshot_cost_ms()?;
    println!();
    println!("| JPEG snapshots | cost |");
    println!("|---|---|");
    println!(
        "| one 640x360 key frame -> JPEG (openh264 decode + jpeg-encoder, in process) | {ms:.1} ms, {} KB |",
        jpeg_len / 1000
    );
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
