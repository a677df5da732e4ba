//! Cooperative shutdown shared by threads and async tasks.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// A cloneable flag: set once, observed by every worker loop. Blocking threads
/// poll it between frames; waits use [`Shutdown::wait_timeout`] so a sleeping
/// reconnect loop wakes promptly on SIGTERM.
#[derive(Clone, Debug, Default)]
pub struct Shutdown {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    flag: AtomicBool,
    lock: parking_lot::Mutex<()>,
    cv: parking_lot::Condvar,
}

impl Shutdown {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn trigger(&self) {
        self.inner.flag.store(true, Ordering::SeqCst);
        let _g = self.inner.lock.lock();
        self.inner.cv.notify_all();
    }
    pub fn is_triggered(&self) -> bool {
        self.inner.flag.load(Ordering::SeqCst)
    }
    /// Sleeps up to `d`; returns true if shutdown was triggered meanwhile.
    pub fn wait_timeout(&self, d: Duration) -> bool {
        let mut g = self.inner.lock.lock();
        if self.is_triggered() {
            return true;
        }
        self.inner.cv.wait_for(&mut g, d);
        self.is_triggered()
    }
}
