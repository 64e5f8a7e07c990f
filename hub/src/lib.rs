//! The camera hub as a library, so integration tests can start it
//! in-process on `127.0.0.1:0`. The binary (`main.rs`) only dispatches.

pub mod app;
pub mod auth;
pub mod camera;
pub mod cmds;
pub mod config;
pub mod counters;
pub mod db;
pub mod demand;
pub mod event_feed;
pub mod event_log;
pub mod event_store;
pub mod health;
pub mod import;
pub mod listener;
pub mod metrics;
pub mod mqtt;
pub mod offsite;
pub mod outbox;
pub mod rate;
pub mod recordings;
pub mod server;
pub mod sources;
pub mod stop;
pub mod video;
pub mod web;
pub mod webhooks;
