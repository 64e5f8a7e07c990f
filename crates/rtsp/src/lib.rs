//! RTSP camera source for the hub, written for TP-Link Tapo cameras (C100/C200/C210/C310…)
//! and usable with any H.264/H.265 RTSP camera.
//!
//! [`RtspSource::spawn`] keeps one upstream session per camera stream (Tapo allows about two)
//! with [`retina`] (>= 0.4.21, which fixes the Tapo keepalive that killed sessions every
//! ~15 s) and hands the hub's pipeline [`media::VideoEvent`]s on a bounded channel, or to a
//! function called in line on the session's task ([`Sink::Direct`]):
//!
//! * `Track` before the first frame of every session and whenever the camera sends new
//!   parameters (from retina's MP4 sample entry, `avc1` or `hvc1`);
//! * `Frame` in AVCC form with a strictly increasing 90 kHz `dts` from the RTP timestamps;
//!   each run starts with a key frame;
//! * `Gap` when a session ends (camera dropped, stalled, rebooted), so the recorder closes
//!   its segment; the source then reconnects with exponential backoff and jitter.
//!
//! A [`tokio::sync::watch`] of [`RtspStatus`] tells the hub's status page what is going on,
//! including a refused password ([`RtspState::AuthFailed`], logged once, retried slowly).
//!
//! Module map: [`config`] (typed config, credential-free URL), [`timing`] (pure timestamp
//! and backoff logic), [`outbox`] (bounded queue and its overflow policy), [`status`],
//! [`source`] (the tokio task), [`error`].
//!
//! ```no_run
//! # async fn demo() {
//! use rtsp::{RtspConfig, RtspSource};
//! use tokio_util::sync::CancellationToken;
//!
//! let mut cfg = RtspConfig::new("porch", "192.168.1.20", "camuser", "secret");
//! cfg.path = "stream2".into(); // the Tapo sub stream
//! let cancel = CancellationToken::new();
//! let (mut events, status) = RtspSource::spawn(cfg, cancel.clone());
//! while let Some(event) = events.recv().await {
//!     match event {
//!         media::VideoEvent::Track(t) => println!("track {}", t.codec_string()),
//!         media::VideoEvent::Frame(f) => println!("frame {} key={}", f.dts, f.is_key),
//!         media::VideoEvent::Gap { reason } => println!("gap: {reason}"),
//!     }
//!     println!("{:?}", status.borrow().state);
//! }
//! # }
//! ```

pub mod config;
pub mod error;
pub mod outbox;
pub mod source;
pub mod status;
pub mod timing;

pub use config::{DEFAULT_PORT, RtspConfig, Transport};
pub use error::{ConfigError, ErrorKind, SessionError};
pub use outbox::Sink;
pub use source::{RtspSource, SourceOptions, run};
pub use status::{RtspState, RtspStatus};
pub use timing::{Backoff, DtsMapper};
