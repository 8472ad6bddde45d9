//! The bounded worker pool: `max_sessions` threads fed over a zero-capacity crossbeam channel.
//! A panic inside a session ends that session only; the worker goes back to the pool.

use std::net::TcpStream;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::thread::{self, JoinHandle};

use crossbeam_channel::{Receiver, Sender, bounded};

use crate::limits::WORKER_STACK_SIZE;
use crate::server::{Permit, Shared, session};

/// One accepted connection with its admission permit.
pub struct Job {
    pub stream: TcpStream,
    pub permit: Permit,
}

pub struct Pool {
    workers: Vec<JoinHandle<()>>,
}

impl Pool {
    pub fn start(shared: Arc<Shared>) -> std::io::Result<(Pool, Sender<Job>)> {
        let (tx, rx) = bounded::<Job>(0);
        let mut workers = Vec::with_capacity(shared.settings.max_sessions);
        for i in 0..shared.settings.max_sessions {
            let rx = rx.clone();
            let shared = Arc::clone(&shared);
            let handle = thread::Builder::new()
                .name(format!("ferroftp-worker-{i}"))
                .stack_size(WORKER_STACK_SIZE)
                .spawn(move || work(&shared, &rx))?;
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

fn work(shared: &Shared, jobs: &Receiver<Job>) {
    for job in jobs.iter() {
        let Job { stream, permit } = job;
        if catch_unwind(AssertUnwindSafe(|| session::run(shared, stream))).is_err() {
            log::error!("a session panicked; it was ended and its worker goes on");
        }
        drop(permit);
    }
}
