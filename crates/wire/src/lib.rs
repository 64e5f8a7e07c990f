//! The agent-to-hub protocols: live frames, byte for byte the seed camera server's
//! `/video-input-stream` ingest, plus its viewer handshake and agent tokens; and the
//! segment upload ([`upload`]: URL, headers, status meanings, JSON bodies) and the agent's
//! health report ([`health`]).
//!
//! Everything here is pure: decoders take a [`bytes::BytesMut`] that the
//! caller fills from whatever transport it has (one websocket message, many,
//! or a byte at a time) and return `Ok(None)` when they need more bytes.
//! Every length read from the peer is checked against a named bound before
//! anything is allocated for it.
//!
//! Ingest stream, all integers little-endian:
//!
//! ```text
//! u32 camera_id | u32 token_len | token (UTF-8) | { u32 frame_len | JPEG }*
//! ```

pub mod events;
pub mod health;
pub mod ingest;
pub mod token;
pub mod upload;
pub mod viewer;

pub use ingest::{
    DEFAULT_MAX_FRAME_LEN, IngestDecoder, IngestError, IngestEvent, MAX_TOKEN_LEN, encode_frame,
    encode_hello,
};
pub use token::{TokenScheme, UnknownScheme, literal_token_matches, make_token, verify_token};
pub use viewer::{
    MAX_VIEWER_HELLO_LEN, ViewerError, ViewerHello, decode_viewer_hello, encode_viewer_hello,
};
