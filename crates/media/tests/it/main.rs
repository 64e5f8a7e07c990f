//! The integration tests of `media`, one binary: a module per area (shared helpers first).

mod common;

mod chromium;
mod openh264_to_fmp4;
mod other_inputs;
mod recovery;
mod segments;
