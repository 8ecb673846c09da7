//! Progress while a run goes on: a bar on a terminal, a plain line every 10 s otherwise.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::time::{Duration, Instant};

/// Running totals shown while sending.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Totals {
    pub(crate) records: u64,
    pub(crate) bytes: u64,
    pub(crate) retries: u64,
    pub(crate) spooled: u64,
}

pub(crate) struct Progress {
    bar: Option<ProgressBar>,
    started: Instant,
    last_line: Instant,
    /// The inputs' size, when every input has one (files, not pipes).
    total_bytes: Option<u64>,
}

impl Progress {
    pub(crate) fn new(enabled: bool) -> Self {
        let bar = (enabled && std::io::stderr().is_terminal()).then(|| {
            let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr_with_hz(5));
            bar.set_style(
                ProgressStyle::with_template("{spinner} {elapsed_precise} {msg}")
                    .expect("static template"),
            );
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        });
        Self {
            bar,
            started: Instant::now(),
            last_line: Instant::now(),
            total_bytes: None,
        }
    }

    /// The inputs' total size, so progress shows a percentage and a time left.
    pub(crate) fn set_total_bytes(&mut self, total: Option<u64>) {
        self.total_bytes = total.filter(|t| *t > 0);
    }

    /// The bar, for the log writer to draw around.
    pub(crate) fn bar(&self) -> Option<ProgressBar> {
        self.bar.clone()
    }

    /// Called for every event of a run: the totals are only asked for, and the line
    /// only formatted, when it is shown.
    pub(crate) fn update(&mut self, totals: impl FnOnce() -> Totals) {
        let line = || message(totals(), self.started.elapsed(), self.total_bytes);
        match &self.bar {
            Some(bar) => bar.set_message(line()),
            None if self.last_line.elapsed() >= Duration::from_secs(10) => {
                tracing::info!("progress: {}", line());
                self.last_line = Instant::now();
            }
            None => {}
        }
    }

    pub(crate) fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

/// One progress line: rates, and with a known total, how far and how long to go.
fn message(t: Totals, elapsed: Duration, total_bytes: Option<u64>) -> String {
    let secs = elapsed.as_secs_f64().max(1e-3);
    let mut out = format!(
        "records {} ({:.0}/s) · {:.1} MB ({:.1} MB/s) · retries {} · spooled {}",
        t.records,
        t.records as f64 / secs,
        t.bytes as f64 / 1e6,
        t.bytes as f64 / 1e6 / secs,
        t.retries,
        t.spooled
    );
    if let Some(total) = total_bytes {
        let done = (t.bytes as f64 / total as f64).min(1.0);
        out.push_str(&format!(" · {:.0}%", done * 100.0));
        if done > 0.0 && done < 1.0 {
            let left = secs * (1.0 - done) / done;
            out.push_str(&format!(" · ETA {:.0}s", left.ceil()));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_known_total_shows_how_far_and_how_long_to_go() {
        let t = Totals {
            records: 1000,
            bytes: 25_000_000,
            retries: 0,
            spooled: 0,
        };
        let m = message(t, Duration::from_secs(10), Some(100_000_000));
        assert!(m.ends_with(" · 25% · ETA 30s"), "{m}");
        let m = message(t, Duration::from_secs(10), None);
        assert!(!m.contains('%') && !m.contains("ETA"), "{m}");
    }
}
