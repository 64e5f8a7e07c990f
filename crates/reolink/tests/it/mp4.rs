//! What the client produces is recordable: frames go through `media::Segmenter` into a
//! fragmented MP4 that our prober and (when installed) ffprobe accept, for generated H.264,
//! a replayed real H.264 capture, and a real H.265 key frame (hvcC built by this crate).

use std::time::Duration;

use crate::common::*;
use baichuan::media::{MediaDecoder, MediaPacket};
use bytes::BytesMut;
use media::{TrackConfig, VideoEvent};
use reolink::ReolinkSource;
use reolink::sim::{SimCamera, SimConfig, SimMedia, SimTransport};
use reolink::video::Converter;
use tokio_util::sync::CancellationToken;

async fn frames_from_sim(media: SimMedia, n: usize) -> (TrackConfig, Vec<media::Frame>) {
    let mut sc = SimConfig::new(SimTransport::Tcp);
    sc.media = media;
    let sim = SimCamera::start(sc).await.unwrap();
    let cancel = CancellationToken::new();
    let (mut rx, _status) =
        ReolinkSource::spawn(tcp_config(sim.port(), "password"), cancel.clone());
    let mut seen = Seen::default();
    collect_until(&mut rx, &mut seen, Duration::from_secs(20), |s| {
        s.frames.len() >= n
    })
    .await;
    cancel.cancel();
    sim.stop().await;
    assert_eq!(seen.tracks.len(), 1);
    seen.frames.truncate(n);
    (seen.tracks.remove(0), seen.frames)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generated_h264_records_to_valid_fmp4() {
    init_tracing();
    let (track, frames) = frames_from_sim(SimMedia::GENERATED, 45).await;
    let file = record(&track, &frames);
    let info = media::probe(&file).unwrap();
    assert_eq!((info.width, info.height), (128, 96));
    assert_eq!(info.recovery.samples, 45);
    if let Some((n, codec, w, h)) = ffprobe(&file) {
        assert_eq!((n, codec.as_str(), w, h), (45, "h264", 128, 96));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replayed_capture_records_to_valid_fmp4() {
    init_tracing();
    let Some(files) = swann_files() else {
        println!("skipping: ../shared/fixtures/baichuan not found (no real capture to replay)");
        return;
    };
    let (track, frames) = frames_from_sim(SimMedia::Replay(files), 9).await;
    let file = record(&track, &frames);
    let info = media::probe(&file).unwrap();
    assert_eq!(info.recovery.samples, 9);
    if let Some((n, codec, w, h)) = ffprobe(&file) {
        assert_eq!((n, codec.as_str()), (9, "h264"));
        assert_eq!(
            (w, h),
            (u32::from(track.width()), u32::from(track.height()))
        );
    }
}

#[test]
fn real_h265_key_frame_builds_hvcc_and_records() {
    let Some(dir) = fixtures() else {
        println!("skipping: ../shared/fixtures/baichuan not found");
        return;
    };
    let mut buf = BytesMut::new();
    for i in 0..5 {
        let p = dir.join(format!("neolink/bcmedia/argus2_iframe_{i}.raw"));
        buf.extend_from_slice(&std::fs::read(p).unwrap());
    }
    let mut dec = MediaDecoder::new();
    let Ok(Some(MediaPacket::Video(v))) = dec.decode(&mut buf) else {
        panic!("no video frame in the Argus 2 capture");
    };
    let mut conv = Converter::new();
    let mut events = Vec::new();
    conv.push(&v, &mut events).unwrap();
    let [VideoEvent::Track(track), VideoEvent::Frame(frame)] = &events[..] else {
        panic!("expected Track + Frame, got {events:?}");
    };
    assert!(
        track.codec_string().starts_with("hvc1."),
        "{}",
        track.codec_string()
    );
    assert!(frame.is_key);
    let file = record(track, std::slice::from_ref(frame));
    let info = media::probe(&file).unwrap();
    assert_eq!(info.recovery.samples, 1);
    if let Some((n, codec, w, h)) = ffprobe(&file) {
        assert_eq!((n, codec.as_str()), (1, "hevc"));
        assert_eq!(
            (w, h),
            (u32::from(track.width()), u32::from(track.height()))
        );
        println!("H.265 key frame: {} {w}x{h}", track.codec_string());
    }
}
