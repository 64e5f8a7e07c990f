//! `hub restore --from-offsite` and `hub check --offsite`: the index rebuilt from the
//! off-site bucket, and the bucket checked against the index (see [`crate::offsite`]).
//! Both use only the index and the bucket, so they may run while the hub does.

use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, bail};

use crate::config::Config;
use crate::db::Db;

fn open(config: Option<&Path>) -> anyhow::Result<(Config, Db, Arc<offsite::Bucket>)> {
    let cfg = super::load_config_or_demo(config)?;
    let Some(o) = &cfg.offsite else {
        bail!("the configuration has no [offsite] section: there is no bucket to read");
    };
    crate::server::ensure_data_dir(&cfg)?;
    let path = crate::server::db_path(&cfg);
    let db = Db::open(&path).with_context(|| format!("opening {}", path.display()))?;
    let bucket = crate::offsite::open_bucket(o, db.clone())?;
    Ok((cfg, db, bucket))
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}

/// `hub restore --from-offsite [--camera NAME]`.
pub fn restore(config: Option<&Path>, camera: Option<&str>) -> anyhow::Result<()> {
    let (cfg, db, bucket) = open(config)?;
    let cameras: HashSet<String> = cfg.cameras.iter().map(|c| c.name.clone()).collect();
    if let Some(c) = camera
        && !cameras.contains(c)
    {
        bail!("--camera {c:?} is not a camera of the configuration");
    }
    let report = runtime()?.block_on(crate::offsite::restore::restore(
        &bucket,
        &db,
        &cameras,
        camera,
        crate::camera::now_ms(),
    ))?;
    #[allow(clippy::print_stdout)]
    for line in report.lines() {
        println!("{line}");
    }
    if report.has_problems() {
        bail!("some segments in the bucket could not be indexed");
    }
    Ok(())
}

/// `hub check --offsite [--deep] [--camera NAME]`.
pub fn check(config: Option<&Path>, camera: Option<&str>, deep: bool) -> anyhow::Result<()> {
    let (_cfg, db, bucket) = open(config)?;
    let report = runtime()?.block_on(crate::offsite::check::run(
        &bucket,
        &db,
        camera.map(str::to_owned),
        deep,
    ))?;
    #[allow(clippy::print_stdout)]
    for line in report.lines() {
        println!("{line}");
    }
    if report.has_problems() {
        bail!(
            "{} objects missing and {} corrupt in the bucket",
            report.check.missing.len(),
            report.check.corrupt.len()
        );
    }
    Ok(())
}
