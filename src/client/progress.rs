//! Transfer feedback: an indicatif bar (percent, bytes, rate, ETA) around the transfer's
//! `Read` or `Write` when a person watches a terminal; nothing at all otherwise, so scripts
//! get plain output. Also the one-line summary printed after each transfer.

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Bar layout when the size is known.
const BAR: &str = "{msg} [{bar:30}] {percent:>3}% {binary_bytes}/{binary_total_bytes} \
                   {binary_bytes_per_sec} ETA {eta}";
/// Layout when the server did not tell the size (no `SIZE`).
const SPINNER: &str = "{msg} {spinner} {binary_bytes} {binary_bytes_per_sec}";

/// One transfer's progress display.
pub struct Progress {
    bar: Option<ProgressBar>,
    started: Instant,
    offset: u64,
}

impl Progress {
    /// A bar labelled `label` when `enabled`; `total` is the full size, `offset` the bytes
    /// already there (resume).
    pub fn start(enabled: bool, label: &str, total: Option<u64>, offset: u64) -> Progress {
        let bar = enabled.then(|| {
            let (bar, template) = match total {
                Some(total) => (ProgressBar::new(total), BAR),
                None => (ProgressBar::new_spinner(), SPINNER),
            };
            let style = ProgressStyle::with_template(template)
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> ");
            bar.set_style(style);
            bar.set_draw_target(ProgressDrawTarget::stderr());
            bar.set_message(label.to_owned());
            bar.set_position(offset);
            // The bytes already there are no speed: the rate and ETA count from here.
            bar.reset_eta();
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        });
        Progress {
            bar,
            started: Instant::now(),
            offset,
        }
    }

    /// `inner`, counted by the bar.
    pub fn reader<'a>(&self, inner: impl Read + 'a) -> Box<dyn Read + 'a> {
        match &self.bar {
            Some(bar) => Box::new(bar.wrap_read(inner)),
            None => Box::new(inner),
        }
    }

    /// `inner`, counted by the bar.
    pub fn writer<'a>(&self, inner: impl Write + 'a) -> Box<dyn Write + 'a> {
        match &self.bar {
            Some(bar) => Box::new(bar.wrap_write(inner)),
            None => Box::new(inner),
        }
    }

    /// Leaves the bar drawn at its final state; returns the summary for `bytes` moved.
    pub fn finish(self, bytes: u64) -> String {
        if let Some(bar) = &self.bar {
            bar.finish();
        }
        summary(bytes, self.offset, self.started.elapsed())
    }

    /// Removes the bar after a failure.
    pub fn abandon(self) {
        if let Some(bar) = &self.bar {
            bar.abandon();
        }
    }
}

/// `1.0 MiB in 0.20 s (5.0 MiB/s)`, with `(resumed at N bytes)` when resuming.
fn summary(bytes: u64, offset: u64, elapsed: Duration) -> String {
    let secs = elapsed.as_secs_f64().max(0.001);
    let rate = bytes as f64 / secs;
    let resumed = if offset > 0 {
        format!(", resumed at {offset} bytes")
    } else {
        String::new()
    };
    format!(
        "{bytes} bytes ({}) in {secs:.2} s ({}/s{resumed})",
        human(bytes as f64),
        human(rate)
    )
}

/// Binary units, one decimal.
pub fn human(n: f64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = n;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{value:.0} {}", UNITS[unit])
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summaries_read_well() {
        assert_eq!(human(512.0), "512 B");
        assert_eq!(human(3.0 * 1024.0 * 1024.0), "3.0 MiB");
        let s = summary(2 * 1024 * 1024, 0, Duration::from_secs(2));
        assert_eq!(s, "2097152 bytes (2.0 MiB) in 2.00 s (1.0 MiB/s)");
    }

    #[test]
    fn disabled_progress_passes_bytes_through() {
        let p = Progress::start(false, "x", Some(3), 0);
        let mut out = Vec::new();
        std::io::copy(&mut p.reader(&b"abc"[..]), &mut p.writer(&mut out)).unwrap();
        assert_eq!(out, b"abc");
        assert!(p.finish(3).starts_with("3 bytes"));
    }
}
