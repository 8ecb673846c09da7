//! Transport failures against raw loopback listeners that misbehave on purpose.

use logferry_http::{Client, ClientConfig, FailureKind, IngestUrl, full};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

fn client(request_timeout: Duration) -> Client {
    Client::new(ClientConfig {
        request_timeout,
        connect_timeout: Duration::from_secs(2),
        ..ClientConfig::default()
    })
    .expect("default client builds")
}

async fn post(
    client: &Client,
    url: &str,
) -> Result<http::Response<bytes::Bytes>, logferry_http::Error> {
    let url: IngestUrl = url.parse().expect("test URLs are valid");
    let request = client
        .request(http::Method::POST, &url)
        .body(full("record\n"))
        .expect("valid request");
    client.send(request).await
}

/// A loopback URL on a closed port (bound, then dropped): connecting is refused.
fn closed_url() -> String {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    format!("http://127.0.0.1:{port}/x")
}

#[tokio::test]
async fn refused_connection_is_a_retryable_connect_failure() {
    let err = post(&client(Duration::from_secs(5)), &closed_url())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), FailureKind::Connect, "{err:?}");
    assert!(err.is_retryable());
}

#[tokio::test]
async fn silent_server_hits_the_request_timeout() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut buf = vec![0u8; 4096];
        // Read the request, never answer.
        let _ = socket.read(&mut buf).await;
        tokio::time::sleep(Duration::from_secs(30)).await;
    });
    let err = post(
        &client(Duration::from_millis(300)),
        &format!("http://{addr}/x"),
    )
    .await
    .unwrap_err();
    assert!(err.is_timeout(), "{err:?}");
    assert!(err.is_retryable());
    assert!(
        err.to_string().contains("no complete response within"),
        "{err}"
    );
    server.abort();
}

#[tokio::test]
async fn connection_closed_without_reply_is_a_reset() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut buf = vec![0u8; 4096];
            let _ = socket.read(&mut buf).await;
            drop(socket);
        }
    });
    let err = post(&client(Duration::from_secs(5)), &format!("http://{addr}/x"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), FailureKind::Reset, "{err:?}");
    assert!(err.is_retryable());
}

#[tokio::test]
async fn tls_to_a_plain_server_is_a_tls_failure() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut buf = vec![0u8; 1024];
        let _ = socket.read(&mut buf).await;
        let _ = socket
            .write_all(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n")
            .await;
    });
    let err = post(
        &client(Duration::from_secs(5)),
        &format!("https://{addr}/x"),
    )
    .await
    .unwrap_err();
    assert_eq!(err.kind(), FailureKind::Tls, "{err:?}");
}

#[tokio::test]
async fn plain_http_to_a_remote_host_never_leaves_the_process() {
    // 192.0.2.0/24 is TEST-NET-1: nothing answers there, and nothing must be tried.
    let client = client(Duration::from_secs(5));
    let request = http::Request::post("http://192.0.2.1/http-endpoint/v1/x")
        .body(full("secret log line\n"))
        .unwrap();
    let started = std::time::Instant::now();
    let err = client.send(request).await.unwrap_err();
    assert!(err.is_config(), "{err:?}");
    assert!(!err.is_retryable());
    assert!(
        started.elapsed() < Duration::from_millis(100),
        "no connection may be attempted"
    );
    assert!(err.to_string().contains("allowed only for loopback hosts"));
}

#[tokio::test]
async fn user_agent_and_response_body_limit() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut request = Vec::new();
        let mut buf = vec![0u8; 4096];
        while !request.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = socket.read(&mut buf).await.unwrap();
            request.extend_from_slice(&buf[..n]);
        }
        let body = vec![b'x'; 5000];
        let head = format!(
            "HTTP/1.1 503 Service Unavailable\r\ncontent-length: {}\r\n\r\n",
            body.len()
        );
        socket.write_all(head.as_bytes()).await.unwrap();
        socket.write_all(&body).await.unwrap();
        String::from_utf8_lossy(&request).to_lowercase()
    });
    let client = Client::new(ClientConfig {
        max_response_bytes: 100,
        ..ClientConfig::default()
    })
    .unwrap();
    let response = post(&client, &format!("http://{addr}/x")).await.unwrap();
    assert_eq!(response.status(), 503);
    assert_eq!(response.body().len(), 100);
    let request = server.await.unwrap();
    assert!(
        request.contains(&format!(
            "user-agent: logferry/{}",
            env!("CARGO_PKG_VERSION")
        )),
        "{request}"
    );
}

#[test]
fn bad_ca_files_are_configuration_errors() {
    let dir = std::env::temp_dir().join(format!("logferry-http-ca-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let not_pem = dir.join("not.pem");
    std::fs::write(&not_pem, "this is not a certificate").unwrap();
    let err = Client::new(ClientConfig {
        ca_file: Some(not_pem.clone()),
        ..ClientConfig::default()
    })
    .unwrap_err();
    assert!(err.is_config());
    assert!(err.to_string().contains("no certificate found"), "{err}");
    let missing = Client::new(ClientConfig {
        ca_file: Some(dir.join("missing.pem")),
        ..ClientConfig::default()
    })
    .unwrap_err();
    assert!(
        missing.to_string().starts_with("cannot read CA file"),
        "{missing}"
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test]
async fn failures_map_onto_the_retry_policy() {
    use logferry_retry::{TransportFailure, Verdict, classify};
    let err = post(&client(Duration::from_secs(5)), &closed_url())
        .await
        .unwrap_err();
    assert_eq!(err.transport_failure(), TransportFailure::ConnectRefused);
    assert!(matches!(
        classify::transport(&err.transport_failure()),
        Verdict::Retry { .. }
    ));
    assert_eq!(err.verdict(), classify::transport(&err.transport_failure()));
}

/// `Client::exchange`: a response goes to the caller's classifier, a transport failure
/// is retried, and a request that cannot be made stops.
#[tokio::test]
async fn exchange_classifies_responses_and_failures() {
    use logferry_retry::{Outcome, RetryCause, TransportFailure, Verdict, classify};
    let client = client(Duration::from_secs(5));
    let exchange = |url: &str| {
        let url: IngestUrl = url.parse().expect("test URLs are valid");
        client.exchange(
            client.request(http::Method::POST, &url),
            full("record\n"),
            None,
            |response| {
                let verdict = classify::http_ingest(response.status(), response.headers());
                Outcome::new(verdict, Ok(response.status().as_u16()))
            },
            Err,
        )
    };

    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut buf = vec![0u8; 4096];
        let _ = socket.read(&mut buf).await;
        let _ = socket
            .write_all(b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
            .await;
    });
    let answered = exchange(&format!("http://{addr}/x")).await;
    assert!(answered.verdict.is_retry(), "{}", answered.verdict);
    assert_eq!(answered.value.expect("a response"), 503);

    let refused = exchange(&closed_url()).await;
    assert_eq!(
        refused.verdict,
        Verdict::Retry {
            not_before: None,
            cause: RetryCause::Transport(TransportFailure::ConnectRefused),
        }
    );
    assert!(refused.value.expect_err("no response").is_connect());

    let unbuildable = client
        .exchange(
            http::Request::builder().header("x-bad", "line\nbreak"),
            full(""),
            None,
            |_| unreachable!("nothing is sent"),
            Err::<(), _>,
        )
        .await;
    assert_eq!(unbuildable.verdict, Verdict::Stop);
    assert!(unbuildable.value.expect_err("not sent").is_config());
}

#[tokio::test]
async fn a_counted_client_counts_answers_by_status_failures_and_requests_on_the_wire() {
    use logferry_http::RequestCounts;
    use std::sync::Arc;
    // Answers 200, 429, 200 on three connections, then holds the fourth request
    // unanswered until told.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (release, mut released) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        for status in ["200 OK", "429 Too Many Requests", "200 OK", "hold"] {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut buf = vec![0u8; 4096];
            let _ = socket.read(&mut buf).await;
            if status == "hold" {
                let _ = released.wait_for(|r| *r).await;
                let _ = socket
                    .write_all(b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                    .await;
                return;
            }
            let reply =
                format!("HTTP/1.1 {status}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
            let _ = socket.write_all(reply.as_bytes()).await;
        }
    });
    let shared = client(Duration::from_secs(5));
    let counts = Arc::new(RequestCounts::default());
    let counted = shared.counted(counts.clone());
    let url = format!("http://{addr}/x");
    for _ in 0..3 {
        post(&counted, &url).await.expect("an answer");
    }
    // The uncounted handle on the same pool counts nowhere.
    assert!(shared.counts().is_none());
    assert!(post(&counted, &closed_url()).await.is_err());
    assert_eq!(counts.by_status(), [(200, 2), (429, 1)].into());
    assert_eq!((counts.failures(), counts.in_flight()), (1, 0));

    let held = tokio::spawn({
        let counted = counted.clone();
        async move { post(&counted, &url).await }
    });
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while counts.in_flight() != 1 {
        assert!(
            std::time::Instant::now() < deadline,
            "the request never went on the wire"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    release.send_replace(true);
    assert_eq!(held.await.unwrap().expect("an answer").status(), 503);
    assert_eq!(counts.in_flight(), 0);
    assert_eq!(counts.by_status(), [(200, 2), (429, 1), (503, 1)].into());
}
