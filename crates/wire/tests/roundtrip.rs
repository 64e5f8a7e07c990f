//! Whatever the encoder writes, the decoder reads back exactly, however the
//! bytes are cut into messages (the seed client sends the id alone, then the
//! token, then one message per frame; others pack everything together).

use bytes::BytesMut;
use wire::{IngestDecoder, IngestEvent, encode_frame, encode_hello};

/// A small deterministic generator, so failures reproduce.
struct XorShift(u64);
impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

#[test]
fn random_streams_round_trip_under_random_chunking() {
    let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
    for case in 0..300 {
        let id = rng.next() as u32;
        let token: String = (0..rng.below(80))
            .map(|_| (b'a' + rng.below(26) as u8) as char)
            .collect();
        let frames: Vec<Vec<u8>> = (0..rng.below(12))
            .map(|_| (0..rng.below(3000)).map(|_| rng.next() as u8).collect())
            .collect();
        let mut wire_bytes = BytesMut::new();
        encode_hello(id, &token, &mut wire_bytes);
        for f in &frames {
            encode_frame(f, &mut wire_bytes);
        }

        let mut dec = IngestDecoder::new(4096);
        let mut buf = BytesMut::new();
        let mut events = Vec::new();
        let mut rest = &wire_bytes[..];
        while !rest.is_empty() {
            let n = (1 + rng.below(700) as usize).min(rest.len());
            buf.extend_from_slice(&rest[..n]);
            rest = &rest[n..];
            while let Some(ev) = dec.decode(&mut buf).unwrap() {
                events.push(ev);
            }
        }
        assert!(buf.is_empty(), "case {case}: bytes left over");
        let mut expected = vec![IngestEvent::Hello {
            camera_id: id,
            token: token.clone(),
        }];
        // Zero-length frames are skipped by design.
        expected.extend(
            frames
                .iter()
                .filter(|f| !f.is_empty())
                .map(|f| IngestEvent::Frame(f.clone().into())),
        );
        assert_eq!(events, expected, "case {case}");
        assert_eq!(
            dec.frames_skipped_empty(),
            frames.iter().filter(|f| f.is_empty()).count() as u64
        );
    }
}

#[test]
fn viewer_hello_round_trips() {
    for (id, token) in [(1, ""), (42, "fake token"), (i64::from(u32::MAX), "ü-ñ-✓")] {
        let h = wire::ViewerHello {
            camera_id: id,
            token: token.into(),
        };
        let mut b = BytesMut::new();
        wire::encode_viewer_hello(&h, &mut b);
        assert_eq!(wire::decode_viewer_hello(&mut b).unwrap(), Some(h));
        assert!(b.is_empty());
    }
}
