//! The integration tests of `pitests`, one binary: a module per area (shared helpers first).

mod common;

mod deploy;
mod qemu_agent;
mod systemd_units;
