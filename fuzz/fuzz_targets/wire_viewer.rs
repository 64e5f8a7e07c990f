//! The viewer handshake decoder never panics and never accepts a
//! non-positive camera id.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut buf = BytesMut::from(data);
    if let Ok(Some(h)) = wire::decode_viewer_hello(&mut buf) {
        assert!(h.camera_id > 0);
    }
});
