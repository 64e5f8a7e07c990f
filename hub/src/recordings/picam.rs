//! `hub import-picam DIR --camera NAME`: Pi-Cam's recordings into the store, so old
//! footage shows in the lists, the timeline and the APIs beside the new.
//!
//! Pi-Cam named each file after its start in the Pi's local time,
//! `DD-MM-YYYY_HHhMMmSSs.mp4` (converted by ffmpeg from the raw `.h264` it recorded),
//! or `DD-MM-YYYY_HHhMMmSSs.h264` when the conversion failed or Pi-Cam stopped mid-file.
//! Both are taken, read in the zone given (default: this machine's); any other name is
//! reported and skipped.
//!
//! Each file is *copied*, never moved: ffmpeg rewraps its H.264 (no re-encoding) as a
//! fragmented MP4 into the upload staging directory (on the same disk as the store),
//! which then goes the way of an uploaded segment: probed, media time moved to 0 if
//! needed, fsynced, renamed into the camera's directory (never over a file), the
//! directory fsynced, then indexed (source `found`: not recorded by this system). The Pi-Cam file is left as it
//! was, so a crash at any step loses nothing: a run again (or `hub check`, for a file
//! renamed but not indexed) finishes the job. A segment already indexed at that time is
//! not imported again, so running it twice changes nothing. Rewrapping as fMP4 rather
//! than storing Pi-Cam's plain MP4 keeps one file format in the store: the start-up
//! check, export and retention read every segment the same way.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use jiff::tz::TimeZone;

use super::{RecError, Recordings, Result, Segment, Source, UPLOADS_DIR, index};

/// Pi-Cam's camera ran at 30 frames a second; a raw `.h264` carries no timing.
const H264_FRAME_RATE: &str = "30";

/// What Pi-Cam wrote a recording as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum PicamKind {
    /// Converted by ffmpeg to MP4.
    Mp4,
    /// The raw H.264 elementary stream (not converted).
    H264,
}

/// The start (UTC ms) and kind of a Pi-Cam recording's file name, its local time read
/// in `tz`; `None` for any other name.
pub fn parse_picam_name(name: &str, tz: &TimeZone) -> Option<(i64, PicamKind)> {
    let (stem, kind) = if let Some(s) = name.strip_suffix(".mp4") {
        (s, PicamKind::Mp4)
    } else if let Some(s) = name.strip_suffix(".h264") {
        (s, PicamKind::H264)
    } else {
        return None;
    };
    // Exactly what strftime("%d-%m-%Y_%Hh%Mm%Ss") writes: two-digit fields, 4-digit year.
    let b = stem.as_bytes();
    let shape = "dd-dd-dddd_ddhddmdds";
    if b.len() != shape.len()
        || !shape.bytes().zip(b).all(|(s, c)| match s {
            b'd' => c.is_ascii_digit(),
            _ => *c == s,
        })
    {
        return None;
    }
    let time = jiff::civil::DateTime::strptime("%d-%m-%Y_%Hh%Mm%Ss", stem).ok()?;
    let ts = time.to_zoned(tz.clone()).ok()?.timestamp();
    Some((ts.as_millisecond(), kind))
}

/// What an import did, file by file.
#[derive(Debug, Default)]
pub struct ImportReport {
    /// (Pi-Cam file, the segment it became).
    pub imported: Vec<(String, Segment)>,
    /// (Pi-Cam file, the segment already indexed at its time).
    pub already: Vec<(String, String)>,
    /// (file, why it is not a Pi-Cam recording).
    pub skipped: Vec<(String, String)>,
    /// (Pi-Cam file, what went wrong).
    pub failed: Vec<(String, String)>,
}

impl ImportReport {
    /// One line per file.
    pub fn lines(&self) -> Vec<String> {
        let mut out = Vec::new();
        for (f, s) in &self.imported {
            out.push(format!(
                "imported {f} as {} ({:.1} s, {}x{} {})",
                s.public_name(),
                s.duration_ms as f64 / 1000.0,
                s.width,
                s.height,
                s.codec
            ));
        }
        for (f, n) in &self.already {
            out.push(format!("already imported: {f} (segment {n})"));
        }
        for (f, why) in &self.skipped {
            out.push(format!("skipped {f}: {why}"));
        }
        for (f, e) in &self.failed {
            out.push(format!("could not import {f}: {e}"));
        }
        out
    }
}

/// Imports every Pi-Cam recording in `dir` (not its subdirectories) as segments of
/// `camera`, their names read in `tz`. Blocks (ffmpeg, disk, SQLite).
pub fn import(
    rec: &Arc<Recordings>,
    dir: &Path,
    camera: &str,
    tz: &TimeZone,
    ffmpeg: &Path,
) -> Result<ImportReport> {
    if rec.dir(camera).is_none() {
        return Err(RecError::NotFound(format!(
            "no camera {camera:?} in the configuration"
        )));
    }
    let mut files = Vec::new();
    let mut report = ImportReport::default();
    let entries = fs::read_dir(dir).map_err(|e| RecError::io("read directory", dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| RecError::io("read directory", dir, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if !entry.file_type().is_ok_and(|t| t.is_file()) {
            report.skipped.push((name, "not a file".into()));
            continue;
        }
        match parse_picam_name(&name, tz) {
            Some((start_ms, kind)) => files.push((start_ms, kind, name)),
            None => report.skipped.push((
                name,
                "not a Pi-Cam recording name (DD-MM-YYYY_HHhMMmSSs.mp4 or .h264)".into(),
            )),
        }
    }
    // Oldest first; of an .mp4 and an .h264 of one time, the converted .mp4 first.
    files.sort();
    let staging = rec.root().join(UPLOADS_DIR).join(camera);
    fs::create_dir_all(&staging).map_err(|e| RecError::io("create", &staging, e))?;
    for (start_ms, kind, name) in files {
        let Some(seg_name) = store::segment_name(start_ms) else {
            report
                .skipped
                .push((name, "its time is outside years 0000-9999".into()));
            continue;
        };
        let (c, n) = (camera.to_owned(), seg_name.clone());
        if rec
            .db
            .call_blocking(move |db| index::get(db, &c, &n))?
            .is_some()
        {
            report.already.push((name, seg_name));
            continue;
        }
        let source = dir.join(&name);
        let staged = staging.join(format!("{seg_name}.import"));
        let retimed = staging.join(format!("{seg_name}.import.retimed"));
        let discard = || {
            let _ = fs::remove_file(&staged);
            let _ = fs::remove_file(&retimed);
        };
        let done = rewrap(ffmpeg, &source, kind, &staged)
            .and_then(|()| super::sha256_file(&staged))
            .and_then(|sha| {
                rec.commit_staged(
                    camera,
                    &seg_name,
                    &staged,
                    &retimed,
                    sha,
                    Source::Imported,
                    &discard,
                )
            });
        match done {
            Ok(seg) => report.imported.push((name, seg)),
            Err(e) => {
                discard();
                report.failed.push((name, e.to_string()));
            }
        }
    }
    Ok(report)
}

/// ffmpeg copies the video of `source` (no re-encoding) into a fragmented MP4 at `out`.
fn rewrap(ffmpeg: &Path, source: &Path, kind: PicamKind, out: &PathBuf) -> Result<()> {
    let mut cmd = Command::new(ffmpeg);
    cmd.args(["-nostdin", "-hide_banner", "-loglevel", "error", "-y"]);
    if kind == PicamKind::H264 {
        cmd.args(["-f", "h264", "-framerate", H264_FRAME_RATE]);
    }
    cmd.arg("-i")
        .arg(source)
        .args(["-map", "0:v:0", "-c:v", "copy", "-an", "-sn", "-dn"])
        // The 90 kHz clock of every other segment in the store.
        .args(["-video_track_timescale", "90000"])
        .args([
            "-f",
            "mp4",
            "-movflags",
            "+frag_keyframe+empty_moov+default_base_moof",
        ])
        .arg(out);
    let output = cmd.output().map_err(|e| {
        RecError::Invalid(format!(
            "cannot run {} (install ffmpeg, which Pi-Cam used too): {e}",
            ffmpeg.display()
        ))
    })?;
    if !output.status.success() {
        let err = String::from_utf8_lossy(&output.stderr);
        return Err(RecError::Rejected(format!(
            "ffmpeg could not read it: {}",
            err.trim().lines().last().unwrap_or("no message")
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picam_names_in_their_zone() {
        let utc = TimeZone::UTC;
        assert_eq!(
            parse_picam_name("25-04-2024_13h05m00s.mp4", &utc),
            Some((1_714_050_300_000, PicamKind::Mp4))
        );
        let berlin = TimeZone::get("Europe/Berlin").unwrap();
        // Summer time: UTC+2.
        assert_eq!(
            parse_picam_name("25-04-2024_13h05m00s.h264", &berlin),
            Some((1_714_050_300_000 - 2 * 3_600_000, PicamKind::H264))
        );
        for bad in [
            "25-04-2024_13h05m00s.avi",
            "25-04-2024_13h05m00s",
            "5-04-2024_13h05m00s.mp4",
            "32-04-2024_13h05m00s.mp4",
            "25-13-2024_13h05m00s.mp4",
            "25-04-2024_24h05m00s.mp4",
            "25-04-2024 13h05m00s.mp4",
            "2024-04-25T13-05-00.000Z.mp4",
            "../25-04-2024_13h05m00s.mp4",
        ] {
            assert_eq!(parse_picam_name(bad, &utc), None, "{bad}");
        }
    }
}
