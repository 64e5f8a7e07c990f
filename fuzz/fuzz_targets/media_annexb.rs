//! H.264 Annex B splitting and access-unit assembly of untrusted bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use media::h264::{AccessUnitAssembler, AnnexBSplitter};

fuzz_target!(|data: &[u8]| {
    let mut s = AnnexBSplitter::new();
    let mut a = AccessUnitAssembler::new();
    for piece in data.chunks(97) {
        s.push(piece);
        while let Ok(Some(nal)) = s.pop() {
            if let Ok(Some(au)) = a.push(nal) {
                let _ = au.to_avcc();
                if let Some(sps) = au.sps() {
                    let _ = media::h264::parse_sps(sps);
                }
            }
        }
    }
});
