//! Reolink cameras as a video source for the hub, over the Baichuan protocol: TCP port 9000
//! for wired cameras, BcUdp for battery cameras. The protocol is in the pure `baichuan`
//! crate; this crate owns sockets, timers and the reconnect policy, and turns BcMedia into
//! [`media::VideoEvent`]s.
//!
//! ```no_run
//! # async fn demo() {
//! use reolink::{ReolinkConfig, ReolinkSource, Transport};
//! let cfg = ReolinkConfig::new("porch", Transport::tcp("192.168.1.20"), "admin", "secret");
//! let cancel = tokio_util::sync::CancellationToken::new();
//! let (mut events, status) = ReolinkSource::spawn(cfg, cancel.clone());
//! while let Some(ev) = events.recv().await {
//!     // media::VideoEvent::{Track, Frame, Gap} → recorder / live view
//! #   let _ = (&ev, &status);
//! }
//! # }
//! ```
//!
//! Modules: [`config`] (typed config, password redacted), [`status`] (what the watch channel
//! carries), [`source`] (the task: connect → login → stream → reconnect), `conn` (TCP and
//! BcUdp transports), [`video`] (BcMedia → track + AVCC frames + 90 kHz dts; H.265 through
//! `media::h265`), [`sink`] (bounded channel, drop-to-key-frame policy) and, with the
//! `sim` feature, [`sim`]: a fake camera on loopback for tests.

pub mod config;
mod conn;
pub mod error;
pub mod sink;
pub mod source;
pub mod status;
pub mod video;

#[cfg(feature = "sim")]
pub mod sim;

pub use config::{EncryptionLevel, ReolinkConfig, Stream, Timing, Transport};
pub use error::SourceError;
pub use source::ReolinkSource;
pub use status::{Alarm, Battery, ConnState, DeviceSummary, ReolinkStatus};
