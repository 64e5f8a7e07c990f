//! The agent's `libcamera` source against vimc (built out of tree from
//! Debian's linux-source; Debian's kernel lacks it) and Debian's libcamera
//! 0.0.3 in a qemu guest, with udevd running (libcamera 0.0.3 lists only
//! devices udev has initialised):
//!
//! - `agent probe` lists the libcamera camera and its stream formats;
//! - the agent captures through `cam` (raw BGR888 frames over a FIFO),
//!   pushes live JPEGs to the hub on the host and records H.264 segments
//!   that ffprobe accepts, uploaded to the hub;
//! - when `cam` is killed the agent restarts it and capture goes on.

use crate::common::{
    boot, check_segments, lines_with, prepare, start_hub, strip_ansi, vm_available,
};

const GUEST_SCRIPT: &str = r#"
S=/mnt/host
A=/bin/agent
export RUST_LOG=info NO_COLOR=1 LIBCAMERA_LOG_LEVELS=*:ERROR
mkdir -p /tmp/state-vimc
echo "== probe"
$A probe > $S/probe.txt 2>&1 || echo "probe failed"
echo "== capture"
$A setup-recording --config $S/vimc.toml
$A --config $S/vimc.toml > $S/vimc.log 2>&1 & P=$!
sleep 16
echo "killing cam $(pidof cam)"
kill -KILL $(pidof cam)
sleep 12
kill -TERM $P; wait $P; echo "vimc agent exit $?"
cp -r /tmp/rec-vimc $S/rec-vimc
echo "== done"
"#;

#[test]
fn agent_captures_from_vimc_through_libcamera_in_a_vm() {
    if !vm_available(&["cam"]) {
        return;
    }
    prepare(true);
    let agent = testkit::process::bin_path("agent");
    let tmp = tempfile::tempdir().unwrap();
    let share = tmp.path().join("share");
    std::fs::create_dir(&share).unwrap();
    let hub = start_hub(tmp.path(), &[(1, "vimc")]).unwrap();
    let config = format!(
        "hub_url = {url:?}\ncamera_id = 1\ntoken = {token:?}\nstats_interval = \"5s\"\n\
         state_dir = \"/tmp/state-vimc\"\n\
         [source]\nkind = \"libcamera\"\nwidth = 320\nheight = 240\nfps = 10\njpeg_quality = 70\n\
         [source.libcamera]\ncamera = \"1\"\npixel_format = \"BGR888\"\n\
         [record]\nenabled = true\ndir = \"/tmp/rec-vimc\"\nsegment_duration = \"2s\"\n\
         bitrate = \"400kbps\"\n[record.retention]\nmin_free = \"unlimited\"\n\
         [upload]\nenabled = true\nbackoff_initial = \"1s\"\nbackoff_max = \"2s\"\n",
        url = crate::common::guest_ingest_url(&hub),
        token = hub.token(1).unwrap(),
    );
    std::fs::write(share.join("vimc.toml"), config).unwrap();
    std::fs::write(share.join("guest.sh"), GUEST_SCRIPT).unwrap();

    let guest = boot(
        &share,
        "vimc",
        &[format!("{}:/bin/agent", agent.display())],
        true,
    );
    eprintln!("--- guest.log ---\n{guest}");
    let read =
        |name: &str| strip_ansi(&std::fs::read_to_string(share.join(name)).unwrap_or_default());

    let probe = read("probe.txt");
    eprintln!("--- probe ---\n{probe}");
    assert!(probe.contains("libcamera camera 1: 'Sensor B'"), "{probe}");
    assert!(probe.contains("Pixelformat: BGR888"), "{probe}");
    assert!(probe.contains("driver vimc"), "{probe}");

    let log = read("vimc.log");
    eprintln!("--- agent ---\n{log}");
    let started = lines_with(&log, "cam started");
    assert!(
        started.len() >= 2,
        "cam restarted after it was killed: {started:#?}"
    );
    assert!(
        !lines_with(&log, "cam exited").is_empty(),
        "the exit was logged"
    );
    assert!(guest.contains("vimc agent exit 0"), "{guest}");
    // The size libcamera configured (it may adjust 640x480).
    let (w, h) = started[0]
        .split(" width=")
        .nth(1)
        .and_then(|r| {
            let w: u32 = r.split_whitespace().next()?.parse().ok()?;
            let h: u32 = r
                .split("height=")
                .nth(1)?
                .split_whitespace()
                .next()?
                .parse()
                .ok()?;
            Some((w, h))
        })
        .unwrap_or_else(|| panic!("no size in {}", started[0]));
    eprintln!("libcamera configured {w}x{h}");
    assert!(w.abs_diff(320) <= 16 && h.abs_diff(240) <= 16, "{w}x{h}");

    let local = check_segments(&share.join("rec-vimc"), (w & !1, h & !1));
    assert!(local.len() >= 3, "{} segments", local.len());

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let cam = hub.camera("vimc").await.unwrap();
        eprintln!("hub camera vimc: {cam}");
        assert!(cam["frames_total"].as_u64().unwrap_or(0) >= 10, "{cam}");
        let jpeg = hub.get("/api/v1/cameras/vimc").await.unwrap();
        assert!(jpeg.starts_with(&[0xFF, 0xD8]) && jpeg.ends_with(&[0xFF, 0xD9]));
        // Kept for a look at the picture (vimc's test bars).
        let _ = std::fs::write(
            crate::common::root().join("target/vimc-snapshot.jpg"),
            &jpeg,
        );
    });
    let on_hub = hub.recordings("vimc");
    assert!(!on_hub.is_empty(), "no segment uploaded");
    for f in &on_hub {
        assert_eq!(crate::common::ffprobe(f).unwrap().codec, "h264");
    }
}
