//! The integration tests of `reolink`, one binary: a module per area (shared helpers first).

mod common;

mod mp4;
mod tcp;
mod udp;
