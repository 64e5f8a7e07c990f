//! The subcommands: `run` (the default), `probe`, `check-config` and `token`.

pub mod check_config;
pub mod probe;
pub mod run;
pub mod token;
