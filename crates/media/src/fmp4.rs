//! A fragmented-MP4 writer with no I/O: [`init_segment`] makes `ftyp`+`moov` for one video
//! track, [`Fragmenter`] turns samples into `moof`+`mdat` pairs. Concatenated, they form a
//! file that ffmpeg and Chromium (progressive `<video src>` and MSE) play, and of which every
//! complete fragment survives a crash (see [`crate::recover()`]).
//!
//! Boxes are encoded with mp4-atom, except two spots written by hand: the `mdat` header (so
//! sample bytes are copied once, straight from the caller's buffers) and the sample entry,
//! which is spliced into `stsd` as opaque bytes because mp4-atom refuses to encode unknown
//! codecs and would re-encode (and so could alter) an `hvcC` or a camera-supplied `avc1`.

use bytes::Bytes;
use mp4_atom::{Encode, FixedPoint};

use crate::Error;
use crate::codec::TrackConfig;
use crate::time::{Duration90k, TIMESCALE, Time90k};

/// The one track's id.
pub const TRACK_ID: u32 = 1;
/// The largest fragment (sum of sample sizes) a [`Fragmenter`] builds: 64 MiB.
pub const MAX_FRAGMENT_BYTES: usize = 64 << 20;
/// The most samples one fragment holds.
pub const MAX_FRAGMENT_SAMPLES: usize = 16_384;

/// `trun` sample flags of a sync sample: depends on no other sample.
pub const SYNC_SAMPLE_FLAGS: u32 = 0x0200_0000;
/// `trun` sample flags of a non-sync sample: depends on others, `sample_is_non_sync_sample`.
pub const NON_SYNC_SAMPLE_FLAGS: u32 = 0x0101_0000;

/// One coded frame ready for the file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sample {
    /// Length-prefixed NAL units (AVCC / HVCC form), 4-byte lengths for our own tracks.
    pub data: Bytes,
    /// Decode time. Must increase from sample to sample and be non-negative.
    pub dts: Time90k,
    /// Presentation time; differs from `dts` only with B-frames (`|pts - dts| < 2^31` ticks).
    pub pts: Time90k,
    /// Time until the next sample's dts. Must be positive.
    pub duration: Duration90k,
    /// A sync sample (IDR / IRAP): decoding can start here.
    pub is_key: bool,
}

/// The `ftyp` + `moov` that starts every file; no `mehd` (the duration is unknown).
pub fn init_segment(track: &TrackConfig) -> Result<Vec<u8>, Error> {
    build_init(track, None)
}

/// Like [`init_segment`], but declaring the total duration (in `mvhd`, `tkhd`, `mdhd` and an
/// `mvex/mehd`), for writing out a finished recording whose length is known. Its length
/// differs from [`init_segment`]'s, so it cannot be patched over one in place.
pub fn init_segment_with_duration(
    track: &TrackConfig,
    duration: Duration90k,
) -> Result<Vec<u8>, Error> {
    let d = u64::try_from(duration.0)
        .map_err(|_| Error::InvalidTiming(format!("negative duration {duration}")))?;
    build_init(track, Some(d))
}

fn build_init(track: &TrackConfig, duration: Option<u64>) -> Result<Vec<u8>, Error> {
    let ftyp = mp4_atom::Ftyp {
        major_brand: b"iso5".into(),
        minor_version: 512,
        compatible_brands: vec![b"iso5".into(), b"iso6".into(), b"mp41".into()],
    };
    let moov = mp4_atom::Moov {
        mvhd: mp4_atom::Mvhd {
            creation_time: 0,
            modification_time: 0,
            timescale: TIMESCALE,
            duration: duration.unwrap_or(0),
            rate: FixedPoint::new(1, 0),
            volume: FixedPoint::new(1, 0),
            matrix: Default::default(),
            next_track_id: TRACK_ID + 1,
        },
        mvex: Some(mp4_atom::Mvex {
            mehd: duration.map(|d| mp4_atom::Mehd {
                fragment_duration: d,
            }),
            trex: vec![mp4_atom::Trex {
                track_id: TRACK_ID,
                default_sample_description_index: 1,
                default_sample_duration: 0,
                default_sample_size: 0,
                default_sample_flags: 0,
            }],
        }),
        trak: vec![mp4_atom::Trak {
            tkhd: mp4_atom::Tkhd {
                track_id: TRACK_ID,
                duration: duration.unwrap_or(0),
                enabled: true,
                in_movie: true,
                width: FixedPoint::new(track.width(), 0),
                height: FixedPoint::new(track.height(), 0),
                ..Default::default()
            },
            mdia: mp4_atom::Mdia {
                mdhd: mp4_atom::Mdhd {
                    timescale: TIMESCALE,
                    duration: duration.unwrap_or(0),
                    language: "und".into(),
                    ..Default::default()
                },
                hdlr: mp4_atom::Hdlr {
                    handler: b"vide".into(),
                    name: "VideoHandler".into(),
                },
                minf: mp4_atom::Minf {
                    vmhd: Some(mp4_atom::Vmhd::default()),
                    dinf: mp4_atom::Dinf {
                        dref: mp4_atom::Dref {
                            entries: vec![mp4_atom::Url::default().into()],
                        },
                    },
                    stbl: mp4_atom::Stbl {
                        stco: Some(mp4_atom::Stco::default()),
                        ..Default::default()
                    },
                    ..Default::default()
                },
            },
            ..Default::default()
        }],
        ..Default::default()
    };
    let mut out = Vec::with_capacity(1024);
    ftyp.encode(&mut out)?;
    let moov_start = out.len();
    moov.encode(&mut out)?;
    splice_sample_entry(&mut out, moov_start, track.sample_entry())?;
    Ok(out)
}

/// Inserts `entry` into the empty `stsd` of the `moov` at `moov_start`, setting its entry
/// count to 1 and growing every enclosing box.
fn splice_sample_entry(out: &mut Vec<u8>, moov_start: usize, entry: &[u8]) -> Result<(), Error> {
    const PATH: [&[u8; 4]; 6] = [b"moov", b"trak", b"mdia", b"minf", b"stbl", b"stsd"];
    let mut starts = Vec::with_capacity(PATH.len());
    let mut pos = moov_start;
    let mut end = out.len();
    for (depth, kind) in PATH.iter().enumerate() {
        // Children of a container start right after its 8-byte header.
        let mut p = if depth == 0 { pos } else { pos + 8 };
        loop {
            let b = match crate::bmff::read_box(&out[p..end]) {
                crate::bmff::Head::Box(b) => b,
                _ => return Err(Error::Encode(format!("no {} in moov", kind.escape_ascii()))),
            };
            if &b.kind == *kind {
                starts.push(p);
                pos = p;
                end = p + b.total_len;
                break;
            }
            p += b.total_len;
        }
    }
    let stsd = pos;
    // stsd body: version+flags (4), entry_count (4).
    if end - stsd != 16 {
        return Err(Error::Encode("stsd not empty".into()));
    }
    out[stsd + 12..stsd + 16].copy_from_slice(&1u32.to_be_bytes());
    let grow = u32::try_from(entry.len()).map_err(|_| Error::Encode("huge sample entry".into()))?;
    for s in starts {
        let size = u32::from_be_bytes(out[s..s + 4].try_into().expect("4 bytes"));
        let size = size
            .checked_add(grow)
            .ok_or_else(|| Error::Encode("moov over 4 GiB".into()))?;
        out[s..s + 4].copy_from_slice(&size.to_be_bytes());
    }
    out.splice(end..end, entry.iter().copied());
    Ok(())
}

/// When the [`Fragmenter`] closes a fragment. The default (one fragment per GOP) suits
/// recording; for low-latency live view over MSE, `max_duration: Duration90k(1)` gives one
/// fragment per frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FragmentPolicy {
    /// At a key frame, start a new fragment if the current one spans at least this long.
    /// Zero (the default) gives one fragment per GOP.
    pub min_duration: Duration90k,
    /// Start a new fragment at any sample once the current one spans this long, so a stream
    /// with rare key frames still loses at most this much on a crash. Default 10 s.
    pub max_duration: Duration90k,
    /// Start a new fragment before the sample bytes would exceed this. Default and ceiling:
    /// [`MAX_FRAGMENT_BYTES`].
    pub max_bytes: usize,
}

impl Default for FragmentPolicy {
    fn default() -> Self {
        FragmentPolicy {
            min_duration: Duration90k::ZERO,
            max_duration: Duration90k::from_secs(10),
            max_bytes: MAX_FRAGMENT_BYTES,
        }
    }
}

/// One encoded `moof` + `mdat` pair: `head`, then the samples' own buffers (shared with
/// whoever else holds the frames, not copied), to be written one after the other
/// ([`parts`](Self::parts); a vectored write takes them as they are).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fragment {
    /// `moof` and the `mdat` header: the fragment's bytes up to its first sample.
    pub head: Vec<u8>,
    /// The `mdat` payload: each sample's bytes, in order.
    pub samples: Vec<Bytes>,
    /// `mfhd` sequence number (1 for a file's first fragment).
    pub sequence_number: u32,
    /// `tfdt`: the first sample's dts (relative to its file's start when the fragment comes
    /// from a [`crate::Segmenter`]).
    pub start: Time90k,
    /// Sum of the sample durations.
    pub duration: Duration90k,
    pub sample_count: u32,
    /// The first sample is a sync sample.
    pub starts_with_key: bool,
    /// Sum of the sample sizes (the `mdat` payload).
    pub media_bytes: usize,
}

impl Fragment {
    /// The fragment's length in bytes.
    pub fn len(&self) -> usize {
        self.head.len() + self.media_bytes
    }

    /// Never true: a fragment has a `moof`.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The fragment's bytes, in order, as `head` then each sample.
    pub fn parts(&self) -> impl Iterator<Item = &[u8]> {
        std::iter::once(&self.head[..]).chain(self.samples.iter().map(|b| &b[..]))
    }

    /// Appends the fragment's bytes to `out`.
    pub fn append_to(&self, out: &mut Vec<u8>) {
        out.reserve(self.len());
        for p in self.parts() {
            out.extend_from_slice(p);
        }
    }

    /// The fragment's bytes in one buffer (a copy of every sample).
    pub fn to_vec(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.append_to(&mut out);
        out
    }
}

/// Groups samples into fragments according to a [`FragmentPolicy`].
#[derive(Debug)]
pub struct Fragmenter {
    policy: FragmentPolicy,
    next_sequence: u32,
    pending: Vec<Sample>,
    pending_bytes: usize,
    pending_duration: Duration90k,
    last_dts: Option<Time90k>,
}

impl Fragmenter {
    /// A fragmenter whose first fragment gets sequence number 1.
    pub fn new(policy: FragmentPolicy) -> Self {
        Fragmenter {
            policy: FragmentPolicy {
                max_bytes: policy.max_bytes.clamp(1, MAX_FRAGMENT_BYTES),
                ..policy
            },
            next_sequence: 1,
            pending: Vec::new(),
            pending_bytes: 0,
            pending_duration: Duration90k::ZERO,
            last_dts: None,
        }
    }

    /// Adds a sample. Returns the previous fragment when this sample starts a new one.
    /// On error the sample is rejected and the fragmenter is unchanged.
    pub fn push(&mut self, sample: Sample) -> Result<Option<Fragment>, Error> {
        check_sample(&sample, self.last_dts)?;
        let size = sample.data.len();
        if size > self.policy.max_bytes {
            return Err(Error::TooLong {
                what: "sample",
                len: size,
                max: self.policy.max_bytes,
            });
        }
        let p = &self.policy;
        let cut = !self.pending.is_empty()
            && ((sample.is_key && self.pending_duration >= p.min_duration)
                || self.pending_duration >= p.max_duration
                || self.pending_bytes + size > p.max_bytes
                || self.pending.len() >= MAX_FRAGMENT_SAMPLES);
        let done = if cut { self.flush()? } else { None };
        self.last_dts = Some(sample.dts);
        self.pending_bytes += size;
        self.pending_duration += sample.duration;
        self.pending.push(sample);
        Ok(done)
    }

    /// Closes the current fragment, if it has samples (at the end of a segment or stream).
    pub fn flush(&mut self) -> Result<Option<Fragment>, Error> {
        if self.pending.is_empty() {
            return Ok(None);
        }
        let seq = self.next_sequence;
        let head = encode_fragment_head(seq, &self.pending)?;
        let first = &self.pending[0];
        let frag = Fragment {
            head,
            samples: self.pending.iter().map(|s| s.data.clone()).collect(),
            sequence_number: seq,
            start: first.dts,
            duration: self.pending_duration,
            sample_count: self.pending.len() as u32,
            starts_with_key: first.is_key,
            media_bytes: self.pending_bytes,
        };
        self.next_sequence = seq.wrapping_add(1).max(1);
        self.pending.clear();
        self.pending_bytes = 0;
        self.pending_duration = Duration90k::ZERO;
        Ok(Some(frag))
    }

    /// Samples waiting for the current fragment to close.
    pub fn pending_samples(&self) -> usize {
        self.pending.len()
    }
}

fn check_sample(s: &Sample, last_dts: Option<Time90k>) -> Result<(), Error> {
    if s.dts.0 < 0 {
        return Err(Error::InvalidTiming(format!("negative dts {}", s.dts)));
    }
    if s.duration.0 <= 0 || s.duration.0 > i64::from(u32::MAX) {
        return Err(Error::InvalidTiming(format!("duration {}", s.duration)));
    }
    if i32::try_from(s.pts.0.saturating_sub(s.dts.0)).is_err() {
        return Err(Error::InvalidTiming(
            "composition offset over 2^31 ticks".into(),
        ));
    }
    if let Some(prev) = last_dts
        && s.dts <= prev
    {
        return Err(Error::NonMonotonicDts { prev, next: s.dts });
    }
    Ok(())
}

/// Encodes one `moof` + `mdat` for `samples` (already checked: non-empty, valid timing).
/// Stateless, for callers that group samples themselves.
pub fn encode_fragment(sequence_number: u32, samples: &[Sample]) -> Result<Vec<u8>, Error> {
    let mut out = encode_fragment_head(sequence_number, samples)?;
    out.reserve(samples.iter().map(|s| s.data.len()).sum());
    for s in samples {
        out.extend_from_slice(&s.data);
    }
    Ok(out)
}

/// The `moof` and `mdat` header of [`encode_fragment`]: its bytes up to the first sample.
pub fn encode_fragment_head(sequence_number: u32, samples: &[Sample]) -> Result<Vec<u8>, Error> {
    let first = samples
        .first()
        .ok_or_else(|| Error::Encode("empty fragment".into()))?;
    for s in samples {
        check_sample(s, None)?;
    }
    let media_len: usize = samples.iter().map(|s| s.data.len()).sum();
    let any_cts = samples.iter().any(|s| s.pts != s.dts);
    let entries = samples
        .iter()
        .map(|s| {
            Ok(mp4_atom::TrunEntry {
                duration: Some(s.duration.0 as u32),
                size: Some(u32::try_from(s.data.len()).map_err(|_| Error::TooLong {
                    what: "sample",
                    len: s.data.len(),
                    max: u32::MAX as usize,
                })?),
                flags: Some(if s.is_key {
                    SYNC_SAMPLE_FLAGS
                } else {
                    NON_SYNC_SAMPLE_FLAGS
                }),
                cts: any_cts.then_some(s.pts.0 - s.dts.0),
            })
        })
        .collect::<Result<Vec<_>, Error>>()?;
    let mut moof = mp4_atom::Moof {
        mfhd: mp4_atom::Mfhd { sequence_number },
        traf: vec![mp4_atom::Traf {
            tfhd: mp4_atom::Tfhd {
                track_id: TRACK_ID,
                default_base_is_moof: true,
                ..Default::default()
            },
            tfdt: Some(mp4_atom::Tfdt {
                base_media_decode_time: first.dts.0 as u64,
            }),
            trun: vec![mp4_atom::Trun {
                data_offset: Some(0),
                samples: entries.into(),
            }],
            ..Default::default()
        }],
    };
    let mdat_header_len = if media_len + 8 > u32::MAX as usize {
        16
    } else {
        8
    };
    let mut out = Vec::with_capacity(1024);
    moof.encode(&mut out)?;
    // The first sample starts right after the mdat header; the offset is from the moof start.
    let data_offset = i32::try_from(out.len() + mdat_header_len)
        .map_err(|_| Error::Encode("moof over 2 GiB".into()))?;
    moof.traf[0].trun[0].data_offset = Some(data_offset);
    out.clear();
    moof.encode(&mut out)?;
    if mdat_header_len == 8 {
        out.extend_from_slice(&((media_len + 8) as u32).to_be_bytes());
        out.extend_from_slice(b"mdat");
    } else {
        out.extend_from_slice(&1u32.to_be_bytes());
        out.extend_from_slice(b"mdat");
        out.extend_from_slice(&((media_len + 16) as u64).to_be_bytes());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::h264::tests_support::{PPS, SPS_640X360};

    fn track() -> TrackConfig {
        TrackConfig::h264(SPS_640X360, PPS).unwrap()
    }

    fn sample(i: i64, is_key: bool) -> Sample {
        Sample {
            data: Bytes::from(vec![0, 0, 0, 2, if is_key { 0x65 } else { 0x41 }, i as u8]),
            dts: Time90k(i * 6000),
            pts: Time90k(i * 6000),
            duration: Duration90k(6000),
            is_key,
        }
    }

    #[test]
    fn init_segment_decodes_with_mp4_atom() {
        let init = init_segment(&track()).unwrap();
        let mut buf = &init[..];
        let ftyp = <mp4_atom::Ftyp as mp4_atom::Decode>::decode(&mut buf).unwrap();
        assert_eq!(ftyp.major_brand, b"iso5".into());
        let moov = <mp4_atom::Moov as mp4_atom::Decode>::decode(&mut buf).unwrap();
        assert!(buf.is_empty());
        assert_eq!(moov.mvhd.timescale, 90_000);
        assert!(moov.mvex.as_ref().unwrap().mehd.is_none());
        let trak = &moov.trak[0];
        assert_eq!(trak.mdia.mdhd.timescale, 90_000);
        let codecs = &trak.mdia.minf.stbl.stsd.codecs;
        assert_eq!(codecs.len(), 1);
        match &codecs[0] {
            mp4_atom::Codec::Avc1(avc1) => {
                assert_eq!((avc1.visual.width, avc1.visual.height), (640, 360));
                assert_eq!(avc1.visual.data_reference_index, 1);
            }
            other => panic!("unexpected {other:?}"),
        }

        let with = init_segment_with_duration(&track(), Duration90k(90_000)).unwrap();
        let moov = <mp4_atom::Moov as mp4_atom::Decode>::decode(
            &mut &with[init.len() - moov_len(&init)..],
        )
        .unwrap();
        assert_eq!(moov.mvex.unwrap().mehd.unwrap().fragment_duration, 90_000);
        assert!(init_segment_with_duration(&track(), Duration90k(-1)).is_err());
    }

    fn moov_len(init: &[u8]) -> usize {
        init.len() - u32::from_be_bytes(init[..4].try_into().unwrap()) as usize
    }

    #[test]
    fn fragments_per_gop_with_offsets() {
        let mut f = Fragmenter::new(FragmentPolicy::default());
        let mut frags = Vec::new();
        for i in 0..10 {
            frags.extend(f.push(sample(i, i % 4 == 0)).unwrap());
        }
        frags.extend(f.flush().unwrap());
        let counts: Vec<u32> = frags.iter().map(|f| f.sample_count).collect();
        assert_eq!(counts, vec![4, 4, 2]);
        let seqs: Vec<u32> = frags.iter().map(|f| f.sequence_number).collect();
        assert_eq!(seqs, vec![1, 2, 3]);
        assert_eq!(frags[1].start, Time90k(24_000));
        assert_eq!(frags[1].duration, Duration90k(24_000));
        assert!(frags.iter().all(|f| f.starts_with_key));

        let bytes = &frags[1].to_vec();
        let moof = <mp4_atom::Moof as mp4_atom::Decode>::decode(&mut &bytes[..]).unwrap();
        let moof_len = u32::from_be_bytes(bytes[..4].try_into().unwrap()) as usize;
        let traf = &moof.traf[0];
        assert_eq!(traf.tfdt.as_ref().unwrap().base_media_decode_time, 24_000);
        assert!(traf.tfhd.default_base_is_moof);
        let trun = &traf.trun[0];
        assert_eq!(trun.data_offset, Some(moof_len as i32 + 8));
        let flags: Vec<u32> = trun.samples.iter().map(|e| e.flags.unwrap()).collect();
        assert_eq!(
            flags,
            vec![
                SYNC_SAMPLE_FLAGS,
                NON_SYNC_SAMPLE_FLAGS,
                NON_SYNC_SAMPLE_FLAGS,
                NON_SYNC_SAMPLE_FLAGS
            ]
        );
        assert_eq!(&bytes[moof_len + 4..moof_len + 8], b"mdat");
        assert_eq!(
            &bytes[moof_len + 8..moof_len + 14],
            &sample(4, true).data[..]
        );
    }

    #[test]
    fn a_fragment_in_parts_is_the_encoded_fragment_and_shares_the_samples() {
        let samples: Vec<Sample> = (0..4).map(|i| sample(i, i == 0)).collect();
        let mut f = Fragmenter::new(FragmentPolicy::default());
        for s in &samples {
            assert!(f.push(s.clone()).unwrap().is_none());
        }
        let frag = f.flush().unwrap().unwrap();
        let whole = encode_fragment(1, &samples).unwrap();
        assert_eq!(frag.to_vec(), whole);
        assert_eq!(frag.len(), whole.len());
        assert_eq!(frag.parts().count(), 1 + samples.len());
        assert_eq!(frag.head, encode_fragment_head(1, &samples).unwrap());
        // The payload is the frames' own buffers, not copies.
        for (part, s) in frag.samples.iter().zip(&samples) {
            assert_eq!(part.as_ptr(), s.data.as_ptr());
        }
    }

    #[test]
    fn policy_thresholds() {
        // min_duration: cut only at key frames once 3 frames are in.
        let mut f = Fragmenter::new(FragmentPolicy {
            min_duration: Duration90k(18_000),
            ..Default::default()
        });
        let mut counts = Vec::new();
        for i in 0..8 {
            counts.extend(
                f.push(sample(i, i % 2 == 0))
                    .unwrap()
                    .map(|f| f.sample_count),
            );
        }
        assert_eq!(counts, vec![4]);
        // max_duration: cut mid-GOP.
        let mut f = Fragmenter::new(FragmentPolicy {
            max_duration: Duration90k(12_000),
            ..Default::default()
        });
        let mut frags = Vec::new();
        for i in 0..5 {
            frags.extend(f.push(sample(i, i == 0)).unwrap());
        }
        frags.extend(f.flush().unwrap());
        let counts: Vec<u32> = frags.iter().map(|f| f.sample_count).collect();
        assert_eq!(counts, vec![2, 2, 1]);
        assert!(!frags[1].starts_with_key);
        // max_bytes.
        let mut f = Fragmenter::new(FragmentPolicy {
            max_bytes: 12,
            ..Default::default()
        });
        assert!(f.push(sample(0, true)).unwrap().is_none());
        assert!(f.push(sample(1, false)).unwrap().is_none());
        assert_eq!(f.push(sample(2, false)).unwrap().unwrap().sample_count, 2);
    }

    #[test]
    fn bad_timing_rejected() {
        let mut f = Fragmenter::new(FragmentPolicy::default());
        f.push(sample(1, true)).unwrap();
        assert!(matches!(
            f.push(sample(1, false)),
            Err(Error::NonMonotonicDts { .. })
        ));
        assert!(matches!(
            f.push(sample(0, false)),
            Err(Error::NonMonotonicDts { .. })
        ));
        let mut s = sample(2, false);
        s.duration = Duration90k::ZERO;
        assert!(f.push(s).is_err());
        let mut s = sample(2, false);
        s.dts = Time90k(-1);
        assert!(f.push(s).is_err());
        assert_eq!(f.pending_samples(), 1);
        assert!(encode_fragment(1, &[]).is_err());
    }

    #[test]
    fn composition_offsets_written() {
        let mut s = sample(1, true);
        s.pts = Time90k(s.dts.0 + 3000);
        let bytes = encode_fragment(7, &[s]).unwrap();
        let moof = <mp4_atom::Moof as mp4_atom::Decode>::decode(&mut &bytes[..]).unwrap();
        assert_eq!(moof.mfhd.sequence_number, 7);
        assert_eq!(moof.traf[0].trun[0].samples.get(0).unwrap().cts, Some(3000));
    }
}
