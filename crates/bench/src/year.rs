//! `bench-year`: the hub after a week, a month and a year of footage. Synthesizes one-minute
//! segments of `--cameras` cameras (a year of 10 is over 5 million index rows) and
//! `--events-per-day` motion events per camera and day (each with a small JPEG thumbnail)
//! into a hub data directory, growing it backwards in time from a fixed end: 1 week, then
//! 1 month, then 1 year. The files are hard links to a few real one-minute fMP4 segments
//! (one per camera and 40 days: a link count stays under ext4's 65,000), so a year costs
//! directory entries, not disk. At each size it measures, against the release hub binary
//! as a process over HTTP:
//!
//! - the start-up (exec to "hub listening": the start-up check of the recordings and the
//!   event thumbnails) and the hub's RSS after it and after the queries;
//! - `/api/recordings` for one camera and day, `/api/recordings/days`, the timeline page's
//!   data requests for a day (its footage with the page's margin, the events of that
//!   range, the last 15 minutes), `/api/events` for one camera and day: median and
//!   slowest of `--queries` runs each;
//! - `hub check` (the whole check, every segment's media time) as a process;
//! - a retention pass (in-process, the hub's own code on the same directory, its clock an
//!   hour after the end: the oldest hour of every camera is due) and a pass with nothing
//!   due;
//! - an export of `--export-hours` of one camera over HTTP against `cat` of the same files
//!   read through a pipe, in the same run (files in the page cache for both), and the
//!   export's own path in-process (no socket) against `cat` again.
//!
//! The data lives in a temporary directory (`--dir`, default the system's), deleted at the
//! end. Prints a table per size and appends one JSON line per figure to `--json`.
//! Run: `cargo build --release -p hub -p bench && target/release/bench-year`.
#![allow(clippy::print_stdout)]

use std::io::Read as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, bail};
use clap::Parser;
use hub::db::Db;
use hub::recordings::Recordings;

#[derive(Debug, Parser)]
struct Args {
    /// Cameras, each recording one-minute segments around the clock.
    #[arg(long, default_value_t = 10)]
    cameras: usize,
    /// Sizes measured, in days of footage (growing; each adds to the previous).
    #[arg(long, value_delimiter = ',', default_value = "7,30,365")]
    days: Vec<i64>,
    /// Motion events per camera and day.
    #[arg(long, default_value_t = 24)]
    events_per_day: i64,
    /// Runs of each HTTP query (the median and the slowest are reported).
    #[arg(long, default_value_t = 20)]
    queries: usize,
    /// Hours of one camera's footage exported (against `cat` of the same files).
    #[arg(long, default_value_t = 3)]
    export_hours: i64,
    /// Where the temporary data directory is made (deleted at the end).
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Skip `hub check` (the whole check reads every segment's head).
    #[arg(long)]
    no_full_check: bool,
    /// Append one JSON line per figure to this file.
    #[arg(long)]
    json: Option<PathBuf>,
}

const USER: &str = "bench";
const PASSWORD: &str = "bench-password-1";
const MIN_MS: i64 = 60_000;
const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 86_400_000;
/// Days of footage sharing one template file (1,440 links a day stay under 65,000).
const DAYS_PER_TEMPLATE: i64 = 40;

/// A clock fixed at one instant (the retention pass's "now").
struct FixedClock(i64);

impl store::Clock for FixedClock {
    fn now_ms(&self) -> i64 {
        self.0
    }
}

fn camera_name(i: usize) -> String {
    format!("cam{:02}", i + 1)
}

/// One real one-minute segment (320x240, 15 fps, a key frame every 2 s), its bytes and
/// what the index says of it.
struct Template {
    bytes: Vec<u8>,
    sha256: String,
    codec: String,
    width: u32,
    height: u32,
    duration_ms: i64,
}

fn template() -> anyhow::Result<Template> {
    use testkit::h264;
    let (track, frames) = h264::encode(&h264::Spec::new(61 * h264::FPS as usize, 30));
    let seg = h264::segments_of(&track, &frames, 60)
        .into_iter()
        .next()
        .context("no segment")?;
    let bytes = seg.bytes();
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("t.mp4");
    std::fs::write(&path, &bytes)?;
    let (sha256, probe) = hub::recordings::hash_and_probe(&path)?;
    Ok(Template {
        sha256,
        codec: probe.codec_string.clone(),
        width: u32::from(probe.width),
        height: u32::from(probe.height),
        duration_ms: probe.recovery.duration.0 / 90,
        bytes,
    })
}

/// The synthesized data directory.
struct Data {
    root: PathBuf,
    cameras: Vec<String>,
    end_ms: i64,
    template: Template,
    thumbnail: Vec<u8>,
    events_per_day: i64,
}

impl Data {
    fn data_dir(&self) -> PathBuf {
        self.root.join("data")
    }

    fn camera_dir(&self, camera: &str) -> PathBuf {
        self.data_dir().join("recordings").join(camera)
    }

    /// The hub's configuration; `retention` is the `[retention]` table's body.
    fn config(&self, retention: &str) -> String {
        let mut body = format!(
            "data_dir = \"data\"\n[recordings]\nretention_interval = \"86400s\"\n\
             [retention]\n{retention}\n"
        );
        for (i, c) in self.cameras.iter().enumerate() {
            body += &format!(
                "[[camera]]\nid = {}\nname = \"{c}\"\nkind = \"agent\"\n",
                i + 1
            );
        }
        body
    }

    /// The template file segments starting at `ms` of `camera` link to (written on first
    /// use).
    fn template_for(&self, camera: &str, ms: i64) -> anyhow::Result<PathBuf> {
        let block = (self.end_ms - ms - 1).div_euclid(DAYS_PER_TEMPLATE * DAY_MS);
        let path = self
            .root
            .join("templates")
            .join(format!("{camera}-{block}.mp4"));
        if !path.exists() {
            std::fs::create_dir_all(path.parent().context("parent")?)?;
            std::fs::write(&path, &self.template.bytes)?;
        }
        Ok(path)
    }

    /// Links the segments of `camera` over `[from_ms, to_ms)` (one already there is left);
    /// their names and starts.
    fn link(&self, camera: &str, from_ms: i64, to_ms: i64) -> anyhow::Result<Vec<(String, i64)>> {
        let dir = self.camera_dir(camera);
        let mut names = Vec::new();
        let mut ms = from_ms;
        let mut link_from = self.template_for(camera, ms)?;
        while ms < to_ms {
            if ms % DAY_MS == 0 {
                link_from = self.template_for(camera, ms)?;
            }
            let name = store::segment_name(ms).context("segment name")?;
            match std::fs::hard_link(&link_from, dir.join(&name)) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(e).with_context(|| format!("linking {name}")),
            }
            names.push((name, ms));
            ms += MIN_MS;
        }
        Ok(names)
    }

    /// Adds the footage of `[from_ms, to_ms)` (whole minutes; a segment already there is
    /// left) and the events of `[from_ms, events_to_ms)` of every camera.
    fn add(&self, db: &Db, from_ms: i64, to_ms: i64, events_to_ms: i64) -> anyhow::Result<u64> {
        let t = &self.template;
        // The links of the cameras two at a time (the machine's cores; each its own
        // directory), then the rows.
        let mut linked: Vec<Vec<(String, i64)>> = Vec::new();
        for pair in self.cameras.chunks(2) {
            let done = std::thread::scope(|s| {
                let jobs: Vec<_> = pair
                    .iter()
                    .map(|camera| s.spawn(move || self.link(camera, from_ms, to_ms)))
                    .collect();
                jobs.into_iter()
                    .map(|j| {
                        j.join()
                            .unwrap_or_else(|_| Err(anyhow::anyhow!("linking panicked")))
                    })
                    .collect::<anyhow::Result<Vec<_>>>()
            })?;
            linked.extend(done);
        }
        let mut rows = 0u64;
        for (camera, names) in self.cameras.iter().zip(linked) {
            let now = self.end_ms;
            let thumb = self.thumbnail.clone();
            let per_day = self.events_per_day;
            let cam = camera.clone();
            rows += names.len() as u64;
            db.call_blocking(move |c| {
                let tx = c.transaction()?;
                {
                    let mut st = tx.prepare(
                        "INSERT OR IGNORE INTO recording (camera, file_name, start_ms, duration_ms,
                             size_bytes, sha256, codec, width, height, source, indexed_ms)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, 'recorder', ?10)",
                    )?;
                    for (name, ms) in &names {
                        st.execute(rusqlite::params![
                            cam,
                            name,
                            ms,
                            t.duration_ms,
                            t.bytes.len() as i64,
                            t.sha256,
                            t.codec,
                            t.width,
                            t.height,
                            now
                        ])?;
                    }
                    let mut ev = tx.prepare(
                        "INSERT INTO event (camera, kind, label, start_ms, end_ms, score,
                             origin, thumbnail, updated_ms)
                         VALUES (?1, 'motion', NULL, ?2, ?3, 0.5, 'hub', ?4, ?5)",
                    )?;
                    let step = DAY_MS / per_day.max(1);
                    let mut at = from_ms + step / 3;
                    while per_day > 0 && at < events_to_ms {
                        ev.execute(rusqlite::params![cam, at, at + 20_000, thumb, now])?;
                        at += step;
                    }
                }
                tx.commit()?;
                Ok(())
            })?;
        }
        Ok(rows)
    }

    /// Every camera's start-up media-time check has seen everything (as after a hub's
    /// previous start).
    fn mark_checked(&self) -> anyhow::Result<()> {
        for camera in &self.cameras {
            let dir =
                store::SegmentDir::open(self.camera_dir(camera), camera, store::SetUp::MustExist)?;
            dir.set_media_time_checked_through(self.end_ms)?;
        }
        Ok(())
    }
}

/// Median and maximum of `v`.
fn median_max(v: &mut [f64]) -> (f64, f64) {
    v.sort_by(f64::total_cmp);
    (v[v.len() / 2], v[v.len() - 1])
}

/// GETs `url` as the bench user; the body's length.
async fn get_len(client: &reqwest::Client, url: &str) -> anyhow::Result<u64> {
    let mut resp = client
        .get(url)
        .basic_auth(USER, Some(PASSWORD))
        .send()
        .await?;
    if !resp.status().is_success() {
        bail!("GET {url}: {}", resp.status());
    }
    let mut n = 0u64;
    while let Some(chunk) = resp.chunk().await? {
        n += chunk.len() as u64;
    }
    Ok(n)
}

struct Figure {
    what: &'static str,
    median_ms: f64,
    max_ms: f64,
}

/// Times `queries` runs of the requests `urls` (one after another, as a page makes them).
async fn time_requests(
    client: &reqwest::Client,
    urls: &[String],
    queries: usize,
) -> anyhow::Result<(f64, f64)> {
    let mut v = Vec::new();
    for _ in 0..queries {
        let t = Instant::now();
        for u in urls {
            get_len(client, u).await?;
        }
        v.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    Ok(median_max(&mut v))
}

/// Bytes per second of `cat FILES` read through a pipe.
fn cat_rate(files: &[PathBuf]) -> anyhow::Result<(u64, f64)> {
    let t = Instant::now();
    let mut child = std::process::Command::new("cat")
        .args(files)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .context("starting cat")?;
    let mut out = child.stdout.take().context("cat stdout")?;
    let mut buf = vec![0u8; 1 << 20];
    let mut n = 0u64;
    loop {
        let k = out.read(&mut buf)?;
        if k == 0 {
            break;
        }
        n += k as u64;
    }
    if !child.wait()?.success() {
        bail!("cat failed");
    }
    Ok((n, n as f64 / t.elapsed().as_secs_f64()))
}

/// Bytes per second of an export read by `curl` into `/dev/null`.
fn curl_rate(url: &str) -> anyhow::Result<f64> {
    use std::io::Write as _;
    // The credentials go in on stdin, not on the command line.
    let mut child = std::process::Command::new("curl")
        .args([
            "-sS",
            "-K",
            "-",
            "-o",
            "/dev/null",
            "-w",
            "%{size_download} %{time_total}",
        ])
        .arg(url)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .context("starting curl")?;
    child
        .stdin
        .take()
        .context("curl stdin")?
        .write_all(format!("user = \"{USER}:{PASSWORD}\"\n").as_bytes())?;
    let out = child.wait_with_output()?;
    if !out.status.success() {
        bail!("curl: {}", String::from_utf8_lossy(&out.stderr));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let mut it = text.split_whitespace();
    let bytes: f64 = it.next().context("curl size")?.parse()?;
    let secs: f64 = it.next().context("curl time")?.parse()?;
    Ok(bytes / secs)
}

/// One size: the measurements with the hub as a process, `hub check`, retention and export.
async fn measure(data: &Data, days: i64, args: &Args) -> anyhow::Result<Vec<Figure>> {
    let mut figs = Vec::new();
    let setup = testkit::hub::HubSetup::new(&data.root, &data.config(""))?;
    let t = Instant::now();
    // A year's start-up check takes longer than the usual start timeout.
    let hub = testkit::process::spawn_logged(&mut setup.command(), "hub")?;
    hub.wait_for_log_async("hub listening", std::time::Duration::from_secs(900))
        .await?;
    let start_ms = t.elapsed().as_secs_f64() * 1000.0;
    figs.push(Figure {
        what: "start-up, exec to listening",
        median_ms: start_ms,
        max_ms: start_ms,
    });
    // The files-against-rows part of the check runs after the hub listens.
    hub.wait_for_log_async(
        "check of files against rows done",
        std::time::Duration::from_secs(900),
    )
    .await?;
    let checked_ms = t.elapsed().as_secs_f64() * 1000.0;
    figs.push(Figure {
        what: "start-up, exec to the check's end (serving meanwhile)",
        median_ms: checked_ms,
        max_ms: checked_ms,
    });
    let rss_start = bench::rss_kib(hub.pid())? as f64 / 1024.0;
    let client = testkit::http_client();
    let url = |p: &str| setup.url(p);
    let cam = &data.cameras[data.cameras.len() / 2];
    // A day in the middle of the footage, and the newest day.
    let mid = data.end_ms - days * DAY_MS / 2;
    let day = mid - mid.rem_euclid(DAY_MS);
    let newest = data.end_ms - DAY_MS;
    let q = args.queries;
    let rec_day = |d: i64| {
        url(&format!(
            "/api/recordings?camera={cam}&start={d}&end={}",
            d + DAY_MS
        ))
    };
    let (m, x) = time_requests(&client, &[rec_day(day)], q).await?;
    figs.push(Figure {
        what: "/api/recordings, one day",
        median_ms: m,
        max_ms: x,
    });
    let (m, x) = time_requests(&client, &[rec_day(newest)], q).await?;
    figs.push(Figure {
        what: "/api/recordings, newest day",
        median_ms: m,
        max_ms: x,
    });
    let (m, x) = time_requests(
        &client,
        &[url(&format!("/api/recordings/days?camera={cam}"))],
        q,
    )
    .await?;
    figs.push(Figure {
        what: "/api/recordings/days",
        median_ms: m,
        max_ms: x,
    });
    // The timeline page on a day: its footage with half a day's margin each side, the
    // events of that range (the page's first page of 200), then the last 15 minutes.
    let (lo, hi) = (day - DAY_MS / 2, day + DAY_MS + DAY_MS / 2);
    let timeline = [
        url(&format!("/api/recordings?camera={cam}&start={lo}&end={hi}")),
        url(&format!(
            "/api/events?camera={cam}&start={lo}&end={hi}&limit=200"
        )),
        url(&format!(
            "/api/recordings?camera={cam}&start={}&end={}",
            data.end_ms - 15 * MIN_MS,
            data.end_ms + MIN_MS
        )),
    ];
    let (m, x) = time_requests(&client, &timeline, q).await?;
    figs.push(Figure {
        what: "timeline data, one day",
        median_ms: m,
        max_ms: x,
    });
    let (m, x) = time_requests(
        &client,
        &[url(&format!(
            "/api/events?camera={cam}&start={day}&end={}",
            day + DAY_MS
        ))],
        q,
    )
    .await?;
    figs.push(Figure {
        what: "/api/events, one day",
        median_ms: m,
        max_ms: x,
    });

    // Export of the last hours of the first camera against cat of the same files.
    let ecam = &data.cameras[0];
    let (ea, eb) = (data.end_ms - args.export_hours * HOUR_MS, data.end_ms);
    let files: Vec<PathBuf> = (0..args.export_hours * 60)
        .map(|i| {
            let name = store::segment_name(ea + i * MIN_MS).unwrap_or_default();
            data.camera_dir(ecam).join(name)
        })
        .collect();
    let export_url = url(&format!(
        "/api/recordings/export?camera={ecam}&start={ea}&end={eb}"
    ));
    let _ = cat_rate(&files)?; // into the page cache
    get_len(&client, &export_url).await?;
    let (mut cat_v, mut exp_v) = (Vec::new(), Vec::new());
    let mut export_bytes = 0;
    for _ in 0..3 {
        let (_, r) = tokio::task::block_in_place(|| cat_rate(&files))?;
        cat_v.push(r);
        let t = Instant::now();
        export_bytes = get_len(&client, &export_url).await?;
        exp_v.push(export_bytes as f64 / t.elapsed().as_secs_f64());
    }
    let (cat_r, _) = median_max(&mut cat_v);
    let (exp_r, _) = median_max(&mut exp_v);
    // The same bytes as plain file downloads through the same server and client (each
    // segment's own URL, one after another), and the export read by curl (a client
    // cheaper than this one, which shares the two cores with the hub).
    let file_urls: Vec<String> = files
        .iter()
        .filter_map(|f| {
            f.file_name()?
                .to_str()
                .map(|n| url(&format!("/recordings/{ecam}_{n}")))
        })
        .collect();
    let mut plain_v = Vec::new();
    let mut curl_v = Vec::new();
    for _ in 0..3 {
        let t = Instant::now();
        let mut n = 0;
        for u in &file_urls {
            n += get_len(&client, u).await?;
        }
        plain_v.push(n as f64 / t.elapsed().as_secs_f64());
        curl_v.push(tokio::task::block_in_place(|| curl_rate(&export_url))?);
    }
    let (plain_r, _) = median_max(&mut plain_v);
    let (curl_r, _) = median_max(&mut curl_v);
    let rss_end = bench::rss_kib(hub.pid())? as f64 / 1024.0;
    drop(hub);

    let check_ms = if args.no_full_check {
        f64::NAN
    } else {
        let t = Instant::now();
        let out = setup.command().arg("check").output()?;
        if !out.status.success() {
            bail!("hub check: {}", String::from_utf8_lossy(&out.stderr));
        }
        t.elapsed().as_secs_f64() * 1000.0
    };
    figs.push(Figure {
        what: "hub check (whole)",
        median_ms: check_ms,
        max_ms: check_ms,
    });

    // Retention, in-process: an hour after the end with max_age the footage's span, the
    // oldest hour of every camera is due; then a pass with nothing due.
    let retention_cfg = data.root.join("retention.toml");
    std::fs::write(
        &retention_cfg,
        data.config(&format!("max_age = \"{days}d\"")),
    )?;
    let cfg = hub::config::Config::load(&retention_cfg)?;
    let db = Db::open(&data.data_dir().join("hub.db"))?;
    let rec = Arc::new(Recordings::open_with(
        &cfg,
        db,
        Arc::new(FixedClock(data.end_ms + HOUR_MS)),
        Arc::new(store::Statvfs),
    )?);
    let r2 = rec.clone();
    let (due_ms, deleted) = tokio::task::spawn_blocking(move || {
        let t = Instant::now();
        let report = r2.enforce_retention()?;
        anyhow::Ok((t.elapsed().as_secs_f64() * 1000.0, report.deleted.len()))
    })
    .await??;
    // Footage with an event in it stays (it keeps `recordings.event_max_age`).
    let most = data.cameras.len() * 60;
    if deleted == 0 || deleted > most {
        bail!("the retention pass deleted {deleted} segments, not up to {most}");
    }
    let r2 = rec.clone();
    let idle_ms = tokio::task::spawn_blocking(move || {
        let t = Instant::now();
        let report = r2.enforce_retention()?;
        anyhow::ensure!(report.deleted.is_empty(), "the second pass deleted");
        anyhow::Ok(t.elapsed().as_secs_f64() * 1000.0)
    })
    .await??;
    // The export's own path (plan, then the pieces to a counter), without HTTP and the
    // loopback socket, against cat of the same files.
    let r2 = rec.clone();
    let ecam2 = ecam.clone();
    let (direct_r, direct_cat_r) = tokio::task::spawn_blocking(move || {
        let (mut d, mut c) = (Vec::new(), Vec::new());
        for _ in 0..3 {
            c.push(cat_rate(&files)?.1);
            let t = Instant::now();
            let plan = hub::recordings::export::plan(&r2, &ecam2, ea, eb)?;
            let mut n = 0u64;
            hub::recordings::export::write(&r2, plan, |b| {
                n += b.len() as u64;
                true
            })?;
            d.push(n as f64 / t.elapsed().as_secs_f64());
        }
        anyhow::Ok((median_max(&mut d).0, median_max(&mut c).0))
    })
    .await??;
    figs.push(Figure {
        what: "retention pass, oldest hour due",
        median_ms: due_ms,
        max_ms: due_ms,
    });
    figs.push(Figure {
        what: "retention pass, nothing due",
        median_ms: idle_ms,
        max_ms: idle_ms,
    });

    println!("\n### {days} days: {} cameras\n", data.cameras.len());
    println!("| measure | median ms | slowest ms |");
    println!("|---|---|---|");
    for f in &figs {
        println!("| {} | {:.1} | {:.1} |", f.what, f.median_ms, f.max_ms);
        bench::record(
            args.json.as_deref(),
            "year",
            &[("measure", f.what)],
            &[
                ("days", days as f64),
                ("median_ms", f.median_ms),
                ("max_ms", f.max_ms),
            ],
        )?;
    }
    println!("| hub RSS after start | {rss_start:.1} MiB | |");
    println!("| hub RSS after the queries and exports | {rss_end:.1} MiB | |");
    println!(
        "| export {} h ({:.0} MB) | {:.0} MB/s | cat {:.0} MB/s: {:.2}x |",
        args.export_hours,
        export_bytes as f64 / 1e6,
        exp_r / 1e6,
        cat_r / 1e6,
        exp_r / cat_r
    );
    println!(
        "| the same files as plain downloads over HTTP | {:.0} MB/s | cat {:.0} MB/s: {:.2}x |",
        plain_r / 1e6,
        cat_r / 1e6,
        plain_r / cat_r
    );
    println!(
        "| export read by curl | {:.0} MB/s | cat {:.0} MB/s: {:.2}x |",
        curl_r / 1e6,
        cat_r / 1e6,
        curl_r / cat_r
    );
    println!(
        "| export in-process (no HTTP) | {:.0} MB/s | cat {:.0} MB/s: {:.2}x |",
        direct_r / 1e6,
        direct_cat_r / 1e6,
        direct_r / direct_cat_r
    );
    bench::record(
        args.json.as_deref(),
        "year",
        &[("measure", "resources")],
        &[
            ("days", days as f64),
            ("rss_start_mib", rss_start),
            ("rss_end_mib", rss_end),
            ("export_mb_s", exp_r / 1e6),
            ("cat_mb_s", cat_r / 1e6),
            ("export_ratio", exp_r / cat_r),
            ("plain_download_mb_s", plain_r / 1e6),
            ("export_curl_mb_s", curl_r / 1e6),
            ("export_direct_mb_s", direct_r / 1e6),
            ("export_direct_ratio", direct_r / direct_cat_r),
        ],
    )?;
    Ok(figs)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if args.days.windows(2).any(|w| w[1] <= w[0]) || args.days.first().is_none_or(|&d| d < 1) {
        bail!("--days must grow");
    }
    let tmp = match &args.dir {
        Some(d) => tempfile::tempdir_in(d)?,
        None => tempfile::tempdir()?,
    };
    // Whole minutes, an hour after a day boundary of a fixed instant (2026-06-01).
    let end_ms = 1_780_272_000_000 + HOUR_MS;
    let thumbnail = testpattern::Pattern::new(160, 120).render_jpeg(
        testpattern::Stamp {
            frame: 0,
            millis: 0,
        },
        80,
    );
    let data = Data {
        root: tmp.path().to_owned(),
        cameras: (0..args.cameras).map(camera_name).collect(),
        end_ms,
        template: template()?,
        thumbnail,
        events_per_day: args.events_per_day,
    };
    // The directories and the database, as a first start makes them.
    let setup = testkit::hub::HubSetup::new(&data.root, &data.config(""))?;
    setup.add_user(USER, PASSWORD)?;
    let cfg = hub::config::Config::load(&setup.config)?;
    let db = Db::open(&data.data_dir().join("hub.db"))?;
    drop(Recordings::open(&cfg, db.clone())?);

    println!("machine: {}", bench::machine());
    println!(
        "{} cameras, one-minute segments ({} bytes each, hard links), {} events a camera a day",
        args.cameras,
        data.template.bytes.len(),
        args.events_per_day
    );
    let mut have_from = end_ms;
    for &days in &args.days {
        // Down to the new start, and the hour the previous size's retention pass deleted.
        let from = end_ms - days * DAY_MS;
        let to = if have_from == end_ms {
            end_ms
        } else {
            have_from + HOUR_MS
        };
        let t = Instant::now();
        let rows = data.add(&db, from, to, have_from)?;
        have_from = from;
        data.mark_checked()?;
        let total: i64 = db.call_blocking(|c| {
            Ok(c.query_row("SELECT count(*) FROM recording", [], |r| r.get(0))?)
        })?;
        println!(
            "\nsynthesized {rows} segments in {:.1} s; the index holds {total} rows",
            t.elapsed().as_secs_f64()
        );
        measure(&data, days, &args).await?;
    }
    drop(db);
    let t = Instant::now();
    drop(tmp);
    println!("\nremoved the data in {:.1} s", t.elapsed().as_secs_f64());
    Ok(())
}
