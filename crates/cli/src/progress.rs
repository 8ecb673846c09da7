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
        }
    }

    /// The bar, for the log writer to draw around.
    pub(crate) fn bar(&self) -> Option<ProgressBar> {
        self.bar.clone()
    }

    pub(crate) fn update(&mut self, t: Totals) {
        let secs = self.started.elapsed().as_secs_f64().max(1e-3);
        let message = format!(
            "records {} ({:.0}/s) · {:.1} MB ({:.1} MB/s) · retries {} · spooled {}",
            t.records,
            t.records as f64 / secs,
            t.bytes as f64 / 1e6,
            t.bytes as f64 / 1e6 / secs,
            t.retries,
            t.spooled
        );
        match &self.bar {
            Some(bar) => bar.set_message(message),
            None if self.last_line.elapsed() >= Duration::from_secs(10) => {
                self.last_line = Instant::now();
                tracing::info!("progress: {message}");
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
