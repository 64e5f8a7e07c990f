//! Fuzz the BC header parser and the message codec (every encryption state): no panics,
//! progress on errors, and decoded messages re-encode.
#![no_main]

use baichuan::crypto::{AesKey, Encryption};
use baichuan::header::Header;
use baichuan::msg::Codec;
use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = Header::parse(data);
    let key = AesKey::derive("nonce", "password");
    for enc in [
        Encryption::None,
        Encryption::BcEncrypt,
        Encryption::Aes(key),
        Encryption::FullAes(key),
    ] {
        let mut codec = Codec::new(enc);
        let mut buf = BytesMut::from(data);
        loop {
            let before = buf.len();
            match codec.decode(&mut buf) {
                Ok(Some(m)) => {
                    let mut out = BytesMut::new();
                    let _ = codec.clone().encode(&m, &mut out);
                }
                Ok(None) => break,
                Err(_) => assert!(buf.len() < before),
            }
        }
    }
});
