//! CPU per analysed frame for each input kind, against the capture path's own cost for that kind, measured in one run.
//!
//! `cargo run --release -p motion --example cost [-- --frames 100 --rounds 7 --size 640x480]`
//!
//! The pictures are 10 s of the `person-5s` clip (a person crossing a
//! still room with sensor noise), every frame analysed. Each stage runs
//! over all frames once per round, the stages interleaved round by round;
//! the figure is the median round's CPU time per frame (process CPU time:
//! the run is single-threaded). Baselines, in the same run:
//!
//! - JPEG encode of the frame (jpeg-encoder, quality 80): what the agent
//!   pays per frame to send raw RGB (test pattern) or YUYV (webcam) live;
//!   YUYV additionally pays a conversion (1.3x the encode in all).
//! - Full-size JPEG decode (jpeg-decoder at scale 1, and zune-jpeg to
//!   luma, with and without its x86 SIMD): what motion on an MJPEG source
//!   would cost decoding whole pictures. A Pi Zero (ARMv6) has no SIMD.
//! - openh264 decode of the frame (640x480, GOP 10): what the hub (or an
//!   agent on an H.264 source) pays to get the luma plane it analyses.

#[path = "../tests/common/mod.rs"]
mod common;

use motion::{Detector, FrameRef, Grid, Millis, Picture, Settings, input};
use openh264::OpenH264API;
use openh264::decoder::{Decoder, DecoderConfig};
use openh264::encoder::{
    BitRate, Encoder, EncoderConfig, FrameRate, IntraFramePeriod, RateControlMode, UsageType,
};
use openh264::formats::{YUVSlices, YUVSource};

fn cpu_ns() -> u64 {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ProcessCPUTime);
    t.tv_sec as u64 * 1_000_000_000 + t.tv_nsec as u64
}

struct Frames {
    width: u32,
    height: u32,
    rgb: Vec<Vec<u8>>,
    yuyv: Vec<Vec<u8>>,
    jpeg: Vec<Vec<u8>>,
    i420: Vec<Vec<u8>>,
    h264: Vec<Vec<u8>>,
    grids: Vec<Grid>,
    /// Frames before the measured ones, to get past the learning second.
    warm: Vec<Vec<u8>>,
}

fn frames(n: usize, width: u32, height: u32) -> Frames {
    let mut clip = common::clip("person-5s");
    clip.scene.width = width;
    clip.scene.height = height;
    let r = clip.scene.renderer();
    // 10 fps; measured frames from 8 s on (the person enters at 10 s).
    let render = |i: u64| r.render(i, i * 100);
    let images: Vec<testpattern::Image> = (80..80 + n as u64).map(render).collect();
    let warm = (60..80).map(|i| render(i).rgb).collect();
    let i420: Vec<Vec<u8>> = images.iter().map(|im| im.to_i420()).collect();
    let config = EncoderConfig::new()
        .usage_type(UsageType::CameraVideoRealTime)
        .max_frame_rate(FrameRate::from_hz(10.0))
        .bitrate(BitRate::from_bps(1_000_000))
        .rate_control_mode(RateControlMode::Bitrate)
        .skip_frames(false)
        .intra_frame_period(IntraFramePeriod::from_num_frames(10));
    let mut enc =
        Encoder::with_api_config(OpenH264API::from_source(), config).expect("openh264 encoder");
    let (w, h) = (width as usize, height as usize);
    let h264 = i420
        .iter()
        .map(|p| {
            let (y, rest) = p.split_at(w * h);
            let (u, v) = rest.split_at(w * h / 4);
            let src = YUVSlices::new((y, u, v), (w, h), (w, w / 2, w / 2));
            enc.encode(&src).expect("encode").to_vec()
        })
        .collect();
    Frames {
        width,
        height,
        yuyv: images.iter().map(|im| im.to_yuyv()).collect(),
        jpeg: images
            .iter()
            .map(|im| testpattern::encode_jpeg(im, 80))
            .collect(),
        grids: images
            .iter()
            .map(|im| input::reduce(&Picture::rgb24(&im.rgb, width, height)).unwrap())
            .collect(),
        rgb: images.into_iter().map(|im| im.rgb).collect(),
        i420,
        h264,
        warm,
    }
}

/// A detector that analyses every frame (10 fps), past its learning second.
fn warmed(f: &Frames) -> Detector {
    let settings = Settings {
        analysis_fps: motion::settings::AnalysisFps(10),
        ..Settings::default()
    };
    let mut d = Detector::new(settings).unwrap();
    for (i, rgb) in f.warm.iter().enumerate() {
        let frame = FrameRef {
            index: 60 + i as u64,
            time: Millis(6_000 + i as i64 * 100),
        };
        d.analyse(&Picture::rgb24(rgb, f.width, f.height), frame)
            .unwrap();
    }
    d
}

fn frame_ref(i: usize) -> FrameRef {
    FrameRef {
        index: 80 + i as u64,
        time: Millis(8_000 + i as i64 * 100),
    }
}

/// A warmed detector analyses every frame, as `picture(i)` gives it.
fn each_analysed<'a>(f: &'a Frames, picture: impl Fn(usize) -> Picture<'a>) {
    let mut d = warmed(f);
    for i in 0..f.rgb.len() {
        std::hint::black_box(d.analyse(&picture(i), frame_ref(i)).unwrap());
    }
}

/// Every frame decoded at full size to luma by zune-jpeg, its SIMD paths
/// allowed or not.
fn zune_luma(f: &Frames, simd: bool) {
    use zune_jpeg::zune_core::{colorspace::ColorSpace, options::DecoderOptions};
    for jpeg in &f.jpeg {
        let opts = DecoderOptions::default()
            .set_use_unsafe(simd)
            .jpeg_set_out_colorspace(ColorSpace::Luma);
        let mut d = zune_jpeg::JpegDecoder::new_with_options(std::io::Cursor::new(&jpeg[..]), opts);
        std::hint::black_box(d.decode().unwrap());
    }
}

type Stage<'a> = (&'a str, Box<dyn FnMut(&Frames) + 'a>);

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let opt = |name: &str, default: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1).cloned())
            .unwrap_or_else(|| default.to_string())
    };
    let n: usize = opt("--frames", "100").parse().expect("--frames N");
    let rounds: usize = opt("--rounds", "7").parse().expect("--rounds N");
    let size = opt("--size", "640x480");
    let (w, h) = size.split_once('x').expect("--size WxH");
    let (width, height): (u32, u32) = (w.parse().unwrap(), h.parse().unwrap());
    let f = frames(n, width, height);
    let (w, h) = (width as usize, height as usize);

    let mut stages: Vec<Stage> = vec![
        (
            "motion: RGB (test pattern)",
            Box::new(|f: &Frames| {
                each_analysed(f, |i| Picture::rgb24(&f.rgb[i], f.width, f.height))
            }),
        ),
        (
            "motion: YUYV (webcam)",
            Box::new(|f: &Frames| {
                each_analysed(f, |i| Picture::yuyv(&f.yuyv[i], f.width, f.height))
            }),
        ),
        (
            "motion: JPEG, DC coefficients only (MJPEG webcam)",
            Box::new(|f: &Frames| each_analysed(f, |i| Picture::Jpeg(&f.jpeg[i]))),
        ),
        (
            "motion: JPEG through jpeg-decoder at 1/8 (the fallback path)",
            Box::new(|f: &Frames| {
                let mut d = warmed(f);
                for (i, jpeg) in f.jpeg.iter().enumerate() {
                    let grid = input::reduce_jpeg_scaled(jpeg).unwrap();
                    std::hint::black_box(d.analyse_grid(&grid, frame_ref(i)));
                }
            }),
        ),
        (
            "motion: luma plane (decoded H.264)",
            Box::new(move |f: &Frames| {
                each_analysed(f, |i| Picture::luma(&f.i420[i][..w * h], f.width, f.height))
            }),
        ),
        (
            "motion core alone (grid to events)",
            Box::new(|f: &Frames| {
                let mut d = warmed(f);
                for (i, g) in f.grids.iter().enumerate() {
                    std::hint::black_box(d.analyse_grid(g, frame_ref(i)));
                }
            }),
        ),
        (
            "JPEG encode, quality 80 (baseline: raw capture path)",
            Box::new(|f: &Frames| {
                for rgb in &f.rgb {
                    let image = testpattern::Image {
                        width: f.width,
                        height: f.height,
                        rgb: rgb.clone(),
                    };
                    std::hint::black_box(testpattern::encode_jpeg(&image, 80));
                }
            }),
        ),
        (
            "RGB copy (subtracted from the encode row above)",
            Box::new(|f: &Frames| {
                for rgb in &f.rgb {
                    std::hint::black_box(rgb.clone());
                }
            }),
        ),
        (
            "JPEG full-size decode, jpeg-decoder (baseline: MJPEG)",
            Box::new(|f: &Frames| {
                for jpeg in &f.jpeg {
                    let mut d = jpeg_decoder::Decoder::new(&jpeg[..]);
                    std::hint::black_box(d.decode().unwrap());
                }
            }),
        ),
        (
            "JPEG full-size decode to luma, zune-jpeg (baseline: MJPEG)",
            Box::new(|f: &Frames| zune_luma(f, true)),
        ),
        (
            "JPEG full-size decode to luma, zune-jpeg, SIMD off (as on ARMv6)",
            Box::new(|f: &Frames| zune_luma(f, false)),
        ),
        (
            "openh264 decode, GOP 10 (baseline: luma plane)",
            Box::new(|f: &Frames| {
                let mut dec =
                    Decoder::with_api_config(OpenH264API::from_source(), DecoderConfig::new())
                        .unwrap();
                for au in &f.h264 {
                    if let Some(yuv) = dec.decode(au).unwrap() {
                        std::hint::black_box(yuv.y()[0]);
                    }
                }
            }),
        ),
    ];

    let mut per_frame: Vec<Vec<f64>> = vec![Vec::new(); stages.len()];
    for _ in 0..rounds.max(1) {
        for (k, (_, stage)) in stages.iter_mut().enumerate() {
            let start = cpu_ns();
            stage(&f);
            per_frame[k].push((cpu_ns() - start) as f64 / 1e6 / n as f64);
        }
    }
    // The detector stages include building a warmed detector (20 frames
    // of RGB) per round: measure that alone and take it off.
    let mut warm_cost = Vec::new();
    for _ in 0..rounds.max(1) {
        let start = cpu_ns();
        std::hint::black_box(warmed(&f));
        warm_cost.push((cpu_ns() - start) as f64 / 1e6 / n as f64);
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let warm = median(&mut warm_cost);
    let ms: Vec<f64> = per_frame
        .iter_mut()
        .enumerate()
        .map(|(k, v)| {
            let m = median(v);
            if k < 6 { (m - warm).max(0.0) } else { m }
        })
        .collect();
    let copy = ms[7];
    let encode = ms[6] - copy;
    let (full_jd, full_zune, zune_scalar, h264) = (ms[8], ms[9], ms[10], ms[11]);

    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_default();
    println!(
        "{width}x{height}, {n} frames x {rounds} rounds (median round), {} cores, {cpu}; load average {}",
        std::thread::available_parallelism().map_or(0, |p| p.get()),
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );
    println!(
        "JPEG {:.1} KB per frame (quality 80), H.264 {:.1} KB per frame\n",
        f.jpeg.iter().map(Vec::len).sum::<usize>() as f64 / n as f64 / 1024.0,
        f.h264.iter().map(Vec::len).sum::<usize>() as f64 / n as f64 / 1024.0
    );
    println!("| stage | CPU ms per frame |");
    println!("|---|---|");
    for ((name, _), m) in stages.iter().zip(&ms) {
        println!("| {name} | {m:.3} |");
    }
    println!(
        "\n| input kind | motion ms per analysed frame | capture path's own cost (baseline) | ratio | at 5 of 30 fps |"
    );
    println!("|---|---|---|---|---|");
    let row = |kind: &str, m: f64, base: &str, b: f64| {
        println!(
            "| {kind} | {m:.3} | {base}: {b:.3} ms | {:.3}x | {:.3}x |",
            m / b,
            m / b * 5.0 / 30.0
        );
    };
    row("raw RGB (test pattern)", ms[0], "JPEG encode", encode);
    row("YUYV (webcam)", ms[1], "JPEG encode", encode);
    row(
        "JPEG, DC only (MJPEG)",
        ms[2],
        "full-size decode, jpeg-decoder",
        full_jd,
    );
    row(
        "JPEG, DC only (MJPEG)",
        ms[2],
        "full-size decode to luma, zune-jpeg",
        full_zune,
    );
    row(
        "JPEG, DC only (MJPEG)",
        ms[2],
        "full-size decode to luma, zune-jpeg, SIMD off",
        zune_scalar,
    );
    row(
        "JPEG, jpeg-decoder at 1/8 (fallback)",
        ms[3],
        "full-size decode, jpeg-decoder",
        full_jd,
    );
    row("luma plane (H.264 decoded)", ms[4], "openh264 decode", h264);
}
