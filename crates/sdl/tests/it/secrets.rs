//! The key never shows: not in logs (TRACE, success and failure), errors, or Debug.

use crate::support::{client, config, emulator, event};
use logferry_sdl::{SdlSender, UploadLogs, UploadLogsConfig};
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Write for Buffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("not poisoned").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Buffer {
    type Writer = Buffer;
    fn make_writer(&'a self) -> Buffer {
        self.clone()
    }
}

// A current-thread runtime: every task of the sender runs on this thread, under the
// subscriber set for it.
#[tokio::test]
async fn the_key_is_absent_from_logs_errors_and_debug() {
    let logs = Buffer::default();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(logs.clone())
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let emu = emulator().await;
    let key = emu.sdl_api_key().to_owned();
    // Success, with retries.
    let c = config(&emu);
    assert!(!format!("{c:?}").contains(&key));
    let sender = SdlSender::start(client(&emu), c).expect("starts");
    assert!(!format!("{sender:?}").contains(&key));
    for i in 0..10 {
        sender.send(event(i)).await.expect("queued");
    }
    sender.flush().await.expect("flushed");
    let report = sender.shutdown(Duration::from_secs(5)).await;
    assert!(!format!("{report:?}").contains(&key));
    let mut up = UploadLogsConfig::new(
        emu.base_url().parse().expect("valid"),
        logferry_http::Secret::new(key.clone()),
    );
    assert!(!format!("{up:?}").contains(&key));
    up.server_host = Some("h".into());
    let uploader = UploadLogs::new(client(&emu), up.clone()).expect("valid");
    assert!(!format!("{uploader:?}").contains(&key));
    uploader.upload(b"line\n").await.expect("uploaded");

    // Failure: the key revoked.
    assert!(emu.revoke_key(&key));
    let sender = SdlSender::start(client(&emu), config(&emu)).expect("starts");
    sender.send(event(1)).await.expect("queued");
    let err = sender.flush().await.expect_err("refused");
    assert!(!err.to_string().contains(&key) && !format!("{err:?}").contains(&key));
    let report = sender.shutdown(Duration::from_secs(5)).await;
    assert!(!format!("{report:?}").contains(&key));
    let err = uploader.upload(b"line\n").await.expect_err("refused");
    assert!(!err.to_string().contains(&key) && !format!("{err:?}").contains(&key));

    let text = String::from_utf8(logs.0.lock().expect("not poisoned").clone()).expect("UTF-8");
    assert!(text.contains("sdl sender started"), "logs were captured");
    assert!(
        text.contains("sdl sender stopped"),
        "the failure was logged"
    );
    assert!(!text.contains(&key), "the key is in the logs");
    emu.shutdown().await;
}
