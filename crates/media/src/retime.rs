//! Moving a finished file's media time to start at 0, for files written before every
//! segment did (their media time continued the stream's running time) or by another writer.
//!
//! Each fragment's `tfdt` becomes its old value minus the first fragment's, so gaps and
//! sample durations stay exactly as they were. Only those value fields change, never a box
//! size: the result has the same length, and the [`Patch`]es can be applied while the file
//! is copied piece by piece. Find the fields with a [`crate::recover::Scanner`]
//! ([`record_decode_times`](crate::recover::Scanner::record_decode_times)), or with
//! [`plan`] for a file in memory.
//!
//! ```
//! # fn file_with_old_timing() -> Vec<u8> { media::retime::tests_support::old_timing_file(3, 2) }
//! let mut file = file_with_old_timing(); // its first fragment's tfdt is 3 s
//! let patches = media::retime::plan(&file)?;
//! assert!(!patches.is_empty());
//! media::retime::apply(&patches, 0, &mut file);
//! assert_eq!(media::recover(&file)?.first_dts, Some(media::Time90k::ZERO));
//! assert!(media::retime::plan(&file)?.is_empty()); // nothing left to do
//! # Ok::<(), media::Error>(())
//! ```

use crate::Error;

pub use crate::recover::{DecodeTime, MAX_RETIME_FRAGMENTS};

/// Bytes to write over the file at `offset`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Patch {
    pub offset: u64,
    len: u8,
    bytes: [u8; 8],
}

impl Patch {
    /// The new bytes (4 or 8).
    pub fn bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }

    fn end(&self) -> u64 {
        self.offset + u64::from(self.len)
    }
}

/// The patches that make the first of `times` (in file order) 0 and move every other by
/// the same amount. Empty if the first already is 0, or the file's first fragment has no
/// decode time (then it starts at 0 by definition), or there is none. Fails if a later
/// decode time lies before the first (the file's times are not in order, so no single
/// shift is right), or fields overlap (not a file the scanner produced).
pub fn rebase(times: &[DecodeTime]) -> Result<Vec<Patch>, Error> {
    let Some(first) = times.first().filter(|t| t.fragment == 0).map(|t| t.value) else {
        return Ok(Vec::new());
    };
    if first == 0 {
        return Ok(Vec::new());
    }
    let mut out = Vec::with_capacity(times.len());
    let mut prev_end = 0;
    for t in times {
        let v = t.value.checked_sub(first).ok_or_else(|| {
            Error::InvalidTiming(format!(
                "a fragment's decode time {} is before the first one's {first}",
                t.value
            ))
        })?;
        if t.offset < prev_end {
            return Err(Error::InvalidFile("overlapping decode time fields".into()));
        }
        let mut bytes = [0u8; 8];
        let len = if t.wide {
            bytes.copy_from_slice(&v.to_be_bytes());
            8
        } else {
            // v <= t.value, which fitted in 32 bits.
            bytes[..4].copy_from_slice(&(v as u32).to_be_bytes());
            4
        };
        let p = Patch {
            offset: t.offset,
            len,
            bytes,
        };
        prev_end = p.end();
        out.push(p);
    }
    Ok(out)
}

/// Writes the parts of `patches` that fall inside `buf`, which holds the file's bytes from
/// offset `buf_offset`. Applying every piece of a file this way (in any order, once each)
/// applies every patch once.
pub fn apply(patches: &[Patch], buf_offset: u64, buf: &mut [u8]) {
    let buf_end = buf_offset.saturating_add(buf.len() as u64);
    // Patches are in file order: skip those that end before the buffer.
    let first = patches.partition_point(|p| p.end() <= buf_offset);
    for p in &patches[first..] {
        if p.offset >= buf_end {
            break;
        }
        for (i, b) in p.bytes().iter().enumerate() {
            let at = p.offset + i as u64;
            if (buf_offset..buf_end).contains(&at) {
                buf[(at - buf_offset) as usize] = *b;
            }
        }
    }
}

/// [`rebase`] for a whole file in memory: scans it and returns the patches (empty if its
/// media time already starts at 0). Fails like
/// [`Scanner::into_decode_times`](crate::recover::Scanner::into_decode_times).
pub fn plan(data: &[u8]) -> Result<Vec<Patch>, Error> {
    let s = crate::recover::Scanner::new(data.len() as u64).record_decode_times();
    let (_, times) = crate::recover::feed_slice(s, data).into_decode_times()?;
    rebase(&times)
}

/// Files made the way segments were written before their media time started at 0, for
/// tests of the repair (here and in the crates that repair files on disk).
#[doc(hidden)]
pub mod tests_support {
    use bytes::Bytes;

    use crate::fmp4::{FragmentPolicy, Fragmenter, Sample, init_segment};
    use crate::time::{Duration90k, Time90k};

    /// A file of `secs` seconds of stand-in 15 fps video (a key frame, so a fragment, every
    /// second) whose media time starts at `start_secs`, as the second segment of a run
    /// used to.
    pub fn old_timing_file(start_secs: i64, secs: i64) -> Vec<u8> {
        let sps = b"\x67\x42\xc0\x16\xd9\x00\xa0\x2f\xf9\x70\x11\x00\x00\x03\x00\x01\x00\x00\x03\x00\x1e\x0f\x16\x2e\x48";
        let track = crate::TrackConfig::h264(sps, b"\x68\xcb\x83\xcb\x20").expect("track");
        let mut out = init_segment(&track).expect("init");
        let mut f = Fragmenter::new(FragmentPolicy::default());
        for i in 0..secs * 15 {
            let dts = Time90k((start_secs * 15 + i) * 6000);
            let s = Sample {
                data: Bytes::from(vec![0, 0, 0, 3, 0x41, i as u8, 0x80]),
                dts,
                pts: dts,
                duration: Duration90k(6000),
                is_key: i % 15 == 0,
            };
            if let Some(frag) = f.push(s).expect("sample") {
                frag.append_to(&mut out);
            }
        }
        if let Some(frag) = f.flush().expect("flush") {
            frag.append_to(&mut out);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::tests_support::old_timing_file;
    use super::*;
    use crate::Time90k;
    use crate::recover::{Scanner, recover};

    #[test]
    fn rebases_every_fragment_and_keeps_everything_else() {
        let old = old_timing_file(120, 3);
        let before = recover(&old).unwrap();
        assert_eq!(before.first_dts, Some(Time90k(120 * 90_000)));
        assert_eq!(before.fragments, 3);
        let patches = plan(&old).unwrap();
        assert_eq!(patches.len(), 3);
        assert!(patches.iter().all(|p| p.bytes().len() == 8)); // mp4-atom writes tfdt version 1
        let mut new = old.clone();
        apply(&patches, 0, &mut new);
        assert_eq!(new.len(), old.len());
        let after = recover(&new).unwrap();
        assert_eq!(after.first_dts, Some(Time90k::ZERO));
        assert_eq!(
            (
                after.samples,
                after.duration,
                after.valid_len,
                after.key_frames
            ),
            (
                before.samples,
                before.duration,
                before.valid_len,
                before.key_frames
            )
        );
        // Each fragment starts where the previous ended, from 0.
        let s = Scanner::new(new.len() as u64).record_decode_times();
        let values: Vec<u64> = crate::recover::feed_slice(s, &new)
            .into_decode_times()
            .unwrap()
            .1
            .iter()
            .map(|t| t.value)
            .collect();
        assert_eq!(values, vec![0, 90_000, 180_000]);
        // Only the tfdt values differ.
        let changed = old.iter().zip(&new).filter(|(a, b)| a != b).count();
        assert!((1..=12).contains(&changed), "{changed} bytes changed");
        assert!(plan(&new).unwrap().is_empty());
        // A file already starting at 0 needs nothing.
        assert!(plan(&old_timing_file(0, 2)).unwrap().is_empty());
    }

    #[test]
    fn patches_apply_across_any_pieces() {
        let old = old_timing_file(4, 3);
        let patches = plan(&old).unwrap();
        let mut whole = old.clone();
        apply(&patches, 0, &mut whole);
        for piece in [1, 3, 7, 100, 4096] {
            let mut out = Vec::new();
            for (i, chunk) in old.chunks(piece).enumerate() {
                let mut c = chunk.to_vec();
                apply(&patches, (i * piece) as u64, &mut c);
                out.extend(c);
            }
            assert_eq!(out, whole, "pieces of {piece}");
        }
    }

    #[test]
    fn wide_fields_and_bad_orders() {
        let t = |offset, wide, value| DecodeTime {
            fragment: (offset / 100) as u32,
            offset,
            wide,
            value,
        };
        let p = rebase(&[t(10, true, 1 << 40), t(100, true, (1 << 40) + 5)]).unwrap();
        assert_eq!(p[0].bytes(), &[0; 8]);
        assert_eq!(p[1].bytes(), &5u64.to_be_bytes());
        assert!(rebase(&[t(10, false, 50), t(100, false, 49)]).is_err());
        assert!(rebase(&[t(10, true, 50), t(12, false, 60)]).is_err());
        assert!(rebase(&[]).unwrap().is_empty());
        // The first fragment has no tfdt: the file starts at 0 already.
        assert!(
            rebase(&[t(100, true, 50), t(200, true, 60)])
                .unwrap()
                .is_empty()
        );
    }
}
