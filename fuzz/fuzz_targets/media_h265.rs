//! H.265 from a camera (Reolink's BcMedia carries the encoder's Annex B as it is): the SPS
//! reader, the hvcC builder and the sample conversion return errors, never panic, and a
//! track they build reads back as the same track.
#![no_main]

use libfuzzer_sys::fuzz_target;
use media::h265;

fuzz_target!(|data: &[u8]| {
    // As an access unit in Annex B.
    let _ = h265::annexb_to_sample(data);
    if let Some((vps, sps, pps)) = h265::parameter_sets(data)
        && let Ok(track) = h265::track(&vps, &sps, &pps)
    {
        let again = media::TrackConfig::from_sample_entry(track.sample_entry()).unwrap();
        assert_eq!(again.codec_string(), track.codec_string());
        assert_eq!(
            (again.width(), again.height()),
            (track.width(), track.height())
        );
    }
    // As one SPS NAL unit.
    if let Ok(info) = h265::parse_sps(data) {
        assert!(info.width > 0 && info.height > 0);
        assert!(info.bit_depth_luma <= 16 && info.bit_depth_chroma <= 16);
    }
});
