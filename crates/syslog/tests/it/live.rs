//! util-linux `logger` (installed on this machine and in CI) sends to loopback sockets; what
//! it wrote must parse. The sockets only capture bytes: the network sources come later.

use logferry_syslog::fuzzing::{Owned, frame_all};
use logferry_syslog::{FramerConfig, Kind, parse};
use std::io::Read;
use std::net::{TcpListener, UdpSocket};
use std::process::Command;
use std::time::Duration;

fn logger(port: u16, args: &[&str]) {
    let status = Command::new("logger")
        .args([
            "-n",
            "127.0.0.1",
            "-P",
            &port.to_string(),
            "-t",
            "itest",
            "-i",
            "-p",
            "local3.warning",
        ])
        .args(args)
        .status()
        .expect("util-linux logger is installed");
    assert!(status.success(), "logger {args:?} failed");
}

#[test]
fn logger_over_udp_both_formats() {
    let socket = UdpSocket::bind("127.0.0.1:0").expect("bind");
    socket
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let port = socket.local_addr().expect("addr").port();
    let mut buf = [0u8; 65_536];
    for (flag, kind) in [("--rfc3164", Kind::Rfc3164), ("--rfc5424", Kind::Rfc5424)] {
        logger(port, &["-d", flag, "--", "hello from logger"]);
        let n = socket.recv(&mut buf).expect("logger's datagram");
        let m = parse(&buf[..n]);
        assert_eq!(m.kind, kind, "{}", String::from_utf8_lossy(&buf[..n]));
        assert_eq!(m.problem, None);
        assert_eq!((m.facility(), m.severity()), (Some(19), Some(4)));
        assert_eq!(m.app_name, Some("itest"));
        assert!(m.proc_id.is_some() && m.timestamp.is_some() && m.hostname.is_some());
        assert_eq!(m.msg, b"hello from logger");
    }
}

#[test]
fn logger_over_tcp_octet_counted_and_newline() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let mut stream = Vec::new();
    for args in [
        &["-T", "--octet-count", "--rfc5424", "--", "counted"][..],
        &["-T", "--rfc3164", "--", "newline"][..],
    ] {
        logger(port, args);
        let (mut conn, _) = listener.accept().expect("logger connects");
        conn.set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        conn.read_to_end(&mut stream)
            .expect("read until logger closes");
    }
    let frames = frame_all(FramerConfig::default(), [&stream[..]]);
    let texts: Vec<Vec<u8>> = frames
        .into_iter()
        .map(|f| match f {
            Owned::Frame(_, bytes) => bytes,
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    assert_eq!(texts.len(), 2, "{}", String::from_utf8_lossy(&stream));
    let first = parse(&texts[0]);
    assert_eq!((first.kind, first.problem), (Kind::Rfc5424, None));
    assert_eq!(first.msg, b"counted");
    let second = parse(&texts[1]);
    assert_eq!((second.kind, second.problem), (Kind::Rfc3164, None));
    assert_eq!(second.msg, b"newline");
}
