//! The integration tests of `baichuan`, one binary: a module per area (shared helpers first).

mod common;

mod fixtures_bc;
mod fixtures_media;
mod fixtures_udp;
mod fuzz_regressions;
mod manifest_integrity;
mod no_tokio;
mod robustness;
mod roundtrip;
mod session;
mod udp_client;
mod vectors;
