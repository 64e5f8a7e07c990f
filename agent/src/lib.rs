//! The camera agent: capture (test pattern, V4L2, rpicam-vid) → bounded queue → websocket uplink to the hub.
//!
//! `main.rs` parses arguments and dispatches to [`cmds`]; everything else is
//! here so integration tests can drive the pieces: [`config`] (strict TOML),
//! [`source`] (the capture sources behind one trait), [`queue`] (bounded,
//! drop-oldest), [`uplink`] (websocket client with backoff) and
//! [`systemd`] (readiness and watchdog).

pub mod backoff;
pub mod cmds;
pub mod config;
pub mod queue;
pub mod record;
pub mod source;
pub mod systemd;
pub mod uplink;
