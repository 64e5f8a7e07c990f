//! The integration tests of `testkit`, one binary: a module per area.

mod browser;
mod garage;
