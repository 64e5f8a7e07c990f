//! Segment names: format/parse round trip, canonical form only, sorting as time.

use store::{MAX_START_MS, MIN_START_MS, parse_segment_name, segment_name};

#[test]
fn known_names() {
    for (ms, name) in [
        (0, "1970-01-01T00-00-00.000Z.mp4"),
        (1_795_246_310_123, "2026-11-21T07-31-50.123Z.mp4"),
        (951_782_400_999, "2000-02-29T00-00-00.999Z.mp4"),
        (-1, "1969-12-31T23-59-59.999Z.mp4"),
        (MIN_START_MS, "0000-01-01T00-00-00.000Z.mp4"),
        (MAX_START_MS, "9999-12-31T23-59-59.999Z.mp4"),
    ] {
        assert_eq!(segment_name(ms).as_deref(), Some(name), "{ms}");
        assert_eq!(parse_segment_name(name), Some(ms), "{name}");
    }
    assert_eq!(segment_name(MIN_START_MS - 1), None);
    assert_eq!(segment_name(MAX_START_MS + 1), None);
}

#[test]
fn round_trip_and_sorting() {
    let mut rng = 0x2545_f491_4f6c_dd1du64;
    let mut times = Vec::new();
    for _ in 0..5000 {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        let ms = MIN_START_MS + (rng % (MAX_START_MS - MIN_START_MS) as u64) as i64;
        times.push(ms);
    }
    // Neighbours that differ by one millisecond across second, day and year boundaries.
    times.extend([
        999,
        1000,
        86_399_999,
        86_400_000,
        1_798_761_599_999,
        1_798_761_600_000,
    ]);
    let mut names: Vec<String> = times
        .iter()
        .map(|&ms| {
            let name = segment_name(ms).unwrap();
            assert_eq!(parse_segment_name(&name), Some(ms), "{name}");
            assert!(!name.contains(':'));
            name
        })
        .collect();
    names.sort();
    times.sort();
    let parsed: Vec<i64> = names
        .iter()
        .map(|n| parse_segment_name(n).unwrap())
        .collect();
    assert_eq!(parsed, times, "names sort as times");
}

#[test]
fn only_canonical_names_parse() {
    for bad in [
        "",
        "2026-11-21T07-31-50.123Z",
        "2026-11-21T07-31-50.123Z.mp4.partial",
        "2026-11-21T07:31:50.123Z.mp4",
        "2026-11-21T07-31-50.12Z.mp4",
        "2026-02-30T07-31-50.123Z.mp4",
        "2026-04-31T07-31-50.123Z.mp4",
        "2025-02-29T00-00-00.000Z.mp4",
        "2026-13-01T00-00-00.000Z.mp4",
        "2026-11-21T24-00-00.000Z.mp4",
        "2026-11-21T07-60-00.000Z.mp4",
        "2026-11-21T07-31-60.000Z.mp4",
        "+026-11-21T07-31-50.123Z.mp4",
        "2026-11-21t07-31-50.123z.mp4",
        "../../etc/passwd-0.000Z.mp4",
        "2026-11-21T07-31-50.123Z.mkv",
    ] {
        assert_eq!(parse_segment_name(bad), None, "{bad:?}");
    }
    assert!(parse_segment_name("2024-02-29T00-00-00.000Z.mp4").is_some());
}
