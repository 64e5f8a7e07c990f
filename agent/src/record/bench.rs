//! `agent bench-encode`: CPU time per frame of each stage of live view and recording, on
//! this machine, as absolute figures and as ratios against a baseline measured in the same
//! run (JPEG-encoding the same picture; writing the same bytes to a plain file).
//!
//! CPU time is the thread's (`CLOCK_THREAD_CPUTIME_ID`), so waiting for the disk does not
//! count; the disk-bound figures are given in wall time too.

use std::io::Write;
use std::path::Path;
use std::time::Instant;

use media::{SegmentEvent, Segmenter, Time90k, TrackConfig};
use store::{SegmentDir, SetUp};

use super::recorder;
use crate::config::Config;
use codec::{EncoderSettings, H264Encoder, KeyFrameJpeg};

fn cpu_ns() -> u64 {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    t.tv_sec as u64 * 1_000_000_000 + t.tv_nsec as u64
}

/// Runs `f` `n` times; CPU ms per call.
fn per_call(n: usize, mut f: impl FnMut(usize)) -> f64 {
    let start = cpu_ns();
    for i in 0..n {
        f(i);
    }
    (cpu_ns() - start) as f64 / 1e6 / n as f64
}

/// One size's figures.
#[derive(Debug, Clone)]
pub struct SizeFigures {
    pub width: u32,
    pub height: u32,
    pub jpeg_ms: f64,
    pub rgb_to_i420_ms: f64,
    pub yuyv_to_i420_ms: f64,
    /// Live view from a YUYV webcam: YUYV to RGB, then JPEG.
    pub yuyv_to_jpeg_ms: f64,
    pub h264_encode_ms: f64,
    /// openh264 on a busy picture (random 4x4 blocks every frame): the
    /// worst case, unlike the mostly static test pattern.
    pub h264_encode_busy_ms: f64,
    pub h264_bytes_per_frame: f64,
    pub keyframe_to_jpeg_ms: f64,
    /// Recording an already coded frame: split, segment, write (no fsync).
    pub passthrough_ms: f64,
    /// The same bytes written to a plain file with `write` (no fsync).
    pub raw_write_ms: f64,
    /// Recording with the store's fdatasync per fragment: CPU and wall.
    pub passthrough_synced_cpu_ms: f64,
    pub passthrough_synced_wall_ms: f64,
    /// Plain file write plus fdatasync at the same cadence: wall.
    pub raw_synced_wall_ms: f64,
    /// File bytes / media bytes.
    pub overhead: f64,
}

/// Measure one size with `frames` frames (at least 20).
pub fn measure(width: u32, height: u32, frames: usize, dir: &Path) -> anyhow::Result<SizeFigures> {
    let frames = frames.max(20);
    std::fs::create_dir_all(dir)?;
    let fps = 10;
    let pattern = testpattern::Pattern::new(width, height);
    let images: Vec<testpattern::Image> = (0..frames)
        .map(|i| {
            pattern.render(testpattern::Stamp {
                frame: i as u32,
                millis: 1_000_000 + i as u64 * 100,
            })
        })
        .collect();
    let jpeg_ms = per_call(frames, |i| {
        std::hint::black_box(testpattern::encode_jpeg(&images[i], 80));
    });
    let mut i420s = Vec::with_capacity(frames);
    let rgb_to_i420_ms = per_call(frames, |i| i420s.push(images[i].to_i420()));
    // YUYV as a webcam would deliver it.
    let (w, h) = (width as usize, height as usize);
    let yuyvs: Vec<Vec<u8>> = i420s
        .iter()
        .take(10)
        .map(|p| crate::source::yuyv::i420_to_yuyv(p, w, h))
        .collect();
    let yuyv_to_i420_ms = per_call(frames, |i| {
        std::hint::black_box(crate::source::yuyv::yuyv_to_i420(
            &yuyvs[i % yuyvs.len()],
            w,
            h,
            w * 2,
        ));
    });
    let yuyv_to_jpeg_ms = per_call(frames, |i| {
        if let Some(rgb) = crate::source::yuyv::yuyv_to_rgb(&yuyvs[i % yuyvs.len()], w, h, w * 2) {
            let image = testpattern::Image { width, height, rgb };
            std::hint::black_box(testpattern::encode_jpeg(&image, 80));
        }
    });
    let mut enc = H264Encoder::new(EncoderSettings {
        width,
        height,
        fps,
        bitrate_bps: 1_000_000,
        gop: fps,
    })?;
    let mut aus = Vec::with_capacity(frames);
    let h264_encode_ms = per_call(frames, |i| {
        if let Ok(Some(au)) = enc.encode(&i420s[i]) {
            aus.push(au);
        }
    });
    let mut busy_enc = H264Encoder::new(EncoderSettings {
        width,
        height,
        fps,
        bitrate_bps: 1_000_000,
        gop: fps,
    })?;
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let busy: Vec<Vec<u8>> = (0..8)
        .map(|_| {
            let mut p = vec![128u8; w * h * 3 / 2];
            let blocks: Vec<u8> = (0..(w / 4) * (h / 4))
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    16 + (x >> 24) as u8 % 220
                })
                .collect();
            for y in 0..h {
                for xx in 0..w {
                    p[y * w + xx] = blocks[(y / 4) * (w / 4) + xx / 4];
                }
            }
            p
        })
        .collect();
    let h264_encode_busy_ms = per_call(frames.min(40), |i| {
        std::hint::black_box(busy_enc.encode(&busy[i % busy.len()]).ok());
    });
    let h264_bytes_per_frame =
        aus.iter().map(|a| a.len_bytes()).sum::<usize>() as f64 / aus.len().max(1) as f64;
    let keys: Vec<Vec<u8>> = aus
        .iter()
        .filter(|a| a.is_key)
        .map(media::h264::AccessUnit::to_annexb)
        .collect();
    let mut live = KeyFrameJpeg::new(80)?;
    let keyframe_to_jpeg_ms = per_call(keys.len(), |i| {
        std::hint::black_box(live.jpeg(&keys[i]).ok());
    });

    let first = &aus[0];
    let track = TrackConfig::h264(
        first.sps().ok_or_else(|| anyhow::anyhow!("no SPS"))?,
        first.pps().ok_or_else(|| anyhow::anyhow!("no PPS"))?,
    )?;
    let cfg = Config::parse(
        "hub_url = \"ws://h/video-input-stream\"\ncamera_id = 1\ntoken = \"t\"\n[source]\nkind = \"testsrc\"\n[record]\nsegment_duration = \"60s\"\n",
    )?;
    let seg_cfg = recorder::segmenter_config(&cfg);

    // Passthrough into segment files, without and with fdatasync.
    let run = |synced: bool, sub: &str| -> anyhow::Result<(f64, f64, u64, u64)> {
        let sd = SegmentDir::open(dir.join(sub), "bench", SetUp::CreateIfMissing)?;
        let sd = if synced {
            sd
        } else {
            sd.with_sync_policy(store::SyncPolicy::OnFinish)
        };
        let mut seg = Segmenter::new(track.clone(), seg_cfg);
        let mut events = Vec::new();
        let mut writer = None;
        let (mut file_bytes, mut media_bytes) = (0u64, 0u64);
        let wall = Instant::now();
        let cpu = cpu_ns();
        let mut apply = |events: &mut Vec<SegmentEvent>,
                         writer: &mut Option<store::SegmentWriter>|
         -> anyhow::Result<()> {
            for ev in events.drain(..) {
                match ev {
                    SegmentEvent::Start { init, .. } => {
                        let mut w = sd.begin(1_795_000_000_000)?;
                        w.append(&init)?;
                        *writer = Some(w);
                    }
                    SegmentEvent::Fragment(f) => {
                        if let Some(w) = writer.as_mut() {
                            w.write_fragment(&f)?;
                        }
                    }
                    SegmentEvent::End(s) => {
                        file_bytes += s.file_bytes;
                        media_bytes += s.media_bytes;
                        if let Some(w) = writer.take() {
                            w.finish(&s)?;
                        }
                    }
                }
            }
            Ok(())
        };
        for (i, au) in aus.iter().enumerate() {
            let frame = media::Frame::from_access_unit(au, Time90k(i as i64 * 9000))?;
            seg.push(frame, &mut events)?;
            apply(&mut events, &mut writer)?;
        }
        seg.finish(&mut events)?;
        apply(&mut events, &mut writer)?;
        let cpu_ms = (cpu_ns() - cpu) as f64 / 1e6 / aus.len() as f64;
        let wall_ms = wall.elapsed().as_secs_f64() * 1000.0 / aus.len() as f64;
        Ok((cpu_ms, wall_ms, file_bytes, media_bytes))
    };
    let (passthrough_ms, _, file_bytes, media_bytes) = run(false, "unsynced")?;
    let (passthrough_synced_cpu_ms, passthrough_synced_wall_ms, _, _) = run(true, "synced")?;

    // Baseline: the same AVCC bytes to a plain file, GOP by GOP.
    let samples: Vec<Vec<u8>> = aus
        .iter()
        .map(|a| a.to_avcc().unwrap_or_default())
        .collect();
    let raw = |synced: bool, name: &str| -> anyhow::Result<(f64, f64)> {
        let mut f = std::fs::File::create(dir.join(name))?;
        let wall = Instant::now();
        let cpu = cpu_ns();
        for (i, s) in samples.iter().enumerate() {
            f.write_all(s)?;
            if synced && (i + 1) % fps as usize == 0 {
                f.sync_data()?;
            }
        }
        f.sync_all()?;
        Ok((
            (cpu_ns() - cpu) as f64 / 1e6 / samples.len() as f64,
            wall.elapsed().as_secs_f64() * 1000.0 / samples.len() as f64,
        ))
    };
    let (raw_write_ms, _) = raw(false, "raw-unsynced")?;
    let (_, raw_synced_wall_ms) = raw(true, "raw-synced")?;

    Ok(SizeFigures {
        width,
        height,
        jpeg_ms,
        rgb_to_i420_ms,
        yuyv_to_i420_ms,
        yuyv_to_jpeg_ms,
        h264_encode_ms,
        h264_encode_busy_ms,
        h264_bytes_per_frame,
        keyframe_to_jpeg_ms,
        passthrough_ms,
        raw_write_ms,
        passthrough_synced_cpu_ms,
        passthrough_synced_wall_ms,
        raw_synced_wall_ms,
        overhead: file_bytes as f64 / media_bytes.max(1) as f64,
    })
}

/// The CPU, the cores and the build, for a report's first line.
pub(crate) fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name") || l.starts_with("Model"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    format!(
        "{cpu}, {cores} cores available, {} build",
        if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        }
    )
}

/// The report, as Markdown.
pub fn report(figs: &[SizeFigures], frames: usize) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Machine: {}; {frames} frames per size, test pattern at 10 fps, openh264 at 1 Mbit/s with a key frame per second, JPEG quality 80.\n",
        machine()
    );
    let _ = writeln!(
        out,
        "CPU time per frame (thread CPU time; ratio to JPEG-encoding the same picture in parentheses):\n"
    );
    // A table's first two lines: `first` and one column per picture size.
    let head = |out: &mut String, first: &str| {
        let sizes: Vec<String> = figs
            .iter()
            .map(|f| format!("{}x{}", f.width, f.height))
            .collect();
        let _ = writeln!(out, "| {first} | {} |", sizes.join(" | "));
        let _ = writeln!(out, "|---|{}", "---|".repeat(figs.len()));
    };
    head(&mut out, "stage");
    let row = |out: &mut String, name: &str, get: &dyn Fn(&SizeFigures) -> f64| {
        let cells: Vec<String> = figs
            .iter()
            .map(|f| format!("{:.3} ms ({:.3}x)", get(f), get(f) / f.jpeg_ms))
            .collect();
        let _ = writeln!(out, "| {name} | {} |", cells.join(" | "));
    };
    type Get = fn(&SizeFigures) -> f64;
    let rows: [(&str, Get); 9] = [
        ("JPEG encode (live; baseline)", |f| f.jpeg_ms),
        ("RGB to I420 (testsrc)", |f| f.rgb_to_i420_ms),
        ("YUYV to I420 (webcam)", |f| f.yuyv_to_i420_ms),
        ("YUYV to JPEG (webcam live view)", |f| f.yuyv_to_jpeg_ms),
        ("openh264 encode (software recording), test pattern", |f| {
            f.h264_encode_ms
        }),
        (
            "openh264 encode, busy picture (random blocks each frame)",
            |f| f.h264_encode_busy_ms,
        ),
        (
            "key frame decode + JPEG (live from H.264, per key frame)",
            |f| f.keyframe_to_jpeg_ms,
        ),
        ("record coded frame: segment + write (passthrough)", |f| {
            f.passthrough_ms
        }),
        ("  same, with fdatasync per fragment (CPU)", |f| {
            f.passthrough_synced_cpu_ms
        }),
    ];
    for (name, get) in rows {
        row(&mut out, name, &get);
    }
    let _ = writeln!(
        out,
        "\nWriting (ratio to writing the same media bytes to a plain file in the same run):\n"
    );
    head(&mut out, "measure");
    let cells =
        |get: &dyn Fn(&SizeFigures) -> String| figs.iter().map(get).collect::<Vec<_>>().join(" | ");
    let _ = writeln!(
        out,
        "| H.264 bytes per frame | {} |",
        cells(&|f| format!("{:.0}", f.h264_bytes_per_frame))
    );
    let _ = writeln!(
        out,
        "| file bytes per media byte (fMP4 overhead) | {} |",
        cells(&|f| format!("{:.4}", f.overhead))
    );
    let _ = writeln!(
        out,
        "| CPU per frame, no fsync: recorder vs plain write | {} |",
        cells(&|f| format!(
            "{:.3} ms vs {:.3} ms ({:.1}x)",
            f.passthrough_ms,
            f.raw_write_ms,
            f.passthrough_ms / f.raw_write_ms.max(1e-9)
        ))
    );
    let _ = writeln!(
        out,
        "| wall per frame, fdatasync per GOP: recorder vs plain write | {} |",
        cells(&|f| format!(
            "{:.3} ms vs {:.3} ms ({:.2}x)",
            f.passthrough_synced_wall_ms,
            f.raw_synced_wall_ms,
            f.passthrough_synced_wall_ms / f.raw_synced_wall_ms.max(1e-9)
        ))
    );
    out
}

/// `agent bench-encode`.
pub fn run(frames: usize) -> anyhow::Result<()> {
    let tmp = std::env::temp_dir().join(format!("agent-bench-{}", std::process::id()));
    std::fs::create_dir_all(&tmp)?;
    let result = (|| {
        let mut figs = Vec::new();
        for (w, h) in [(640, 480), (1280, 720)] {
            eprintln!("measuring {w}x{h}...");
            figs.push(measure(w, h, frames, &tmp.join(format!("{w}x{h}")))?);
        }
        println!("{}", report(&figs, frames));
        Ok(())
    })();
    let _ = std::fs::remove_dir_all(&tmp);
    result
}
