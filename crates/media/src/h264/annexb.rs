//! Annex B byte streams (`00 00 01` / `00 00 00 01` start codes): a streaming splitter, a
//! whole-buffer iterator and conversion to length-prefixed (AVCC) sample bytes.
//!
//! Emulation-prevention bytes (`00 00 03`) are left untouched: NAL units come out exactly as
//! they were in the stream, which is what MP4 samples and `avcC` records carry.

use bytes::{Bytes, BytesMut};

use crate::Error;

/// The largest NAL unit the splitter accepts (8 MiB; a 4K intra slice is a few MB at most).
pub const MAX_NAL_LEN: usize = 8 << 20;

/// Finds the first `00 00 01` at or after `from`; returns the index of its first zero.
fn find_start_code(buf: &[u8], from: usize) -> Option<usize> {
    let mut i = from;
    while i + 2 < buf.len() {
        // Look at the third byte first: if it is > 1 no start code can begin at i, i+1 or i+2.
        let c = buf[i + 2];
        if c > 1 {
            i += 3;
        } else if c == 1 && buf[i] == 0 && buf[i + 1] == 0 {
            return Some(i);
        } else {
            i += 1;
        }
    }
    None
}

/// Strips the `trailing_zero_8bits` (and the leading zero of a following 4-byte start code):
/// a NAL unit never ends in a zero byte.
fn trim_trailing_zeros(nal: &[u8]) -> usize {
    nal.iter().rposition(|&b| b != 0).map_or(0, |p| p + 1)
}

/// Splits a byte stream pushed in arbitrary pieces into NAL units (without start codes).
///
/// Push bytes with [`push`](Self::push), then call [`pop`](Self::pop) until it returns
/// `Ok(None)`. A NAL unit is only complete once the next start code has been seen, so the last
/// one of a stream comes out of [`finish`](Self::finish). Bytes before the first start code
/// are discarded. Memory is bounded by the NAL limit plus the size of one push: a NAL unit
/// longer than the limit is reported once as [`Error::TooLong`] and skipped up to the next
/// start code.
#[derive(Debug)]
pub struct AnnexBSplitter {
    buf: BytesMut,
    /// `buf` starts right after a start code (we are inside a NAL unit).
    in_nal: bool,
    /// Everything in `buf` before this index is known to contain no start code.
    scanned: usize,
    max_nal_len: usize,
}

impl Default for AnnexBSplitter {
    fn default() -> Self {
        Self::new()
    }
}

impl AnnexBSplitter {
    /// A splitter with the [`MAX_NAL_LEN`] bound.
    pub fn new() -> Self {
        Self::with_max_nal_len(MAX_NAL_LEN)
    }

    /// A splitter with a custom NAL unit bound.
    pub fn with_max_nal_len(max_nal_len: usize) -> Self {
        AnnexBSplitter {
            buf: BytesMut::new(),
            in_nal: false,
            scanned: 0,
            max_nal_len,
        }
    }

    /// Appends stream bytes. Call [`pop`](Self::pop) until `Ok(None)` afterwards.
    pub fn push(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// Returns the next complete NAL unit, `Ok(None)` when more bytes are needed, or
    /// `Err(TooLong)` once for an oversized NAL unit (which is then skipped).
    pub fn pop(&mut self) -> Result<Option<Bytes>, Error> {
        loop {
            match find_start_code(&self.buf, self.scanned) {
                Some(p) => {
                    let head = self.buf.split_to(p + 3);
                    self.scanned = 0;
                    if !std::mem::replace(&mut self.in_nal, true) {
                        continue; // leading garbage (or nothing) before the first start code
                    }
                    let mut nal = head.freeze();
                    nal.truncate(trim_trailing_zeros(&nal[..p]));
                    if nal.is_empty() {
                        continue; // two start codes in a row
                    }
                    if nal.len() > self.max_nal_len {
                        return Err(Error::TooLong {
                            what: "NAL unit",
                            len: nal.len(),
                            max: self.max_nal_len,
                        });
                    }
                    return Ok(Some(nal));
                }
                None => {
                    // A start code may straddle the end: rescan the last two bytes next time.
                    self.scanned = self.buf.len().saturating_sub(2);
                    if !self.in_nal {
                        // Outside a NAL unit nothing but a partial start code is worth keeping.
                        let _ = self.buf.split_to(self.scanned);
                        self.scanned = 0;
                    } else if self.buf.len() > self.max_nal_len.saturating_add(2) {
                        let len = self.buf.len();
                        let _ = self.buf.split_to(len - 2);
                        self.scanned = 0;
                        self.in_nal = false;
                        return Err(Error::TooLong {
                            what: "NAL unit",
                            len,
                            max: self.max_nal_len,
                        });
                    }
                    return Ok(None);
                }
            }
        }
    }

    /// Ends the stream: returns the final NAL unit, if any, and resets the splitter.
    pub fn finish(&mut self) -> Option<Bytes> {
        let rest = std::mem::take(&mut self.buf).freeze();
        let was_in_nal = std::mem::replace(&mut self.in_nal, false);
        self.scanned = 0;
        if !was_in_nal {
            return None;
        }
        let len = trim_trailing_zeros(&rest);
        (len > 0 && len <= self.max_nal_len).then(|| rest.slice(..len))
    }

    /// Bytes currently buffered (for metrics and tests).
    pub fn buffered_len(&self) -> usize {
        self.buf.len()
    }
}

/// Iterates over the NAL units of a complete Annex B buffer (e.g. one encoder output frame).
pub fn nal_units(annexb: &[u8]) -> NalUnits<'_> {
    let pos = find_start_code(annexb, 0).map_or(annexb.len(), |p| p + 3);
    NalUnits { data: annexb, pos }
}

/// Iterator returned by [`nal_units`].
#[derive(Debug, Clone)]
pub struct NalUnits<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Iterator for NalUnits<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        while self.pos < self.data.len() {
            let start = self.pos;
            let end = match find_start_code(self.data, start) {
                Some(p) => {
                    self.pos = p + 3;
                    p
                }
                None => {
                    self.pos = self.data.len();
                    self.data.len()
                }
            };
            let nal = &self.data[start..end];
            let nal = &nal[..trim_trailing_zeros(nal)];
            if !nal.is_empty() {
                return Some(nal);
            }
        }
        None
    }
}

/// Appends `nal` to `out` with a 4-byte big-endian length prefix.
pub fn push_length_prefixed(out: &mut Vec<u8>, nal: &[u8]) -> Result<(), Error> {
    let len = u32::try_from(nal.len()).map_err(|_| Error::TooLong {
        what: "NAL unit",
        len: nal.len(),
        max: u32::MAX as usize,
    })?;
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(nal);
    Ok(())
}

/// Converts one access unit in Annex B form to AVCC sample bytes (4-byte lengths), dropping
/// access unit delimiters, SPS, PPS and filler data (those belong in the sample entry).
pub fn annexb_to_avcc(annexb: &[u8]) -> Result<Vec<u8>, Error> {
    let mut out = Vec::with_capacity(annexb.len() + 16);
    for nal in nal_units(annexb) {
        if super::NalType::of(nal).is_some_and(|t| t.belongs_in_sample()) {
            push_length_prefixed(&mut out, nal)?;
        }
    }
    Ok(out)
}

/// Splits AVCC sample bytes (NAL units each preceded by a `length_size`-byte big-endian
/// length, `length_size` in 1..=4) into NAL units, checking every length against the buffer.
pub fn avcc_nal_units(sample: &[u8], length_size: usize) -> Result<Vec<&[u8]>, Error> {
    if !(1..=4).contains(&length_size) {
        return Err(Error::InvalidBitstream(format!(
            "AVCC length size {length_size}"
        )));
    }
    let mut out = Vec::new();
    let mut rest = sample;
    while !rest.is_empty() {
        if rest.len() < length_size {
            return Err(Error::InvalidBitstream("truncated AVCC length".into()));
        }
        let (len_bytes, tail) = rest.split_at(length_size);
        let len = len_bytes.iter().fold(0usize, |a, &b| (a << 8) | b as usize);
        if len > tail.len() {
            return Err(Error::InvalidBitstream(format!(
                "AVCC NAL length {len} past the end ({} bytes left)",
                tail.len()
            )));
        }
        let (nal, tail) = tail.split_at(len);
        out.push(nal);
        rest = tail;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(splitter: &mut AnnexBSplitter, out: &mut Vec<Vec<u8>>) {
        while let Some(nal) = splitter.pop().unwrap() {
            out.push(nal.to_vec());
        }
    }

    /// Pushes `stream` in pieces of every size from 1 to 7 and checks the NAL units.
    fn check(stream: &[u8], expected: &[&[u8]]) {
        for piece in 1..=7 {
            let mut s = AnnexBSplitter::new();
            let mut got = Vec::new();
            for chunk in stream.chunks(piece) {
                s.push(chunk);
                collect(&mut s, &mut got);
            }
            got.extend(s.finish().map(|b| b.to_vec()));
            let got: Vec<&[u8]> = got.iter().map(|v| &v[..]).collect();
            assert_eq!(got, expected, "piece size {piece}");
        }
        let whole: Vec<&[u8]> = nal_units(stream).collect();
        assert_eq!(whole, expected, "nal_units");
    }

    #[test]
    fn three_and_four_byte_start_codes() {
        check(
            b"\x00\x00\x00\x01\x67\x42\x00\x1f\x00\x00\x01\x68\xce\x3c\x80\x00\x00\x00\x01\x65\x88\x84",
            &[b"\x67\x42\x00\x1f", b"\x68\xce\x3c\x80", b"\x65\x88\x84"],
        );
    }

    #[test]
    fn emulation_prevention_untouched_and_trailing_zeros_stripped() {
        check(
            b"\x00\x00\x01\x06\x00\x00\x03\x01\x80\x00\x00\x00\x00\x01\x09\xf0\x00\x00",
            &[b"\x06\x00\x00\x03\x01\x80", b"\x09\xf0"],
        );
    }

    #[test]
    fn leading_garbage_and_empty_units_skipped() {
        check(
            b"\xff\x00\x12\x00\x00\x01\x00\x00\x01\x41\x9a\x00\x00\x01",
            &[b"\x41\x9a"],
        );
        check(b"", &[]);
        check(b"\x00\x00\x00", &[]);
    }

    #[test]
    fn oversized_nal_reported_once_then_resyncs() {
        let mut s = AnnexBSplitter::with_max_nal_len(8);
        let mut stream = b"\x00\x00\x01\x41".to_vec();
        stream.extend([0x55; 100]);
        stream.extend(b"\x00\x00\x01\x41\x01");
        stream.extend(b"\x00\x00\x01\x41\x02");
        let mut got = Vec::new();
        let mut errors = 0;
        for chunk in stream.chunks(10) {
            s.push(chunk);
            loop {
                match s.pop() {
                    Ok(Some(n)) => got.push(n.to_vec()),
                    Ok(None) => break,
                    Err(Error::TooLong { .. }) => errors += 1,
                    Err(e) => panic!("{e}"),
                }
            }
            assert!(s.buffered_len() <= 8 + 2 + 10);
        }
        got.extend(s.finish().map(|b| b.to_vec()));
        assert_eq!(errors, 1);
        assert_eq!(got, vec![b"\x41\x01".to_vec(), b"\x41\x02".to_vec()]);
    }

    #[test]
    fn avcc_conversion_round_trip() {
        let annexb = b"\x00\x00\x00\x01\x09\xf0\x00\x00\x00\x01\x67\x42\x00\x1f\x00\x00\x01\x68\xce\x3c\x80\x00\x00\x01\x65\x00\x00\x03\x01";
        let avcc = annexb_to_avcc(annexb).unwrap();
        assert_eq!(avcc, b"\x00\x00\x00\x05\x65\x00\x00\x03\x01");
        assert_eq!(
            avcc_nal_units(&avcc, 4).unwrap(),
            vec![&b"\x65\x00\x00\x03\x01"[..]]
        );
        assert!(avcc_nal_units(b"\x00\x00\x00\x09\x65", 4).is_err());
        assert!(avcc_nal_units(b"\x00\x00", 4).is_err());
        assert!(avcc_nal_units(b"", 5).is_err());
        assert_eq!(avcc_nal_units(b"\x01\x65\x02\x41\x9a", 1).unwrap().len(), 2);
    }
}
