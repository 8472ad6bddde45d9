//! The bounded worker pool: at most `max` threads fed over a zero-capacity crossbeam channel.
//! Workers are started as the load needs them (an idle server holds no more threads, and no
//! more stacks, than it ever had sessions at once) and then wait for the next job. A panic
//! inside one job ends that job only; the worker goes back to the pool.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use crossbeam_channel::{Receiver, SendTimeoutError, Sender, TrySendError, bounded};

use crate::limits::WORKER_STACK_SIZE;

pub struct Pool<J> {
    jobs: Sender<J>,
    idle: Receiver<J>,
    handler: Arc<dyn Fn(J) + Send + Sync>,
    max: usize,
    workers: Mutex<Vec<JoinHandle<()>>>,
}

impl<J: Send + 'static> Pool<J> {
    /// A pool of at most `max` workers running `handler` on each job; none started yet.
    pub fn new(max: usize, handler: Arc<dyn Fn(J) + Send + Sync>) -> Pool<J> {
        let (jobs, idle) = bounded::<J>(0);
        Pool {
            jobs,
            idle,
            handler,
            max,
            workers: Mutex::new(Vec::new()),
        }
    }

    /// Worker threads started so far (they stay for later jobs).
    pub fn started(&self) -> usize {
        self.workers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// Hands `job` to an idle worker, starting one when none is idle and fewer than `max`
    /// run; otherwise waits up to `timeout` for a worker to finish. `Err` gives the job back.
    pub fn submit(&self, job: J, timeout: Duration) -> Result<(), J> {
        let job = match self.jobs.try_send(job) {
            Ok(()) => return Ok(()),
            Err(TrySendError::Full(job) | TrySendError::Disconnected(job)) => job,
        };
        {
            let mut workers = self.workers.lock().unwrap_or_else(PoisonError::into_inner);
            if workers.len() < self.max {
                match self.spawn(workers.len()) {
                    Ok(handle) => workers.push(handle),
                    Err(e) => log::error!("cannot start a worker thread: {e}"),
                }
            }
        }
        self.jobs.send_timeout(job, timeout).map_err(|e| match e {
            SendTimeoutError::Timeout(job) | SendTimeoutError::Disconnected(job) => job,
        })
    }

    fn spawn(&self, i: usize) -> std::io::Result<JoinHandle<()>> {
        let idle = self.idle.clone();
        let handler = Arc::clone(&self.handler);
        thread::Builder::new()
            .name(format!("ferroftp-worker-{i}"))
            .stack_size(WORKER_STACK_SIZE)
            .spawn(move || {
                for job in idle.iter() {
                    // The job (and whatever it owns, e.g. its admission permit) is dropped
                    // during unwinding, so a panicking session still frees its place.
                    if catch_unwind(AssertUnwindSafe(|| handler(job))).is_err() {
                        log::error!("a session panicked; it was ended and its worker goes on");
                    }
                }
            })
    }

    /// Ends the pool: the workers finish their jobs and stop.
    pub fn stop(self) {
        let Pool {
            jobs,
            idle,
            workers,
            ..
        } = self;
        drop((jobs, idle));
        for w in workers.into_inner().unwrap_or_else(PoisonError::into_inner) {
            let _ = w.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

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
        let pool = Pool::new(1, handler);
        for n in 0..10 {
            pool.submit(n, Duration::from_secs(5)).unwrap();
        }
        assert_eq!(pool.started(), 1);
        pool.stop();
        assert_eq!(done.load(Ordering::SeqCst), 5);
    }

    #[test]
    fn workers_start_as_needed_up_to_the_bound() {
        let (release, wait) = bounded::<()>(0);
        let handler: Arc<dyn Fn(u32) + Send + Sync> = Arc::new(move |_| {
            let _ = wait.recv_timeout(Duration::from_secs(10));
        });
        let pool = Pool::new(3, handler);
        assert_eq!(pool.started(), 0);
        for n in 0..3 {
            pool.submit(n, Duration::from_secs(5)).unwrap();
        }
        assert_eq!(pool.started(), 3);
        assert_eq!(
            pool.submit(9, Duration::from_millis(50)),
            Err(9),
            "all three busy"
        );
        for _ in 0..3 {
            release.send(()).unwrap();
        }
        pool.submit(4, Duration::from_secs(5)).unwrap();
        assert_eq!(pool.started(), 3);
        release.send(()).unwrap();
        pool.stop();
    }
}
