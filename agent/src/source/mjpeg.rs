//! Splitting a byte stream of concatenated JPEGs (rpicam-vid's MJPEG output) into frames, and checking single MJPEG buffers.
//!
//! The splitter walks JPEG marker segments rather than searching for the
//! first `FF D9`: segment lengths are skipped, so an EOI inside an embedded
//! thumbnail (APP1/Exif) does not end the frame early, and in entropy-coded
//! data only a real marker (`FF` followed by anything but `00`, `FF` or a
//! restart marker) ends a scan. Its buffer is bounded: a frame that grows past
//! `max_frame` is dropped and the splitter resynchronises on the next SOI.
//! Bytes between frames are counted and skipped.

use bytes::{Bytes, BytesMut};

const SOI: [u8; 3] = [0xff, 0xd8, 0xff];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Looking for SOI.
    Hunting,
    /// In the marker segments before (or between) scans; `pos` is the next
    /// marker's offset in the buffer (which starts at the frame's SOI).
    Header { pos: usize },
    /// In entropy-coded data; `pos` is where to continue scanning.
    Entropy { pos: usize },
}

/// Counters of what the splitter threw away.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SplitStats {
    pub frames: u64,
    /// Bytes outside any frame.
    pub garbage_bytes: u64,
    /// Frames dropped for exceeding the maximum size.
    pub oversize: u64,
    /// Frames dropped because their marker structure was broken.
    pub corrupt: u64,
}

/// Incremental MJPEG stream splitter.
#[derive(Debug)]
pub struct MjpegSplitter {
    buf: BytesMut,
    state: State,
    max_frame: usize,
    stats: SplitStats,
}

impl MjpegSplitter {
    /// A splitter that drops frames longer than `max_frame` bytes. Its
    /// buffer never holds more than `max_frame` plus one input chunk.
    pub fn new(max_frame: usize) -> MjpegSplitter {
        MjpegSplitter {
            buf: BytesMut::with_capacity(64 * 1024),
            state: State::Hunting,
            max_frame: max_frame.max(SOI.len() + 2),
            stats: SplitStats::default(),
        }
    }

    pub fn stats(&self) -> SplitStats {
        self.stats
    }

    /// Bytes currently buffered (for tests of the bound).
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// Feed bytes; call `emit` for each complete frame.
    pub fn push(&mut self, data: &[u8], mut emit: impl FnMut(Bytes)) {
        self.buf.extend_from_slice(data);
        while let Some(frame) = self.next_frame() {
            emit(frame);
        }
    }

    fn next_frame(&mut self) -> Option<Bytes> {
        loop {
            match self.state {
                State::Hunting => {
                    match find(&self.buf, &SOI) {
                        Some(i) => {
                            self.discard(i);
                            self.state = State::Header { pos: 2 };
                        }
                        None => {
                            // Keep a possible partial SOI at the end.
                            let keep = self.buf.len().min(SOI.len() - 1);
                            self.discard(self.buf.len() - keep);
                            return None;
                        }
                    }
                }
                State::Header { pos } => {
                    if pos > self.max_frame {
                        self.oversize();
                        continue;
                    }
                    // Fill bytes (FF FF ...) may precede a marker.
                    let mut p = pos;
                    while p + 1 < self.buf.len() && self.buf[p] == 0xff && self.buf[p + 1] == 0xff {
                        p += 1;
                    }
                    if p + 2 > self.buf.len() {
                        self.state = State::Header { pos: p };
                        if self.need_more() {
                            return None;
                        }
                        continue;
                    }
                    if self.buf[p] != 0xff {
                        self.corrupt();
                        continue;
                    }
                    let marker = self.buf[p + 1];
                    match marker {
                        // EOI before any scan, a nested SOI, or no marker.
                        0xd9 | 0xd8 | 0x00 => {
                            self.corrupt();
                            continue;
                        }
                        0x01 | 0xd0..=0xd7 => {
                            self.state = State::Header { pos: p + 2 };
                            continue;
                        }
                        _ => {}
                    }
                    if p + 4 > self.buf.len() {
                        self.state = State::Header { pos: p };
                        if self.need_more() {
                            return None;
                        }
                        continue;
                    }
                    let len = usize::from(u16::from_be_bytes([self.buf[p + 2], self.buf[p + 3]]));
                    if len < 2 {
                        self.corrupt();
                        continue;
                    }
                    let next = p + 2 + len;
                    self.state = if marker == 0xda {
                        State::Entropy { pos: next }
                    } else {
                        State::Header { pos: next }
                    };
                }
                State::Entropy { pos } => {
                    let mut p = pos;
                    let end = self.buf.len();
                    loop {
                        if p > self.max_frame {
                            self.oversize();
                            break;
                        }
                        let Some(off) = self.buf[p.min(end)..].iter().position(|&b| b == 0xff)
                        else {
                            self.state = State::Entropy { pos: end };
                            if self.need_more() {
                                return None;
                            }
                            break;
                        };
                        p += off;
                        if p + 1 >= end {
                            self.state = State::Entropy { pos: p };
                            if self.need_more() {
                                return None;
                            }
                            break;
                        }
                        match self.buf[p + 1] {
                            0x00 | 0xd0..=0xd7 => p += 2,
                            0xff => p += 1,
                            0xd9 => {
                                let frame = self.buf.split_to(p + 2).freeze();
                                self.state = State::Hunting;
                                self.stats.frames += 1;
                                return Some(frame);
                            }
                            // Another segment (DHT, next SOS of a progressive
                            // JPEG, ...).
                            _ => {
                                self.state = State::Header { pos: p };
                                break;
                            }
                        }
                    }
                }
            }
        }
    }

    /// Not enough bytes buffered: true to wait for more, false if the
    /// frame was dropped for size instead (and hunting restarts).
    fn need_more(&mut self) -> bool {
        if self.buf.len() > self.max_frame {
            self.oversize();
            return false;
        }
        true
    }

    fn oversize(&mut self) {
        self.stats.oversize += 1;
        // Everything buffered belongs to the oversize frame; hunt in what
        // comes next (keep the tail in case an SOI straddles the cut).
        let keep = self.buf.len().min(SOI.len() - 1);
        let n = self.buf.len() - keep;
        let _ = self.buf.split_to(n);
        self.state = State::Hunting;
    }

    fn corrupt(&mut self) {
        self.stats.corrupt += 1;
        // Skip this SOI and hunt for the next one in what is buffered.
        self.discard(2);
        self.state = State::Hunting;
    }

    fn discard(&mut self, n: usize) {
        self.stats.garbage_bytes += n as u64;
        let _ = self.buf.split_to(n);
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// A single MJPEG buffer from a V4L2 device, checked: it must start with SOI
/// and contain an EOI; bytes after the last EOI (driver padding) are cut.
pub fn trim_jpeg(buf: &[u8]) -> Option<&[u8]> {
    if buf.len() < 4 || buf[..2] != [0xff, 0xd8] {
        return None;
    }
    // Padding after EOI is short in practice; look at the tail first.
    let eoi = buf.windows(2).rposition(|w| w == [0xff, 0xd9])?;
    if eoi < 4 {
        return None;
    }
    Some(&buf[..eoi + 2])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small but structurally real JPEG: SOI, APP0, DQT-like segment,
    /// SOS, entropy data with stuffed FF00 and a restart marker, EOI.
    fn jpeg(tag: u8, body_len: usize) -> Vec<u8> {
        let mut j = vec![0xff, 0xd8];
        j.extend_from_slice(&[0xff, 0xe0, 0x00, 0x06, b'J', b'F', b'I', tag]);
        j.extend_from_slice(&[0xff, 0xda, 0x00, 0x04, 0x01, 0x02]);
        for i in 0..body_len {
            j.push((i as u8).wrapping_mul(31) & 0x7f);
            if i % 50 == 7 {
                j.extend_from_slice(&[0xff, 0x00]);
            }
            if i % 90 == 3 {
                j.extend_from_slice(&[0xff, 0xd3]);
            }
        }
        j.extend_from_slice(&[0xff, 0xd9]);
        j
    }

    fn split_all(chunks: &[&[u8]], max: usize) -> (Vec<Bytes>, MjpegSplitter) {
        let mut s = MjpegSplitter::new(max);
        let mut out = Vec::new();
        for c in chunks {
            s.push(c, |f| out.push(f));
            assert!(s.buffered() <= max + c.len(), "buffer bound");
        }
        (out, s)
    }

    #[test]
    fn back_to_back_frames_in_one_read() {
        let (a, b) = (jpeg(1, 300), jpeg(2, 10));
        let all = [a.clone(), b.clone()].concat();
        let (out, s) = split_all(&[&all], 1 << 20);
        assert_eq!(out, vec![Bytes::from(a), Bytes::from(b)]);
        assert_eq!(s.stats().garbage_bytes, 0);
        assert_eq!(s.stats().frames, 2);
    }

    #[test]
    fn frames_split_across_reads_at_every_offset() {
        let (a, b) = (jpeg(1, 200), jpeg(2, 120));
        let all = [a.clone(), b.clone()].concat();
        for cut in 0..=all.len() {
            let (out, _) = split_all(&[&all[..cut], &all[cut..]], 1 << 20);
            assert_eq!(out.len(), 2, "cut at {cut}");
            assert_eq!(out[0][..], a[..]);
            assert_eq!(out[1][..], b[..]);
        }
        // And a byte at a time.
        let chunks: Vec<&[u8]> = all.chunks(1).collect();
        let (out, _) = split_all(&chunks, 1 << 20);
        assert_eq!(out.len(), 2);
    }

    #[test]
    fn garbage_between_frames_is_skipped() {
        let (a, b) = (jpeg(1, 100), jpeg(2, 100));
        let garbage = b"\x00\xff\xd8\x00junk\xff\xd9\xffmore";
        let all = [&garbage[..], &a, garbage, &b, garbage].concat();
        let (out, s) = split_all(&[&all], 1 << 20);
        assert_eq!(out, vec![Bytes::from(a), Bytes::from(b)]);
        assert!(s.stats().garbage_bytes >= 2 * garbage.len() as u64);
    }

    #[test]
    fn eoi_inside_an_app_segment_does_not_end_the_frame() {
        let mut j = vec![0xff, 0xd8];
        // APP1 holding a "thumbnail" with its own SOI/EOI.
        let thumb = [0xff, 0xd8, 0xff, 0xd9, 0x12];
        j.extend_from_slice(&[0xff, 0xe1, 0x00, (2 + thumb.len()) as u8]);
        j.extend_from_slice(&thumb);
        j.extend_from_slice(&jpeg(3, 50)[2..]);
        let (out, _) = split_all(&[&j], 1 << 20);
        assert_eq!(out, vec![Bytes::from(j)]);
    }

    #[test]
    fn oversize_frames_are_dropped_and_the_buffer_stays_bounded() {
        let big = jpeg(1, 5000);
        let small = jpeg(2, 100);
        let max = 1024;
        let all = [big.clone(), small.clone(), big, small.clone()].concat();
        let chunks: Vec<&[u8]> = all.chunks(100).collect();
        let (out, s) = split_all(&chunks, max);
        assert_eq!(out, vec![Bytes::from(small.clone()), Bytes::from(small)]);
        assert_eq!(s.stats().oversize, 2);

        // Endless garbage that starts like a frame and never ends.
        let mut s = MjpegSplitter::new(max);
        let mut n = 0;
        s.push(&[0xff, 0xd8, 0xff, 0xda, 0x00, 0x02], |_| n += 1);
        for _ in 0..1000 {
            s.push(&[0x55; 333], |_| n += 1);
            assert!(s.buffered() <= max + 333);
        }
        assert_eq!(n, 0);
        assert!(s.stats().oversize >= 1);
    }

    #[test]
    fn broken_header_is_corrupt_and_resyncs() {
        let good = jpeg(1, 40);
        // SOI FF then a non-marker byte where a marker must be.
        let bad = [0xff, 0xd8, 0xff, 0xe0, 0x00, 0x04, 0x00, 0x00, 0x12, 0x34];
        let all = [&bad[..], &good].concat();
        let (out, s) = split_all(&[&all], 1 << 20);
        assert_eq!(out, vec![Bytes::from(good)]);
        assert_eq!(s.stats().corrupt, 1);
    }

    /// Real JPEGs (testpattern, so entropy data with stuffed FF00 bytes),
    /// garbage without FF between them, random read sizes: every frame
    /// comes out byte for byte.
    #[test]
    fn real_jpegs_with_random_chunking() {
        let mut rng = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng
        };
        let pattern = testpattern::Pattern::new(160, 120);
        let frames: Vec<Vec<u8>> = (0..8)
            .map(|i| {
                pattern.render_jpeg(
                    testpattern::Stamp {
                        frame: i,
                        millis: u64::from(i) * 33,
                    },
                    50 + i as u8 * 5,
                )
            })
            .collect();
        let mut stream = Vec::new();
        for f in &frames {
            let garbage = (next() % 40) as usize;
            stream.extend((0..garbage).map(|_| (next() % 0xfe) as u8));
            stream.extend_from_slice(f);
        }
        for _ in 0..20 {
            let mut s = MjpegSplitter::new(1 << 20);
            let mut out = Vec::new();
            let mut rest = &stream[..];
            while !rest.is_empty() {
                let n = ((next() % 5000) as usize + 1).min(rest.len());
                s.push(&rest[..n], |f| out.push(f));
                rest = &rest[n..];
            }
            assert_eq!(out.len(), frames.len());
            for (got, want) in out.iter().zip(&frames) {
                assert_eq!(&got[..], &want[..]);
            }
            assert_eq!(s.stats().corrupt + s.stats().oversize, 0);
        }
    }

    #[test]
    fn trim_checks_soi_and_eoi() {
        let j = jpeg(1, 20);
        let mut padded = j.clone();
        padded.extend_from_slice(&[0; 64]);
        assert_eq!(trim_jpeg(&padded), Some(&j[..]));
        assert_eq!(trim_jpeg(&j), Some(&j[..]));
        assert_eq!(trim_jpeg(&j[..j.len() - 1]), None, "no EOI");
        assert_eq!(trim_jpeg(&j[1..]), None, "no SOI");
        assert_eq!(trim_jpeg(&[]), None);
        assert_eq!(trim_jpeg(&[0xff, 0xd8, 0xff, 0xd9]), None, "nothing inside");
    }
}
