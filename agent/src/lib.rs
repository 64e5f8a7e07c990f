//! The camera agent: capture (test pattern, V4L2, rpicam-vid) → bounded queue → websocket uplink to the hub, and recording.
//!
//! `main.rs` parses arguments and dispatches to [`cmds`]; everything else is
//! here so integration tests can drive the pieces: [`config`] (strict TOML),
//! [`source`] (the capture sources behind one trait), [`queue`] (bounded,
//! drop-oldest), [`uplink`] (websocket client with backoff),
//! [`systemd`] (readiness and watchdog) and [`record`] (H.264 into
//! rotating, crash-safe fragmented-MP4 segments with retention, on a thread
//! of its own behind a bounded queue).

pub mod backoff;
pub mod cmds;
pub mod config;
pub mod event_upload;
pub mod health;
pub mod motion;
pub mod queue;
pub mod record;
pub mod source;
pub mod systemd;
pub mod uplink;
pub mod upload;
