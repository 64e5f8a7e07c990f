//! Export of a time range of one camera as one MP4: the segments the index has for the
//! range are read through [`super::read`] and planned by the media crate's sans-I/O
//! [`media::export`] (which fragments overlap, their `moof`s renumbered and re-timed so
//! they play back to back from 0); [`write`] then streams the init segment, each rewritten
//! `moof` and the media data it points at, one bounded piece at a time. The hub reads no
//! box itself.

use bytes::Bytes;
use media::export::{Export, ExportBuilder};

use super::read::SegmentFile;
use super::{RecError, Recordings, Result, Segment, index};

/// The longest range one export may span.
pub const MAX_EXPORT_MS: i64 = 24 * 3600 * 1000;
/// Bytes read per piece of media data.
const CHUNK: u64 = 1 << 20;

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
    if end_ms <= start_ms {
        return Err(RecError::Invalid("end must be after start".into()));
    }
    if end_ms - start_ms > MAX_EXPORT_MS {
        return Err(RecError::Invalid(
            "an export may span at most 24 hours".into(),
        ));
    }
    let cam = camera.to_owned();
    let segments = rec
        .db
        .call_blocking(|c| index::range(c, &cam, start_ms, end_ms))?;
    let mut builder = ExportBuilder::new(start_ms, end_ms);
    let mut sources = Vec::new();
    for seg in segments {
        let file = match rec.open_segment(&seg) {
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
pub fn write(
    rec: &Recordings,
    plan: ExportPlan,
    mut send: impl FnMut(Bytes) -> bool,
) -> Result<()> {
    let ExportPlan { export, sources } = plan;
    if !send(Bytes::from(export.init)) {
        return Ok(());
    }
    let mut open: Option<(usize, Box<dyn SegmentFile>)> = None;
    for p in export.pieces {
        if !send(Bytes::from(p.moof)) {
            return Ok(());
        }
        if open.as_ref().is_none_or(|(source, _)| *source != p.source) {
            let seg = sources
                .get(p.source)
                .ok_or_else(|| RecError::NotFound("no such recording".into()))?;
            open = Some((p.source, rec.open_segment(seg)?));
        }
        let Some((_, file)) = open.as_ref() else {
            continue;
        };
        let mut off = 0;
        while off < p.mdat_len {
            let n = (p.mdat_len - off).min(CHUNK) as usize;
            let mut buf = vec![0u8; n];
            file.read_exact_at(p.mdat_offset + off, &mut buf)?;
            off += n as u64;
            if !send(Bytes::from(buf)) {
                return Ok(());
            }
        }
    }
    Ok(())
}
