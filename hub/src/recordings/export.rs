//! Export of a time range as one MP4: the init segment of the first overlapping
//! segment (with the total duration in `mehd`), then every fragment of every
//! overlapping segment whose time overlaps the range, renumbered (`mfhd`) and
//! re-timed (`tfdt`) so they play back to back from 0.
//!
//! Trimming is at fragment granularity (a fragment is one GOP, at most 10 s): the
//! export starts at the key frame at or before `start` and ends with the fragment
//! holding `end`. Gaps between segments are closed up (the file plays the footage
//! that exists, back to back). A segment whose codec or resolution differs from
//! the first one ends the export there (one MP4 has one sample description).
//!
//! [`plan`] reads only box headers and `moof`s; [`write`] then streams the media
//! data, one bounded piece at a time.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use media::Duration90k;
use mp4_atom::{Decode, Encode};

use super::{RecError, Recordings, Result, index};

/// The longest range one export may span.
pub const MAX_EXPORT_MS: i64 = 24 * 3600 * 1000;
/// Largest `moof` read (as the media crate's recovery).
const MAX_MOOF_LEN: u64 = media::recover::MAX_MOOV_LEN as u64;
/// Largest init segment read.
const MAX_INIT_LEN: u64 = 4 << 20;
/// Bytes read per piece of media data.
const CHUNK: u64 = 1 << 20;

/// What [`write`] will send.
#[derive(Debug)]
pub struct ExportPlan {
    pub init: Vec<u8>,
    pieces: Vec<Piece>,
    /// Total media duration.
    pub duration: Duration90k,
    /// Wall-clock start of the first exported fragment (unix ms).
    pub first_ms: i64,
    pub segments: usize,
    pub fragments: usize,
}

impl ExportPlan {
    /// Exact size of the file [`write`] produces.
    pub fn len(&self) -> u64 {
        self.init.len() as u64
            + self
                .pieces
                .iter()
                .map(|p| p.moof.len() as u64 + p.mdat_len)
                .sum::<u64>()
    }

    pub fn is_empty(&self) -> bool {
        self.pieces.is_empty()
    }
}

#[derive(Debug)]
struct Piece {
    path: PathBuf,
    /// The rewritten `moof`.
    moof: Vec<u8>,
    /// The `mdat` box (header included) in the source file.
    mdat_offset: u64,
    mdat_len: u64,
}

/// Plans an export of `camera` over `[start_ms, end_ms)`.
pub fn plan(rec: &Recordings, camera: &str, start_ms: i64, end_ms: i64) -> Result<ExportPlan> {
    if end_ms <= start_ms {
        return Err(RecError::BadRequest("end must be after start".into()));
    }
    if end_ms - start_ms > MAX_EXPORT_MS {
        return Err(RecError::BadRequest(
            "an export may span at most 24 hours".into(),
        ));
    }
    let cam = camera.to_owned();
    let segments = rec
        .db
        .call_blocking(|c| index::range(c, &cam, start_ms, end_ms))?;
    let mut out = ExportPlan {
        init: Vec::new(),
        pieces: Vec::new(),
        duration: Duration90k::ZERO,
        first_ms: 0,
        segments: 0,
        fragments: 0,
    };
    let mut entry: Option<Vec<u8>> = None;
    let mut cursor: u64 = 0;
    for seg in &segments {
        let Some(path) = rec.file_path(&seg.camera, &seg.file_name) else {
            continue;
        };
        let file = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue, // deleted meanwhile
            Err(e) => return Err(RecError::io("open", &path, e)),
        };
        let parsed = parse_file(&file, &path)?;
        match &entry {
            None => entry = Some(parsed.sample_entry.clone()),
            Some(e) if *e != parsed.sample_entry => {
                tracing::info!(segment = seg.file_name, "export ends at a codec change");
                break;
            }
            Some(_) => {}
        }
        let mut used = false;
        let first_dts = parsed.fragments.first().map(|f| f.tfdt).unwrap_or(0);
        for frag in parsed.fragments {
            let f_start = seg.start_ms + (frag.tfdt as i64 - first_dts as i64) / 90;
            let f_end = f_start + (frag.duration / 90) as i64;
            if f_end <= start_ms || f_start >= end_ms {
                continue;
            }
            if out.pieces.is_empty() {
                out.first_ms = f_start;
            }
            let moof = rewrite_moof(
                frag.moof,
                frag.moof_len,
                out.pieces.len() as u32 + 1,
                cursor,
            )?;
            cursor += frag.duration;
            out.pieces.push(Piece {
                path: path.clone(),
                moof,
                mdat_offset: frag.mdat_offset,
                mdat_len: frag.mdat_len,
            });
            used = true;
        }
        out.segments += usize::from(used);
    }
    let Some(entry) = entry.filter(|_| !out.pieces.is_empty()) else {
        return Err(RecError::NotFound("no recordings in that range".into()));
    };
    let track = media::TrackConfig::from_sample_entry(&entry)
        .map_err(|e| RecError::Rejected(format!("cannot export: {e}")))?;
    out.duration = Duration90k(cursor as i64);
    out.fragments = out.pieces.len();
    out.init = media::fmp4::init_segment_with_duration(&track, out.duration)
        .map_err(|e| RecError::Rejected(format!("cannot export: {e}")))?;
    Ok(out)
}

/// Streams the planned file to `send` (false = the receiver is gone: stop).
pub fn write(plan: ExportPlan, mut send: impl FnMut(Bytes) -> bool) -> Result<()> {
    if !send(Bytes::from(plan.init)) {
        return Ok(());
    }
    let mut open: Option<(PathBuf, File)> = None;
    for p in plan.pieces {
        if !send(Bytes::from(p.moof)) {
            return Ok(());
        }
        if open.as_ref().is_none_or(|(path, _)| *path != p.path) {
            let f = File::open(&p.path).map_err(|e| RecError::io("open", &p.path, e))?;
            open = Some((p.path.clone(), f));
        }
        let Some((path, f)) = open.as_ref() else {
            continue;
        };
        let mut off = 0;
        while off < p.mdat_len {
            let n = (p.mdat_len - off).min(CHUNK) as usize;
            let mut buf = vec![0u8; n];
            f.read_exact_at(&mut buf, p.mdat_offset + off)
                .map_err(|e| RecError::io("read", path, e))?;
            off += n as u64;
            if !send(Bytes::from(buf)) {
                return Ok(());
            }
        }
    }
    Ok(())
}

struct ParsedFragment {
    moof: mp4_atom::Moof,
    /// Length of the `moof` in the source file (its data offsets count from it).
    moof_len: u64,
    tfdt: u64,
    duration: u64,
    mdat_offset: u64,
    mdat_len: u64,
}

struct Parsed {
    sample_entry: Vec<u8>,
    fragments: Vec<ParsedFragment>,
}

/// (kind, total length, unused) of the box at `offset`; `None` at the end or a torn box.
fn box_at(
    file: &File,
    path: &Path,
    offset: u64,
    file_len: u64,
) -> Result<Option<([u8; 4], u64, u64)>> {
    if offset + 8 > file_len {
        return Ok(None);
    }
    let mut h = [0u8; 16];
    let n = if offset + 16 <= file_len { 16 } else { 8 };
    file.read_exact_at(&mut h[..n], offset)
        .map_err(|e| RecError::io("read", path, e))?;
    let size32 = u32::from_be_bytes([h[0], h[1], h[2], h[3]]) as u64;
    let kind = [h[4], h[5], h[6], h[7]];
    let len = match size32 {
        0 => file_len - offset,
        1 if n == 16 => u64::from_be_bytes([h[8], h[9], h[10], h[11], h[12], h[13], h[14], h[15]]),
        1 => return Ok(None),
        s => s,
    };
    if len < 8 || offset + len > file_len {
        return Ok(None); // torn: stop here
    }
    Ok(Some((kind, len, 0)))
}

fn parse_file(file: &File, path: &Path) -> Result<Parsed> {
    let file_len = file
        .metadata()
        .map_err(|e| RecError::io("stat", path, e))?
        .len();
    let bad = |why: &str| RecError::Rejected(format!("{}: {why}", path.display()));
    let mut offset = 0;
    let mut sample_entry = None;
    let mut fragments = Vec::new();
    let mut pending_moof: Option<(mp4_atom::Moof, u64)> = None;
    while let Some((kind, len, _)) = box_at(file, path, offset, file_len)? {
        match &kind {
            b"moov" => {
                if len > MAX_INIT_LEN {
                    return Err(bad("moov too large"));
                }
                let mut buf = vec![0u8; len as usize];
                file.read_exact_at(&mut buf, offset)
                    .map_err(|e| RecError::io("read", path, e))?;
                sample_entry =
                    Some(first_sample_entry(&buf).ok_or_else(|| bad("no sample entry"))?);
            }
            b"moof" => {
                if len > MAX_MOOF_LEN {
                    return Err(bad("moof too large"));
                }
                let mut buf = vec![0u8; len as usize];
                file.read_exact_at(&mut buf, offset)
                    .map_err(|e| RecError::io("read", path, e))?;
                let moof = mp4_atom::Moof::decode(&mut &buf[..])
                    .map_err(|e| bad(&format!("moof: {e}")))?;
                pending_moof = Some((moof, len));
            }
            b"mdat" => {
                if let Some((moof, moof_len)) = pending_moof.take() {
                    let traf = moof.traf.first().ok_or_else(|| bad("moof without traf"))?;
                    let tfdt = traf
                        .tfdt
                        .as_ref()
                        .map(|t| t.base_media_decode_time)
                        .ok_or_else(|| bad("traf without tfdt"))?;
                    let default = traf.tfhd.default_sample_duration.unwrap_or(0);
                    let duration = traf
                        .trun
                        .iter()
                        .flat_map(|t| t.samples.iter())
                        .map(|e| u64::from(e.duration.unwrap_or(default)))
                        .sum();
                    fragments.push(ParsedFragment {
                        moof,
                        moof_len,
                        tfdt,
                        duration,
                        mdat_offset: offset,
                        mdat_len: len,
                    });
                }
            }
            _ => {}
        }
        offset += len;
    }
    Ok(Parsed {
        sample_entry: sample_entry.ok_or_else(|| bad("no moov"))?,
        fragments,
    })
}

/// The body of the first child box of `kind` in `buf` (a sequence of boxes).
fn child<'a>(buf: &'a [u8], kind: &[u8; 4]) -> Option<&'a [u8]> {
    let mut rest = buf;
    while rest.len() >= 8 {
        let len = u32::from_be_bytes(rest[..4].try_into().ok()?) as usize;
        if len < 8 || len > rest.len() {
            return None;
        }
        if &rest[4..8] == kind {
            return Some(&rest[8..len]);
        }
        rest = &rest[len..];
    }
    None
}

/// The first sample entry box (bytes, header included) of the first track of a `moov`.
fn first_sample_entry(moov: &[u8]) -> Option<Vec<u8>> {
    let moov = child(moov, b"moov")?;
    let stbl = child(
        child(child(child(moov, b"trak")?, b"mdia")?, b"minf")?,
        b"stbl",
    )?;
    let stsd = child(stbl, b"stsd")?;
    let entries = stsd.get(8..)?; // version+flags, entry count
    let len = u32::from_be_bytes(entries.get(..4)?.try_into().ok()?) as usize;
    entries.get(..len).map(<[u8]>::to_vec)
}

/// Renumbers and re-times a `moof`, keeping its data offsets pointing at the same
/// bytes of the following `mdat`.
fn rewrite_moof(mut moof: mp4_atom::Moof, orig_len: u64, seq: u32, tfdt: u64) -> Result<Vec<u8>> {
    let enc = |m: &mp4_atom::Moof| -> Result<Vec<u8>> {
        let mut out = Vec::new();
        m.encode(&mut out)
            .map_err(|e| RecError::Rejected(format!("re-encoding moof: {e}")))?;
        Ok(out)
    };
    let before = orig_len as i64;
    moof.mfhd.sequence_number = seq;
    for traf in &mut moof.traf {
        traf.tfdt = Some(mp4_atom::Tfdt {
            base_media_decode_time: tfdt,
        });
    }
    let after = enc(&moof)?;
    let delta = after.len() as i64 - before;
    if delta == 0 {
        return Ok(after);
    }
    for traf in &mut moof.traf {
        for trun in &mut traf.trun {
            if let Some(off) = trun.data_offset.as_mut() {
                *off = (i64::from(*off) + delta) as i32;
            }
        }
    }
    enc(&moof)
}
