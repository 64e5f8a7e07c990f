//! Crash safety: the real agent binary recording the test pattern is killed with SIGKILL at
//! random moments, 50 times. Afterwards every finished segment is valid, every segment that
//! was open at a kill has been recovered at the next start (logged) and plays, and each kill
//! lost at most one fragment (plus the one frame the segmenter holds back).

use std::process::Command;
use std::time::{Duration, Instant};

use crate::common::{config_text, ffprobe, have_ffprobe, segments};
use testkit::process::{Signal, bin_path, signal, spawn_logged};

const CYCLES: usize = 50;
const FPS: f64 = 10.0;
const GOP_FRAMES: f64 = 5.0;

/// xorshift64*, seeded: the kill moments are reproducible (`FAULT_SEED=n`).
struct Rng(u64);

impl Rng {
    fn next_f64(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64 / (1u64 << 53) as f64
    }
}

fn wall_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

struct Cycle {
    spawned_ms: i64,
    killed_ms: i64,
    /// From the first segment's start to the kill.
    ran: Duration,
    log: String,
}

#[test]
fn kill_9_at_random_moments_loses_at_most_one_fragment() {
    // Loads the machine for a while: not beside the tests that check real-time playback.
    let _machine = testkit::exclusive();
    let seed: u64 = std::env::var("FAULT_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed_1234_abcd);
    let mut rng = Rng(seed | 1);
    let tmp = tempfile::tempdir().unwrap();
    let (state, rec) = (tmp.path().join("state"), tmp.path().join("rec"));
    std::fs::create_dir(&state).unwrap();
    let cfg = tmp.path().join("agent.toml");
    std::fs::write(
        &cfg,
        config_text(
            &state,
            &rec,
            "segment_duration = \"1s\"\ngop = 5\nfragment = \"gop\"\nbitrate = \"300kbps\"",
            "kind = \"testsrc\"\nwidth = 320\nheight = 240\nfps = 10",
        ),
    )
    .unwrap();
    let agent = bin_path("agent");
    let out = Command::new(&agent)
        .args(["setup-recording", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");

    let started = Instant::now();
    let mut cycles = Vec::new();
    for i in 0..CYCLES {
        let spawned_ms = wall_ms();
        let mut child = spawn_logged(
            Command::new(&agent)
                .arg("--config")
                .arg(&cfg)
                .env("NO_COLOR", "1"),
            &format!("agent-{i}"),
        )
        .unwrap();
        child
            .wait_for_log("first segment started", Duration::from_secs(15))
            .unwrap_or_else(|e| panic!("cycle {i}: {e:#}"));
        let first = Instant::now();
        let delay = Duration::from_secs_f64(0.3 + 2.2 * rng.next_f64());
        std::thread::sleep(delay);
        signal(&child, Signal::Kill).unwrap();
        let ran = first.elapsed();
        let killed_ms = wall_ms();
        child.wait_timeout(Duration::from_secs(10)).unwrap();
        cycles.push(Cycle {
            spawned_ms,
            killed_ms,
            ran,
            log: child.log(),
        });
    }
    // One more start recovers the last kill's segment; then a clean stop.
    let final_spawn_ms = wall_ms();
    let mut last = spawn_logged(
        Command::new(&agent)
            .arg("--config")
            .arg(&cfg)
            .env("NO_COLOR", "1"),
        "agent-final",
    )
    .unwrap();
    last.wait_for_log("first segment started", Duration::from_secs(15))
        .unwrap();
    signal(&last, Signal::Term).unwrap();
    assert!(
        last.wait_timeout(Duration::from_secs(15))
            .unwrap()
            .success()
    );
    let final_log = last.log();
    eprintln!("{CYCLES} kill cycles in {:?}", started.elapsed());

    // Recovery was logged at each start after a kill that left a segment open.
    let logs: Vec<&str> = cycles
        .iter()
        .skip(1)
        .map(|c| c.log.as_str())
        .chain([final_log.as_str()])
        .collect();
    let recovered_logs = logs
        .iter()
        .filter(|l| l.contains("recovered a segment left open by a crash"))
        .count();
    let deleted_logs = logs
        .iter()
        .filter(|l| l.contains("deleted a segment left open by a crash"))
        .count();
    eprintln!(
        "start-ups logging a recovery: {recovered_logs}, logging a deleted torn segment: {deleted_logs}"
    );
    assert!(
        recovered_logs + deleted_logs >= CYCLES * 9 / 10,
        "{recovered_logs} recoveries + {deleted_logs} deletions logged"
    );

    let leftovers: Vec<_> = std::fs::read_dir(&rec)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".partial"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");

    // Every segment is valid; sum each cycle's footage.
    let files = segments(&rec);
    let parsed: Vec<(i64, f64, std::path::PathBuf)> = files
        .iter()
        .map(|f| {
            let info = media::probe(&std::fs::read(f).unwrap())
                .unwrap_or_else(|e| panic!("{}: {e}", f.display()));
            assert!(info.is_complete(), "{} has a torn tail", f.display());
            assert!(info.recovery.samples > 0);
            let name = f.file_name().unwrap().to_str().unwrap();
            let start = store::parse_segment_name(name).expect("a segment name");
            (start, info.recovery.duration.as_secs_f64(), f.clone())
        })
        .collect();
    let gop = GOP_FRAMES / FPS;
    let allowed = gop + 1.0 / FPS + 0.25;
    let mut worst: f64 = 0.0;
    let mut probed = 0;
    for (i, c) in cycles.iter().enumerate() {
        let end = cycles.get(i + 1).map_or(final_spawn_ms, |n| n.spawned_ms);
        let mine: Vec<&(i64, f64, std::path::PathBuf)> = parsed
            .iter()
            .filter(|(s, _, _)| *s >= c.spawned_ms && *s < end)
            .collect();
        assert!(mine.iter().all(|(s, _, _)| *s <= c.killed_ms));
        let footage: f64 = mine.iter().map(|(_, d, _)| d).sum();
        let lost = c.ran.as_secs_f64() - footage;
        worst = worst.max(lost);
        assert!(
            lost <= allowed,
            "cycle {i}: ran {:?} after the first segment started, {footage:.3} s recorded: lost {lost:.3} s > {allowed:.3} s\n{}",
            c.ran,
            c.log
        );
        // The segment open at the kill (the cycle's last) plays; so does a
        // sample of the others.
        if have_ffprobe() {
            for (k, (_, d, f)) in mine.iter().enumerate() {
                if k + 1 == mine.len() || (i + k) % 7 == 0 {
                    let p = ffprobe(f).unwrap_or_else(|e| panic!("cycle {i}: {e}"));
                    assert!(p.frames > 0);
                    assert!((p.seconds - d).abs() < 0.2, "{}: {p:?} vs {d}", f.display());
                    probed += 1;
                }
            }
        }
    }
    eprintln!(
        "{} segments, {probed} checked with ffprobe; worst loss per kill {worst:.3} s (allowed {allowed:.3} s = one {gop} s fragment + one frame + 0.25 s of scheduling slack)",
        files.len()
    );
}
