//! The subcommands: `run` (the default), `probe`, `check-config`, `token`, `status`,
//! `setup-recording`, `bench-encode` and `bench-motion`.

pub mod bench_motion;
pub mod check_config;
pub mod probe;
pub mod run;
pub mod setup_recording;
pub mod status;
pub mod token;
