//! Fan-out of committed events to live subscribers (the HTTP SSE stream).
//!
//! Publishing happens on the writer thread, so it must never block: each
//! subscriber has a bounded buffer fed with `try_send`. A subscriber that falls
//! behind loses events (counted in [`Subscription::lagged`]) rather than stalling
//! every write; it can re-read the gap from the database by id, since every
//! published event carries the id it was committed with.

use base::Event;
use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, TrySendError};
use parking_lot::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Default per-subscriber buffer: a few seconds of a busy site's events.
pub const DEFAULT_SUBSCRIBER_BUFFER: usize = 1024;

struct Subscriber {
    tx: Sender<Event>,
    lagged: Arc<AtomicU64>,
}

/// The publishing side: SQLite's writer thread owns one, and so does the
/// PostgreSQL backend's notification listener, so both feed the same
/// [`Subscription`] type to the API's live stream.
#[derive(Default)]
pub struct Broadcaster {
    subs: Mutex<Vec<Subscriber>>,
    /// Events dropped across all subscribers, for stats.
    total_lagged: AtomicU64,
}

impl Broadcaster {
    pub fn subscribe(&self, capacity: usize) -> Subscription {
        let (tx, rx) = crossbeam_channel::bounded(capacity.max(1));
        let lagged = Arc::new(AtomicU64::new(0));
        self.subs.lock().push(Subscriber {
            tx,
            lagged: lagged.clone(),
        });
        Subscription { rx, lagged }
    }

    /// Sends committed events to every subscriber without blocking; forgets
    /// subscribers whose receiver was dropped.
    pub fn publish(&self, events: &[Event]) {
        if events.is_empty() {
            return;
        }
        let mut subs = self.subs.lock();
        subs.retain(|s| {
            for e in events {
                match s.tx.try_send(e.clone()) {
                    Ok(()) => {}
                    Err(TrySendError::Full(_)) => {
                        s.lagged.fetch_add(1, Ordering::Relaxed);
                        self.total_lagged.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(TrySendError::Disconnected(_)) => return false,
                }
            }
            true
        });
    }

    /// Disconnects every subscriber (at close), so their `recv` ends.
    pub fn close(&self) {
        self.subs.lock().clear();
    }

    pub fn count(&self) -> usize {
        self.subs.lock().len()
    }

    pub fn total_lagged(&self) -> u64 {
        self.total_lagged.load(Ordering::Relaxed)
    }
}

/// A live feed of committed events, in commit order. Dropping it unsubscribes.
pub struct Subscription {
    rx: Receiver<Event>,
    lagged: Arc<AtomicU64>,
}

impl Subscription {
    /// Blocks for the next event; `None` once the store has closed and the
    /// buffer is empty.
    pub fn recv(&self) -> Option<Event> {
        self.rx.recv().ok()
    }

    /// Waits up to `timeout` for the next event. `Disconnected` means the store
    /// has closed and the buffer is empty.
    pub fn recv_timeout(&self, timeout: Duration) -> Result<Event, RecvTimeoutError> {
        self.rx.recv_timeout(timeout)
    }

    /// The next buffered event, if any, without waiting.
    pub fn try_recv(&self) -> Option<Event> {
        self.rx.try_recv().ok()
    }

    /// Events this subscriber missed because its buffer was full.
    pub fn lagged(&self) -> u64 {
        self.lagged.load(Ordering::Relaxed)
    }

    /// The underlying channel, for `crossbeam_channel::select!` or for bridging
    /// into an async runtime on a blocking thread.
    pub fn receiver(&self) -> &Receiver<Event> {
        &self.rx
    }
}
