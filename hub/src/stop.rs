//! Noticing the hub's shutdown from code that is polled very often (every connection,
//! every live body) without paying for it on each poll.
//!
//! A [`CancellationToken`]'s `cancelled()` future locks the token's mutex (and, while
//! waiting, its waiter list's) every time it is polled; polled beside every MJPEG body and
//! every connection at every frame, thousands of tasks queue on the same two locks. A
//! [`StopSignal`] hands a waker of its own to the token once and polls the token again
//! only after some signal of its [`StopSource`] was woken; an ordinary poll reads one
//! shared flag that nothing writes before the shutdown and compares the task's waker
//! with the one it registered. (A first version registered the waker and swapped a
//! per-signal flag at every poll: with thousands of viewers that memory is cold at each
//! frame, and the cache misses cost as much as the token's lock had.)

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, Wake, Waker};

use futures_util::task::AtomicWaker;
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};

/// Where [`StopSignal`]s come from: one per group of many (the listener's connections,
/// the MJPEG bodies), sharing the flag their wakers raise.
#[derive(Debug, Clone)]
pub struct StopSource {
    token: CancellationToken,
    /// Raised when the token fires, by whichever signal's waker runs first; read at every
    /// poll of every signal. Written once, so it stays in every core's cache until then.
    fired: Arc<AtomicBool>,
}

impl StopSource {
    pub fn new(token: CancellationToken) -> Self {
        StopSource {
            token,
            fired: Arc::new(AtomicBool::new(false)),
        }
    }

    /// A signal for one task.
    pub fn signal(&self) -> StopSignal {
        StopSignal {
            cancelled: Box::pin(self.token.clone().cancelled_owned()),
            relay: Arc::new(Relay {
                fired: Arc::clone(&self.fired),
                task: AtomicWaker::new(),
            }),
            fired: Arc::clone(&self.fired),
            registered: None,
            stopped: false,
        }
    }
}

/// One task's view of the shutdown token (see the module documentation). An ordinary
/// poll reads the source's shared flag and compares the task's waker with the one it
/// registered; it touches neither the token nor memory of its own that is cold.
#[derive(Debug)]
pub struct StopSignal {
    cancelled: Pin<Box<WaitForCancellationFutureOwned>>,
    relay: Arc<Relay>,
    /// The source's flag (the same memory as the relay's, reached without touching it).
    fired: Arc<AtomicBool>,
    /// The task waker last given to the relay (`None` before the first poll).
    registered: Option<Waker>,
    stopped: bool,
}

/// The waker the token's future holds: raises the shared flag and wakes whichever task
/// polls the [`StopSignal`] now.
#[derive(Debug)]
struct Relay {
    fired: Arc<AtomicBool>,
    task: AtomicWaker,
}

impl Wake for Relay {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.fired.store(true, Ordering::Release);
        self.task.wake();
    }
}

impl StopSignal {
    /// Ready once the token is cancelled (and every time after); otherwise `cx`'s task is
    /// woken when it is.
    pub fn poll_stopped(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if self.stopped {
            return Poll::Ready(());
        }
        let first = self.registered.is_none();
        if !self
            .registered
            .as_ref()
            .is_some_and(|w| w.will_wake(cx.waker()))
        {
            // Registered before the flag is read: a cancellation after the read wakes `cx`.
            self.relay.task.register(cx.waker());
            self.registered = Some(cx.waker().clone());
        }
        // The first poll hands the relay to the token; after that, only a raised flag
        // (this token's, or another signal's of the same source) is worth a look.
        if first || self.fired.load(Ordering::Acquire) {
            let relay = Waker::from(Arc::clone(&self.relay));
            if self
                .cancelled
                .as_mut()
                .poll(&mut Context::from_waker(&relay))
                .is_ready()
            {
                self.stopped = true;
                return Poll::Ready(());
            }
        }
        Poll::Pending
    }

    /// Whether the token was seen cancelled by [`StopSignal::poll_stopped`].
    pub fn stopped(&self) -> bool {
        self.stopped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn wakes_the_waiting_task_once_cancelled() {
        let token = CancellationToken::new();
        let mut stop = StopSource::new(token.clone()).signal();
        let mut polls = 0;
        let waiter = tokio::spawn(async move {
            std::future::poll_fn(|cx| {
                polls += 1;
                stop.poll_stopped(cx)
            })
            .await;
            assert!(stop.stopped());
            polls
        });
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert!(!waiter.is_finished(), "not stopped before the cancel");
        token.cancel();
        let polls = tokio::time::timeout(std::time::Duration::from_secs(5), waiter)
            .await
            .expect("the cancel wakes the task")
            .unwrap();
        assert_eq!(polls, 2, "polled once waiting and once when woken");
    }

    #[test]
    fn a_cancelled_token_is_ready_on_the_first_poll() {
        let token = CancellationToken::new();
        token.cancel();
        let mut stop = StopSource::new(token).signal();
        let mut cx = Context::from_waker(Waker::noop());
        assert_eq!(stop.poll_stopped(&mut cx), Poll::Ready(()));
        assert_eq!(stop.poll_stopped(&mut cx), Poll::Ready(()));
    }

    #[test]
    fn ordinary_polls_leave_the_token_alone() {
        let token = CancellationToken::new();
        let source = StopSource::new(token.clone());
        let (mut a, mut b) = (source.signal(), source.signal());
        let mut cx = Context::from_waker(Waker::noop());
        assert_eq!(a.poll_stopped(&mut cx), Poll::Pending);
        assert_eq!(b.poll_stopped(&mut cx), Poll::Pending);
        for _ in 0..3 {
            assert_eq!(a.poll_stopped(&mut cx), Poll::Pending);
        }
        assert!(!source.fired.load(Ordering::Relaxed));
        token.cancel();
        assert!(
            source.fired.load(Ordering::Relaxed),
            "a relay raised the flag"
        );
        assert_eq!(a.poll_stopped(&mut cx), Poll::Ready(()));
        assert_eq!(b.poll_stopped(&mut cx), Poll::Ready(()));
    }
}
