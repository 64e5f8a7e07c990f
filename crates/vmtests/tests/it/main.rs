//! The integration tests of `vmtests`, one binary: a module per area (shared helpers first).

mod common;

mod vm_libcamera;
mod vm_v4l2;
