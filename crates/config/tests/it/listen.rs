//! Listening sources: `type = "syslog"` and `type = "http"`, their defaults, their
//! errors, and the rule that a listening source feeds one sink.

use crate::{error, parse};
use logferry_config::{SourceKind, SyslogMode, SyslogSource};

fn with_source(source: &str, inputs: &str) -> String {
    format!(
        "data_dir = \"/d\"\n\n[sources.net]\n{source}\n\n[sinks.a]\ntype = \"http-ingest\"\ninputs = [{inputs}]\nurl = \"https://i.example\"\n"
    )
}

#[test]
fn a_syslog_source_has_defaults_and_takes_tls_files() {
    let config = parse(&with_source(
        "type = \"syslog\"\nlisten = \"0.0.0.0:6514\"",
        "\"net\"",
    ))
    .unwrap();
    let SourceKind::Syslog(s) = &config.sources["net"].kind else {
        panic!("a syslog source");
    };
    assert_eq!(s.mode, SyslogMode::Tcp);
    assert_eq!(s.listen, "0.0.0.0:6514".parse().unwrap());
    assert_eq!(s.max_message_bytes, SyslogSource::DEFAULT_MAX_MESSAGE_BYTES);
    assert_eq!(s.max_connections, SyslogSource::DEFAULT_MAX_CONNECTIONS);
    assert!(s.tls.is_none());

    let config = parse(&with_source(
        "type = \"syslog\"\nmode = \"tls\"\nlisten = \"[::]:6514\"\ncert_file = \"/c.pem\"\nkey_file = \"/k.pem\"\nclient_ca_file = \"/ca.pem\"\nmax_message_bytes = 8192\nmax_connections = 10",
        "\"net\"",
    ))
    .unwrap();
    let SourceKind::Syslog(s) = &config.sources["net"].kind else {
        panic!("a syslog source");
    };
    assert_eq!(s.mode, SyslogMode::Tls);
    let tls = s.tls.as_ref().unwrap();
    assert_eq!(tls.cert_file.to_str(), Some("/c.pem"));
    assert_eq!(
        tls.client_ca_file.as_ref().unwrap().to_str(),
        Some("/ca.pem")
    );
    assert_eq!((s.max_message_bytes, s.max_connections), (8192, 10));
}

#[test]
fn syslog_errors_name_the_key() {
    let cases = [
        (
            "type = \"syslog\"\nmode = \"tpc\"\nlisten = \"0.0.0.0:1\"",
            "t.toml:5:8: sources.net.mode: unknown value `tpc`: expected `udp`, `tcp` or `tls`",
        ),
        (
            "type = \"syslog\"",
            "t.toml:3:10: sources.net.listen: missing required key: the address to listen on, like `listen = \"0.0.0.0:6514\"`",
        ),
        (
            "type = \"syslog\"\nlisten = \"localhost:514\"",
            "t.toml:5:10: sources.net.listen: `localhost:514` is not a socket address like `0.0.0.0:6514` or `[::]:6514`",
        ),
        (
            "type = \"syslog\"\nmode = \"tls\"\nlisten = \"0.0.0.0:1\"",
            "t.toml:3:10: sources.net.cert_file: missing required key: `mode = \"tls\"` needs `cert_file` and `key_file` (PEM)",
        ),
        (
            "type = \"syslog\"\nlisten = \"0.0.0.0:1\"\ncert_file = \"/c\"\nkey_file = \"/k\"",
            "t.toml:6:1: sources.net.cert_file: certificates apply only with `mode = \"tls\"`",
        ),
        (
            "type = \"syslog\"\nmode = \"udp\"\nlisten = \"0.0.0.0:1\"\nmax_connections = 3",
            "t.toml:7:1: sources.net.max_connections: UDP has no connections: `max_connections` applies to tcp and tls",
        ),
        (
            "type = \"syslog\"\nlisten = \"0.0.0.0:1\"\nmax_message_bytes = 10",
            "t.toml:6:21: sources.net.max_message_bytes: expected an integer of at least 480",
        ),
        (
            "type = \"syslog\"\nlisten = \"0.0.0.0:1\"\nport = 1",
            "t.toml:6:1: sources.net.port: unknown key `port`",
        ),
    ];
    for (source, expected) in cases {
        let got = error(&with_source(source, "\"net\""));
        assert!(got.starts_with(expected), "got {got}\nwanted {expected}");
    }
}

#[test]
fn an_http_source_needs_a_token_which_never_prints() {
    let err = error(&with_source(
        "type = \"http\"\nlisten = \"127.0.0.1:8088\"",
        "\"net\"",
    ));
    assert!(
        err.contains("sources.net.token: missing required key"),
        "{err}"
    );
    let config = parse(&with_source(
        "type = \"http\"\nlisten = \"127.0.0.1:8088\"\ntoken = \"${KEY}\"\nmax_body_bytes = 4096",
        "\"net\"",
    ))
    .unwrap();
    let SourceKind::Http(h) = &config.sources["net"].kind else {
        panic!("an http source");
    };
    assert_eq!(h.token, "sekrit-from-env");
    assert_eq!(h.max_body_bytes, 4096);
    let shown = format!("{config:?}");
    assert!(!shown.contains("sekrit"), "{shown}");
    let literal = parse(&with_source(
        "type = \"http\"\nlisten = \"127.0.0.1:8088\"\ntoken = \"written-in-the-file\"",
        "\"net\"",
    ))
    .unwrap();
    assert!(!format!("{literal:?}").contains("written-in-the-file"));
}

#[test]
fn a_listening_source_feeds_one_sink() {
    let text = with_source("type = \"syslog\"\nlisten = \"0.0.0.0:1\"", "\"net\"")
        + "\n[sinks.b]\ntype = \"sdl\"\ninputs = [\"net\"]\nurl = \"https://s.example\"\n";
    let err = error(&text);
    assert!(
        err.starts_with("t.toml:14:11: sinks.b.inputs[0]: source `net` listens on a port, which is bound once, and sink `a` takes it already"),
        "{err}"
    );
}
