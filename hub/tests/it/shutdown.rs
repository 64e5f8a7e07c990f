//! SIGTERM stops the hub cleanly even while viewers hold long-lived
//! streams open: they are ended properly (the end of the chunked body, not a
//! dropped connection), a stream waiting for a camera that sends nothing
//! included, and the process exits 0 within its grace period.

use std::time::Duration;

use crate::common::{PASSWORD, USER};
use testkit::Signal;
use testkit::hub::HubSetup;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_ends_streams_and_exits_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let setup = HubSetup::new(
        dir.path(),
        "data_dir = \"data\"\n[[camera]]\nid = 1\nname = \"pattern\"\nkind = \"demo\"\nwidth = 160\nheight = 120\nfps = 10\n\
         [[camera]]\nid = 2\nname = \"porch\"\nkind = \"agent\"\n",
    )
    .unwrap();
    let port = setup.port;
    setup.add_user(USER, PASSWORD).unwrap();
    let mut hub = setup.start_async().await.unwrap();

    let req = testkit::http_client()
        .get(format!(
            "http://127.0.0.1:{port}/api/v1/cameras/pattern/stream"
        ))
        .basic_auth(USER, Some(PASSWORD));
    let mut stream = testkit::mjpeg::MjpegStream::connect(req).await.unwrap();
    stream.take_parts(2).await.unwrap();
    // A camera no agent feeds: its viewer waits for a first frame that never comes.
    let idle = testkit::http_client()
        .get(format!(
            "http://127.0.0.1:{port}/api/v1/cameras/porch/stream"
        ))
        .basic_auth(USER, Some(PASSWORD));
    let mut idle = testkit::mjpeg::MjpegStream::connect(idle).await.unwrap();

    hub.signal(Signal::Term).unwrap();
    // Both streams end cleanly, before the grace period (5 s) would have cut them.
    let ended = tokio::time::timeout(Duration::from_secs(4), async {
        let live = async {
            loop {
                match stream.next_part().await {
                    Ok(Some(_)) => {}
                    other => return other.map(|_| ()),
                }
            }
        };
        let (live, idle) = tokio::join!(live, idle.next_part());
        (live, idle.map(|p| p.is_none()))
    })
    .await
    .expect("the MJPEG streams did not end within 4 s of SIGTERM");
    assert!(
        ended.0.is_ok(),
        "the live stream did not end cleanly: {:?}",
        ended.0
    );
    assert!(
        matches!(ended.1, Ok(true)),
        "the idle stream did not end cleanly (no part): {:?}",
        ended.1
    );
    // ... and the hub exits 0.
    let status = hub
        .wait_timeout_async(Duration::from_secs(15))
        .await
        .unwrap();
    assert!(
        status.success(),
        "hub exited with {status:?}\n{}",
        hub.log()
    );
    assert!(hub.log().contains("shutting down"));
}
