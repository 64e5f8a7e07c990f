//! Decoder and encoder for the ingest stream (`/video-input-stream`).
//!
//! The decoder is a state machine over a byte stream: websocket message
//! boundaries carry no meaning, exactly as in the seed server, so a hello split
//! over three messages and ten frames packed into one message both decode.

use bytes::{Buf, BufMut, Bytes, BytesMut};

/// Longest token accepted. Real tokens are 64 hex characters.
pub const MAX_TOKEN_LEN: usize = 1024;

/// Default bound on one JPEG frame (8 MiB); the hub makes it configurable.
pub const DEFAULT_MAX_FRAME_LEN: u32 = 8 * 1024 * 1024;

/// What the decoder has read off the stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IngestEvent {
    /// The first thing on every connection: who the peer claims to be.
    Hello { camera_id: u32, token: String },
    /// One frame (a JPEG, unchecked). Zero-length frames are skipped and
    /// never reported.
    Frame(Bytes),
}

/// Why the stream cannot continue. Each maps to one websocket close code in
/// the hub (see [`IngestError::close_code`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IngestError {
    #[error("token length {len} exceeds the maximum of {max} bytes")]
    TokenTooLong { len: u32, max: usize },
    #[error("token is not valid UTF-8")]
    TokenNotUtf8,
    #[error("frame length {len} exceeds the maximum of {max} bytes")]
    FrameTooLarge { len: u32, max: u32 },
    #[error("decoder used after an error")]
    Poisoned,
}

impl IngestError {
    /// The websocket close code the hub sends for this error: 1009 ("message
    /// too big") for oversize frames, 1008 (policy violation) otherwise.
    pub fn close_code(&self) -> u16 {
        match self {
            IngestError::FrameTooLarge { .. } | IngestError::TokenTooLong { .. } => 1009,
            IngestError::TokenNotUtf8 | IngestError::Poisoned => 1008,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    CameraId,
    TokenLen { camera_id: u32 },
    Token { camera_id: u32, len: usize },
    FrameLen,
    Frame { len: usize },
    Failed,
}

/// Incremental decoder for one ingest connection.
#[derive(Debug)]
pub struct IngestDecoder {
    state: State,
    max_frame_len: u32,
    frames_skipped_empty: u64,
}

impl IngestDecoder {
    /// A decoder that refuses frames longer than `max_frame_len` bytes.
    pub fn new(max_frame_len: u32) -> Self {
        Self {
            state: State::CameraId,
            max_frame_len,
            frames_skipped_empty: 0,
        }
    }

    /// How many zero-length frames were skipped so far.
    pub fn frames_skipped_empty(&self) -> u64 {
        self.frames_skipped_empty
    }

    /// True once the hello has been decoded and the stream carries frames.
    pub fn in_frames(&self) -> bool {
        matches!(self.state, State::FrameLen | State::Frame { .. })
    }

    /// How many more bytes the decoder needs before it can make progress.
    /// A transport can use it to size reads; it is always bounded by the
    /// maximum frame length plus four.
    pub fn bytes_wanted(&self, buffered: usize) -> usize {
        let need = match self.state {
            State::CameraId | State::TokenLen { .. } | State::FrameLen => 4,
            State::Token { len, .. } | State::Frame { len } => len,
            State::Failed => 0,
        };
        need.saturating_sub(buffered)
    }

    /// Decode the next event from `buf`, consuming exactly the bytes it
    /// used. `Ok(None)` means more bytes are needed. After an error the
    /// decoder stays failed.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<IngestEvent>, IngestError> {
        loop {
            match self.state {
                State::Failed => return Err(IngestError::Poisoned),
                State::CameraId => {
                    let Some(camera_id) = take_u32(buf) else {
                        return Ok(None);
                    };
                    self.state = State::TokenLen { camera_id };
                }
                State::TokenLen { camera_id } => {
                    let Some(len) = take_u32(buf) else {
                        return Ok(None);
                    };
                    if len as usize > MAX_TOKEN_LEN {
                        self.state = State::Failed;
                        return Err(IngestError::TokenTooLong {
                            len,
                            max: MAX_TOKEN_LEN,
                        });
                    }
                    self.state = State::Token {
                        camera_id,
                        len: len as usize,
                    };
                }
                State::Token { camera_id, len } => {
                    if buf.len() < len {
                        return Ok(None);
                    }
                    let raw = buf.split_to(len);
                    let token = match String::from_utf8(raw.to_vec()) {
                        Ok(t) => t,
                        Err(_) => {
                            self.state = State::Failed;
                            return Err(IngestError::TokenNotUtf8);
                        }
                    };
                    self.state = State::FrameLen;
                    return Ok(Some(IngestEvent::Hello { camera_id, token }));
                }
                State::FrameLen => {
                    let Some(len) = take_u32(buf) else {
                        return Ok(None);
                    };
                    // The seed reads a signed int32; anything above i32::MAX
                    // is a negative length there and far above our bound here.
                    if len > self.max_frame_len {
                        self.state = State::Failed;
                        return Err(IngestError::FrameTooLarge {
                            len,
                            max: self.max_frame_len,
                        });
                    }
                    if len == 0 {
                        self.frames_skipped_empty += 1;
                        continue;
                    }
                    self.state = State::Frame { len: len as usize };
                }
                State::Frame { len } => {
                    if buf.len() < len {
                        return Ok(None);
                    }
                    let frame = buf.split_to(len).freeze();
                    self.state = State::FrameLen;
                    return Ok(Some(IngestEvent::Frame(frame)));
                }
            }
        }
    }
}

fn take_u32(buf: &mut BytesMut) -> Option<u32> {
    if buf.len() < 4 {
        return None;
    }
    Some(buf.get_u32_le())
}

/// Append the connection hello: camera id, token length, token.
pub fn encode_hello(camera_id: u32, token: &str, out: &mut BytesMut) {
    out.reserve(8 + token.len());
    out.put_u32_le(camera_id);
    out.put_u32_le(u32::try_from(token.len()).expect("token longer than 4 GiB"));
    out.put_slice(token.as_bytes());
}

/// Append one frame: length prefix and bytes.
pub fn encode_frame(jpeg: &[u8], out: &mut BytesMut) {
    out.reserve(4 + jpeg.len());
    out.put_u32_le(u32::try_from(jpeg.len()).expect("frame longer than 4 GiB"));
    out.put_slice(jpeg);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(
        dec: &mut IngestDecoder,
        buf: &mut BytesMut,
    ) -> Result<Vec<IngestEvent>, IngestError> {
        let mut out = Vec::new();
        while let Some(ev) = dec.decode(buf)? {
            out.push(ev);
        }
        Ok(out)
    }

    #[test]
    fn hello_and_frames_in_one_message() {
        let mut buf = BytesMut::new();
        encode_hello(7, "abc", &mut buf);
        encode_frame(b"\xff\xd8one", &mut buf);
        encode_frame(b"", &mut buf);
        encode_frame(b"\xff\xd8two", &mut buf);
        let mut dec = IngestDecoder::new(DEFAULT_MAX_FRAME_LEN);
        let evs = decode_all(&mut dec, &mut buf).unwrap();
        assert_eq!(
            evs,
            vec![
                IngestEvent::Hello {
                    camera_id: 7,
                    token: "abc".into()
                },
                IngestEvent::Frame(Bytes::from_static(b"\xff\xd8one")),
                IngestEvent::Frame(Bytes::from_static(b"\xff\xd8two")),
            ]
        );
        assert_eq!(dec.frames_skipped_empty(), 1);
        assert!(buf.is_empty());
    }

    #[test]
    fn byte_at_a_time_gives_the_same_events() {
        let mut whole = BytesMut::new();
        encode_hello(u32::MAX, "tok", &mut whole);
        encode_frame(&[1, 2, 3, 4, 5], &mut whole);
        let mut dec = IngestDecoder::new(16);
        let mut buf = BytesMut::new();
        let mut evs = Vec::new();
        for b in whole.iter() {
            buf.put_u8(*b);
            evs.extend(decode_all(&mut dec, &mut buf).unwrap());
        }
        assert_eq!(evs.len(), 2);
        assert_eq!(
            evs[0],
            IngestEvent::Hello {
                camera_id: u32::MAX,
                token: "tok".into()
            }
        );
    }

    #[test]
    fn oversize_frame_fails_on_the_prefix_alone() {
        let mut buf = BytesMut::new();
        encode_hello(1, "t", &mut buf);
        buf.put_u32_le(17);
        let mut dec = IngestDecoder::new(16);
        assert!(matches!(
            dec.decode(&mut buf),
            Ok(Some(IngestEvent::Hello { .. }))
        ));
        let err = dec.decode(&mut buf).unwrap_err();
        assert_eq!(err, IngestError::FrameTooLarge { len: 17, max: 16 });
        assert_eq!(err.close_code(), 1009);
        assert_eq!(dec.decode(&mut buf), Err(IngestError::Poisoned));
    }

    #[test]
    fn negative_length_of_the_seed_is_too_large() {
        let mut buf = BytesMut::new();
        encode_hello(1, "t", &mut buf);
        buf.put_i32_le(-5);
        let mut dec = IngestDecoder::new(DEFAULT_MAX_FRAME_LEN);
        dec.decode(&mut buf).unwrap();
        assert!(matches!(
            dec.decode(&mut buf),
            Err(IngestError::FrameTooLarge { .. })
        ));
    }

    #[test]
    fn long_or_invalid_tokens_are_refused() {
        let mut buf = BytesMut::new();
        buf.put_u32_le(1);
        buf.put_u32_le(MAX_TOKEN_LEN as u32 + 1);
        let mut dec = IngestDecoder::new(16);
        assert!(matches!(
            dec.decode(&mut buf),
            Err(IngestError::TokenTooLong { .. })
        ));

        let mut buf = BytesMut::new();
        buf.put_u32_le(1);
        buf.put_u32_le(2);
        buf.put_slice(&[0xff, 0xfe]);
        let mut dec = IngestDecoder::new(16);
        assert_eq!(dec.decode(&mut buf), Err(IngestError::TokenNotUtf8));
    }

    #[test]
    fn bytes_wanted_tracks_the_state() {
        let mut dec = IngestDecoder::new(100);
        assert_eq!(dec.bytes_wanted(0), 4);
        let mut buf = BytesMut::new();
        encode_hello(1, "xy", &mut buf);
        buf.put_u32_le(50);
        dec.decode(&mut buf).unwrap();
        assert!(dec.in_frames());
        assert_eq!(dec.decode(&mut buf).unwrap(), None);
        assert_eq!(dec.bytes_wanted(buf.len()), 50);
    }
}
