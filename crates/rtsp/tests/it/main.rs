//! The integration tests of `rtsp`, one binary: a module per area (shared helpers first).

mod common;

mod camera;
mod logging;
