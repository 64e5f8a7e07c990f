//! `agent probe`: list V4L2 capture devices with their formats, sizes and frame intervals, libcamera's
//! cameras (through its `cam` tool, if installed) and look for `rpicam-vid`.

use std::path::PathBuf;
use std::time::Duration;

pub async fn run() -> anyhow::Result<()> {
    devices();
    libcamera().await;
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

/// Runs `program args` with a deadline; its stdout and stderr.
async fn output(program: &std::path::Path, args: &[&str]) -> Result<(String, String), String> {
    let out = tokio::process::Command::new(program)
        .args(args)
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output();
    match tokio::time::timeout(Duration::from_secs(20), out).await {
        Ok(Ok(o)) => Ok((
            String::from_utf8_lossy(&o.stdout).into_owned(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("timed out".to_owned()),
    }
}

/// libcamera's cameras as `cam --list` names them, with the stream
/// configurations `cam --info` offers for each (source kind "libcamera").
async fn libcamera() {
    let Some(cam) = which("cam") else {
        println!("libcamera: `cam` (libcamera-tools) not on PATH");
        return;
    };
    let list = match output(&cam, &["--list"]).await {
        Ok((stdout, _)) => stdout,
        Err(e) => {
            println!("libcamera: cam --list failed: {e}");
            return;
        }
    };
    let cameras: Vec<(String, String)> = list
        .lines()
        .filter_map(|l| {
            let (index, name) = l.trim().split_once(": ")?;
            index.parse::<u32>().ok()?;
            Some((index.to_owned(), name.to_owned()))
        })
        .collect();
    if cameras.is_empty() {
        println!("libcamera: no cameras");
    }
    for (index, name) in cameras {
        println!("libcamera camera {index}: {name}");
        match output(&cam, &["--camera", &index, "--info"]).await {
            Ok((stdout, _)) => {
                let mut sizes = Vec::new();
                for line in stdout.lines().map(str::trim) {
                    if let Some(size) = line.strip_prefix("- ") {
                        sizes.push(size.to_owned());
                    } else if line.starts_with("* Pixelformat:") || line.contains(": ") {
                        if !sizes.is_empty() {
                            println!("    {}", sizes.join(" "));
                            sizes.clear();
                        }
                        if !line.starts_with("Using camera") {
                            println!("  {line}");
                        }
                    }
                }
                if !sizes.is_empty() {
                    println!("    {}", sizes.join(" "));
                }
            }
            Err(e) => println!("  cam --info failed: {e}"),
        }
    }
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
