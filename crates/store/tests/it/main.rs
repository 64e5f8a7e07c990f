//! The integration tests of `store`, one binary: a module per area (shared helpers first).

mod common;

mod crash;
mod full_disk;
mod marker;
mod names;
mod retention;
mod retime;
