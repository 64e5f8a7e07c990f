//! The hub's subcommands. `main` parses arguments and dispatches here.

pub mod check;
pub mod demo;
pub mod import_picam;
pub mod offsite;
pub mod serve;
pub mod token;
pub mod user;

use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::config::Config;

/// Load `--config FILE`, or fall back to the demo configuration under
/// `./hub-data` (what `hub demo` uses), saying so.
pub fn load_config_or_demo(config: Option<&Path>) -> anyhow::Result<Config> {
    match config {
        Some(p) => Config::load(p).map_err(anyhow::Error::from),
        None => {
            let dir = PathBuf::from(demo::DEFAULT_DATA_DIR);
            eprintln!(
                "no --config given: using the demo configuration in {}",
                dir.display()
            );
            demo::demo_config(&dir, demo::default_listen())
        }
    }
    .context("loading the configuration")
}
