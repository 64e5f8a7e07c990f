//! `agent setup-recording --config FILE`: make `record.dir` this camera's recordings
//! directory (create it if missing, or adopt an empty one, and write the ownership marker).
//! The running agent only ever records into a directory set up this way.

use std::path::Path;

use anyhow::Context;
use store::{SegmentDir, SetUp};

use crate::config::Config;
use crate::record::recorder::camera_name;

pub fn run(config_path: &Path) -> anyhow::Result<()> {
    let config = Config::load(config_path)
        .with_context(|| format!("configuration {}", config_path.display()))?;
    let dir = &config.record.dir;
    let camera = camera_name(config.camera_id);
    let sd = SegmentDir::open(dir, &camera, SetUp::CreateIfMissing)
        .with_context(|| format!("setting up {}", dir.display()))?;
    let segments = sd.segments()?.len();
    println!(
        "{}: recordings directory of {camera} (id {}), {segments} segments",
        dir.display(),
        sd.id()
    );
    if !config.record.enabled {
        println!("note: record.enabled is false in {}", config_path.display());
    }
    Ok(())
}
