//! bench-offsite: replication to a real Garage on loopback against `curl -T` of the same
//! files to the same Garage (SigV4-signed by curl), as throughput and client CPU per MB;
//! also through an in-process hub's replicator (segments queued in its index, the queue
//! timed until empty); then the upload bandwidth cap, as the rate achieved over the
//! rate set.
//!
//! ```text
//! bench-offsite [--files 6] [--mib 16] [--repeats 3]
//! ```
//!
//! Ours does more per byte than curl: a SHA-256 pass over the file, MD5 of what is sent
//! (to check the store's ETag), a HEAD to verify; curl sends `UNSIGNED-PAYLOAD`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use bench::{TICKS_PER_SEC, cpu_model, cpu_ticks};
use clap::Parser;
use offsite::config::Credentials;
use offsite::crypto::Key;
use offsite::{Bucket, DirJournal, OffsiteConfig};
use testkit::Garage;

#[derive(Parser)]
struct Args {
    /// Files per run.
    #[arg(long, default_value_t = 6)]
    files: usize,
    /// Size of each file in MiB.
    #[arg(long, default_value_t = 16)]
    mib: usize,
    /// Runs of each uploader (the median is reported).
    #[arg(long, default_value_t = 3)]
    repeats: usize,
}

struct Run {
    secs: f64,
    cpu_secs: f64,
}

fn main() -> Result<()> {
    let args = Args::parse();
    let bin = Garage::binary_path();
    if !bin.is_file() {
        bail!(
            "Garage is not built at {}: run scripts/garage.sh build",
            bin.display()
        );
    }
    let garage = Garage::start(bin)?;
    let dir = tempfile::tempdir()?;
    let files: Vec<PathBuf> = (0..args.files)
        .map(|i| {
            let p = dir.path().join(format!("f{i}.mp4"));
            let mut data = vec![0u8; args.mib << 20];
            getrandom::fill(&mut data).expect("getrandom");
            std::fs::write(&p, &data).map(|()| p)
        })
        .collect::<std::io::Result<_>>()?;
    let total_mb = (args.files * (args.mib << 20)) as f64 / 1e6;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;

    println!(
        "# bench-offsite: {} files of {} MiB to Garage on loopback",
        args.files, args.mib
    );
    println!(
        "machine: {}, {} cores; load average {}",
        cpu_model(),
        num_cpus(),
        loadavg()
    );
    println!();
    println!(
        "| uploader | MB/s (median of {}) | client CPU ms per MB | Garage CPU ms per MB |",
        args.repeats
    );
    println!("|---|---|---|---|");
    let garage_pid = garage.pid().context("garage pid")?;
    let mut rows: Vec<(&str, Vec<(Run, f64)>)> = Vec::new();
    for round in 0..args.repeats {
        for (name, which) in [
            ("curl -T (SigV4)", 0),
            ("offsite", 1),
            ("offsite, encrypted", 2),
            ("hub replicator (queue in hub.db)", 3),
        ] {
            let g0 = cpu_ticks(garage_pid)?;
            let prefix = format!("r{round}-{which}");
            let run = match which {
                0 => curl_run(&garage, &files, &prefix)?,
                3 => rt.block_on(through_hub(&garage, dir.path(), &files, &prefix))?,
                n => rt.block_on(ours(&garage, dir.path(), &files, &prefix, n == 2, None))?,
            };
            let g = (cpu_ticks(garage_pid)? - g0) as f64 / TICKS_PER_SEC;
            match rows.iter_mut().find(|(n, _)| *n == name) {
                Some((_, v)) => v.push((run, g)),
                None => rows.push((name, vec![(run, g)])),
            }
        }
    }
    for (name, mut runs) in rows {
        runs.sort_by(|a, b| a.0.secs.total_cmp(&b.0.secs));
        let (m, g) = &runs[runs.len() / 2];
        println!(
            "| {name} | {:.0} | {:.2} | {:.2} |",
            total_mb / m.secs,
            m.cpu_secs * 1000.0 / total_mb,
            g * 1000.0 / total_mb
        );
    }

    println!();
    println!("| cap | bytes | seconds | achieved | achieved / cap |");
    println!("|---|---|---|---|---|");
    for (cap, n_files) in [("16Mbit/s", 1usize), ("80Mbit/s", 4)] {
        let cap_bps: offsite::Rate = cap.parse().map_err(anyhow::Error::msg)?;
        let chosen = &files[..n_files.min(files.len())];
        let run = rt.block_on(ours(
            &garage,
            dir.path(),
            chosen,
            &format!("cap-{cap}"),
            false,
            Some(cap),
        ))?;
        let bytes = chosen.len() * (args.mib << 20);
        let achieved = bytes as f64 / run.secs;
        println!(
            "| {cap} | {bytes} | {:.2} | {:.3} MB/s | {:.3} |",
            run.secs,
            achieved / 1e6,
            achieved / cap_bps.bytes_per_sec as f64
        );
    }
    Ok(())
}

fn num_cpus() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

/// Every file with `curl -T`, in one shell whose waited-for children's CPU is read
/// from its own `/proc/self/stat` at the end (the credentials go in on stdin).
fn curl_run(g: &Garage, files: &[PathBuf], prefix: &str) -> Result<Run> {
    let mut script = String::from("set -e\n");
    for (i, f) in files.iter().enumerate() {
        script.push_str(&format!(
            "curl -sS -f -o /dev/null -K \"$CREDS\" --aws-sigv4 aws:amz:{}:s3 \
             -H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' -T {} {}/{}/{prefix}/{i}.mp4\n",
            testkit::garage::REGION,
            f.display(),
            g.endpoint(),
            g.bucket
        ));
    }
    script.push_str("cat /proc/$$/stat\n");
    let creds = tempfile::NamedTempFile::new()?;
    writeln!(creds.as_file(), "user = \"{}:{}\"", g.key_id, g.secret)?;
    let t0 = Instant::now();
    let out = Command::new("sh")
        .arg("-c")
        .arg(&script)
        .env("CREDS", creds.path())
        .stdin(Stdio::null())
        .output()?;
    let secs = t0.elapsed().as_secs_f64();
    if !out.status.success() {
        bail!("curl failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    let stat = String::from_utf8_lossy(&out.stdout);
    let rest = &stat[stat.rfind(')').context("stat")? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // cutime and cstime: the CPU of the curls this shell waited for.
    let ticks = f[13].parse::<u64>()? + f[14].parse::<u64>()?;
    Ok(Run {
        secs,
        cpu_secs: ticks as f64 / TICKS_PER_SEC,
    })
}

async fn ours(
    g: &Garage,
    dir: &Path,
    files: &[PathBuf],
    prefix: &str,
    encrypt: bool,
    cap: Option<&str>,
) -> Result<Run> {
    let extra = cap
        .map(|c| format!("max_upload_rate = \"{c}\"\n"))
        .unwrap_or_default();
    let cfg = OffsiteConfig::from_toml(&format!(
        "endpoint = \"{}\"\nregion = \"{}\"\nbucket = \"{}\"\naccess_key_id = \"{}\"\n\
         secret_access_key_file = \"unused\"\nprefix = \"{prefix}\"\n{extra}",
        g.endpoint(),
        testkit::garage::REGION,
        g.bucket,
        g.key_id
    ))
    .map_err(anyhow::Error::msg)?;
    let journal = Arc::new(DirJournal::open(&dir.join(format!("journal-{prefix}")))?);
    let key = encrypt.then(|| Key::from_bytes([5; 32]));
    let creds = Credentials {
        access_key_id: g.key_id.clone(),
        secret_access_key: g.secret.clone(),
    };
    let b = Bucket::new(&cfg, creds, key, journal)?;
    let me = std::process::id();
    let c0 = cpu_ticks(me)?;
    let t0 = Instant::now();
    for (i, f) in files.iter().enumerate() {
        let name = store::segment_name(1_800_000_000_000 + i as i64 * 60_000).context("name")?;
        let k = b.layout().segment("bench", &name)?;
        b.replicate_file(&k, f, None, None).await?;
    }
    let secs = t0.elapsed().as_secs_f64();
    Ok(Run {
        secs,
        cpu_secs: (cpu_ticks(me)? - c0) as f64 / TICKS_PER_SEC,
    })
}

/// The files as segments of an in-process hub with `[offsite]`: indexed (which queues
/// them), then the hub's replicator started and timed until its queue is empty.
async fn through_hub(g: &Garage, dir: &Path, files: &[PathBuf], prefix: &str) -> Result<Run> {
    use std::os::unix::fs::PermissionsExt;
    let root = dir.join(format!("hub-{prefix}"));
    std::fs::create_dir_all(&root)?;
    for (name, text) in [
        ("secret", "bench-secret-0123456789abcdef0123"),
        ("s3", &g.secret),
    ] {
        let p = root.join(name);
        std::fs::write(&p, text)?;
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600))?;
    }
    let text = format!(
        "data_dir = {:?}\nsecret_file = {:?}\n[[camera]]\nid = 1\nname = \"bench\"\nkind = \"agent\"\n\
         [offsite]\nendpoint = \"{}\"\nregion = \"{}\"\nbucket = \"{}\"\naccess_key_id = \"{}\"\n\
         secret_access_key_file = {:?}\nprefix = \"{prefix}\"\n",
        root.join("data").display().to_string(),
        root.join("secret").display().to_string(),
        g.endpoint(),
        testkit::garage::REGION,
        g.bucket,
        g.key_id,
        root.join("s3").display().to_string(),
    );
    let cfg = hub::config::Config::parse(&text, &root.join("hub.toml"))
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let stop = tokio_util::sync::CancellationToken::new();
    let h = hub::server::build(cfg, stop.clone())?;
    let rec = h.recordings.clone();
    let cam_dir = rec.dir("bench").context("camera dir")?.path().to_owned();
    for (i, f) in files.iter().enumerate() {
        let start_ms = 1_800_000_000_000 + i as i64 * 60_000;
        let name = store::segment_name(start_ms).context("name")?;
        std::fs::copy(f, cam_dir.join(&name))?;
        let size_bytes = std::fs::metadata(f)?.len();
        rec.insert(&hub::recordings::Segment {
            camera: "bench".into(),
            file_name: name,
            start_ms,
            duration_ms: 60_000,
            size_bytes,
            sha256: hub::recordings::sha256_file(f)?,
            codec: "avc1.640028".into(),
            width: 1920,
            height: 1080,
            source: hub::recordings::Source::Upload,
        })?;
    }
    let me = std::process::id();
    let c0 = cpu_ticks(me)?;
    let t0 = Instant::now();
    let tracker = tokio_util::task::TaskTracker::new();
    hub::offsite::replicate::spawn(&h, &tracker, &stop);
    loop {
        let b = rec
            .db
            .call(|c| hub::recordings::replication::backlog(c))
            .await?;
        let pending: u64 = b.values().map(|c| c.pending).sum();
        let done: u64 = b.values().map(|c| c.done).sum();
        if pending == 0 && done == files.len() as u64 {
            break;
        }
        if t0.elapsed().as_secs() > 600 {
            bail!("the hub's replicator did not finish in 10 min: {b:?}");
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let secs = t0.elapsed().as_secs_f64();
    let cpu_secs = (cpu_ticks(me)? - c0) as f64 / TICKS_PER_SEC;
    stop.cancel();
    tracker.close();
    tracker.wait().await;
    Ok(Run { secs, cpu_secs })
}
