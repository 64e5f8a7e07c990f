//! Reading back fMP4 files we (or ffmpeg-like writers) wrote: [`recover`] finds the longest
//! valid prefix of a file torn by a crash or power cut, [`probe`] describes a finished file
//! for indexing. Both treat the bytes as hostile: every size is checked against the data
//! present, nothing is allocated from a size field, and no input makes them panic.

use crate::Error;
use crate::bmff::{self, BoxRef, Head, u32_at, u64_at};
use crate::codec::{self, VideoCodec};
use crate::time::{Duration90k, TIMESCALE, Time90k};

/// The most fragments a file may have to be retimed (bounds the list of fields kept).
pub const MAX_RETIME_FRAGMENTS: usize = 1 << 20;

/// Where one fragment's decode time (`tfdt`'s `baseMediaDecodeTime`) is in a file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DecodeTime {
    /// Which fragment (0 for the file's first) it belongs to.
    pub fragment: u32,
    /// File offset of the value field.
    pub offset: u64,
    /// A 64-bit field (`tfdt` version 1); otherwise 32 bits.
    pub wide: bool,
    /// The value, in the track's timescale.
    pub value: u64,
}

/// The largest `moov` accepted (ours are under 1 KiB).
pub const MAX_MOOV_LEN: usize = 4 << 20;
/// The largest `moof` accepted (ours take 16 bytes per sample).
pub const MAX_MOOF_LEN: usize = 4 << 20;
/// The most samples one `trun` may declare.
pub const MAX_TRUN_SAMPLES: u32 = 1 << 20;

/// Top-level boxes that may sit between fragments without breaking the file.
const HARMLESS_TOP_LEVEL: [&[u8; 4]; 8] = [
    b"free", b"skip", b"styp", b"sidx", b"prft", b"emsg", b"uuid", b"mfra",
];

/// The result of scanning a possibly torn file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recovery {
    /// Bytes of the longest valid prefix: the init segment plus every complete
    /// `moof`+`mdat` pair (and harmless boxes between them). Truncate the file to this.
    pub valid_len: u64,
    /// Bytes of `ftyp` + `moov` (and anything before `moov`).
    pub init_len: u64,
    /// Complete fragments in the valid prefix.
    pub fragments: u32,
    /// Samples in those fragments.
    pub samples: u64,
    /// Sum of their sample durations.
    pub duration: Duration90k,
    /// `tfdt` of the first fragment, if there is one and it has a `tfdt`.
    pub first_dts: Option<Time90k>,
    /// Sync samples in those fragments.
    pub key_frames: u64,
    /// Bytes after the valid prefix (0 for an intact file).
    pub discarded_len: u64,
}

/// What [`probe`] reports about a file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProbeInfo {
    pub codec: VideoCodec,
    /// RFC 6381 codec string, e.g. `avc1.42C01E`.
    pub codec_string: String,
    pub width: u16,
    pub height: u16,
    /// The media timescale of the track (90 000 for our files).
    pub timescale: u32,
    /// Fragment, sample and timing totals of the valid prefix.
    pub recovery: Recovery,
}

impl ProbeInfo {
    /// The file ends exactly after its last complete fragment.
    pub fn is_complete(&self) -> bool {
        self.recovery.discarded_len == 0
    }
}

/// Where one verified fragment lies in a file, from [`Scanner::into_fragments`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FragmentInfo {
    /// The `moof` box, header included (as in the file; its data offsets count from it).
    pub moof: Vec<u8>,
    /// File offset of the `moof`.
    pub moof_offset: u64,
    /// File offset and length of the `mdat` box after it, header included.
    pub mdat_offset: u64,
    pub mdat_len: u64,
    /// Length of that `mdat`'s header (8, or 16 with a 64-bit size).
    pub mdat_header_len: u64,
    /// Samples of the video track in it, and of those key frames.
    pub samples: u32,
    pub key_frames: u32,
    /// `tfdt` of the fragment, if it has one.
    pub base_dts: Option<Time90k>,
    /// Sum of its sample durations.
    pub duration: Duration90k,
}

/// A scanned file's sample entry and fragments ([`Scanner::into_fragments`]): only the
/// scanner makes one, so every `moof` in it has been checked against its `mdat`.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ScannedFile {
    /// The first `stsd` entry of the video track: the whole box, header included.
    pub sample_entry: Vec<u8>,
    /// The track's media timescale.
    pub timescale: u32,
    /// The video track's id, and its `trex` defaults (duration, size, flags) that samples
    /// without their own values take.
    pub track_id: u32,
    pub trex_defaults: (u32, u32, u32),
    /// Every complete fragment of the valid prefix, in file order.
    pub fragments: Vec<FragmentInfo>,
    pub recovery: Recovery,
}

/// Track facts from `moov` needed to walk fragments.
#[derive(Clone, Debug)]
struct TrackInfo {
    track_id: u32,
    timescale: u32,
    default_duration: u32,
    default_size: u32,
    default_flags: u32,
    /// The first `stsd` entry (kind, body).
    entry: Option<([u8; 4], Vec<u8>)>,
}

/// Scans `data` (a whole file, or as much of it as survived) and returns the valid prefix.
/// Fails only when the init segment itself is torn or unusable: such a file holds nothing
/// playable. For files too large to hold in memory, drive a [`Scanner`] instead.
pub fn recover(data: &[u8]) -> Result<Recovery, Error> {
    scan_slice(data).into_recovery()
}

/// Describes a file: codec, dimensions and the [`Recovery`] totals. A torn tail is not an
/// error (see [`ProbeInfo::is_complete`]).
pub fn probe(data: &[u8]) -> Result<ProbeInfo, Error> {
    scan_slice(data).into_probe()
}

fn scan_slice(data: &[u8]) -> Scanner {
    feed_slice(Scanner::new(data.len() as u64), data)
}

/// Runs `s` (made for `data.len()` bytes) over a file held in memory.
pub(crate) fn feed_slice(s: Scanner, data: &[u8]) -> Scanner {
    let read = |offset: u64, buf: &mut [u8]| -> Result<usize, std::convert::Infallible> {
        // offset <= file_len = data.len() by construction.
        let start = usize::try_from(offset)
            .unwrap_or(data.len())
            .min(data.len());
        let end = start.saturating_add(buf.len()).min(data.len());
        buf[..end - start].copy_from_slice(&data[start..end]);
        Ok(end - start)
    };
    match s.drive(read) {
        Ok(s) => s,
        Err(never) => match never {},
    }
}

fn invalid(why: &str) -> Error {
    Error::InvalidFile(why.into())
}

/// How much the [`Scanner`] first asks for at the start of a file (covers our init
/// segment).
pub const SCAN_READ_LEN: usize = 4 << 10;
/// How much it asks for at each fragment (covers a `moof` of ~250 samples and the `mdat`
/// header; a bigger `moof` takes a second read).
pub const FRAGMENT_READ_LEN: usize = 4 << 10;

/// [`recover`] and [`probe`] as a state machine over positioned reads, so a caller can scan
/// a file of any size with a bounded buffer, reading only the init segment, the `moof`s and
/// the `mdat` headers (never the media data):
///
/// ```
/// # fn pread(_offset: u64, _len: usize) -> Vec<u8> { Vec::new() }
/// let file_len = 0; // the file's length
/// let mut scanner = media::recover::Scanner::new(file_len);
/// while let Some((offset, len)) = scanner.next_read() {
///     scanner.feed(&pread(offset, len)); // fewer bytes than asked = end of file
/// }
/// let result = scanner.into_recovery(); // or into_probe()
/// # assert!(result.is_err());
/// ```
#[derive(Debug)]
pub struct Scanner {
    /// Bytes the file has (lowered if a read comes back short).
    file_len: u64,
    /// Offset of the next read; in the fragment phase, the end of the valid prefix.
    pos: u64,
    /// Length of the next read, or `None` when done.
    want: Option<usize>,
    track: Option<TrackInfo>,
    init_error: Option<Error>,
    r: Recovery,
    duration_ticks: u64,
    last_seq: Option<u32>,
    /// Stop after the first complete fragment.
    first_only: bool,
    /// Where each fragment's `tfdt` is, when asked for ([`Scanner::record_decode_times`]).
    decode_times: Option<Vec<DecodeTime>>,
    /// A fragment also carries other tracks (whose times a retiming would not move).
    other_tracks: bool,
    /// Every verified fragment, when asked for ([`Scanner::keep_fragments`]).
    fragments: Option<Vec<FragmentInfo>>,
}

impl Scanner {
    pub fn new(file_len: u64) -> Scanner {
        Scanner {
            file_len,
            pos: 0,
            want: Some(clamp_len(SCAN_READ_LEN as u64, file_len)),
            track: None,
            init_error: None,
            r: Recovery {
                valid_len: 0,
                init_len: 0,
                fragments: 0,
                samples: 0,
                duration: Duration90k::ZERO,
                first_dts: None,
                key_frames: 0,
                discarded_len: file_len,
            },
            duration_ticks: 0,
            last_seq: None,
            first_only: false,
            decode_times: None,
            other_tracks: false,
            fragments: None,
        }
    }

    /// Stops after the file's first complete fragment: enough for
    /// [`Recovery::first_dts`] (whether the file's media time starts at 0) at the cost of
    /// two small reads. The other totals then cover that fragment only.
    pub fn first_fragment_only(mut self) -> Scanner {
        self.first_only = true;
        self
    }

    /// Also records where each fragment's decode time (`tfdt`) is in the file, for
    /// [`into_decode_times`](Self::into_decode_times) and [`crate::retime`].
    pub fn record_decode_times(mut self) -> Scanner {
        self.decode_times = Some(Vec::new());
        self
    }

    /// Also keeps every verified fragment's `moof` and place, for
    /// [`into_fragments`](Self::into_fragments) (an export re-times them). Memory grows with
    /// the `moof`s, as big as the file's headers.
    pub fn keep_fragments(mut self) -> Scanner {
        self.fragments = Some(Vec::new());
        self
    }

    /// Runs the whole scan over positioned reads: `read(offset, buf)` fills `buf` with the
    /// bytes at `offset` (a file, a ranged request, a slice) and returns how many it read,
    /// fewer than asked only at the end of the file. The caller owns the I/O and its error.
    pub fn drive<E>(
        mut self,
        mut read: impl FnMut(u64, &mut [u8]) -> Result<usize, E>,
    ) -> Result<Scanner, E> {
        let mut buf = Vec::new();
        while let Some((offset, want)) = self.next_read() {
            buf.resize(want, 0);
            let got = read(offset, &mut buf)?.min(want);
            self.feed(&buf[..got]);
        }
        Ok(self)
    }

    /// The next read needed: `len` bytes at `offset`. `None` once the scan is complete.
    pub fn next_read(&self) -> Option<(u64, usize)> {
        self.want.map(|len| (self.pos, len))
    }

    /// Supplies the bytes read at the offset [`next_read`](Self::next_read) gave. A shorter
    /// buffer than asked means the file ends there.
    pub fn feed(&mut self, buf: &[u8]) {
        let Some(want) = self.want else { return };
        if buf.len() < want {
            self.file_len = self.file_len.min(self.pos + buf.len() as u64);
        }
        if self.track.is_none() {
            self.feed_init(buf);
        } else {
            self.feed_fragments(buf);
        }
    }

    /// The scan's result as a [`Recovery`] (call after `next_read` returned `None`).
    pub fn into_recovery(self) -> Result<Recovery, Error> {
        self.finish().map(|(r, _)| r)
    }

    /// The scan's result and where every fragment's decode time is, in file order (call
    /// after `next_read` returned `None`; needs [`record_decode_times`](Self::record_decode_times)).
    /// Fails for a file with more than one track (retiming one would break their sync) or
    /// more than [`MAX_RETIME_FRAGMENTS`] fragments.
    pub fn into_decode_times(mut self) -> Result<(Recovery, Vec<DecodeTime>), Error> {
        let times = self
            .decode_times
            .take()
            .ok_or_else(|| invalid("decode times were not recorded"))?;
        if self.other_tracks {
            return Err(invalid("fragments of more than one track"));
        }
        if times.len() > MAX_RETIME_FRAGMENTS {
            return Err(invalid("too many fragments"));
        }
        let (r, _) = self.finish()?;
        Ok((r, times))
    }

    /// The scan's result as [`ProbeInfo`] (call after `next_read` returned `None`).
    pub fn into_probe(self) -> Result<ProbeInfo, Error> {
        let (recovery, track) = self.finish()?;
        let (kind, body) = track.entry.ok_or_else(|| invalid("no sample entry"))?;
        let (codec, codec_string, width, height) = codec::describe_visual_entry(kind, &body)?;
        Ok(ProbeInfo {
            codec,
            codec_string,
            width,
            height,
            timescale: track.timescale,
            recovery,
        })
    }

    /// The scan's sample entry and fragments (call after `next_read` returned `None`, on a
    /// scanner made with [`keep_fragments`](Self::keep_fragments)).
    pub fn into_fragments(mut self) -> Result<ScannedFile, Error> {
        let fragments = self
            .fragments
            .take()
            .ok_or_else(|| invalid("fragments were not kept"))?;
        let (recovery, track) = self.finish()?;
        let (kind, body) = track.entry.ok_or_else(|| invalid("no sample entry"))?;
        let len = u32::try_from(8 + body.len()).map_err(|_| invalid("sample entry too long"))?;
        let mut sample_entry = Vec::with_capacity(8 + body.len());
        sample_entry.extend_from_slice(&len.to_be_bytes());
        sample_entry.extend_from_slice(&kind);
        sample_entry.extend_from_slice(&body);
        Ok(ScannedFile {
            sample_entry,
            timescale: track.timescale,
            track_id: track.track_id,
            trex_defaults: (
                track.default_duration,
                track.default_size,
                track.default_flags,
            ),
            fragments,
            recovery,
        })
    }

    fn finish(mut self) -> Result<(Recovery, TrackInfo), Error> {
        if self.want.is_some() {
            return Err(invalid("scan not finished"));
        }
        if let Some(e) = self.init_error {
            return Err(e);
        }
        let track = self.track.ok_or_else(|| invalid("no init segment"))?;
        self.r.duration = Duration90k(to_90k(self.duration_ticks, track.timescale));
        self.r.discarded_len = self.file_len.saturating_sub(self.r.valid_len);
        Ok((self.r, track))
    }

    fn fail_init(&mut self, why: &str) {
        self.init_error = Some(invalid(why));
        self.want = None;
    }

    /// `buf` is the file from offset 0. Walks ftyp, harmless boxes and moov, asking for a
    /// longer prefix when a box we must read runs past `buf`.
    fn feed_init(&mut self, buf: &[u8]) {
        let mut p: u64 = 0;
        loop {
            let rest = buf.get(p as usize..).unwrap_or_default();
            let (kind, size) = match bmff::read_header(rest) {
                bmff::Header::Ok { kind, size, .. } => (kind, size),
                bmff::Header::Incomplete => return self.need_prefix(buf, p + 16),
                bmff::Header::Invalid => return self.fail_init("invalid box in init segment"),
            };
            let end = p.saturating_add(size);
            if end > self.file_len {
                return self.fail_init("torn before the end of moov");
            }
            let first = p == 0;
            match &kind {
                b"ftyp" if first => {}
                b"moov" if !first => {
                    if end > (MAX_MOOV_LEN + SCAN_READ_LEN) as u64 {
                        return self.fail_init("moov too large");
                    }
                    if end > buf.len() as u64 {
                        return self.need_prefix(buf, end);
                    }
                    let body = &buf[p as usize..end as usize];
                    let Head::Box(moov) = bmff::read_box(body) else {
                        return self.fail_init("bad moov");
                    };
                    match parse_moov(moov.body) {
                        Ok(t) => self.track = Some(t),
                        Err(e) => {
                            self.init_error = Some(e);
                            self.want = None;
                            return;
                        }
                    }
                    self.pos = end;
                    self.r.init_len = end;
                    self.r.valid_len = end;
                    self.want = Some(clamp_len(FRAGMENT_READ_LEN as u64, self.file_len - end));
                    return;
                }
                k if !first && HARMLESS_TOP_LEVEL.contains(&k) => {}
                _ if first => return self.fail_init("does not start with ftyp"),
                _ => return self.fail_init("unexpected box before moov"),
            }
            if end > (MAX_MOOV_LEN + SCAN_READ_LEN) as u64 {
                return self.fail_init("init segment too large");
            }
            p = end;
        }
    }

    /// Asks for the first `len` bytes of the file, or fails if that cannot make progress.
    fn need_prefix(&mut self, buf: &[u8], len: u64) {
        let len = len.min(self.file_len);
        if len <= buf.len() as u64 {
            return self.fail_init("torn before the end of moov");
        }
        self.pos = 0;
        self.want = Some(clamp_len(len.max(SCAN_READ_LEN as u64), self.file_len));
    }

    /// `buf` is the file from `self.pos`. Accepts complete fragments until the buffer runs
    /// out (then asks for the next read) or something is wrong (then stops).
    fn feed_fragments(&mut self, buf: &[u8]) {
        let Some(track) = self.track.clone() else {
            return;
        };
        let buf_start = self.pos;
        loop {
            let rel = (self.pos - buf_start) as usize;
            let remaining_file = self.file_len - self.pos;
            if remaining_file == 0 {
                self.want = None;
                return;
            }
            let Some(rest) = buf.get(rel..).filter(|r| !r.is_empty()) else {
                return self.read_at_pos(FRAGMENT_READ_LEN as u64);
            };
            let (kind, size) = match bmff::read_header(rest) {
                bmff::Header::Ok { kind, size, .. } => (kind, size),
                bmff::Header::Incomplete if (rest.len() as u64) < remaining_file.min(16) => {
                    return self.read_at_pos(FRAGMENT_READ_LEN as u64);
                }
                _ => {
                    self.want = None;
                    return;
                }
            };
            if size > remaining_file {
                self.want = None;
                return;
            }
            if HARMLESS_TOP_LEVEL.contains(&&kind) {
                self.pos += size;
                self.r.valid_len = self.pos;
                continue;
            }
            if &kind != b"moof" || size > MAX_MOOF_LEN as u64 {
                self.want = None;
                return;
            }
            // The moof and the mdat header after it must be in the buffer.
            let need = (size + 16).min(remaining_file);
            if (rest.len() as u64) < need {
                if rel == 0 && self.want.is_some_and(|w| w as u64 >= need) {
                    // Already asked for enough and got less: the file ends here.
                    self.want = None;
                    return;
                }
                return self.read_at_pos(need);
            }
            let size_usize = size as usize;
            let Head::Box(moof) = bmff::read_box(&rest[..size_usize]) else {
                self.want = None;
                return;
            };
            let mdat_pos = self.pos + size;
            let (mdat_header_len, mdat_size) = match bmff::read_header(&rest[size_usize..]) {
                bmff::Header::Ok {
                    kind: k,
                    header_len,
                    size,
                } if &k == b"mdat" => (header_len as u64, size),
                _ => {
                    self.want = None;
                    return;
                }
            };
            let mdat_end = mdat_pos.saturating_add(mdat_size);
            if mdat_end > self.file_len {
                self.want = None;
                return;
            }
            let mdat_body = (mdat_pos + mdat_header_len, mdat_end);
            let recording = self.decode_times.is_some();
            let mut times = Vec::new();
            let frag = parse_moof(
                moof,
                self.pos,
                mdat_body,
                &track,
                recording.then_some(&mut times),
                self.r.fragments,
            );
            let Some(frag) = frag.filter(|f| self.last_seq.is_none_or(|s| f.sequence_number > s))
            else {
                self.want = None;
                return;
            };
            self.last_seq = Some(frag.sequence_number);
            self.other_tracks |= frag.other_tracks;
            if let Some(all) = self.decode_times.as_mut() {
                // Bounded: one more than the limit is enough to refuse the file.
                if all.len() <= MAX_RETIME_FRAGMENTS {
                    all.extend(times);
                }
            }
            if let Some(kept) = self.fragments.as_mut() {
                kept.push(FragmentInfo {
                    moof: rest[..size_usize].to_vec(),
                    moof_offset: self.pos,
                    mdat_offset: mdat_pos,
                    mdat_len: mdat_size,
                    mdat_header_len,
                    samples: frag.samples,
                    key_frames: frag.key_frames,
                    base_dts: frag.base_dts.map(|t| Time90k(to_90k(t, track.timescale))),
                    duration: Duration90k(to_90k(frag.duration_ticks, track.timescale)),
                });
            }
            if self.r.fragments == 0 {
                self.r.first_dts = frag.base_dts.map(|t| Time90k(to_90k(t, track.timescale)));
            }
            self.r.fragments += 1;
            self.r.samples += u64::from(frag.samples);
            self.r.key_frames += u64::from(frag.key_frames);
            self.duration_ticks = self.duration_ticks.saturating_add(frag.duration_ticks);
            self.pos = mdat_end;
            self.r.valid_len = mdat_end;
            if self.first_only {
                self.want = None;
                return;
            }
        }
    }

    fn read_at_pos(&mut self, len: u64) {
        let len = len.max(FRAGMENT_READ_LEN as u64);
        self.want = Some(clamp_len(len, self.file_len - self.pos));
    }
}

/// `len` limited to `available` bytes, as a usize.
fn clamp_len(len: u64, available: u64) -> usize {
    usize::try_from(len.min(available)).unwrap_or(usize::MAX)
}

/// Converts `ticks` at `timescale` Hz to 90 kHz ticks, rounding down and saturating.
fn to_90k(ticks: u64, timescale: u32) -> i64 {
    if timescale == TIMESCALE {
        return i64::try_from(ticks).unwrap_or(i64::MAX);
    }
    let v = u128::from(ticks) * u128::from(TIMESCALE) / u128::from(timescale.max(1));
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// The body of a "full box" after version and flags, with those two.
fn full_box(b: &BoxRef<'_>) -> Option<(u8, u32, usize)> {
    let vf = u32_at(b.body, 0)?;
    Some(((vf >> 24) as u8, vf & 0x00ff_ffff, 4))
}

fn parse_moov(moov: &[u8]) -> Result<TrackInfo, Error> {
    let trak = bmff::children(moov)
        .filter(|b| &b.kind == b"trak")
        .find(|t| {
            bmff::descend(t.body, &[b"mdia", b"hdlr"])
                .is_some_and(|h| h.body.get(8..12) == Some(b"vide"))
        })
        .ok_or_else(|| invalid("no video track"))?;
    let tkhd = bmff::child(trak.body, b"tkhd").ok_or_else(|| invalid("no tkhd"))?;
    let track_id = match full_box(&tkhd) {
        Some((1, _, off)) => u32_at(tkhd.body, off + 16),
        Some((0, _, off)) => u32_at(tkhd.body, off + 8),
        _ => None,
    }
    .ok_or_else(|| invalid("bad tkhd"))?;
    let mdhd = bmff::descend(trak.body, &[b"mdia", b"mdhd"]).ok_or_else(|| invalid("no mdhd"))?;
    let timescale = match full_box(&mdhd) {
        Some((1, _, off)) => u32_at(mdhd.body, off + 16),
        Some((0, _, off)) => u32_at(mdhd.body, off + 8),
        _ => None,
    }
    .filter(|&t| t > 0)
    .ok_or_else(|| invalid("bad mdhd"))?;
    let entry = bmff::descend(trak.body, &[b"mdia", b"minf", b"stbl", b"stsd"])
        .and_then(|stsd| bmff::children(stsd.body.get(8..)?).next())
        .map(|e| (e.kind, e.body.to_vec()));
    let mvex = bmff::child(moov, b"mvex").ok_or_else(|| invalid("no mvex: not fragmented"))?;
    let trex = bmff::children(mvex.body)
        .filter(|b| &b.kind == b"trex")
        .find(|b| u32_at(b.body, 4) == Some(track_id));
    let field = |off| trex.and_then(|t| u32_at(t.body, off)).unwrap_or(0);
    Ok(TrackInfo {
        track_id,
        timescale,
        default_duration: field(12),
        default_size: field(16),
        default_flags: field(20),
        entry,
    })
}

/// What the scanner reads in a `moof` of track `track_id` (with `trex` defaults `defaults`)
/// at the start of `moof`, followed by an `mdat` whose body spans `mdat_body` (offsets from
/// the `moof`'s start): `(samples, key frames, duration ticks)`, or `None` where the scanner
/// would stop. For a `moof` rebuilt elsewhere (the export), to check it still says what the
/// original said.
pub(crate) fn verify_moof(
    moof: &[u8],
    mdat_body: (u64, u64),
    track_id: u32,
    defaults: (u32, u32, u32),
) -> Option<(u32, u32, u64)> {
    if moof.len() > MAX_MOOF_LEN {
        return None;
    }
    let Head::Box(b) = bmff::read_box(moof) else {
        return None;
    };
    if &b.kind != b"moof" || b.total_len != moof.len() {
        return None;
    }
    let track = TrackInfo {
        track_id,
        timescale: TIMESCALE,
        default_duration: defaults.0,
        default_size: defaults.1,
        default_flags: defaults.2,
        entry: None,
    };
    parse_moof(b, 0, mdat_body, &track, None, 0)
        .map(|f| (f.samples, f.key_frames, f.duration_ticks))
}

/// Totals of one verified fragment.
struct FragInfo {
    sequence_number: u32,
    base_dts: Option<u64>,
    /// A `traf` of another track is present.
    other_tracks: bool,
    samples: u32,
    key_frames: u32,
    duration_ticks: u64,
}

/// Parses a `moof` at file offset `moof_pos` and checks that every sample of our track lies
/// inside the `mdat` body `[mdat_body.0, mdat_body.1)`. `None` if anything is off. With
/// `times`, appends where each `tfdt` of our track is (for fragment number `index`).
fn parse_moof(
    moof: BoxRef<'_>,
    moof_pos: u64,
    mdat_body: (u64, u64),
    track: &TrackInfo,
    mut times: Option<&mut Vec<DecodeTime>>,
    index: u32,
) -> Option<FragInfo> {
    let mfhd = bmff::child(moof.body, b"mfhd")?;
    let moof_body_pos = moof_pos + moof.body_start() as u64;
    let mut info = FragInfo {
        sequence_number: u32_at(mfhd.body, 4)?,
        base_dts: None,
        other_tracks: false,
        samples: 0,
        key_frames: 0,
        duration_ticks: 0,
    };
    let mut found_track = false;
    for traf in bmff::children(moof.body).filter(|b| &b.kind == b"traf") {
        let tfhd = bmff::child(traf.body, b"tfhd")?;
        let (_, flags, mut off) = full_box(&tfhd)?;
        if u32_at(tfhd.body, off)? != track.track_id {
            info.other_tracks = true;
            continue;
        }
        found_track = true;
        off += 4;
        let mut base = moof_pos;
        if flags & 0x01 != 0 {
            base = u64_at(tfhd.body, off)?;
            off += 8;
        }
        if flags & 0x02 != 0 {
            off += 4; // sample_description_index
        }
        let mut read_default = |present: bool, fallback: u32| -> Option<u32> {
            if present {
                let v = u32_at(tfhd.body, off)?;
                off += 4;
                Some(v)
            } else {
                Some(fallback)
            }
        };
        let default_duration = read_default(flags & 0x08 != 0, track.default_duration)?;
        let default_size = read_default(flags & 0x10 != 0, track.default_size)?;
        let default_flags = read_default(flags & 0x20 != 0, track.default_flags)?;

        if let Some(tfdt) = bmff::child(traf.body, b"tfdt") {
            let (wide, o) = match full_box(&tfdt)? {
                (1, _, o) => (true, o),
                (_, _, o) => (false, o),
            };
            let t = if wide {
                u64_at(tfdt.body, o)?
            } else {
                u64::from(u32_at(tfdt.body, o)?)
            };
            info.base_dts.get_or_insert(t);
            if let Some(times) = times.as_deref_mut() {
                let offset = moof_body_pos + (traf.body_start() + tfdt.body_start() + o) as u64;
                times.push(DecodeTime {
                    fragment: index,
                    offset,
                    wide,
                    value: t,
                });
            }
        }

        let mut data_pos = base;
        for trun in bmff::children(traf.body).filter(|b| &b.kind == b"trun") {
            let (_, tf, mut o) = full_box(&trun)?;
            let count = u32_at(trun.body, o)?;
            o += 4;
            if count > MAX_TRUN_SAMPLES {
                return None;
            }
            if tf & 0x01 != 0 {
                let rel = u32_at(trun.body, o)? as i32;
                o += 4;
                data_pos = base.checked_add_signed(i64::from(rel))?;
            }
            let mut first_flags = None;
            if tf & 0x04 != 0 {
                first_flags = Some(u32_at(trun.body, o)?);
                o += 4;
            }
            let per_sample = [0x100, 0x200, 0x400, 0x800]
                .iter()
                .filter(|&&f| tf & f != 0)
                .count()
                * 4;
            if per_sample * count as usize > trun.body.len().saturating_sub(o) {
                return None;
            }
            let run_start = data_pos;
            for i in 0..count {
                let mut next = |present: bool, fallback: u32| -> Option<u32> {
                    if present {
                        let v = u32_at(trun.body, o)?;
                        o += 4;
                        Some(v)
                    } else {
                        Some(fallback)
                    }
                };
                let duration = next(tf & 0x100 != 0, default_duration)?;
                let size = next(tf & 0x200 != 0, default_size)?;
                let mut sflags = next(tf & 0x400 != 0, default_flags)?;
                if i == 0
                    && let Some(f) = first_flags
                {
                    sflags = f;
                }
                let _cts = next(tf & 0x800 != 0, 0)?;
                info.duration_ticks = info.duration_ticks.saturating_add(u64::from(duration));
                if sflags & 0x0001_0000 == 0 {
                    info.key_frames += 1;
                }
                data_pos = data_pos.checked_add(u64::from(size))?;
            }
            info.samples = info.samples.checked_add(count)?;
            if count > 0 && (run_start < mdat_body.0 || data_pos > mdat_body.1) {
                return None;
            }
        }
    }
    found_track.then_some(info)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::TrackConfig;
    use crate::fmp4::{FragmentPolicy, Fragmenter, Sample, init_segment};
    use crate::h264::tests_support::{PPS, SPS_640X360};
    use bytes::Bytes;

    /// An init segment and 3 fragments of 4 samples (the first of each a key frame).
    fn file() -> (Vec<u8>, Vec<usize>) {
        let track = TrackConfig::h264(SPS_640X360, PPS).unwrap();
        let mut out = init_segment(&track).unwrap();
        let mut ends = vec![out.len()];
        let mut f = Fragmenter::new(FragmentPolicy::default());
        let mut frags = Vec::new();
        for i in 0..12i64 {
            let s = Sample {
                data: Bytes::from(vec![0, 0, 0, 3, 0x41, i as u8, 0x80]),
                dts: Time90k(1000 + i * 3000),
                pts: Time90k(1000 + i * 3000),
                duration: Duration90k(3000),
                is_key: i % 4 == 0,
            };
            frags.extend(f.push(s).unwrap());
        }
        frags.extend(f.flush().unwrap());
        for fr in frags {
            fr.append_to(&mut out);
            ends.push(out.len());
        }
        (out, ends)
    }

    #[test]
    fn intact_file() {
        let (data, ends) = file();
        let p = probe(&data).unwrap();
        assert!(p.is_complete());
        assert_eq!(p.codec, VideoCodec::H264);
        assert_eq!(p.codec_string, "avc1.42C016");
        assert_eq!((p.width, p.height), (640, 360));
        let r = p.recovery;
        assert_eq!(r.valid_len as usize, data.len());
        assert_eq!(r.init_len as usize, ends[0]);
        assert_eq!((r.fragments, r.samples, r.key_frames), (3, 12, 3));
        assert_eq!(r.duration, Duration90k(36_000));
        assert_eq!(r.first_dts, Some(Time90k(1000)));
    }

    #[test]
    fn every_truncation_ends_at_a_fragment_boundary() {
        let (data, ends) = file();
        for cut in 0..=data.len() {
            match recover(&data[..cut]) {
                Ok(r) => {
                    let expect = *ends.iter().rev().find(|&&e| e <= cut).unwrap();
                    assert_eq!(r.valid_len as usize, expect, "cut {cut}");
                    assert_eq!(r.discarded_len as usize, cut - expect);
                }
                Err(_) => assert!(cut < ends[0], "cut {cut}"),
            }
        }
    }

    #[test]
    fn garbage_after_last_fragment_and_bit_flips() {
        let (mut data, ends) = file();
        data.extend_from_slice(b"\0\0\0\x10moof\0\0\0\0garbage!!!");
        assert_eq!(
            recover(&data).unwrap().valid_len as usize,
            *ends.last().unwrap()
        );
        let (data, _) = file();
        for i in 0..data.len() {
            for bit in [0x01, 0x80] {
                let mut d = data.clone();
                d[i] ^= bit;
                let _ = probe(&d);
            }
        }
    }

    /// A file whose init segment has a 10 KB `free` box before `moov` and whose one fragment
    /// has a 9 KB `moof`: both need more than one read.
    #[test]
    fn large_boxes_need_longer_reads() {
        let track = TrackConfig::h264(SPS_640X360, PPS).unwrap();
        let init = init_segment(&track).unwrap();
        let ftyp_len = u32::from_be_bytes(init[..4].try_into().unwrap()) as usize;
        let mut data = init[..ftyp_len].to_vec();
        data.extend_from_slice(&10_008u32.to_be_bytes());
        data.extend_from_slice(b"free");
        data.extend(std::iter::repeat_n(0u8, 10_000));
        data.extend_from_slice(&init[ftyp_len..]);
        let init_end = data.len();
        let samples: Vec<Sample> = (0..600i64)
            .map(|i| Sample {
                data: Bytes::from_static(b"\0\0\0\x01\x41"),
                dts: Time90k(i * 3000),
                pts: Time90k(i * 3000),
                duration: Duration90k(3000),
                is_key: i == 0,
            })
            .collect();
        data.extend(crate::fmp4::encode_fragment(1, &samples).unwrap());
        let r = recover(&data).unwrap();
        assert_eq!((r.fragments, r.samples, r.key_frames), (1, 600, 1));
        assert_eq!(r.init_len as usize, init_end);
        for cut in 0..data.len() {
            match recover(&data[..cut]) {
                Ok(r) => {
                    assert!(cut >= init_end);
                    assert_eq!(r.valid_len as usize, init_end, "cut {cut}");
                }
                Err(_) => assert!(cut < init_end, "cut {cut}"),
            }
        }
    }
}
