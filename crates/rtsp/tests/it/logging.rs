//! What the source logs, captured by a global `tracing` subscriber (a per-thread one would
//! miss events: `tracing` caches per-callsite interest across threads). The other tests of
//! this binary run at the same time and log into the same subscriber, so errors are counted
//! only inside this test's own source span (camera `log-capture`), while the password check
//! reads every line: a refused password is reported once as an error and retried slowly;
//! neither a wrong nor a right password ever appears in a log line.

use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use crate::common::{Collected, TestServer, collect_until, fast_options, server_available};
use rtsp::{RtspSource, RtspState, Transport};
use tokio_util::sync::CancellationToken;
use tracing_subscriber::layer::SubscriberExt;

/// The camera name of this test's sources; their `rtsp` span carries it.
const CAMERA: &str = "log-capture";

/// Every event and span formatted as ` field=value…`, and apart from them the events
/// inside this test's sources (ERROR ones separately).
#[derive(Clone, Default)]
struct LogCapture {
    errors: Arc<Mutex<Vec<String>>>,
    ours: Arc<Mutex<Vec<String>>>,
    all: Arc<Mutex<Vec<String>>>,
}

/// Marks a span opened by this test's sources.
struct Ours;

impl LogCapture {
    /// The process-wide capture, installed on first use.
    fn global() -> &'static LogCapture {
        static CAPTURE: OnceLock<LogCapture> = OnceLock::new();
        CAPTURE.get_or_init(|| {
            let capture = LogCapture::default();
            tracing::subscriber::set_global_default(
                tracing_subscriber::registry()
                    .with(tracing_subscriber::filter::LevelFilter::TRACE)
                    .with(capture.clone()),
            )
            .expect("no other global subscriber");
            capture
        })
    }

    /// (errors of our sources, all events of our sources, every line of the process).
    fn take(&self) -> (Vec<String>, Vec<String>, Vec<String>) {
        (
            std::mem::take(&mut *self.errors.lock().unwrap()),
            std::mem::take(&mut *self.ours.lock().unwrap()),
            std::mem::take(&mut *self.all.lock().unwrap()),
        )
    }
}

struct Fields(String);

impl tracing::field::Visit for Fields {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        self.0.push_str(&format!(" {}={:?}", field.name(), value));
    }
}

impl<S> tracing_subscriber::Layer<S> for LogCapture
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    fn on_event(&self, event: &tracing::Event<'_>, ctx: tracing_subscriber::layer::Context<'_, S>) {
        let mut f = Fields(String::new());
        event.record(&mut f);
        let ours = ctx
            .event_scope(event)
            .is_some_and(|mut scope| scope.any(|span| span.extensions().get::<Ours>().is_some()));
        if ours {
            if *event.metadata().level() == tracing::Level::ERROR {
                self.errors.lock().unwrap().push(f.0.clone());
            }
            self.ours.lock().unwrap().push(f.0.clone());
        }
        self.all.lock().unwrap().push(f.0);
    }

    fn on_new_span(
        &self,
        attrs: &tracing::span::Attributes<'_>,
        id: &tracing::span::Id,
        ctx: tracing_subscriber::layer::Context<'_, S>,
    ) {
        let mut f = Fields(String::new());
        attrs.record(&mut f);
        if attrs.metadata().name() == "rtsp"
            && f.0.contains(&format!(" camera={CAMERA}"))
            && let Some(span) = ctx.span(id)
        {
            span.extensions_mut().insert(Ours);
        }
        self.all.lock().unwrap().push(f.0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_password_reported_once_and_passwords_never_logged() {
    if !server_available() {
        return;
    }
    let logs = LogCapture::global();
    let server = TestServer::start().await;

    // A wrong password: AuthFailed, one error, no retry within 5 s.
    logs.take();
    let cancel = CancellationToken::new();
    let mut cfg = server.config("stream1", Transport::Tcp);
    cfg.name = CAMERA.into();
    cfg.password = "wrong-horse-battery".into();
    let (mut rx, status) = RtspSource::spawn_with(cfg, fast_options(), cancel.clone());
    tokio::time::sleep(Duration::from_secs(5)).await;
    let status = status.borrow().clone();
    cancel.cancel();
    eprintln!("{status:?}");
    assert_eq!(status.state, RtspState::AuthFailed, "{status:?}");
    assert!(status.attempts <= 2, "{} attempts in 5 s", status.attempts);
    let last_error = status.last_error.as_deref().unwrap_or("");
    assert!(last_error.contains("401"), "{status:?}");
    assert!(rx.try_recv().is_err(), "no events without a session");
    let (errors, _, all) = logs.take();
    assert_eq!(errors.len(), 1, "errors: {errors:?}");
    assert!(errors[0].contains("refused"), "{}", errors[0]);
    for line in &all {
        assert!(
            !line.contains("wrong-horse-battery"),
            "password logged: {line}"
        );
    }

    // The right password: frames, and still no password in any line (retina's included).
    let cancel = CancellationToken::new();
    let mut cfg = server.config("stream2", Transport::Tcp);
    cfg.name = CAMERA.into();
    let (mut rx, _status) = RtspSource::spawn_with(cfg, fast_options(), cancel.clone());
    let mut got = Collected::default();
    collect_until(&mut rx, &mut got, Duration::from_secs(30), |c| {
        c.frames().len() >= 5
    })
    .await;
    cancel.cancel();
    let (errors, ours, all) = logs.take();
    assert!(errors.is_empty(), "errors: {errors:?}");
    assert!(ours.iter().any(|l| l.contains("playing")), "{ours:?}");
    for line in &all {
        assert!(
            !line.contains(crate::common::PASSWORD),
            "password logged: {line}"
        );
    }
}
