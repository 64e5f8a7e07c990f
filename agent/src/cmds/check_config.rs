//! `agent check-config --config FILE`: parse, validate, read the token file, and report (without the token).

use std::path::Path;

use anyhow::Context;

use crate::config::{Config, SourceKind};

pub fn run(path: &Path) -> anyhow::Result<()> {
    let config = Config::load(path).with_context(|| format!("configuration {}", path.display()))?;
    let token = config.load_token()?;
    let s = &config.source;
    println!("{}: OK", path.display());
    println!("  hub_url      {}", config.hub_url);
    println!("  camera_id    {}", config.camera_id);
    match &config.token_file {
        Some(f) => println!(
            "  token        from {} ({} characters)",
            f.display(),
            token.expose().len()
        ),
        None => println!(
            "  token        inline ({} characters)",
            token.expose().len()
        ),
    }
    println!(
        "  source       {} {}x{} @ {} fps, JPEG quality {}",
        s.kind.as_str(),
        s.width,
        s.height,
        s.fps,
        s.jpeg_quality
    );
    match s.kind {
        SourceKind::V4l2 => println!(
            "  v4l2         {} format {:?}, {} buffers",
            s.v4l2.device.display(),
            s.v4l2.format,
            s.v4l2.buffers
        ),
        SourceKind::Rpicam => println!(
            "  rpicam       {} {}",
            s.rpicam.binary.display(),
            crate::source::rpicam::command_args(s).join(" ")
        ),
        SourceKind::Testsrc => {}
    }
    let u = &config.uplink;
    println!(
        "  uplink       queue {} frames, backoff {:?}..{:?}, connect timeout {:?}, send timeout {:?}",
        u.queue_frames, u.backoff_initial.0, u.backoff_max.0, u.connect_timeout.0, u.send_timeout.0
    );
    Ok(())
}
