//! The ingest decoder on hostile bytes, cut into hostile chunks: it must
//! never panic, never hand out a frame over the bound, and consume exactly
//! what it reports.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use wire::{IngestDecoder, IngestEvent};

fuzz_target!(|data: &[u8]| {
    if data.is_empty() {
        return;
    }
    // First byte picks the chunk size, the rest is the stream.
    let chunk = usize::from(data[0]).max(1);
    let max = 4096;
    let mut dec = IngestDecoder::new(max);
    let mut buf = BytesMut::new();
    let mut hellos = 0;
    for piece in data[1..].chunks(chunk) {
        buf.extend_from_slice(piece);
        loop {
            match dec.decode(&mut buf) {
                Ok(Some(IngestEvent::Hello { token, .. })) => {
                    hellos += 1;
                    assert!(token.len() <= wire::MAX_TOKEN_LEN);
                }
                Ok(Some(IngestEvent::Frame(f))) => {
                    assert!(hellos == 1);
                    assert!(!f.is_empty() && f.len() <= max as usize);
                }
                Ok(None) => break,
                Err(_) => return,
            }
        }
        assert!(buf.len() <= dec.bytes_wanted(0).max(4) + chunk);
    }
});
