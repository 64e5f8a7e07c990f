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
        SourceKind::Rpicam => {
            let args = if config.record.enabled {
                let tap = crate::source::RecordTap {
                    queue: std::sync::Arc::new(crate::record::RecordQueue::new(1, 1)),
                    bitrate_bps: config.record.bitrate.0,
                    gop: config.record.gop_frames(s.fps),
                };
                crate::source::rpicam::command_args_h264(s, &tap)
            } else {
                crate::source::rpicam::command_args(s)
            };
            println!(
                "  rpicam       {} {}",
                s.rpicam.binary.display(),
                args.join(" ")
            )
        }
        SourceKind::Libcamera => println!(
            "  libcamera    {} {}",
            s.libcamera.binary.display(),
            crate::source::libcamera::capture_args(s, std::path::Path::new("FIFO")).join(" ")
        ),
        SourceKind::Testsrc => {}
    }
    let u = &config.uplink;
    println!(
        "  uplink       queue {} frames, backoff {:?}..{:?}, connect timeout {:?}, send timeout {:?}",
        u.queue_frames, u.backoff_initial.0, u.backoff_max.0, u.connect_timeout.0, u.send_timeout.0
    );
    let r = &config.record;
    if r.enabled {
        let limit = |o: Option<String>| o.unwrap_or_else(|| "unlimited".into());
        println!(
            "  record       {} segments of {:?}, fragment {:?}, {} bit/s, GOP {} frames",
            r.dir.display(),
            r.segment_duration.0,
            r.fragment,
            r.bitrate.0,
            r.gop_frames(s.fps)
        );
        println!(
            "  retention    max_age {}, max_size {}, min_free {}",
            limit(r.retention.max_age().map(|d| format!("{d:?}"))),
            limit(r.retention.max_bytes().map(|b| format!("{b} bytes"))),
            limit(r.retention.min_free_bytes().map(|b| format!("{b} bytes")))
        );
    } else {
        println!("  record       disabled");
    }
    println!("  state_dir    {}", config.state_dir.display());
    Ok(())
}
