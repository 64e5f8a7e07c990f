//! Render → JPEG → decode → read the stamp back, across sizes and qualities.

use testpattern::{Image, Pattern, Stamp, encode_jpeg, read_stamp};

const SIZES: [(u32, u32); 6] = [
    (160, 120),
    (320, 240),
    (333, 251),
    (640, 480),
    (1280, 720),
    (1920, 1080),
];

fn decode(jpeg: &[u8]) -> (Vec<u8>, u32, u32) {
    let mut dec = zune_jpeg::JpegDecoder::new(std::io::Cursor::new(jpeg));
    let rgb = dec.decode().expect("our JPEG decodes");
    let (w, h) = dec.dimensions().expect("dimensions after decode");
    (rgb, w as u32, h as u32)
}

fn stamps() -> [Stamp; 4] {
    [
        Stamp {
            frame: 0,
            millis: 0,
        },
        Stamp {
            frame: 1,
            millis: 1_700_000_000_123,
        },
        Stamp {
            frame: 123_456,
            millis: 86_399_999,
        },
        Stamp {
            frame: u32::MAX,
            millis: u64::MAX,
        },
    ]
}

/// What `read_stamp` returns for `s`: only the low 32 bits of the time.
fn expected(s: Stamp) -> Stamp {
    Stamp {
        frame: s.frame,
        millis: s.millis & 0xffff_ffff,
    }
}

#[test]
fn stamp_survives_jpeg_at_every_size_and_quality() {
    for (w, h) in SIZES {
        let pattern = Pattern::new(w, h);
        assert!(pattern.has_stamp(), "{w}x{h}");
        for stamp in stamps() {
            let img = pattern.render(stamp);
            assert_eq!((img.width, img.height), (w, h));
            assert_eq!(img.rgb.len(), (w * h * 3) as usize);
            assert_eq!(
                read_stamp(&img.rgb, w, h),
                Some(expected(stamp)),
                "raw {w}x{h}"
            );
            for q in [50, 75, 90] {
                let jpeg = pattern.render_jpeg(stamp, q);
                assert_eq!(jpeg, encode_jpeg(&img, q));
                assert_eq!(&jpeg[..2], &[0xff, 0xd8], "SOI");
                assert_eq!(&jpeg[jpeg.len() - 2..], &[0xff, 0xd9], "EOI");
                let (rgb, dw, dh) = decode(&jpeg);
                assert_eq!((dw, dh), (w, h));
                assert_eq!(
                    read_stamp(&rgb, dw, dh),
                    Some(expected(stamp)),
                    "{w}x{h} q{q} {stamp:?}"
                );
            }
        }
    }
}

#[test]
fn different_stamps_give_different_pictures() {
    let p = Pattern::new(320, 240);
    let a = p.render(Stamp {
        frame: 1,
        millis: 1000,
    });
    let b = p.render(Stamp {
        frame: 2,
        millis: 1000,
    });
    let c = p.render(Stamp {
        frame: 1,
        millis: 1040,
    });
    assert_ne!(a.rgb, b.rgb);
    assert_ne!(a.rgb, c.rgb);
    assert_ne!(b.rgb, c.rgb);
    assert_eq!(
        a,
        p.render(Stamp {
            frame: 1,
            millis: 1000
        })
    );
    // The bars and box move with time, not only the text and cells: the
    // middle rows differ over a second.
    let d = p.render(Stamp {
        frame: 1,
        millis: 2000,
    });
    let mid = 120 * 320 * 3..121 * 320 * 3;
    assert_ne!(a.rgb[mid.clone()], d.rgb[mid]);
}

#[test]
fn garbage_reads_as_none() {
    let (w, h) = (320u32, 240u32);
    let n = (w * h * 3) as usize;
    assert_eq!(read_stamp(&vec![128; n], w, h), None, "flat grey");
    assert_eq!(read_stamp(&vec![0; n], w, h), None, "black");
    assert_eq!(read_stamp(&vec![255; n], w, h), None, "white");
    // Deterministic noise (xorshift).
    let mut x = 0x2545_f491_4f6c_dd1du64;
    let noise: Vec<u8> = (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    assert_eq!(read_stamp(&noise, w, h), None, "noise");

    let img = Pattern::new(w, h).render(Stamp {
        frame: 7,
        millis: 7,
    });
    assert_eq!(read_stamp(&img.rgb[..n - 1], w, h), None, "short buffer");
    assert_eq!(read_stamp(&img.rgb, w, h + 8), None, "wrong size");
    assert_eq!(read_stamp(&[], 0, 0), None, "empty");
}

#[test]
fn a_flipped_cell_fails_the_crc() {
    let (w, h) = (320u32, 240u32);
    let img = Pattern::new(w, h).render(Stamp {
        frame: 42,
        millis: 4242,
    });
    // Find a data cell by scanning the bottom band: invert one 8x8 cell in
    // every position in turn and require that none reads as a valid,
    // different stamp.
    let good = read_stamp(&img.rgb, w, h).unwrap();
    let mut rejected = 0;
    for cy in (h as usize / 2..h as usize).step_by(8) {
        for cx in (0..w as usize).step_by(8) {
            let mut rgb = img.rgb.clone();
            for y in cy..cy + 8 {
                for x in cx..cx + 8 {
                    let p = (y * w as usize + x) * 3;
                    for c in &mut rgb[p..p + 3] {
                        *c = 255 - *c;
                    }
                }
            }
            match read_stamp(&rgb, w, h) {
                None => rejected += 1,
                Some(s) => assert_eq!(s, good, "cell at {cx},{cy} changed the stamp"),
            }
        }
    }
    assert_eq!(rejected, 76, "every one of the 76 cells matters");
}

#[test]
fn tiny_and_huge_sizes_are_clamped() {
    let p = Pattern::new(0, 0);
    assert_eq!(
        (p.width(), p.height()),
        (testpattern::MIN_DIM, testpattern::MIN_DIM)
    );
    assert!(!p.has_stamp());
    let img = p.render(Stamp::default());
    assert_eq!(img.rgb.len(), 16 * 16 * 3);
    assert_eq!(read_stamp(&img.rgb, 16, 16), None);
    let jpeg = encode_jpeg(&img, 0);
    assert_eq!(decode(&jpeg).1, 16);
    let p = Pattern::new(100_000, 8);
    assert_eq!(
        (p.width(), p.height()),
        (testpattern::MAX_DIM, testpattern::MIN_DIM)
    );
}

#[test]
fn i420_size_for_odd_dimensions() {
    let img: Image = Pattern::new(333, 251).render(Stamp::default());
    let yuv = img.to_i420();
    assert_eq!(yuv.len(), 333 * 251 + 2 * 167 * 126);
    assert_eq!(yuv.len(), testpattern::i420_len(333, 251));
    // The band at the bottom-left corner is black: Y 16, neutral chroma.
    assert_eq!(yuv[333 * 250], 16);
    assert_eq!(yuv[333 * 251 + 167 * 125], 128);
}

/// Timing only, for a human reading `--nocapture`; asserts nothing about
/// speed, only that the work was done.
#[test]
fn render_and_encode_timing() {
    let p = Pattern::new(1280, 720);
    let start = std::time::Instant::now();
    let mut bytes = 0;
    for i in 0..5 {
        let img = p.render(Stamp {
            frame: i,
            millis: u64::from(i) * 40,
        });
        bytes += encode_jpeg(&img, 75).len();
    }
    eprintln!(
        "1280x720 render+encode: {:?}/frame, {} bytes/frame",
        start.elapsed() / 5,
        bytes / 5
    );
    assert!(bytes > 0);
}
