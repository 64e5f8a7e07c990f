//! Reolink "Baichuan" (BC) protocol, pure: no sockets, no clocks, no runtime.
//!
//! Layers, bottom up:
//! * [`header`]: the 20/24-byte BC header;
//! * [`crypto`]: BCEncrypt, AES-128-CFB, key derivation, login hashes;
//! * [`xml`]: bounded XML parsing/writing and typed bodies;
//! * [`msg`]: message ids, [`msg::Message`] and the framing/encryption [`msg::Codec`];
//! * [`login`]: client request builders; [`camera`]: camera-side replies for simulators;
//! * [`media`]: BcMedia packets inside msg 3 payloads;
//! * [`udp`]: the BcUdp transport of battery cameras;
//! * [`session`]: the client login/stream state machine a transport task drives.
//!
//! Dependency rule: this crate must not depend on tokio (`cargo tree -p baichuan -e normal`
//! lists no tokio; `tests/no_tokio.rs` checks the manifest).

pub mod camera;
pub mod crypto;
pub mod header;
pub mod login;
pub mod media;
pub mod msg;
pub mod session;
pub mod udp;
pub mod xml;

pub use msg::Error;
