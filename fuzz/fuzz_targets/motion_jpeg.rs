//! The motion detector's JPEG input (the DC-only reader and the `jpeg-decoder` fallback) on untrusted bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use motion::{Detector, FrameRef, Millis, Picture, Settings};

fuzz_target!(|data: &[u8]| {
    let _ = motion::input::reduce(&Picture::Jpeg(data));
    // Through a detector too: a bad frame must leave it usable.
    let mut d = Detector::new(Settings::default()).expect("default settings");
    for i in 0..2 {
        let frame = FrameRef {
            index: i,
            time: Millis(i as i64 * 200),
        };
        let _ = d.analyse(&Picture::Jpeg(data), frame);
    }
});
