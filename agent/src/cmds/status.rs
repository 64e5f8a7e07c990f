//! `agent status --config FILE`: what the running agent last wrote to `STATE_DIR/status.json`
//! (recording state, segments, bytes used, retention forecast). `--json` prints the file.

use std::path::Path;

use anyhow::Context;

use crate::config::Config;
use crate::record::status::{read_status, render, status_path};

pub fn run(config_path: &Path, json: bool) -> anyhow::Result<()> {
    let config = Config::load(config_path)
        .with_context(|| format!("configuration {}", config_path.display()))?;
    let path = status_path(&config.state_dir);
    let status = read_status(&config.state_dir).with_context(|| {
        format!(
            "reading {} (is the agent running, with state_dir = {:?} writable?)",
            path.display(),
            config.state_dir
        )
    })?;
    if json {
        println!("{}", serde_json::to_string_pretty(&status)?);
    } else {
        print!("{}", render(&status, crate::source::wall_millis()));
    }
    Ok(())
}
