//! The crate's one error type. Every variant is about bad or unsupported input; the crate
//! does no I/O, so nothing here is transient or worth retrying with the same bytes.

use crate::time::Time90k;

/// Everything that can go wrong turning bytes into frames or frames into fMP4.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// A NAL unit (or a whole access unit) exceeded a `MAX_*` bound; the data was dropped.
    #[error("{what} of {len} bytes exceeds the limit of {max} bytes")]
    TooLong {
        what: &'static str,
        len: usize,
        max: usize,
    },
    /// Malformed H.264/H.265 bitstream data (NAL header, AVCC length prefix, ...).
    #[error("invalid bitstream: {0}")]
    InvalidBitstream(String),
    /// An SPS or PPS that h264-reader could not parse, or an unusable one.
    #[error("invalid parameter set: {0}")]
    InvalidParameterSet(String),
    /// An `avcC`/`hvcC` record or a sample entry box that does not parse.
    #[error("invalid codec configuration: {0}")]
    InvalidConfig(String),
    /// A sample whose timestamps the writer cannot represent (negative dts, zero or
    /// negative duration, composition offset beyond 32 bits).
    #[error("invalid sample timing: {0}")]
    InvalidTiming(String),
    /// Decode timestamps went backwards or stood still.
    #[error("decode timestamps not increasing: {prev} then {next}")]
    NonMonotonicDts { prev: Time90k, next: Time90k },
    /// mp4-atom refused to encode a box we built (a bug, or an out-of-range field).
    #[error("mp4 encoding failed: {0}")]
    Encode(String),
    /// An fMP4 file whose init segment (ftyp + moov) is missing, torn or unusable.
    #[error("invalid fMP4 file: {0}")]
    InvalidFile(String),
}

impl From<mp4_atom::Error> for Error {
    fn from(e: mp4_atom::Error) -> Self {
        Error::Encode(e.to_string())
    }
}
