//! Fuzz the streaming BcMedia decoder: no panics, progress on errors, and every decoded
//! packet survives an encode/decode round trip.
#![no_main]

use baichuan::media::MediaDecoder;
use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut dec = MediaDecoder::new();
    let mut buf = BytesMut::from(data);
    loop {
        let before = buf.len();
        match dec.decode(&mut buf) {
            Ok(Some(p)) => {
                let mut out = BytesMut::new();
                p.encode(&mut out);
                let again = MediaDecoder::new().decode(&mut out);
                assert_eq!(again, Ok(Some(p)));
            }
            Ok(None) => break,
            Err(_) => assert!(buf.len() < before),
        }
    }
});
