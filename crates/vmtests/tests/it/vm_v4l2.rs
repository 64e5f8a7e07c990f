//! The agent against real V4L2 kernel drivers in a qemu guest (one boot):
//!
//! - `agent probe` lists vivid's and v4l2loopback's nodes and formats;
//! - a requested format the device lacks is refused with a message naming
//!   what it offers;
//! - vivid (YUYV, no MJPEG): live JPEGs to the hub on the host over the
//!   guest's user-mode network, H.264 segments (openh264) recorded and
//!   uploaded; faults injected through vivid's controls (dropped buffers,
//!   a disconnect that lasts until another opener lets go) are logged, the
//!   segment being written is closed and stays valid, and capture resumes in
//!   the same process when the device returns;
//! - v4l2loopback fed by `mjpeg-feed` (a real MJPG capture node): JPEGs are
//!   passed through byte for byte to the hub and recorded.
//!
//! Every segment, in the guest's recordings directory (copied out over 9p)
//! and as uploaded to the hub, must pass ffprobe.

use crate::common::{
    agent_v4l2_config, boot, check_segments, lines_with, prepare, start_hub, strip_ansi,
    vm_available,
};
use testpattern::{Pattern, Stamp, encode_jpeg};

const GUEST_SCRIPT: &str = r#"
S=/mnt/host
A=/bin/agent
export RUST_LOG=info NO_COLOR=1
mkdir -p /tmp/state-vivid /tmp/state-loop /tmp/state-missing

echo "== probe"
$A probe > $S/probe.txt 2>&1 || echo "probe failed"

echo "== a requested format the device lacks"
$A --config $S/missing.toml > $S/missing.log 2>&1 & P=$!
sleep 4; kill -TERM $P; wait $P

echo "== vivid: YUYV, faults"
$A setup-recording --config $S/vivid.toml
$A --config $S/vivid.toml > $S/vivid.log 2>&1 & P=$!
sleep 8
echo "fault: dropped buffers"
v4l2-ctl -d /dev/video0 -c percentage_of_dropped_buffers=30
sleep 5
v4l2-ctl -d /dev/video0 -c percentage_of_dropped_buffers=0
sleep 3
echo "fault: disconnect (the device stays gone while fd 3 holds it)"
exec 3</dev/video0
v4l2-ctl -d /dev/video0 -c disconnect=1
sleep 5
exec 3<&-
echo "device back"
sleep 9
kill -TERM $P; wait $P; echo "vivid agent exit $?"
cp -r /tmp/rec-vivid $S/rec-vivid

echo "== v4l2loopback: MJPEG passthrough"
mjpeg-feed /dev/video10 320 240 5 0 $S/jpeg/*.jpg > $S/feed.log 2>&1 & F=$!
sleep 1
$A probe > $S/probe-feeding.txt 2>&1 || echo "probe failed"
$A setup-recording --config $S/loop.toml
$A --config $S/loop.toml > $S/loop.log 2>&1 & P=$!
sleep 15
kill -TERM $P; wait $P; echo "loop agent exit $?"
kill $F
cp -r /tmp/rec-loop $S/rec-loop
echo "== done"
"#;

#[test]
fn agent_captures_from_vivid_and_v4l2loopback_in_a_vm() {
    if !vm_available(&[]) {
        return;
    }
    prepare(true);
    let agent = testkit::process::bin_path("agent");
    let tmp = tempfile::tempdir().unwrap();
    let share = tmp.path().join("share");
    std::fs::create_dir(&share).unwrap();
    let hub = start_hub(tmp.path(), &[(1, "vivid"), (2, "loop"), (3, "missing")]).unwrap();

    // The MJPEG camera's pictures: stamped test patterns, so a frame at the
    // hub can be matched byte for byte with what was fed in.
    std::fs::create_dir(share.join("jpeg")).unwrap();
    let pattern = Pattern::new(320, 240);
    let mut fed = Vec::new();
    for frame in 0..10u32 {
        let jpeg = encode_jpeg(
            &pattern.render(Stamp {
                frame,
                millis: u64::from(frame) * 100,
            }),
            75,
        );
        std::fs::write(share.join(format!("jpeg/f{frame:02}.jpg")), &jpeg).unwrap();
        fed.push(jpeg);
    }
    let write = |name: &str, text: String| std::fs::write(share.join(name), text).unwrap();
    write(
        "vivid.toml",
        agent_v4l2_config(&hub, 1, "vivid", "/dev/video0", "auto", (352, 200, 5)),
    );
    write(
        "loop.toml",
        agent_v4l2_config(&hub, 2, "loop", "/dev/video10", "auto", (320, 240, 5)),
    );
    write(
        "missing.toml",
        agent_v4l2_config(&hub, 3, "missing", "/dev/video0", "mjpeg", (640, 480, 5)),
    );
    write("guest.sh", GUEST_SCRIPT.to_owned());

    let guest = boot(
        &share,
        "vivid v4l2loopback",
        &[format!("{}:/bin/agent", agent.display())],
        false,
    );
    eprintln!("--- guest.log ---\n{guest}");
    let read =
        |name: &str| strip_ansi(&std::fs::read_to_string(share.join(name)).unwrap_or_default());

    let probe = read("probe.txt");
    let probe_feeding = read("probe-feeding.txt");
    let (vivid, loop_log, missing) = (read("vivid.log"), read("loop.log"), read("missing.log"));
    eprintln!(
        "--- probe (head) ---\n{}\n--- probe while feeding (tail) ---\n{}",
        probe.lines().take(20).collect::<Vec<_>>().join("\n"),
        probe_feeding
            .lines()
            .rev()
            .take(8)
            .collect::<Vec<_>>()
            .join("\n")
    );
    eprintln!("--- missing-format agent ---\n{missing}");
    eprintln!("--- vivid agent ---\n{vivid}");
    eprintln!("--- loopback agent ---\n{loop_log}");

    // Probe: both drivers, their formats and sizes; the loopback node is a
    // capture device (MJPG) while a writer feeds it.
    assert!(probe.contains("/dev/video0: driver vivid"), "{probe}");
    assert!(
        probe.contains("/dev/video10: driver v4l2 loopback"),
        "{probe}"
    );
    assert!(
        probe.contains("YUYV") && probe.contains("640x480  intervals:"),
        "{probe}"
    );
    assert!(
        probe_feeding.contains("/dev/video10: driver v4l2 loopback")
            && probe_feeding.contains("MJPG"),
        "{probe_feeding}"
    );

    // A missing format is named with what the device offers.
    assert!(
        missing.contains("does not offer the requested pixel format MJPEG; it offers: YUYV"),
        "{missing}"
    );

    // vivid: negotiated YUYV at the requested size and rate.
    let opened = lines_with(&vivid, "v4l2 device opened");
    assert!(
        opened.len() >= 2,
        "opened once before and once after the disconnect: {opened:#?}"
    );
    // 352x200 asked for: vivid's nearest size is 320x180; 5 fps is offered.
    assert!(
        opened[0].contains("format=YUYV")
            && opened[0].contains("width=320 height=180 interval=1/5")
            && opened[0].contains("nearest the device offers"),
        "{}",
        opened[0]
    );
    assert!(
        !lines_with(&vivid, "the driver dropped frames").is_empty(),
        "dropped buffers logged"
    );
    assert!(
        !lines_with(&vivid, "v4l2 device lost").is_empty(),
        "the disconnect logged"
    );
    assert!(
        !lines_with(&vivid, "closing the current segment").is_empty(),
        "the recorder closed its segment at the loss"
    );
    assert!(
        !lines_with(&vivid, "v4l2 capture recovered").is_empty(),
        "capture resumed without a restart"
    );
    assert!(guest.contains("vivid agent exit 0"), "{guest}");
    // The segment open at the loss was finished there (and is checked below
    // with the others).
    let closing = vivid.find("closing the current segment").unwrap();
    let closed = vivid[closing..]
        .lines()
        .find(|l| l.contains("segment finished"))
        .and_then(|l| l.split("segment=").nth(1))
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no segment finished after the loss:\n{vivid}"))
        .trim_matches('"')
        .to_owned();
    assert!(
        share.join("rec-vivid").join(&closed).is_file(),
        "{closed} not in the recordings"
    );
    let local = check_segments(&share.join("rec-vivid"), (320, 180));
    assert!(local.len() >= 4, "{} segments", local.len());
    let frames: u64 = local.iter().map(|p| p.frames).sum();
    eprintln!("vivid: {} segments, {frames} frames", local.len());

    // MJPEG passthrough: the hub serves exactly the JPEGs fed in.
    let opened = lines_with(&loop_log, "v4l2 device opened");
    assert!(
        opened.first().is_some_and(|l| l.contains("format=MJPG")),
        "{opened:#?}"
    );
    assert!(guest.contains("loop agent exit 0"), "{guest}");
    let local_loop = check_segments(&share.join("rec-loop"), (320, 240));
    assert!(!local_loop.is_empty(), "loopback recorded nothing");

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let snapshot = hub.get("/api/v1/cameras/loop").await.unwrap();
        assert!(
            fed.contains(&snapshot),
            "the hub's latest frame of the MJPEG camera is not one of the JPEGs fed in ({} bytes)",
            snapshot.len()
        );
        for name in ["vivid", "loop"] {
            let cam = hub.camera(name).await.unwrap();
            eprintln!("hub camera {name}: {cam}");
            assert!(
                cam["frames_total"].as_u64().unwrap_or(0) >= 20,
                "{name}: {cam}"
            );
        }
    });
    // Uploaded segments arrived at the hub and play.
    for name in ["vivid", "loop"] {
        let on_hub = hub.recordings(name);
        assert!(!on_hub.is_empty(), "no segment of {name} uploaded");
        for f in &on_hub {
            let p = crate::common::ffprobe(f).unwrap_or_else(|e| panic!("{e:#}"));
            assert_eq!(p.codec, "h264");
        }
        eprintln!("hub holds {} segments of {name}", on_hub.len());
    }
}
