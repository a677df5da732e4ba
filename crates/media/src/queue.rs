//! The hand-off between a camera's decoder thread and the analysis.

use base::{Frame, Shutdown};
use parking_lot::{Condvar, Mutex};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// A bounded frame queue.
///
/// Live cameras push with [`FrameQueue::push`], which never blocks and drops
/// the *oldest* frame when full: when analysis falls behind, the freshest
/// picture is the one worth analysing, and a blocked decoder would make the
/// camera's own buffers overflow anyway. Offline file analysis pushes with
/// [`FrameQueue::push_blocking`] so that no frame is lost.
#[derive(Debug)]
pub struct FrameQueue {
    capacity: usize,
    inner: Mutex<Inner>,
    not_empty: Condvar,
    not_full: Condvar,
    dropped: AtomicU64,
}

#[derive(Debug)]
struct Inner {
    frames: VecDeque<Frame>,
    closed: bool,
}

impl FrameQueue {
    /// A queue holding at most `capacity` frames (at least 1).
    pub fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        FrameQueue {
            capacity,
            inner: Mutex::new(Inner {
                frames: VecDeque::with_capacity(capacity),
                closed: false,
            }),
            not_empty: Condvar::new(),
            not_full: Condvar::new(),
            dropped: AtomicU64::new(0),
        }
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Adds a frame without waiting, evicting (and counting) the oldest one if
    /// the queue is full. Frames pushed after [`close`](Self::close) are
    /// discarded: nobody will read them.
    pub fn push(&self, frame: Frame) {
        let mut g = self.inner.lock();
        if g.closed {
            return;
        }
        if g.frames.len() >= self.capacity {
            g.frames.pop_front();
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
        g.frames.push_back(frame);
        drop(g);
        self.not_empty.notify_one();
    }

    /// Adds a frame, waiting for room. Returns false (discarding the frame) if
    /// the queue is or gets closed, so a producer stops when the consumer quits.
    pub fn push_blocking(&self, frame: Frame) -> bool {
        self.push_wait(frame, None)
    }

    /// Like [`push_blocking`](Self::push_blocking) but also gives up when
    /// `shutdown` triggers, so a producer never outlives a stuck consumer.
    pub fn push_blocking_until(&self, frame: Frame, shutdown: &Shutdown) -> bool {
        self.push_wait(frame, Some(shutdown))
    }

    fn push_wait(&self, frame: Frame, shutdown: Option<&Shutdown>) -> bool {
        let mut g = self.inner.lock();
        loop {
            if g.closed || shutdown.is_some_and(Shutdown::is_triggered) {
                return false;
            }
            if g.frames.len() < self.capacity {
                g.frames.push_back(frame);
                drop(g);
                self.not_empty.notify_one();
                return true;
            }
            // Shutdown has its own condvar; poll it at a period short enough
            // for a prompt exit.
            self.not_full.wait_for(&mut g, Duration::from_millis(50));
        }
    }

    /// Takes the oldest frame, waiting up to `timeout`. `None` means the wait
    /// timed out or the queue is closed and drained (see [`is_closed`](Self::is_closed)).
    pub fn pop(&self, timeout: Duration) -> Option<Frame> {
        let deadline = Instant::now() + timeout;
        let mut g = self.inner.lock();
        loop {
            if let Some(f) = g.frames.pop_front() {
                drop(g);
                self.not_full.notify_one();
                return Some(f);
            }
            if g.closed {
                return None;
            }
            if self.not_empty.wait_until(&mut g, deadline).timed_out() {
                let f = g.frames.pop_front();
                if f.is_some() {
                    drop(g);
                    self.not_full.notify_one();
                }
                return f;
            }
        }
    }

    /// Frames waiting to be analysed.
    pub fn depth(&self) -> usize {
        self.inner.lock().frames.len()
    }

    /// Frames evicted by [`push`](Self::push) because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Marks the end of the stream: waiting consumers and producers wake,
    /// consumers still drain what is queued, then `pop` returns `None` at once.
    pub fn close(&self) {
        self.inner.lock().closed = true;
        self.not_empty.notify_all();
        self.not_full.notify_all();
    }

    pub fn is_closed(&self) -> bool {
        self.inner.lock().closed
    }

    /// Whether the consumer has seen everything: closed and empty.
    pub fn is_finished(&self) -> bool {
        let g = self.inner.lock();
        g.closed && g.frames.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base::Timestamp;
    use std::sync::Arc;

    fn frame(seq: u64) -> Frame {
        Frame::new("cam".into(), seq, Timestamp(0), 0, 1, 1, vec![0, 0, 0])
    }

    #[test]
    fn drops_oldest_and_counts() {
        let q = FrameQueue::new(3);
        for i in 0..5 {
            q.push(frame(i));
        }
        assert_eq!(q.depth(), 3);
        assert_eq!(q.dropped(), 2);
        let got: Vec<u64> = std::iter::from_fn(|| q.pop(Duration::ZERO))
            .map(|f| f.seq)
            .collect();
        assert_eq!(got, [2, 3, 4]);
        assert_eq!(q.depth(), 0);
    }

    #[test]
    fn pop_times_out_then_sees_close_promptly() {
        let q = Arc::new(FrameQueue::new(2));
        let t = Instant::now();
        assert!(q.pop(Duration::from_millis(30)).is_none());
        assert!(t.elapsed() >= Duration::from_millis(30));
        q.push(frame(0));
        let q2 = q.clone();
        let closer = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            q2.close();
        });
        assert_eq!(q.pop(Duration::from_secs(5)).unwrap().seq, 0);
        let t = Instant::now();
        assert!(q.pop(Duration::from_secs(5)).is_none());
        assert!(t.elapsed() < Duration::from_secs(1));
        assert!(q.is_closed() && q.is_finished());
        closer.join().unwrap();
        q.push(frame(1));
        assert_eq!(q.depth(), 0, "pushes after close are discarded");
    }

    #[test]
    fn blocking_push_loses_nothing() {
        let q = Arc::new(FrameQueue::new(2));
        let q2 = q.clone();
        let producer = std::thread::spawn(move || {
            for i in 0..200 {
                assert!(q2.push_blocking(frame(i)));
            }
            q2.close();
        });
        let mut seen = Vec::new();
        while let Some(f) = q.pop(Duration::from_secs(5)) {
            seen.push(f.seq);
        }
        producer.join().unwrap();
        assert_eq!(seen, (0..200).collect::<Vec<_>>());
        assert_eq!(q.dropped(), 0);
    }

    #[test]
    fn blocked_producer_wakes_on_close_and_shutdown() {
        let q = Arc::new(FrameQueue::new(1));
        q.push(frame(0));
        let q2 = q.clone();
        let p = std::thread::spawn(move || q2.push_blocking(frame(1)));
        std::thread::sleep(Duration::from_millis(30));
        q.close();
        assert!(!p.join().unwrap());

        let q = FrameQueue::new(1);
        q.push(frame(0));
        let s = Shutdown::new();
        s.trigger();
        assert!(!q.push_blocking_until(frame(1), &s));
    }

    #[test]
    fn many_producers() {
        let q = Arc::new(FrameQueue::new(1000));
        let hs: Vec<_> = (0..4)
            .map(|p| {
                let q = q.clone();
                std::thread::spawn(move || (0..100).for_each(|i| q.push(frame(p * 1000 + i))))
            })
            .collect();
        hs.into_iter().for_each(|h| h.join().unwrap());
        assert_eq!(q.depth(), 400);
        assert_eq!(q.dropped(), 0);
    }
}
