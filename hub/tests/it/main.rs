//! The integration tests of `hub`, one binary: a module per area (shared helpers first).

mod browser_support;
mod common;
mod recordings_support;
mod rtsp_support;

mod agent_health;
mod browser_live;
mod camera_faults;
mod e2e_agent;
mod exhaustion;
mod hls;
mod http_api;
mod hub_faults;
mod metrics;
mod mqtt;
mod mse;
mod outage;
mod phone_browser;
mod recordings_browser;
mod recordings_check;
mod recordings_recorder;
mod recordings_retime;
mod recordings_timing;
mod recordings_web;
mod reolink;
mod reolink_import;
mod rtsp;
mod secrets;
mod security;
mod seed_ingest;
mod shutdown;
mod slow_viewer;
mod timeline_browser;
mod tls;
mod upload;
mod watchdog;
