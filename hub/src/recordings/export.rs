//! Export of a time range of one camera as one MP4: the segments the index has for the
//! range are read through [`super::read`] and planned by the media crate's sans-I/O
//! [`media::export`] (which fragments overlap, their `moof`s renumbered and re-timed so
//! they play back to back from 0); [`write`] then streams the init segment, each rewritten
//! `moof` and the media data it points at, one bounded piece at a time. The hub reads no
//! box itself.

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use media::export::{Export, ExportBuilder};

use super::read::SegmentFile;
use super::{RecError, Recordings, Result, Segment, index};

/// The longest range one export may span.
pub const MAX_EXPORT_MS: i64 = 24 * 3600 * 1000;
/// Bytes per piece of the file handed to the receiver.
const PIECE: usize = 1 << 20;

/// What [`write`] will send.
#[derive(Debug)]
pub struct ExportPlan {
    pub export: Export,
    /// The segments the pieces read from (a piece's `source` indexes this).
    sources: Vec<Segment>,
}

impl ExportPlan {
    /// Exact size of the file [`write`] produces.
    pub fn len(&self) -> u64 {
        self.export.len()
    }

    pub fn is_empty(&self) -> bool {
        self.export.is_empty()
    }
}

/// Scans a segment's headers and `moof`s (never its media data).
fn scan(file: &dyn SegmentFile) -> Result<media::recover::ScannedFile> {
    media::recover::Scanner::new(file.len())
        .keep_fragments()
        .drive(|offset, buf| file.read_at(offset, buf))?
        .into_fragments()
        .map_err(|e| RecError::Rejected(format!("cannot export: {e}")))
}

/// Plans an export of `camera` over `[start_ms, end_ms)`.
pub fn plan(rec: &Recordings, camera: &str, start_ms: i64, end_ms: i64) -> Result<ExportPlan> {
    check_range(start_ms, end_ms)?;
    let cam = camera.to_owned();
    let segments = rec
        .db
        .call_blocking(|c| index::range(c, &cam, start_ms, end_ms))?;
    plan_over(start_ms, end_ms, segments, |seg| rec.open_segment(seg))
}

/// Refuses a range that ends before it starts or spans more than [`MAX_EXPORT_MS`].
fn check_range(start_ms: i64, end_ms: i64) -> Result<()> {
    if end_ms <= start_ms {
        return Err(RecError::Invalid("end must be after start".into()));
    }
    // Both come from the request: their difference may not fit in an i64.
    if end_ms
        .checked_sub(start_ms)
        .is_none_or(|d| d > MAX_EXPORT_MS)
    {
        return Err(RecError::Invalid(
            "an export may span at most 24 hours".into(),
        ));
    }
    Ok(())
}

/// [`plan`] after the index lookup: an export of `[start_ms, end_ms)` over `segments`
/// (in time order, as the index gives them), each opened by `open`. Apart so that it
/// can run over files in memory (the `hub_export` fuzz target).
pub fn plan_over(
    start_ms: i64,
    end_ms: i64,
    segments: Vec<Segment>,
    open: impl Fn(&Segment) -> Result<Box<dyn SegmentFile>>,
) -> Result<ExportPlan> {
    check_range(start_ms, end_ms)?;
    let mut builder = ExportBuilder::new(start_ms, end_ms);
    let mut sources = Vec::new();
    for seg in segments {
        let file = match open(&seg) {
            Ok(f) => f,
            Err(RecError::NotFound(_)) => continue, // deleted meanwhile
            Err(e) => return Err(e),
        };
        let scanned = scan(&*file)?;
        let joined = builder
            .add(sources.len(), seg.start_ms, &scanned)
            .map_err(|e| RecError::Rejected(format!("cannot export: {e}")))?;
        if !joined {
            tracing::info!(segment = seg.file_name, "export ends at a codec change");
            break;
        }
        sources.push(seg);
    }
    let export = builder
        .finish()
        .map_err(|e| RecError::Rejected(format!("cannot export: {e}")))?
        .ok_or_else(|| RecError::NotFound("no recordings in that range".into()))?;
    Ok(ExportPlan { export, sources })
}

/// Streams the planned file to `send` (false = the receiver is gone: stop).
pub fn write(rec: &Recordings, plan: ExportPlan, send: impl FnMut(Bytes) -> bool) -> Result<()> {
    write_with(plan, |seg| rec.open_segment(seg), send)
}

/// The file being cut into pieces of [`PIECE`] bytes for the receiver. The pieces' buffers
/// come back to a small pool when the receiver has sent them, so that a long export
/// reuses a few buffers instead of allocating (and the kernel zeroing) a fresh MiB per
/// piece.
struct Pieces<F: FnMut(Bytes) -> bool> {
    buf: Vec<u8>,
    fill: usize,
    send: F,
    pool: Arc<Mutex<Vec<Vec<u8>>>>,
    /// Buffers allocated (not taken from the pool).
    allocated: usize,
    /// The receiver is gone.
    gone: bool,
}

/// Buffers a pool keeps for reuse (the receiver's queue and the pieces in flight).
const POOLED: usize = 8;

/// A piece handed on: its buffer goes back to the pool when the receiver drops it.
struct Piece {
    buf: Vec<u8>,
    len: usize,
    pool: Arc<Mutex<Vec<Vec<u8>>>>,
}

impl AsRef<[u8]> for Piece {
    fn as_ref(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

impl Drop for Piece {
    fn drop(&mut self) {
        let mut pool = self.pool.lock().unwrap_or_else(|e| e.into_inner());
        if pool.len() < POOLED {
            pool.push(std::mem::take(&mut self.buf));
        }
    }
}

impl<F: FnMut(Bytes) -> bool> Pieces<F> {
    fn new(send: F) -> Self {
        Pieces {
            buf: vec![0; PIECE],
            fill: 0,
            send,
            pool: Arc::default(),
            allocated: 1,
            gone: false,
        }
    }

    /// A buffer for the next piece: one the receiver gave back, or a new one.
    fn fresh(&mut self) -> Vec<u8> {
        let pooled = self.pool.lock().unwrap_or_else(|e| e.into_inner()).pop();
        pooled.unwrap_or_else(|| {
            self.allocated += 1;
            vec![0; PIECE]
        })
    }

    /// Hands on what the piece holds.
    fn flush(&mut self) {
        if self.fill == 0 || self.gone {
            return;
        }
        let next = self.fresh();
        let piece = Piece {
            buf: std::mem::replace(&mut self.buf, next),
            len: self.fill,
            pool: Arc::clone(&self.pool),
        };
        self.fill = 0;
        self.gone = !(self.send)(Bytes::from_owner(piece));
    }

    /// Copies `bytes` in (handing on full pieces).
    fn put(&mut self, bytes: &[u8]) {
        if bytes.len() > PIECE - self.fill {
            self.flush();
        }
        if bytes.len() > PIECE {
            self.gone = self.gone || !(self.send)(Bytes::copy_from_slice(bytes));
            return;
        }
        self.buf[self.fill..self.fill + bytes.len()].copy_from_slice(bytes);
        self.fill += bytes.len();
    }

    /// Room for at most `want` bytes (at least one; a full piece is handed on first).
    fn room(&mut self, want: u64) -> &mut [u8] {
        if self.fill == PIECE {
            self.flush();
        }
        let n = want.min((PIECE - self.fill) as u64) as usize;
        &mut self.buf[self.fill..self.fill + n]
    }
}

/// [`write`] with the segments opened by `open`. The file goes out in pieces of
/// [`PIECE`] bytes (the init segment, the `moof`s and the media data read straight into
/// the piece), so that a byte costs a read and no send per fragment.
pub fn write_with(
    plan: ExportPlan,
    open: impl Fn(&Segment) -> Result<Box<dyn SegmentFile>>,
    send: impl FnMut(Bytes) -> bool,
) -> Result<()> {
    let ExportPlan { export, sources } = plan;
    let mut out = Pieces::new(send);
    out.put(&export.init);
    let mut open_file: Option<(usize, Box<dyn SegmentFile>)> = None;
    for p in export.pieces {
        out.put(&p.moof);
        if open_file
            .as_ref()
            .is_none_or(|(source, _)| *source != p.source)
        {
            let seg = sources
                .get(p.source)
                .ok_or_else(|| RecError::NotFound("no such recording".into()))?;
            open_file = Some((p.source, open(seg)?));
        }
        let Some((_, file)) = open_file.as_ref() else {
            continue;
        };
        let mut off = 0;
        while off < p.mdat_len && !out.gone {
            let at = p
                .mdat_offset
                .checked_add(off)
                .ok_or_else(|| RecError::Rejected("cannot export: offset out of range".into()))?;
            let room = out.room(p.mdat_len - off);
            file.read_exact_at(at, room)?;
            let n = room.len();
            out.fill += n;
            off += n as u64;
        }
        if out.gone {
            return Ok(());
        }
    }
    out.flush();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Pieces carry the bytes put in, in order; a receiver that is done with each piece
    /// before the next gets back the same two buffers, one that keeps some gets new ones
    /// only for those it keeps.
    #[test]
    fn pieces_keep_the_bytes_and_reuse_their_buffers() {
        let input: Vec<u8> = (0..5 * PIECE + 12_345)
            .map(|i| (i * 7 % 251) as u8)
            .collect();
        for kept in [0usize, 3] {
            let mut got = Vec::new();
            let mut held = std::collections::VecDeque::new();
            let mut out = Pieces::new(|b: Bytes| {
                got.extend_from_slice(&b);
                held.push_back(b);
                if held.len() > kept {
                    held.pop_front();
                }
                true
            });
            let mut at = 0;
            for (i, step) in [1usize, 100, 70_000, PIECE - 3, 2 * PIECE]
                .iter()
                .cycle()
                .enumerate()
            {
                if at >= input.len() || i > 1000 {
                    break;
                }
                let end = (at + step).min(input.len());
                out.put(&input[at..end]);
                at = end;
            }
            out.flush();
            let allocated = out.allocated;
            drop(out);
            assert_eq!(got, input, "kept {kept}");
            assert!(allocated <= kept + 2, "kept {kept}: {allocated} buffers");
        }
    }
}
