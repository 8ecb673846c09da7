//! `uploadLogs`: raw lines with the server-* headers, and the `Nonce` that makes a
//! repeat a no-op.

use crate::support::{capture, client, emulator};
use logferry_emulator::{Emulator, Endpoint};
use logferry_http::{Client, ClientConfig, Secret};
use logferry_sdl::{UploadLogs, UploadLogsConfig};

fn uploader(emu: &Emulator, configure: impl FnOnce(&mut UploadLogsConfig)) -> UploadLogs {
    let mut c = UploadLogsConfig::new(
        emu.base_url().parse().expect("valid"),
        Secret::new(emu.sdl_api_key()),
    );
    c.server_host = Some("web-7".to_owned());
    configure(&mut c);
    UploadLogs::new(client(emu), c).expect("valid config")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lines_become_events_with_the_header_fields() {
    let emu = emulator().await;
    let up = uploader(&emu, |c| {
        c.logfile = Some("/var/log/app.log".to_owned());
        c.parser = Some("accessLog".to_owned());
        c.server_fields = vec![("region".to_owned(), "eu-west-1".to_owned())];
        c.compression = Some(logferry_compress::Level::FAST);
        c.max_body_bytes = 40;
    });
    let text = b"GET /a 200\nGET /b 404\nPOST /c 201 with a longer line\nlast";
    let report = up.upload(text).await.expect("uploaded");
    assert_eq!((report.lines, report.requests, report.repeats), (4, 2, 0));
    // Each line is charged as a message: its bytes plus 1.
    assert_eq!(report.bytes_charged, 11 + 11 + 31 + 5);
    let records = emu.records();
    let messages: Vec<&str> = records.iter().map(|r| r.text.as_str()).collect();
    assert_eq!(
        messages,
        [
            "GET /a 200",
            "GET /b 404",
            "POST /c 201 with a longer line",
            "last"
        ]
    );
    let attrs = &records[0].sdl.as_ref().expect("an SDL record").attrs;
    assert_eq!(attrs["serverHost"], "web-7");
    assert_eq!(attrs["logfile"], "/var/log/app.log");
    assert_eq!(attrs["parser"], "accessLog");
    assert_eq!(attrs["region"], "eu-west-1");
    assert_eq!(records[0].source, "/var/log/app.log");
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repeated_nonce_is_a_no_op() {
    let emu = emulator().await;
    let up = uploader(&emu, |_| {});
    let body = bytes::Bytes::from_static(b"one\ntwo\n");
    let first = up
        .upload_with_nonce(body.clone(), "n-1")
        .await
        .expect("uploaded");
    assert_eq!((first.lines, first.repeats), (2, 0));
    let again = up
        .upload_with_nonce(body.clone(), "n-1")
        .await
        .expect("accepted");
    assert_eq!((again.repeats, again.bytes_charged), (1, 0));
    assert_eq!(emu.records().len(), 2, "the repeat stored nothing");
    up.upload_with_nonce(body, "n-2").await.expect("uploaded");
    assert_eq!(emu.records().len(), 4, "a new nonce stores again");
    assert_eq!(emu.stats().status_count(Endpoint::SdlUploadLogs, 200), 3);
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_keep_the_nonce_and_headers() {
    let server = capture(vec![
        (503, r#"{"status":"error/server","message":"busy"}"#),
        (200, r#"{"status":"error/server/backoff"}"#),
    ])
    .await;
    let mut c = UploadLogsConfig::new(server.url.parse().expect("valid"), Secret::new("up-key"));
    c.server_host = Some("h1".to_owned());
    c.logfile = Some("app".to_owned());
    c.retry.base = std::time::Duration::from_millis(5);
    let up =
        UploadLogs::new(Client::new(ClientConfig::default()).expect("client"), c).expect("valid");
    let report = up
        .upload(b"a\nb\n")
        .await
        .expect("uploaded on the third attempt");
    assert_eq!((report.attempts, report.requests), (3, 1));
    let seen = server.taken();
    assert_eq!(seen.len(), 3);
    let nonce = seen[0].header("nonce").expect("a nonce").to_owned();
    assert_eq!(nonce.len(), 36, "a UUID");
    for r in &seen {
        assert_eq!(r.path, "/api/uploadLogs");
        assert_eq!(r.header("nonce"), Some(nonce.as_str()));
        assert_eq!(r.header("authorization"), Some("Bearer up-key"));
        assert_eq!(r.header("content-type"), Some("text/plain"));
        assert_eq!(r.header("server-host"), Some("h1"));
        assert_eq!(r.header("logfile"), Some("app"));
        assert_eq!(r.body, b"a\nb\n");
    }
    let next = up.upload(b"c\n").await.expect("uploaded");
    assert_eq!(next.attempts, 1);
    assert_ne!(
        server.taken()[3].header("nonce"),
        Some(nonce.as_str()),
        "a new nonce per request"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_untrusted_certificate_stops_an_upload_without_retrying() {
    let emu = emulator().await;
    let mut c = UploadLogsConfig::new(
        emu.base_url().parse().expect("valid"),
        Secret::new(emu.sdl_api_key()),
    );
    c.server_host = Some("web-7".to_owned());
    let untrusting = Client::new(ClientConfig::default()).expect("the client builds");
    let uploader = UploadLogs::new(untrusting, c).expect("valid config");
    let err = uploader.upload(b"one\n").await.expect_err("untrusted");
    assert!(
        matches!(&err, logferry_sdl::Error::Unreachable { message } if message.contains("not trusted")),
        "{err:?}"
    );
    emu.shutdown().await;
}
