//! The recorded segments of a run: listing them and checking each with ffprobe (every
//! frame decoded).

use std::path::{Path, PathBuf};

pub use testkit::ffprobe::FFPROBE;

/// Segment files under `dir` (recursively): finished `*.mp4` and unfinished
/// `*.mp4.partial`, each sorted by path.
#[derive(Debug, Default)]
pub struct Listing {
    pub finished: Vec<PathBuf>,
    pub partial: Vec<PathBuf>,
}

pub fn list(dir: &Path) -> Listing {
    let mut l = Listing::default();
    walk(dir, &mut l);
    l.finished.sort();
    l.partial.sort();
    l
}

fn walk(dir: &Path, l: &mut Listing) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let p = e.path();
        let Ok(t) = e.file_type() else { continue };
        if t.is_dir() {
            walk(&p, l);
        } else if p.to_string_lossy().ends_with(".mp4.partial") {
            l.partial.push(p);
        } else if p.extension().is_some_and(|x| x == "mp4") {
            l.finished.push(p);
        }
    }
}

/// What ffprobe made of a segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    pub codec: String,
    pub frames: u64,
}

/// Decodes every frame of the first video stream of `file`: valid if ffprobe exits 0
/// without a message, the codec is H.264 or H.265 and there is at least one frame.
pub fn probe(file: &Path) -> Result<Probe, String> {
    let p = testkit::ffprobe::probe(file).map_err(|e| format!("{e:#}"))?;
    if !matches!(p.codec.as_str(), "h264" | "hevc") {
        return Err(format!("codec {}", p.codec));
    }
    if p.frames == 0 {
        return Err("no frames".into());
    }
    Ok(Probe {
        codec: p.codec,
        frames: p.frames,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_finished_and_partial_segments_and_refuses_garbage() {
        let d = tempfile_dir();
        std::fs::create_dir_all(d.join("cam")).unwrap();
        std::fs::write(d.join("cam/a.mp4"), b"not an mp4").unwrap();
        std::fs::write(d.join("cam/b.mp4.partial"), b"x").unwrap();
        std::fs::write(d.join("index.db"), b"x").unwrap();
        let l = list(&d);
        assert_eq!(l.finished, vec![d.join("cam/a.mp4")]);
        assert_eq!(l.partial, vec![d.join("cam/b.mp4.partial")]);
        if Path::new(FFPROBE).exists() {
            assert!(probe(&l.finished[0]).is_err());
        }
        std::fs::remove_dir_all(&d).unwrap();
    }

    fn tempfile_dir() -> PathBuf {
        let d = std::env::temp_dir().join(format!("soak-seg-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }
}
