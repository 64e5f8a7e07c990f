//! `hub import-picam DIR --camera NAME`: index Pi-Cam's recordings as segments of a
//! camera (see [`crate::recordings::picam`]), printing what happened to each file. Like
//! `hub check`, it runs while the hub is stopped (the hub locks the recordings).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, bail};

use crate::db::Db;

pub fn run(
    config: Option<&Path>,
    dir: &Path,
    camera: &str,
    time_zone: Option<&str>,
    ffmpeg: &Path,
) -> anyhow::Result<()> {
    let tz = match time_zone {
        Some(name) => jiff::tz::TimeZone::get(name)
            .with_context(|| format!("--time-zone {name:?} is not a known IANA time zone"))?,
        None => jiff::tz::TimeZone::system(),
    };
    let cfg = super::load_config_or_demo(config)?;
    crate::server::ensure_data_dir(&cfg)?;
    let path = crate::server::db_path(&cfg);
    let db = Db::open(&path).with_context(|| format!("opening {}", path.display()))?;
    let rec = Arc::new(
        crate::recordings::Recordings::open(&cfg, db)
            .context("opening the recordings directories (stop the hub first: it holds them)")?,
    );
    let report = crate::recordings::picam::import(&rec, dir, camera, &tz, ffmpeg)
        .with_context(|| format!("importing {}", dir.display()))?;
    #[allow(clippy::print_stdout)]
    {
        for line in report.lines() {
            println!("{line}");
        }
        println!(
            "import-picam: {} imported, {} already there, {} skipped, {} failed",
            report.imported.len(),
            report.already.len(),
            report.skipped.len(),
            report.failed.len()
        );
    }
    if !report.failed.is_empty() {
        bail!("{} files could not be imported", report.failed.len());
    }
    Ok(())
}

/// The ffmpeg used when `--ffmpeg` is not given.
pub fn default_ffmpeg() -> PathBuf {
    PathBuf::from("ffmpeg")
}
