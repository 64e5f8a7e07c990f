//! Webhooks against a loopback receiver that is up, down and hanging: signed JSON
//! (HMAC-SHA256 of "timestamp.body"), only the chosen kinds, in order, retried while the
//! receiver is down or hangs, bounded (drop-oldest, counted), and the hub unaffected.
//! Events enter through the camera's event feed, the call the sources make.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::HeaderMap;
use events::{Event, Origin, What};
use tokio_util::sync::CancellationToken;

use crate::common::{TestHub, write_secret};

pub(crate) const SECRET: &str = "webhook secret 0123456789";

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Up,
    Hang,
}

/// What the receiver got: (timestamp header, signature header, body).
type Got = Arc<Mutex<Vec<(String, String, String)>>>;

pub(crate) struct Receiver {
    pub(crate) port: u16,
    mode: Arc<Mutex<Mode>>,
    got: Got,
    stop: Option<(CancellationToken, tokio::task::JoinHandle<()>)>,
}

impl Receiver {
    pub(crate) async fn start() -> Receiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let mut r = Receiver {
            port,
            mode: Arc::new(Mutex::new(Mode::Up)),
            got: Got::default(),
            stop: None,
        };
        r.serve(listener);
        r
    }

    fn serve(&mut self, listener: tokio::net::TcpListener) {
        let (mode, got) = (self.mode.clone(), self.got.clone());
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(move |headers: HeaderMap, body: String| {
                let (mode, got) = (mode.clone(), got.clone());
                async move {
                    if *mode.lock().unwrap() == Mode::Hang {
                        tokio::time::sleep(Duration::from_secs(3600)).await;
                    }
                    let h = |n: &str| {
                        headers
                            .get(n)
                            .map(|v| v.to_str().unwrap().to_owned())
                            .unwrap_or_default()
                    };
                    got.lock().unwrap().push((
                        h("x-camera-hub-timestamp"),
                        h("x-camera-hub-signature"),
                        body,
                    ));
                    "ok"
                }
            }),
        );
        let stop = CancellationToken::new();
        let server = tokio::spawn({
            let stop = stop.clone();
            async move {
                axum::serve(listener, app)
                    .with_graceful_shutdown(stop.cancelled_owned())
                    .await
                    .unwrap();
            }
        });
        self.stop = Some((stop, server));
    }

    /// Down: the port refuses connections, and the hub's kept-alive connection is
    /// closed, once this returns (a delivery sent right after must fail).
    async fn down(&mut self) {
        if let Some((stop, server)) = self.stop.take() {
            stop.cancel();
            tokio::time::timeout(Duration::from_secs(10), server)
                .await
                .expect("the receiver stops within 10 s")
                .unwrap();
        }
    }

    async fn up(&mut self) {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", self.port))
            .await
            .unwrap();
        self.serve(listener);
    }

    fn bodies(&self) -> Vec<serde_json::Value> {
        self.got
            .lock()
            .unwrap()
            .iter()
            .map(|(_, _, b)| serde_json::from_str(b).unwrap())
            .collect()
    }

    pub(crate) async fn wait_for(&self, n: usize, secs: u64) -> Vec<serde_json::Value> {
        for _ in 0..secs * 10 {
            if self.got.lock().unwrap().len() >= n {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let b = self.bodies();
        assert!(b.len() >= n, "{} deliveries, expected {n}: {b:?}", b.len());
        b
    }
}

fn battery(h: &TestHub, percent: u8) {
    publish(
        h,
        What::Battery {
            percent,
            charging: false,
        },
    );
}

fn publish(h: &TestHub, what: What) {
    h.hub
        .cameras
        .by_name("porch")
        .unwrap()
        .events
        .publish(Event::new(hub::camera::now_ms(), Origin::Camera, what));
}

async fn hub_with_hook(port: u16, extra: &str) -> (TestHub, tempfile::TempDir) {
    let secrets = tempfile::tempdir().unwrap();
    write_secret(&secrets.path().join("hook"), SECRET);
    let h = TestHub::start(&format!(
        "[[webhook]]\nurl = \"http://127.0.0.1:{port}/hook\"\nsecret_file = {:?}\n{extra}\n\
         [[camera]]\nid = 1\nname = \"porch\"\nkind = \"agent\"\n",
        secrets.path().join("hook").display().to_string()
    ))
    .await;
    // Answering means `server::run` has started its event consumers.
    crate::metrics::metric_present(&h, "webhook_queued{webhook=\"0\"}").await;
    (h, secrets)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_chosen_events_arrive_in_order_through_outages_and_hangs() {
    let mut rx = Receiver::start().await;
    let (h, _s) = hub_with_hook(rx.port, "events = [\"battery\"]\ntimeout = \"1s\"").await;

    // Up: a battery event arrives, signed; a motion event (not chosen) does not.
    publish(&h, What::Motion { active: true });
    battery(&h, 50);
    let got = rx.wait_for(1, 10).await;
    assert_eq!(got[0]["camera"], "porch");
    assert_eq!(got[0]["event"]["kind"], "battery");
    assert_eq!(got[0]["event"]["percent"], 50);
    let (ts, sig, body) = rx.got.lock().unwrap()[0].clone();
    let ts: i64 = ts.parse().unwrap();
    assert!(
        (hub::camera::now_ms() / 1000 - ts).abs() <= 5,
        "a fresh timestamp"
    );
    assert_eq!(
        sig,
        hub::webhooks::sign(SECRET.as_bytes(), ts, body.as_bytes())
    );
    assert_ne!(
        sig,
        hub::webhooks::sign(b"another secret", ts, body.as_bytes())
    );

    // Down: deliveries wait and are retried; the hub answers as usual meanwhile.
    rx.down().await;
    battery(&h, 51);
    battery(&h, 52);
    for _ in 0..50 {
        if crate::metrics::metric_present(&h, "webhook_failed_attempts_total{webhook=\"0\"}").await
            >= 1.0
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        crate::metrics::metric_present(&h, "webhook_failed_attempts_total{webhook=\"0\"}").await
            >= 1.0
    );
    assert_eq!(
        h.get_auth("/api/cameras").send().await.unwrap().status(),
        200
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    rx.up().await;
    let got = rx.wait_for(3, 30).await;
    let percents: Vec<u64> = got
        .iter()
        .map(|b| b["event"]["percent"].as_u64().unwrap())
        .collect();
    assert_eq!(percents, [50, 51, 52], "each once, in order");

    // Hanging: an attempt is cut at the timeout and tried again; once the receiver
    // answers, the delivery arrives.
    *rx.mode.lock().unwrap() = Mode::Hang;
    battery(&h, 53);
    for _ in 0..100 {
        if crate::metrics::metric_present(&h, "webhook_failed_attempts_total{webhook=\"0\"}").await
            >= 3.0
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let before =
        crate::metrics::metric_present(&h, "webhook_failed_attempts_total{webhook=\"0\"}").await;
    assert!(before >= 2.0, "the hanging attempt timed out: {before}");
    assert_eq!(
        h.get_auth("/api/cameras").send().await.unwrap().status(),
        200
    );
    *rx.mode.lock().unwrap() = Mode::Up;
    let got = rx.wait_for(4, 30).await;
    assert_eq!(got[3]["event"]["percent"], 53);
    assert_eq!(
        crate::metrics::metric_present(&h, "webhook_delivered_total{webhook=\"0\"}").await,
        4.0
    );
    assert_eq!(
        crate::metrics::metric_present(&h, "webhook_dropped_total{webhook=\"0\"}").await,
        0.0
    );
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_outage_keeps_the_newest_deliveries() {
    let mut rx = Receiver::start().await;
    rx.down().await;
    let (h, _s) = hub_with_hook(rx.port, "queue = 4").await;
    // The first delivery is taken and retried; nine more arrive while it waits: the queue
    // keeps the newest four and drops five.
    battery(&h, 0);
    for _ in 0..50 {
        if crate::metrics::metric_present(&h, "webhook_failed_attempts_total{webhook=\"0\"}").await
            >= 1.0
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for p in 1..10 {
        battery(&h, p);
    }
    assert_eq!(
        crate::metrics::metric_present(&h, "webhook_dropped_total{webhook=\"0\"}").await,
        5.0
    );
    assert_eq!(
        crate::metrics::metric_present(&h, "webhook_queued{webhook=\"0\"}").await,
        4.0
    );
    rx.up().await;
    let got = rx.wait_for(5, 30).await;
    let percents: Vec<u64> = got
        .iter()
        .map(|b| b["event"]["percent"].as_u64().unwrap())
        .collect();
    assert_eq!(percents, [0, 6, 7, 8, 9]);
    h.stop().await;
}
