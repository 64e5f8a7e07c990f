//! `agent bench-motion`: the CPU motion detection costs per analysed frame on this agent,
//! for each source kind at 640x480, as a share of that source's own capture path, both
//! through the agent's code: the capture paths' per-frame work (`testsrc` and `v4l2`'s
//! JPEG encode for live view, `yuyv`'s conversion, the MJPEG splitter's trim and copy,
//! `source::live`'s key-frame JPEG for H.264 sources) and the detector thread's analysis
//! of the live JPEG ([`crate::motion::analyse`]); for H.264 sources also the detector
//! thread's decoding of every access unit with analysis of the due ones
//! (`crate::motion::H264`) at 640x480 and 1280x720, against the H.264 capture path's
//! own work (splitting the stream, the key-frame live JPEG).
//!
//! The pictures are a scripted scene (`testpattern::scene`: a still room with sensor
//! noise and a person-sized box crossing it), 10 fps. Every stage runs over the same
//! frames in each round, the rounds interleaved (stage A, B, C, A, B, C, ...) so a busy
//! machine weighs on all alike; the figure is the median round. CPU time is the thread's.

use std::fmt::Write as _;

use bytes::Bytes;
use codec::{EncoderSettings, H264Encoder, KeyFrameJpeg};
use motion::{Detector, FrameRef, Millis, Settings};
use testpattern::scene::{Object, Scene, Shape};

const WIDTH: u32 = 640;
const HEIGHT: u32 = 480;
const FPS: u32 = 10;
/// The agent's default live JPEG quality.
const QUALITY: u8 = 80;

fn cpu_ns() -> u64 {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    t.tv_sec as u64 * 1_000_000_000 + t.tv_nsec as u64
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// The scene at `width`x`height`: 2 s still, then a box walks across for 5 s.
fn scene(frames: usize, (width, height): (u32, u32)) -> Scene {
    Scene {
        width,
        height,
        fps: FPS,
        duration_s: frames as f64 / f64::from(FPS),
        seed: 7,
        noise: 2.0,
        texture: 1.0,
        objects: vec![Object {
            shape: Shape::Rect,
            size: [0.12, 0.45],
            color: [200, 80, 60],
            path: vec![[2.0, -0.1, 0.6], [7.0, 1.1, 0.6]],
        }],
        lighting: Vec::new(),
        clock: false,
    }
}

/// What each source kind hands the detector, and its capture path's work per frame.
struct Kind {
    name: &'static str,
    baseline: &'static str,
    /// The live JPEGs the detector reads (one per analysed frame).
    jpegs: Vec<Vec<u8>>,
}

/// One round of `stage` over `n` calls: CPU ms per call.
fn per_call(n: usize, mut stage: impl FnMut(usize)) -> f64 {
    let start = cpu_ns();
    for i in 0..n {
        stage(i);
    }
    (cpu_ns() - start) as f64 / 1e6 / n.max(1) as f64
}

/// The detector over `jpegs` as the agent's detector thread runs it (every frame due at
/// 5 of 10 fps is analysed): CPU ms per analysed frame.
fn detection(jpegs: &[Vec<u8>]) -> anyhow::Result<f64> {
    let mut d = Detector::new(Settings::default())?;
    let (mut analysed, mut ns) = (0u32, 0u64);
    for (i, jpeg) in jpegs.iter().enumerate() {
        let time = Millis(1_000_000 + i as i64 * 1000 / i64::from(FPS));
        if !d.due(time) {
            continue;
        }
        let t = cpu_ns();
        std::hint::black_box(crate::motion::analyse(
            &mut d,
            jpeg,
            FrameRef {
                index: i as u64,
                time,
            },
        )?);
        ns += cpu_ns() - t;
        analysed += 1;
    }
    Ok(ns as f64 / 1e6 / f64::from(analysed.max(1)))
}

/// Runs the measurement; the report as Markdown.
pub fn measure(frames: usize, rounds: usize) -> anyhow::Result<String> {
    let frames = frames.max(40);
    let rounds = rounds.max(1);
    let r = scene(frames, (WIDTH, HEIGHT)).renderer();
    let images: Vec<testpattern::Image> = (0..frames as u64)
        .map(|i| r.render(i, i * 1000 / u64::from(FPS)))
        .collect();
    let (w, h) = (WIDTH as usize, HEIGHT as usize);
    let yuyv: Vec<Vec<u8>> = images
        .iter()
        .map(|im| crate::source::yuyv::i420_to_yuyv(&im.to_i420(), w, h))
        .collect();
    // What each capture path produces.
    let test_jpegs: Vec<Vec<u8>> = images
        .iter()
        .map(|im| testpattern::encode_jpeg(im, QUALITY))
        .collect();
    let yuyv_jpegs = yuyv
        .iter()
        .map(|y| yuyv_live(y, w, h))
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| anyhow::anyhow!("YUYV conversion failed"))?;
    // A camera's MJPEG: JPEGs as an encoder in a webcam makes them, with padding after
    // the end marker as UVC drivers deliver them.
    let camera_mjpeg: Vec<Vec<u8>> = test_jpegs
        .iter()
        .map(|j| [&j[..], &[0u8; 512][..]].concat())
        .collect();
    let mut enc = H264Encoder::new(EncoderSettings {
        width: WIDTH,
        height: HEIGHT,
        fps: FPS,
        bitrate_bps: 1_000_000,
        gop: FPS,
    })?;
    let mut keys = Vec::new();
    for im in &images {
        if let Some(au) = enc.encode(&im.to_i420())?
            && au.is_key
        {
            keys.push(au.to_annexb());
        }
    }
    let mut live = KeyFrameJpeg::new(QUALITY)?;
    let key_jpegs = keys
        .iter()
        .map(|k| live.jpeg(k).ok().flatten())
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| anyhow::anyhow!("key frame not decoded"))?;

    let kinds = [
        Kind {
            name: "raw RGB (test pattern)",
            baseline: "JPEG encode for live view",
            jpegs: test_jpegs.clone(),
        },
        Kind {
            name: "YUYV (webcam)",
            baseline: "YUYV to RGB + JPEG encode",
            jpegs: yuyv_jpegs,
        },
        Kind {
            name: "MJPEG (webcam, rpicam --codec mjpeg)",
            baseline: "MJPEG passthrough (trim + copy)",
            jpegs: camera_mjpeg
                .iter()
                .map(|j| crate::source::mjpeg::trim_jpeg(j).unwrap_or(j).to_vec())
                .collect(),
        },
        Kind {
            name: "H.264 (rpicam, V4L2 H.264), key frames",
            baseline: "key frame decode + JPEG (per key frame)",
            jpegs: key_jpegs,
        },
    ];
    // Rounds, interleaved: every stage once per round.
    let mut base: Vec<Vec<f64>> = vec![Vec::new(); kinds.len()];
    let mut det: Vec<Vec<f64>> = vec![Vec::new(); kinds.len()];
    for _ in 0..rounds {
        base[0].push(per_call(frames, |i| {
            std::hint::black_box(testpattern::encode_jpeg(&images[i], QUALITY));
        }));
        base[1].push(per_call(frames, |i| {
            std::hint::black_box(yuyv_live(&yuyv[i], w, h));
        }));
        base[2].push(per_call(frames, |i| {
            let j = &camera_mjpeg[i];
            let trimmed = crate::source::mjpeg::trim_jpeg(j).unwrap_or(j);
            std::hint::black_box(Bytes::copy_from_slice(trimmed));
        }));
        base[3].push(per_call(keys.len(), |i| {
            std::hint::black_box(live.jpeg(&keys[i]).ok());
        }));
        for (k, kind) in kinds.iter().enumerate() {
            det[k].push(detection(&kind.jpegs)?);
        }
    }

    let mut out = String::new();
    let _ = writeln!(
        out,
        "Machine: {}; {frames} frames of a scripted scene at {WIDTH}x{HEIGHT}, {FPS} fps, analysed at 5 fps; {rounds} interleaved rounds, median round; thread CPU time.\n",
        crate::record::bench::machine()
    );
    let _ = writeln!(
        out,
        "| source kind | motion ms per analysed frame | capture path (baseline) | baseline ms per frame | ratio | analysing 5 of 30 fps |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|");
    for (k, kind) in kinds.iter().enumerate() {
        let (m, b) = (median(det[k].clone()), median(base[k].clone()));
        // For H.264 the live path runs once per key frame and motion once per live
        // JPEG: the ratio is per key frame, and there is no 5-of-30 figure.
        let share = if k == 3 {
            "n/a (key frames only)".to_owned()
        } else {
            format!("{:.3}x", m * 5.0 / (b * 30.0))
        };
        let _ = writeln!(
            out,
            "| {} | {m:.3} | {} | {b:.3} | {:.2}x | {share} |",
            kind.name,
            kind.baseline,
            m / b
        );
    }
    let _ = writeln!(
        out,
        "\nH.264 sources, every access unit decoded for motion (GOP {FPS}, 1 Mbit/s at 640x480, 2.5 Mbit/s at 1280x720; 5 of {FPS} frames analysed). Capture path = Annex B split + access units + the key-frame live JPEG spread over its GOP.\n"
    );
    let _ = writeln!(
        out,
        "| size | motion ms per frame (decode all, analyse due) | motion ms per analysed frame | openh264 decode alone, ms per frame | capture path ms per frame | ratio motion / capture path |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|");
    for (size, bitrate_bps) in [((640, 480), 1_000_000), ((1280, 720), 2_500_000)] {
        let h = H264Cost::measure(frames, rounds, size, bitrate_bps)?;
        let _ = writeln!(
            out,
            "| {}x{} | {:.3} | {:.3} | {:.3} | {:.3} | {:.2}x |",
            size.0,
            size.1,
            h.motion,
            h.motion * frames as f64 / h.analysed as f64,
            h.decode,
            h.capture,
            h.motion / h.capture
        );
    }
    Ok(out)
}

/// The H.264 figures at one size, CPU ms per frame (median rounds).
struct H264Cost {
    /// The detector thread's work: every access unit decoded, the due ones analysed.
    motion: f64,
    /// Frames analysed of `frames`.
    analysed: usize,
    /// openh264 decoding every access unit, nothing else.
    decode: f64,
    /// The source's own work: splitting the stream into access units, and the live JPEG of
    /// each key frame spread over its GOP.
    capture: f64,
}

impl H264Cost {
    fn measure(
        frames: usize,
        rounds: usize,
        (width, height): (u32, u32),
        bitrate_bps: u32,
    ) -> anyhow::Result<H264Cost> {
        let r = scene(frames, (width, height)).renderer();
        let mut enc = H264Encoder::new(EncoderSettings {
            width,
            height,
            fps: FPS,
            bitrate_bps,
            gop: FPS,
        })?;
        let mut units = Vec::new();
        for i in 0..frames as u64 {
            let im = r.render(i, i * 1000 / u64::from(FPS));
            units.extend(enc.encode(&im.to_i420())?);
        }
        let annexb: Vec<Vec<u8>> = units.iter().map(|au| au.to_annexb()).collect();
        let keys: Vec<&Vec<u8>> = units
            .iter()
            .zip(&annexb)
            .filter(|(au, _)| au.is_key)
            .map(|(_, a)| a)
            .collect();
        let mut live = KeyFrameJpeg::new(QUALITY)?;
        let (mut motion, mut decode, mut capture) = (Vec::new(), Vec::new(), Vec::new());
        let mut analysed = 0;
        for _ in 0..rounds {
            // The source: bytes as rpicam-vid writes them, one picture per read.
            let mut splitter = media::h264::AnnexBSplitter::new();
            let mut asm = media::h264::AccessUnitAssembler::new();
            let split = per_call(annexb.len(), |i| {
                splitter.push(&annexb[i]);
                while let Ok(Some(nal)) = splitter.pop() {
                    std::hint::black_box(asm.push(nal).ok());
                }
            });
            let key_live = per_call(keys.len(), |i| {
                std::hint::black_box(live.jpeg(keys[i]).ok());
            });
            capture.push(split + key_live * keys.len() as f64 / annexb.len() as f64);
            let mut dec = codec::LumaDecoder::new()?;
            decode.push(per_call(annexb.len(), |i| {
                std::hint::black_box(dec.decode(&annexb[i], None).ok());
            }));
            let mut detector = Detector::new(Settings::default())?;
            let mut h264 = crate::motion::H264::default();
            let mut best = None;
            let mut n = 0;
            let mut failed = None;
            motion.push(per_call(units.len(), |i| {
                let time = Millis(1_000_000 + i as i64 * 1000 / i64::from(FPS));
                let due = detector.due(time);
                match h264.step(&mut detector, &units[i], (i as u64, time), &mut best) {
                    Ok(a) => n += usize::from(due && a.is_some()),
                    Err(e) => failed = Some(e.to_string()),
                }
            }));
            if let Some(e) = failed {
                anyhow::bail!("H.264 motion at {width}x{height}: {e}");
            }
            analysed = n;
        }
        Ok(H264Cost {
            motion: median(motion),
            analysed: analysed.max(1),
            decode: median(decode),
            capture: median(capture),
        })
    }
}

/// `v4l2`'s live view of a YUYV frame: converted to RGB, JPEG-encoded.
fn yuyv_live(yuyv: &[u8], w: usize, h: usize) -> Option<Vec<u8>> {
    let rgb = crate::source::yuyv::yuyv_to_rgb(yuyv, w, h, w * 2)?;
    let image = testpattern::Image {
        width: w as u32,
        height: h as u32,
        rgb,
    };
    Some(testpattern::encode_jpeg(&image, QUALITY))
}

/// `agent bench-motion`.
pub fn run(frames: usize, rounds: usize) -> anyhow::Result<()> {
    print!("{}", measure(frames, rounds)?);
    Ok(())
}

#[cfg(test)]
mod tests {
    /// The report has a row per source kind with figures in it.
    #[test]
    fn reports_every_source_kind() {
        let out = super::measure(40, 1).unwrap();
        for kind in ["raw RGB", "YUYV", "MJPEG", "H.264", "640x480", "1280x720"] {
            let row = out
                .lines()
                .find(|l| l.starts_with(&format!("| {kind}")))
                .unwrap_or_else(|| panic!("no {kind} row: {out}"));
            let ratio: f64 = row
                .split('|')
                .nth(if kind.contains('x') { 6 } else { 5 })
                .unwrap()
                .trim()
                .trim_end_matches('x')
                .parse()
                .unwrap();
            assert!(ratio > 0.0, "{row}");
        }
    }
}
