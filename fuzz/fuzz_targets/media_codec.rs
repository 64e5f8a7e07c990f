//! Decoder configuration records and sample entries from untrusted sources (camera
//! SDP via RTSP, `avcC`/`hvcC` inside uploaded MP4, length-prefixed samples): the
//! parsers return errors, never panic, and what they accept is self-consistent.
#![no_main]

use libfuzzer_sys::fuzz_target;
use media::TrackConfig;
use media::h264;

fuzz_target!(|data: &[u8]| {
    if data.is_empty() {
        return;
    }
    let (sel, rest) = (data[0], &data[1..]);
    match sel % 6 {
        0 => {
            if let Ok(t) = TrackConfig::from_avcc(rest) {
                // The entry we build must read back as the same track.
                let again = TrackConfig::from_sample_entry(t.sample_entry()).unwrap();
                assert_eq!(again.codec_string(), t.codec_string());
                assert_eq!((again.width(), again.height()), (t.width(), t.height()));
            }
        }
        1 => {
            let (w, h) = (u16::from(sel) * 8 + 16, 240);
            if let Ok(t) = TrackConfig::h265(rest, w, h) {
                let again = TrackConfig::from_sample_entry(t.sample_entry()).unwrap();
                assert_eq!(again.codec_string(), t.codec_string());
            }
        }
        2 => {
            if let Ok(t) = TrackConfig::from_sample_entry(rest) {
                assert_eq!(t.sample_entry(), rest);
                let _ = t.mime_type();
            }
        }
        3 => {
            let size = usize::from(sel / 6 % 4) + 1;
            if let Ok(nals) = h264::avcc_nal_units(rest, size) {
                assert!(nals.iter().map(|n| n.len() + size).sum::<usize>() <= rest.len());
            }
        }
        4 => {
            let _ = h264::annexb_to_avcc(rest);
            for nal in h264::nal_units(rest) {
                let _ = h264::parse_sps(nal);
            }
        }
        _ => {
            // SPS + PPS as an RTSP camera announces them in its SDP.
            let cut = usize::from(sel).min(rest.len());
            let (sps, pps) = rest.split_at(cut);
            let _ = TrackConfig::h264(sps, pps);
        }
    }
});
