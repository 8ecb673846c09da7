//! The integration key never appears in logs, errors, reports or Debug output.

use crate::*;
use std::sync::{Arc, Mutex};
use tracing_subscriber::fmt::MakeWriter;

/// Collects everything written by the fmt layer.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Capture {
    type Writer = Capture;
    fn make_writer(&'a self) -> Capture {
        self.clone()
    }
}

#[tokio::test]
async fn the_key_never_appears_anywhere() {
    let capture = Capture::default();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(capture.clone())
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let emu = emulator(Faults::none().with_endpoint(
        logferry_emulator::Endpoint::HttpIngest,
        logferry_emulator::FaultSet::fail_first(2, logferry_emulator::FaultStatus::Code(503)),
    ))
    .await;
    let good_key = emu.http_ingest_key().to_owned();
    let good = sender(&emu, |_| {});
    let ok = ship(&good, batches(&lines(50, 3), 200)).await;
    assert!(ok.iter().all(|d| d.is_done()));

    let bad_key = "wrong-key-0123456789abcdef";
    let bad = sender(&emu, |c| c.key = Secret::new(bad_key));
    let refused = ship(&bad, batches(&lines(5, 3), 200)).await;
    assert!(bad.stopped().is_some());

    let logs = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
    assert!(
        logs.contains("will be retried"),
        "the retries must have been logged: {logs}"
    );
    let everything = format!(
        "{logs}\n{good:?}\n{bad:?}\n{:?}\n{ok:?}\n{refused:?}\n{}\n{:?}",
        good.config(),
        bad.stopped().unwrap(),
        bad.stopped()
    );
    for secret in [good_key.as_str(), bad_key] {
        assert!(!everything.contains(secret), "a key leaked");
    }
    emu.shutdown().await;
}
