//! The network sources on their own, over loopback: a TCP sender is held back (not read)
//! while the pipeline's queue is full and loses nothing once it drains; the HEC receiver
//! answers 503 with `Retry-After` while the queue stays full and 200 only once the
//! batches of a request are acknowledged.

use logferry_framing::Format;
use logferry_pipeline::net::{Hec, HecConfig, Syslog, SyslogConfig, Transport};
use logferry_pipeline::{FrontConfig, Item, Source};
use std::io::{Read, Write};
use std::time::Duration;

fn small_front() -> FrontConfig {
    let mut front = FrontConfig::new(Format::Text);
    front.queue = 1;
    front.batching.target_bytes = 4096;
    front.batching.linger = Duration::from_millis(10);
    front
}

#[tokio::test(flavor = "multi_thread")]
async fn a_tcp_sender_is_not_read_while_the_queue_is_full_and_loses_nothing() {
    let syslog = Syslog::bind(
        "127.0.0.1:0".parse().unwrap(),
        SyslogConfig::new("fw", Transport::Tcp),
    )
    .unwrap();
    let addr = syslog.local_addr().unwrap();
    let stats = syslog.stats();
    let mut rx = syslog.start(small_front());
    const N: usize = 400_000;
    let writer = std::thread::spawn(move || {
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        s.set_write_timeout(Some(Duration::from_secs(2))).unwrap();
        let mut blocked = false;
        let mut i = 0;
        while i < N {
            let chunk: String = (i..(i + 1000).min(N))
                .map(|j| format!("<13>message number {j:07} padded to make it longer\n"))
                .collect();
            match s.write_all(chunk.as_bytes()) {
                Ok(()) => i += 1000,
                Err(e)
                    if e.kind() == std::io::ErrorKind::WouldBlock
                        || e.kind() == std::io::ErrorKind::TimedOut =>
                {
                    // Held back: nobody reads. Say so once, then go on once read.
                    blocked = true;
                    s.set_write_timeout(None).unwrap();
                    let _ = e;
                    // Unknown how much of the chunk went out: tell the reader by
                    // closing instead of guessing.
                    return (blocked, i);
                }
                Err(e) => panic!("{e}"),
            }
        }
        (blocked, i)
    });
    let (blocked, sent_whole_chunks) = tokio::task::spawn_blocking(move || writer.join().unwrap())
        .await
        .unwrap();
    assert!(
        blocked,
        "the sender was never held back: {sent_whole_chunks} messages went into a queue of one batch"
    );
    // Now drain: every message of the whole chunks written arrives, in order.
    let mut seen = 0usize;
    while seen < sent_whole_chunks {
        let item = tokio::time::timeout(Duration::from_secs(10), rx.recv())
            .await
            .expect("messages keep coming")
            .expect("the source is running");
        if let Item::Batch { batch, .. } = item {
            for i in 0..batch.len() {
                let (text, _) = batch.record(i).unwrap();
                let text = std::str::from_utf8(text).unwrap();
                assert!(
                    text.starts_with(&format!("<13>message number {seen:07} ")),
                    "{text} where {seen} was expected"
                );
                seen += 1;
            }
        }
    }
    assert!(stats.counts().messages >= sent_whole_chunks as u64);
}

/// Sends one HTTP/1.1 request and returns the status line and head.
fn post(addr: std::net::SocketAddr, body: &str) -> String {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    write!(
        s,
        "POST /services/collector/event HTTP/1.1\r\nHost: x\r\nAuthorization: Splunk t0k\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut reply = String::new();
    s.read_to_string(&mut reply).unwrap();
    reply
}

fn get(addr: std::net::SocketAddr, path: &str) -> String {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut reply = String::new();
    s.read_to_string(&mut reply).unwrap();
    reply
}

#[tokio::test(flavor = "multi_thread")]
async fn hec_answers_503_with_retry_after_while_full_and_200_once_spooled() {
    let mut config = HecConfig::new("hooks", "t0k");
    config.busy_after = Duration::from_millis(200);
    config.retry_after_secs = 7;
    let hec = Hec::bind("127.0.0.1:0".parse().unwrap(), config).unwrap();
    let addr = hec.local_addr().unwrap();
    let stats = hec.stats();
    let mut rx = hec.start(small_front());
    // The first request's batch fills the queue; it waits for its acknowledgement.
    let first = tokio::task::spawn_blocking(move || post(addr, r#"{"event":"first"}"#));
    // The health check says when the queue is full (HEC code 18).
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let health = tokio::task::spawn_blocking(move || get(addr, "/services/collector/health"))
            .await
            .unwrap();
        if health.starts_with("HTTP/1.1 503") {
            assert!(
                health.ends_with(r#"{"text":"HEC is unhealthy, queues are full","code":18}"#),
                "{health}"
            );
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the queue never filled: {health}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // Until the first is taken, a second finds no room: 503.
    let busy = tokio::task::spawn_blocking(move || post(addr, r#"{"event":"second"}"#))
        .await
        .unwrap();
    assert!(busy.starts_with("HTTP/1.1 503"), "{busy}");
    assert!(
        busy.to_ascii_lowercase().contains("retry-after: 7"),
        "{busy}"
    );
    assert!(
        busy.contains(r#"{"text":"Server is busy","code":9}"#),
        "{busy}"
    );
    assert!(!first.is_finished(), "no 200 before the batch is safe");
    // The pipeline takes the first batch and acknowledges it: 200.
    let Some(Item::Batch { batch, ack }) = rx.recv().await else {
        panic!("a batch");
    };
    assert_eq!(batch.record(0).unwrap().0, b"first");
    assert!(!first.is_finished(), "no 200 before the acknowledgement");
    (ack.expect("HEC batches are acknowledged"))().unwrap();
    let reply = first.await.unwrap();
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    assert!(reply.ends_with(r#"{"text":"Success","code":0}"#), "{reply}");
    assert!(stats.counts().requests_busy >= 1);
    // A batch the pipeline drops unacknowledged (it stopped) is not a 200.
    let third = tokio::task::spawn_blocking(move || post(addr, r#"{"event":"third"}"#));
    let Some(Item::Batch { ack, .. }) = rx.recv().await else {
        panic!("a batch");
    };
    drop(ack);
    let reply = third.await.unwrap();
    assert!(reply.starts_with("HTTP/1.1 503"), "{reply}");
}

#[tokio::test(flavor = "multi_thread")]
async fn hec_holds_at_most_max_requests_bodies_at_once() {
    let mut config = HecConfig::new("hooks", "t0k");
    config.busy_after = Duration::from_millis(200);
    config.max_requests = 1;
    let hec = Hec::bind("127.0.0.1:0".parse().unwrap(), config).unwrap();
    let addr = hec.local_addr().unwrap();
    let mut front = small_front();
    front.queue = 16; // room in the queue: only the turn is missing
    let mut rx = hec.start(front);
    let first = tokio::task::spawn_blocking(move || post(addr, r#"{"event":"first"}"#));
    // The first holds the only turn until it is acknowledged.
    let Some(Item::Batch { ack, .. }) = rx.recv().await else {
        panic!("a batch");
    };
    let second = tokio::task::spawn_blocking(move || post(addr, r#"{"event":"second"}"#))
        .await
        .unwrap();
    assert!(second.starts_with("HTTP/1.1 503"), "{second}");
    (ack.unwrap())().unwrap();
    assert!(first.await.unwrap().starts_with("HTTP/1.1 200"));
    // The turn is free again.
    let third = tokio::task::spawn_blocking(move || post(addr, r#"{"event":"third"}"#));
    let Some(Item::Batch { ack, .. }) = rx.recv().await else {
        panic!("a batch");
    };
    (ack.unwrap())().unwrap();
    assert!(third.await.unwrap().starts_with("HTTP/1.1 200"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stopped_source_sends_what_it_was_handed_then_its_channel_ends() {
    let syslog = Syslog::bind(
        "127.0.0.1:0".parse().unwrap(),
        SyslogConfig::new("fw", Transport::Tcp),
    )
    .unwrap();
    let addr = syslog.local_addr().unwrap();
    let stop = syslog.stopper();
    let mut front = small_front();
    front.batching.linger = Duration::from_secs(3600); // only a flush sends them
    let mut rx = syslog.start(front);
    let mut open = std::net::TcpStream::connect(addr).unwrap();
    for i in 0..100 {
        writeln!(open, "<13>held {i}").unwrap();
    }
    // A HEC receiver with an idle keep-alive connection stops too.
    let hec = Hec::bind("127.0.0.1:0".parse().unwrap(), HecConfig::new("h", "t")).unwrap();
    let hec_addr = hec.local_addr().unwrap();
    let hec_stop = hec.stopper();
    let mut hec_rx = hec.start(small_front());
    let _idle = std::net::TcpStream::connect(hec_addr).unwrap();

    stop.stop();
    hec_stop.stop();
    let mut records = 0;
    while let Some(item) = tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .expect("the channel ends although the connection stays open")
    {
        if let Item::Batch { batch, .. } = item {
            records += batch.len();
        }
    }
    assert_eq!(records, 100);
    assert!(
        tokio::time::timeout(Duration::from_secs(10), hec_rx.recv())
            .await
            .expect("the HEC channel ends")
            .is_none()
    );
    assert!(
        std::net::TcpStream::connect(addr).is_err(),
        "the port is released"
    );
    drop(open);
}
