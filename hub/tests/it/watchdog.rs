//! The hub tells systemd it is ready, and feeds the watchdog while it really
//! serves: a notify socket stands in for systemd.

use std::os::unix::net::UnixDatagram;
use std::time::{Duration, Instant};

use testkit::Signal;
use testkit::hub::HubSetup;
use testkit::process::spawn_logged;

#[test]
fn ready_then_watchdog_pings_while_serving_and_none_when_frozen() {
    let dir = tempfile::tempdir().unwrap();
    let sock_path = dir.path().join("notify.sock");
    let sock = UnixDatagram::bind(&sock_path).unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let setup = HubSetup::new(dir.path(), "data_dir = \"data\"\n").unwrap();
    let hub = spawn_logged(
        setup
            .command()
            .env("NOTIFY_SOCKET", &sock_path)
            .env("WATCHDOG_USEC", "1000000"),
        "hub",
    )
    .unwrap();

    let read_for = |d: Duration| {
        let mut msgs = Vec::new();
        let end = Instant::now() + d;
        let mut buf = [0u8; 512];
        while Instant::now() < end {
            if let Ok(n) = sock.recv(&mut buf) {
                msgs.push(String::from_utf8_lossy(&buf[..n]).into_owned());
            }
        }
        msgs
    };
    let msgs = read_for(Duration::from_secs(4));
    assert!(
        msgs.iter().any(|m| m.contains("READY=1")),
        "{msgs:?}\n{}",
        hub.log()
    );
    let pings = msgs.iter().filter(|m| m.contains("WATCHDOG=1")).count();
    assert!(
        pings >= 3,
        "expected a ping every 0.5 s, got {pings}: {msgs:?}"
    );

    // A frozen hub sends nothing.
    hub.signal(Signal::Stop).unwrap();
    let _ = read_for(Duration::from_millis(300));
    let frozen = read_for(Duration::from_secs(2));
    assert!(
        !frozen.iter().any(|m| m.contains("WATCHDOG=1")),
        "pings while stopped: {frozen:?}"
    );
    hub.signal(Signal::Cont).unwrap();
}
