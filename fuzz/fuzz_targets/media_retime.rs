//! Moving a file's media time to start at 0 (`media::retime`), which the hub runs over
//! uploaded segments and both the hub and the agent over files on disk: planning must
//! never panic or fail to finish; the patches touch only decode times, so the patched
//! file scans exactly as the original did except that it starts at 0; applying them
//! piece by piece gives the same bytes; and a second plan finds nothing to do.
#![no_main]

use libfuzzer_sys::fuzz_target;
use media::retime;

fuzz_target!(|data: &[u8]| {
    let Ok(patches) = retime::plan(data) else {
        return;
    };
    let mut whole = data.to_vec();
    retime::apply(&patches, 0, &mut whole);
    assert_eq!(whole.len(), data.len());
    // In odd pieces, as a copy loop applies them.
    let mut pieces = Vec::with_capacity(data.len());
    for (i, chunk) in data.chunks(7).enumerate() {
        let mut c = chunk.to_vec();
        retime::apply(&patches, (i * 7) as u64, &mut c);
        pieces.extend(c);
    }
    assert_eq!(pieces, whole);
    let (before, after) = (media::recover(data), media::recover(&whole));
    let (Ok(b), Ok(a)) = (&before, &after) else {
        panic!("scans differ: {before:?} vs {after:?}");
    };
    assert_eq!(
        (a.valid_len, a.fragments, a.samples, a.duration, a.key_frames),
        (b.valid_len, b.fragments, b.samples, b.duration, b.key_frames)
    );
    if !patches.is_empty() {
        assert_eq!(a.first_dts, Some(media::Time90k::ZERO));
        assert!(retime::plan(&whole).unwrap().is_empty());
    } else {
        assert_eq!(whole, data);
    }
});
