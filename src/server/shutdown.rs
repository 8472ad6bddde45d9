//! The shutdown handle: Ctrl-C/SIGTERM (wired by the CLI) or a test flips it; acceptors stop,
//! idle sessions get `421` at once, transfers get `SHUTDOWN_GRACE` to finish.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use crate::limits::SHUTDOWN_GRACE;

#[derive(Debug, Clone, Default)]
pub struct Shutdown {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    triggered: AtomicBool,
    started: Mutex<Option<Instant>>,
    wake: Condvar,
}

impl Shutdown {
    pub fn new() -> Shutdown {
        Shutdown::default()
    }

    /// Starts the shutdown; later calls do nothing.
    pub fn trigger(&self) {
        let mut started = self.inner.started.lock().unwrap_or_else(|p| p.into_inner());
        if started.is_none() {
            *started = Some(Instant::now());
            self.inner.triggered.store(true, Ordering::SeqCst);
            self.inner.wake.notify_all();
        }
    }

    pub fn is_triggered(&self) -> bool {
        self.inner.triggered.load(Ordering::Relaxed)
    }

    /// True once running transfers have had their grace period.
    pub fn grace_expired(&self) -> bool {
        if !self.is_triggered() {
            return false;
        }
        let started = self.inner.started.lock().unwrap_or_else(|p| p.into_inner());
        started.is_some_and(|t| t.elapsed() >= SHUTDOWN_GRACE)
    }

    /// Blocks until triggered.
    pub fn wait(&self) {
        let mut started = self.inner.started.lock().unwrap_or_else(|p| p.into_inner());
        while started.is_none() {
            started = self
                .inner
                .wake
                .wait(started)
                .unwrap_or_else(|p| p.into_inner());
        }
    }

    /// Blocks until triggered or `timeout` passes; true if triggered.
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        let started = self.inner.started.lock().unwrap_or_else(|p| p.into_inner());
        let (started, _) = self
            .inner
            .wake
            .wait_timeout_while(started, timeout, |s| s.is_none())
            .unwrap_or_else(|p| p.into_inner());
        started.is_some()
    }
}
