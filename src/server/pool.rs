//! The bounded worker pool: a fixed number of threads fed over a zero-capacity crossbeam
//! channel. A panic inside one job ends that job only; the worker goes back to the pool.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::thread::{self, JoinHandle};

use crossbeam_channel::{Sender, bounded};

use crate::limits::WORKER_STACK_SIZE;

pub struct Pool {
    workers: Vec<JoinHandle<()>>,
}

impl Pool {
    /// Starts `count` workers running `handler` on each job sent to the returned channel.
    pub fn start<J: Send + 'static>(
        count: usize,
        handler: Arc<dyn Fn(J) + Send + Sync>,
    ) -> std::io::Result<(Pool, Sender<J>)> {
        let (tx, rx) = bounded::<J>(0);
        let mut workers = Vec::with_capacity(count);
        for i in 0..count {
            let rx = rx.clone();
            let handler = Arc::clone(&handler);
            let handle = thread::Builder::new()
                .name(format!("ferroftp-worker-{i}"))
                .stack_size(WORKER_STACK_SIZE)
                .spawn(move || {
                    for job in rx.iter() {
                        // The job (and whatever it owns, e.g. its admission permit) is dropped
                        // during unwinding, so a panicking session still frees its place.
                        if catch_unwind(AssertUnwindSafe(|| handler(job))).is_err() {
                            log::error!("a session panicked; it was ended and its worker goes on");
                        }
                    }
                })?;
            workers.push(handle);
        }
        Ok((Pool { workers }, tx))
    }

    /// Waits for the workers; they end once every sender is gone.
    pub fn stop(self) {
        for w in self.workers {
            let _ = w.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use super::*;

    #[test]
    fn a_panicking_job_does_not_kill_its_worker() {
        let done = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&done);
        let handler: Arc<dyn Fn(u32) + Send + Sync> = Arc::new(move |n| {
            if n % 2 == 0 {
                panic!("job {n} panics on purpose");
            }
            counter.fetch_add(1, Ordering::SeqCst);
        });
        let (pool, tx) = Pool::start(1, handler).unwrap();
        for n in 0..10 {
            tx.send_timeout(n, Duration::from_secs(5)).unwrap();
        }
        drop(tx);
        pool.stop();
        assert_eq!(done.load(Ordering::SeqCst), 5);
    }
}
