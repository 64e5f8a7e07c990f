//! SIGTERM stops the hub cleanly even while viewers hold long-lived
//! streams open: they are ended, and the process exits 0 within its grace
//! period.

use std::time::Duration;

use crate::common::{PASSWORD, USER};
use testkit::Signal;
use testkit::hub::HubSetup;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_ends_streams_and_exits_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let setup = HubSetup::new(
        dir.path(),
        "data_dir = \"data\"\n[[camera]]\nid = 1\nname = \"pattern\"\nkind = \"demo\"\nwidth = 160\nheight = 120\nfps = 10\n",
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

    hub.signal(Signal::Term).unwrap();
    // The stream ends (cleanly or by the connection closing) ...
    let ended = tokio::time::timeout(Duration::from_secs(10), async {
        while let Ok(Some(_)) = stream.next_part().await {}
    })
    .await;
    assert!(ended.is_ok(), "the MJPEG stream did not end after SIGTERM");
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
