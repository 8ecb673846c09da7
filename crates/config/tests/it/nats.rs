//! `type = "nats"`: a worker's source (url as one string or a list, stream, consumer) and
//! an edge's sink (its keys are the daemon's to check), with their errors.

use crate::{error, parse};
use logferry_config::{Format, NatsSource, SinkKind, SourceKind};
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
