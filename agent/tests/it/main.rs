//! The integration tests of `agent`, one binary: a module per area (shared helpers first).

mod common;

mod cli;
mod config;
mod events;
mod events_h264;
mod record;
mod record_cli;
mod record_fault;
mod record_retention;
mod record_retime;
mod rpicam;
mod uplink;
mod upload;
