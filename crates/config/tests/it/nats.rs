//! `type = "nats"`: a worker's source (url as one string or a list, stream, consumer) and
//! an edge's sink (its keys are the daemon's to check), with their errors.

use crate::{error, parse};
use logferry_config::{Format, NatsAuth, NatsSource, SinkKind, SourceKind};
use std::time::Duration;

const WORKER: &str = r#"data_dir = "/var/lib/logferry"

[sources.bus]
type = "nats"
url = ["nats://n1:4222", "nats://n2:4222"]
stream = "LOGS"
consumer = "shippers"
format = "json"
in_flight = 2
ack_wait = "2m"
credentials_file = "/etc/logferry/worker.creds"

[sinks.taegis]
type = "http-ingest"
inputs = ["bus"]
url = "https://ingest.example"
"#;

#[test]
fn a_worker_source_reads_with_its_defaults() {
    let config = parse(WORKER).unwrap();
    let SourceKind::Nats(n) = &config.sources["bus"].kind else {
        panic!("a nats source");
    };
    assert_eq!(n.urls, ["nats://n1:4222", "nats://n2:4222"]);
    assert_eq!(
        (n.stream.as_str(), n.consumer.as_str()),
        ("LOGS", "shippers")
    );
    assert_eq!(n.format, Format::Json);
    assert_eq!(n.in_flight, 2);
    assert_eq!(n.ack_wait, Duration::from_secs(120));
    assert_eq!(n.max_deliver, NatsSource::DEFAULT_MAX_DELIVER);
    assert_eq!(n.subject, None);
    assert_eq!(config.sources["bus"].kind.type_name(), "nats");
    let one = parse(&WORKER.replace(
        r#"url = ["nats://n1:4222", "nats://n2:4222"]"#,
        r#"url = "nats://n1:4222""#,
    ))
    .unwrap();
    let SourceKind::Nats(n) = &one.sources["bus"].kind else {
        panic!("a nats source");
    };
    assert_eq!(n.urls, ["nats://n1:4222"]);
}

#[test]
fn an_edge_sink_is_type_nats() {
    let text = r#"data_dir = "/var/lib/logferry"

[sources.auth]
type = "file"
include = ["/var/log/auth.log*"]

[sinks.bus]
type = "nats"
inputs = ["auth"]
url = "nats://nats-1:4222"
stream = "LOGS"
subject = "logs.taegis"
"#;
    let config = parse(text).unwrap();
    assert_eq!(config.sinks["bus"].kind, SinkKind::Nats);
    assert!(config.sinks["bus"].option("subject").is_some());
}

#[test]
fn worker_source_errors_name_the_key() {
    assert_eq!(
        error(&WORKER.replace("consumer = \"shippers\"\n", "")),
        "t.toml:3:10: sources.bus.consumer: missing required key: the durable consumer shared by workers, like `consumer = \"shippers\"`"
    );
    assert_eq!(
        error(&WORKER.replace("in_flight = 2", "in_flight = 0")),
        "t.toml:9:13: sources.bus.in_flight: expected an integer of at least 1"
    );
    assert_eq!(
        error(&WORKER.replace("stream = \"LOGS\"", "streams = \"LOGS\"")),
        "t.toml:6:1: sources.bus.streams: unknown key `streams` (did you mean `stream`?)"
    );
    assert_eq!(
        error(&WORKER.replace("url = [\"nats://n1:4222\", \"nats://n2:4222\"]", "url = []")),
        "t.toml:5:7: sources.bus.url: must name at least one server"
    );
}

/// `WORKER` with its `credentials_file` line replaced by `auth`.
fn worker_with(auth: &str) -> String {
    WORKER.replace("credentials_file = \"/etc/logferry/worker.creds\"", auth)
}

fn nats_source(config: &logferry_config::Config) -> &NatsSource {
    let SourceKind::Nats(n) = &config.sources["bus"].kind else {
        panic!("a nats source");
    };
    n
}

#[test]
fn each_way_to_authenticate_reads_into_its_own_variant() {
    let cases = [
        (
            "credentials_file = \"/etc/w.creds\"",
            NatsAuth::CredentialsFile("/etc/w.creds".into()),
        ),
        (
            "user = \"w\"\npassword = \"${KEY}\"",
            NatsAuth::UserPassword {
                user: "w".into(),
                password: "sekrit-from-env".into(),
            },
        ),
        (
            "token = \"${KEY}\"",
            NatsAuth::Token("sekrit-from-env".into()),
        ),
        (
            "nkey_seed_file = \"/etc/w.nk\"",
            NatsAuth::NkeySeedFile("/etc/w.nk".into()),
        ),
        ("", NatsAuth::None),
    ];
    for (keys, want) in cases {
        let config = parse(&worker_with(keys)).unwrap();
        assert_eq!(nats_source(&config).auth, want, "{keys}");
    }
    let config = parse(&worker_with(
        "client_cert = \"/etc/w.pem\"\nclient_key = \"/etc/w.key\"",
    ))
    .unwrap();
    assert_eq!(
        nats_source(&config).client_cert,
        Some(("/etc/w.pem".into(), "/etc/w.key".into()))
    );
}

#[test]
fn passwords_and_tokens_never_show_in_debug_even_written_in_the_file() {
    for keys in [
        "user = \"w\"\npassword = \"written-pass\"",
        "token = \"written-pass\"",
        "user = \"w\"\npassword = \"${KEY}\"",
    ] {
        let config = parse(&worker_with(keys)).unwrap();
        for debug in [format!("{config:?}"), format!("{config:#?}")] {
            assert!(
                !debug.contains("written-pass") && !debug.contains("sekrit-from-env"),
                "{debug}"
            );
            assert!(debug.contains("<redacted>"), "{debug}");
        }
    }
    // The same keys on an edge's sink: options named like secrets.
    let text = "data_dir = \"/d\"\n[sources.app]\ntype = \"file\"\ninclude = [\"/l\"]\n\
                [sinks.bus]\ntype = \"nats\"\ninputs = [\"app\"]\nurl = \"nats://n:4222\"\n\
                stream = \"S\"\nsubject = \"s\"\ntoken = \"written-pass\"\n";
    let config = parse(text).unwrap();
    let debug = format!("{:?}", config.sinks["bus"]);
    assert!(!debug.contains("written-pass"), "{debug}");
}

#[test]
fn a_password_or_token_inside_a_url_never_shows_in_debug() {
    // On a worker's source, in a cluster's list.
    let worker = WORKER.replace(
        r#"url = ["nats://n1:4222", "nats://n2:4222"]"#,
        r#"url = ["nats://w:url-pass@n1:4222", "nats://url-token@n2:4222", "nats://n3:4222", "nats://w:url/pass@n4:4222"]"#,
    );
    assert_ne!(worker, WORKER);
    let config = parse(&worker).unwrap();
    let debug = format!("{config:?}");
    assert!(
        !debug.contains("url-pass") && !debug.contains("url-token") && !debug.contains("url/pass"),
        "{debug}"
    );
    assert!(
        debug.contains("nats://n3:4222"),
        "a URL without user info shows: {debug}"
    );
    // On an edge's sink.
    let text = "data_dir = \"/d\"\n[sources.app]\ntype = \"file\"\ninclude = [\"/l\"]\n\
                [sinks.bus]\ntype = \"nats\"\ninputs = [\"app\"]\nurl = \"nats://e:url-pass@n:4222\"\n\
                stream = \"S\"\nsubject = \"s\"\n";
    let config = parse(text).unwrap();
    let debug = format!("{:?}", config.sinks["bus"]);
    assert!(!debug.contains("url-pass"), "{debug}");
}

#[test]
fn two_ways_to_authenticate_or_half_a_pair_are_refused_at_the_key() {
    const ONE_WAY: &str = "one way to authenticate at most (`credentials_file`, `user` and `password`, `token`, or `nkey_seed_file`)";
    // At the second key, in file order.
    assert_eq!(
        error(&WORKER.replace("ack_wait = \"2m\"\n", "ack_wait = \"2m\"\ntoken = \"t\"\n")),
        format!(
            "t.toml:12:1: sources.bus.credentials_file: `credentials_file` cannot be used with `token`: {ONE_WAY}"
        )
    );
    assert_eq!(
        error(&worker_with(
            "user = \"w\"\npassword = \"p\"\ntoken = \"t\""
        )),
        format!("t.toml:13:1: sources.bus.token: `token` cannot be used with `user`: {ONE_WAY}")
    );
    assert_eq!(
        error(&worker_with("user = \"w\"")),
        "t.toml:11:1: sources.bus.user: `user` needs `password` too"
    );
    assert_eq!(
        error(&worker_with("password = \"${KEY}\"")),
        "t.toml:11:1: sources.bus.password: `password` needs `user` too"
    );
    assert_eq!(
        error(&worker_with("client_key = \"/k\"")),
        "t.toml:11:1: sources.bus.client_key: `client_key` needs `client_cert` too"
    );
    assert_eq!(
        error(&worker_with("token = \"\"")),
        "t.toml:11:9: sources.bus.token: must not be empty"
    );
    // The same rules on an edge's sink.
    let edge = |keys: &str| {
        format!(
            "data_dir = \"/d\"\n[sources.app]\ntype = \"file\"\ninclude = [\"/l\"]\n\
             [sinks.bus]\ntype = \"nats\"\ninputs = [\"app\"]\nurl = \"nats://n:4222\"\n\
             stream = \"S\"\nsubject = \"s\"\n{keys}\n"
        )
    };
    assert_eq!(
        error(&edge("credentials_file = \"/c\"\nnkey_seed_file = \"/n\"")),
        format!(
            "t.toml:12:1: sinks.bus.nkey_seed_file: `nkey_seed_file` cannot be used with `credentials_file`: {ONE_WAY}"
        )
    );
    assert_eq!(
        error(&edge("token = \"t\"\nnkey-seed-file = \"/n\"")),
        format!(
            "t.toml:12:1: sinks.bus.nkey-seed-file: `nkey_seed_file` cannot be used with `token`: {ONE_WAY}"
        )
    );
    assert_eq!(
        error(&edge("client_cert = \"/c\"")),
        "t.toml:11:1: sinks.bus.client_cert: `client_cert` needs `client_key` too"
    );
    assert!(
        parse(&edge(
            "user = \"w\"\npassword = \"p\"\nclient_cert = \"/c\"\nclient_key = \"/k\""
        ))
        .is_ok()
    );
}
