//! systemd/agent.service and systemd/hub.service, checked statically
//! (`systemd-analyze verify`, any output is a failure) and for real under
//! systemd as PID 1 in a throwaway `systemd-nspawn` container: the agent is
//! active only after its first frame, records under ProtectSystem=strict, is
//! restarted by the watchdog when frozen with SIGSTOP; the hub becomes active
//! and serves. The work is done by scripts/systemd-test.sh (PASS/FAIL lines).

use std::process::Command;
use std::time::Duration;

use crate::common::{root, run_bounded};
use testkit::process::bin_path;

#[test]
fn units_verify_start_and_watchdog_restart_under_systemd() {
    let is_root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0\n"));
    if !is_root {
        eprintln!("SKIPPED: systemd-nspawn needs root");
        return;
    }
    // systemd in a container with the agent and the hub: not beside the
    // qemu-user agents, whose frame checks want the cores.
    let _machine = testkit::exclusive();
    let (status, log) = run_bounded(
        Command::new("bash")
            .arg(root().join("scripts/systemd-test.sh"))
            .arg(bin_path("agent"))
            .arg(bin_path("hub")),
        "systemd-test.sh",
        Duration::from_secs(300),
    )
    .expect("systemd-test.sh runs and ends within 300 s");
    eprintln!("{log}");
    if status.code() == Some(77) {
        eprintln!(
            "SKIPPED: {}",
            log.lines()
                .find(|l| l.starts_with("SKIP"))
                .unwrap_or("see log")
        );
        return;
    }
    for needle in [
        "PASS: systemd-analyze verify agent.service: no output",
        "PASS: systemd-analyze verify hub.service: no output",
        "PASS: agent.service is active",
        "PASS: agent logged READY=1 after its first frame",
        "PASS: frozen agent",
        "PASS: hub.service is active",
        "container halted",
    ] {
        assert!(log.contains(needle), "missing {needle:?} in the log above");
    }
    assert!(
        status.success(),
        "systemd-test.sh: {status}; see the FAIL lines above"
    );
    assert!(!log.contains("FAIL:"), "FAIL lines in the log above");
}
