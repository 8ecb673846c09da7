//! Logging through tracing: `-v` (info), `-vv` (debug), `-vvv` (trace) for logferry's
//! crates, or `RUST_LOG`. Secrets never reach a log line: every credential is a redacting
//! `Secret`, and headers are never logged.

use indicatif::ProgressBar;
use std::io::{IsTerminal, Write};
use std::sync::{Arc, Mutex};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

/// Writes log lines to stderr, hiding the progress bar while a line is printed.
#[derive(Clone, Default)]
pub(crate) struct BarWriter(Arc<Mutex<Option<ProgressBar>>>);

impl BarWriter {
    pub(crate) fn set_bar(&self, bar: Option<ProgressBar>) {
        *self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = bar;
    }
}

pub(crate) struct LineWriter(Option<ProgressBar>);

impl Write for LineWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match &self.0 {
            Some(bar) => bar
                .suspend(|| std::io::stderr().write_all(buf))
                .map(|()| buf.len()),
            None => std::io::stderr().write(buf),
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

impl<'a> MakeWriter<'a> for BarWriter {
    type Writer = LineWriter;
    fn make_writer(&'a self) -> LineWriter {
        LineWriter(
            self.0
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .clone(),
        )
    }
}

/// Installs the global subscriber.
///
/// `logferry run` logs its own lifecycle at the default verbosity too (routes started,
/// reloaded and stopped with their ledgers, where `/metrics` listens), not the
/// transports' per-request lines.
pub(crate) fn init(verbosity: u8, daemon: bool, writer: BarWriter) {
    let default = match verbosity {
        0 if daemon => "warn,logferry::daemon=info,logferry_observe=info",
        0 => "warn",
        1 => {
            "warn,logferry=info,logferry_pipeline=info,logferry_taegis_ingest=info,logferry_taegis_upload=info,logferry_sdl=info,logferry_cli=info"
        }
        2 => {
            "info,logferry=debug,logferry_pipeline=debug,logferry_taegis_ingest=debug,logferry_taegis_upload=debug,logferry_sdl=debug,logferry_http=debug,logferry_cli=debug"
        }
        _ => {
            "debug,logferry=trace,logferry_pipeline=trace,logferry_taegis_ingest=trace,logferry_taegis_upload=trace,logferry_sdl=trace,logferry_http=trace,logferry_cli=trace"
        }
    };
    // An empty (or unset, or unparsable) RUST_LOG leaves the verbosity flags in charge.
    let filter = std::env::var("RUST_LOG")
        .ok()
        .filter(|v| !v.trim().is_empty())
        .and_then(|v| EnvFilter::try_new(v).ok())
        .unwrap_or_else(|| EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        // Colours only on a terminal: journald and log files get plain text.
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(verbosity >= 2)
        .try_init();
}
