//! Noticing the hub's shutdown from code that is polled very often (every connection,
//! every live body) without paying for it on each poll.
//!
//! A [`CancellationToken`]'s `cancelled()` future locks the token's mutex (and, while
//! waiting, its waiter list's) every time it is polled; polled beside every MJPEG body and
//! every connection at every frame, thousands of tasks queue on the same two locks. A
//! [`StopSignal`] registers its own waker with the token once and polls the token again
//! only after that waker fired; an ordinary poll costs an atomic swap and a waker
//! registration on memory no other task touches.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, Wake, Waker};

use futures_util::task::AtomicWaker;
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};

/// One task's view of the shutdown token (see the module documentation).
#[derive(Debug)]
pub struct StopSignal {
    cancelled: Pin<Box<WaitForCancellationFutureOwned>>,
    relay: Arc<Relay>,
    stopped: bool,
}

/// The waker the token's future holds: marks that the token needs polling again and wakes
/// whichever task polls the [`StopSignal`] now.
#[derive(Debug)]
struct Relay {
    fired: AtomicBool,
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
    pub fn new(token: CancellationToken) -> Self {
        StopSignal {
            cancelled: Box::pin(token.cancelled_owned()),
            relay: Arc::new(Relay {
                // The token is polled on the first poll, which registers the relay.
                fired: AtomicBool::new(true),
                task: AtomicWaker::new(),
            }),
            stopped: false,
        }
    }

    /// Ready once the token is cancelled (and every time after); otherwise `cx`'s task is
    /// woken when it is.
    pub fn poll_stopped(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if self.stopped {
            return Poll::Ready(());
        }
        // Registered before the flag is read: a cancellation after the read wakes `cx`.
        self.relay.task.register(cx.waker());
        if self.relay.fired.swap(false, Ordering::Acquire) {
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
        let mut stop = StopSignal::new(token.clone());
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
        let mut stop = StopSignal::new(token);
        let mut cx = Context::from_waker(Waker::noop());
        assert_eq!(stop.poll_stopped(&mut cx), Poll::Ready(()));
        assert_eq!(stop.poll_stopped(&mut cx), Poll::Ready(()));
    }

    #[test]
    fn ordinary_polls_leave_the_token_alone() {
        let token = CancellationToken::new();
        let mut stop = StopSignal::new(token.clone());
        let mut cx = Context::from_waker(Waker::noop());
        assert_eq!(stop.poll_stopped(&mut cx), Poll::Pending);
        assert!(!stop.relay.fired.load(Ordering::Relaxed));
        for _ in 0..3 {
            assert_eq!(stop.poll_stopped(&mut cx), Poll::Pending);
        }
        token.cancel();
        assert!(stop.relay.fired.load(Ordering::Relaxed), "the relay fired");
        assert_eq!(stop.poll_stopped(&mut cx), Poll::Ready(()));
    }
}
