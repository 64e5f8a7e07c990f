//! `hub check`: reconcile the recordings index with the files (the same check
//! the hub runs at start-up) and report every repair. Refuses to run while the
//! hub holds the recordings directories (they are locked).

use std::path::Path;

use anyhow::Context;

use crate::db::Db;

pub fn run(config: Option<&Path>) -> anyhow::Result<()> {
    let cfg = super::load_config_or_demo(config)?;
    crate::server::ensure_data_dir(&cfg)?;
    let path = crate::server::db_path(&cfg);
    let db = Db::open(&path).with_context(|| format!("opening {}", path.display()))?;
    let rec = crate::recordings::Recordings::open(&cfg, db).context(
        "opening the recordings directories (is the hub running? it checks at start-up)",
    )?;
    let report = crate::recordings::check::run(&rec)?;
    let lines = report.lines();
    for line in &lines {
        println!("{line}");
    }
    println!(
        "check: {} repairs, {} problems left",
        lines.len() - report.failed.len(),
        report.failed.len()
    );
    if !report.failed.is_empty() {
        anyhow::bail!("{} files could not be fixed", report.failed.len());
    }
    Ok(())
}
