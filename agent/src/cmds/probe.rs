//! `agent probe`: list V4L2 capture devices with their formats, sizes and frame intervals, and look for `rpicam-vid`.

use std::path::PathBuf;
use std::time::Duration;

pub async fn run() -> anyhow::Result<()> {
    devices();
    rpicam().await;
    Ok(())
}

#[cfg(feature = "v4l2")]
fn devices() {
    use v4l::framesize::FrameSizeEnum;
    use v4l::video::Capture;

    let mut nodes = v4l::context::enum_devices();
    nodes.sort_by_key(|n| n.index());
    if nodes.is_empty() {
        println!("V4L2: no /dev/video* devices");
    }
    for node in nodes {
        let path = node.path().display().to_string();
        let dev = match v4l::Device::with_path(node.path()) {
            Ok(d) => d,
            Err(e) => {
                println!("{path}: cannot open: {e}");
                continue;
            }
        };
        match dev.query_caps() {
            Ok(c) => println!(
                "{path}: driver {} card {:?} bus {} caps {}",
                c.driver, c.card, c.bus, c.capabilities
            ),
            Err(e) => println!("{path}: VIDIOC_QUERYCAP failed: {e}"),
        }
        let formats = match dev.enum_formats() {
            Ok(f) => f,
            Err(e) => {
                println!("  (no capture formats: {e})");
                continue;
            }
        };
        for f in formats {
            println!("  {} {:?}", f.fourcc, f.description);
            let sizes = dev.enum_framesizes(f.fourcc).unwrap_or_default();
            for size in sizes {
                match size.size {
                    FrameSizeEnum::Discrete(d) => {
                        let intervals = dev
                            .enum_frameintervals(f.fourcc, d.width, d.height)
                            .unwrap_or_default()
                            .iter()
                            .map(|i| i.interval.to_string())
                            .collect::<Vec<_>>()
                            .join(" ");
                        println!("    {}x{}  intervals: {intervals}", d.width, d.height);
                    }
                    FrameSizeEnum::Stepwise(s) => println!(
                        "    {}x{} .. {}x{} step {}x{}",
                        s.min_width,
                        s.min_height,
                        s.max_width,
                        s.max_height,
                        s.step_width,
                        s.step_height
                    ),
                }
            }
        }
    }
}

#[cfg(not(feature = "v4l2"))]
fn devices() {
    println!("V4L2: not available (built without the `v4l2` feature)");
}

/// Where `name` is on PATH, if anywhere.
pub fn which(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(name))
            .find(|p| p.is_file())
    })
}

async fn rpicam() {
    let Some(path) = which("rpicam-vid") else {
        println!("rpicam-vid: not on PATH");
        return;
    };
    println!("rpicam-vid: {}", path.display());
    let out = tokio::process::Command::new(&path)
        .arg("--list-cameras")
        .kill_on_drop(true)
        .output();
    match tokio::time::timeout(Duration::from_secs(10), out).await {
        Ok(Ok(o)) => {
            for line in String::from_utf8_lossy(&o.stdout).lines() {
                println!("  {line}");
            }
        }
        Ok(Err(e)) => println!("  --list-cameras failed: {e}"),
        Err(_) => println!("  --list-cameras timed out"),
    }
}
