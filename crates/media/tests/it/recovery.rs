//! Crash recovery on a real file: every truncation is repaired to the last complete fragment,
//! the repaired file plays, and malformed input never panics `recover` or `probe`.

use crate::common::*;
use media::recover::Scanner;
use media::{Duration90k, SegmenterConfig, probe, recover};

fn one_file(frames: usize) -> Written {
    let stream = encode_annexb(320, 240, frames, 15);
    let cfg = SegmenterConfig {
        target_duration: Duration90k::from_secs(3600),
        ..Default::default()
    };
    let (_, mut files) = segment_stream(&stream, cfg);
    assert_eq!(files.len(), 1);
    files.pop().unwrap()
}

#[test]
fn truncation_recovers_to_last_complete_fragment() {
    let file = one_file(120);
    let data = &file.bytes;
    let b = &file.boundaries; // b[0] = init end, b[k] = end of fragment k
    assert_eq!(b.len(), 9);
    let dir = tempfile::tempdir().unwrap();
    let mut checked_prefixes = std::collections::BTreeSet::new();
    let mut cuts: Vec<usize> = (0..2000)
        .step_by(37)
        .chain((2000..data.len()).step_by(311))
        .collect();
    cuts.push(data.len());
    for cut in cuts {
        match recover(&data[..cut]) {
            Err(_) => assert!(cut < b[0], "init intact at {cut} but recover failed"),
            Ok(r) => {
                let complete = b.iter().filter(|&&e| e <= cut).count() - 1;
                assert_eq!(r.fragments as usize, complete, "cut {cut}");
                assert_eq!(r.valid_len as usize, b[complete], "cut {cut}");
                assert_eq!(r.samples, 15 * complete as u64);
                assert_eq!(r.duration, Duration90k(15 * FRAME_90K * complete as i64));
                // At most one (the torn) fragment is lost.
                if complete < b.len() - 1 {
                    assert!(r.discarded_len < (b[complete + 1] - b[complete]) as u64);
                }
                if r.fragments >= 1 && checked_prefixes.insert(r.valid_len) {
                    let path = dir.path().join(format!("cut{}.mp4", r.valid_len));
                    std::fs::write(&path, &data[..r.valid_len as usize]).unwrap();
                    if let Some(v) = ffprobe(&path) {
                        let pr = probed(&v);
                        assert_eq!(pr.frames, 15 * complete as i64);
                        assert!(ffmpeg_decode_errors(&path).is_empty());
                    }
                }
            }
        }
    }
    assert_eq!(checked_prefixes.len(), 8);
}

#[test]
fn malformed_input_never_panics() {
    let file = one_file(30);
    let data = &file.bytes;
    // Truncations at every byte.
    for cut in 0..data.len() {
        let _ = recover(&data[..cut]);
        let _ = probe(&data[..cut]);
    }
    // Bit flips and byte overwrites across the init segment and the moof headers (where the
    // parser looks), and sparsely across the sample data.
    let mut rng = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let mut mutated = 0;
    for i in 0..data.len() {
        let interesting =
            i < b_end(&file) || file.boundaries.iter().any(|&e| i >= e && i < e + 400);
        if !interesting && i % 97 != 0 {
            continue;
        }
        for v in [
            data[i] ^ 0x01,
            data[i] ^ 0x80,
            0x00,
            0xff,
            (next() & 0xff) as u8,
        ] {
            let mut d = data.clone();
            d[i] = v;
            if let Ok(r) = recover(&d) {
                assert!(r.valid_len as usize <= d.len());
            }
            let _ = probe(&d);
            mutated += 1;
        }
    }
    // Random multi-byte damage.
    for _ in 0..2000 {
        let mut d = data.clone();
        for _ in 0..8 {
            let i = (next() as usize) % d.len();
            d[i] = next() as u8;
        }
        let cut = (next() as usize) % (d.len() + 1);
        let _ = recover(&d[..cut]);
        let _ = probe(&d[..cut]);
    }
    assert!(mutated > 10_000, "{mutated}");
}

fn b_end(file: &Written) -> usize {
    file.boundaries[0]
}

#[test]
fn scanner_reads_only_headers() {
    let file = one_file(150);
    let data = &file.bytes;
    for cut in [
        data.len(),
        data.len() - 1,
        data.len() / 2,
        file.boundaries[3],
    ] {
        let mut scanner = Scanner::new(cut as u64);
        let (mut reads, mut read_bytes) = (0, 0);
        while let Some((offset, len)) = scanner.next_read() {
            let start = offset as usize;
            let chunk = &data[start..(start + len).min(cut)];
            reads += 1;
            read_bytes += chunk.len();
            scanner.feed(chunk);
        }
        let r = scanner.into_recovery().unwrap();
        assert_eq!(r, recover(&data[..cut]).unwrap());
        println!(
            "cut {cut}: {reads} reads, {read_bytes} bytes of {cut}, {} fragments",
            r.fragments
        );
        assert!(reads <= r.fragments as usize + 2);
        assert!(read_bytes < cut / 4, "{read_bytes} bytes read of {cut}");
    }
}
