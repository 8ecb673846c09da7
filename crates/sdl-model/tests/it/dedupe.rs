//! The `logs` dedupe on a Kubernetes-style corpus: what Vector's `kubernetes_logs` source
//! emits (pod, namespace, uid, node, container id and image, labels) around each line.
//! The saving is printed (run with `--nocapture`) and must stay large.

use crate::{build, check_round_trip};
use logferry_sdl_model::{
    Config, Dedupe, Event, Flatten, FromJsonConfig, Session, SessionHeader, SessionInfo, Timestamp,
};
use std::fmt::Write;

struct Container {
    namespace: &'static str,
    pod: String,
    uid: String,
    ip: String,
    node: String,
    name: &'static str,
    id: String,
    image: String,
    hash: String,
}

/// `n` NDJSON lines from 60 containers, interleaved at random; deterministic.
pub(crate) fn k8s_ndjson(n: usize, seed: u64) -> Vec<(String, String)> {
    let mut rng = fastrand::Rng::with_seed(seed);
    let hex = |rng: &mut fastrand::Rng, len: usize| -> String {
        (0..len)
            .map(|_| char::from(b"0123456789abcdef"[rng.usize(0..16)]))
            .collect()
    };
    let apps = [
        ("payments", "api"),
        ("payments", "worker"),
        ("auth", "api"),
        ("ingress", "nginx"),
        ("default", "frontend"),
        ("monitoring", "exporter"),
    ];
    let containers: Vec<Container> = (0..60)
        .map(|i| {
            let (namespace, name) = apps[i % apps.len()];
            let hash = hex(&mut rng, 9);
            Container {
                namespace,
                pod: format!("{name}-{hash}-{}", hex(&mut rng, 5)),
                uid: format!(
                    "{}-{}-{}-{}-{}",
                    hex(&mut rng, 8),
                    hex(&mut rng, 4),
                    hex(&mut rng, 4),
                    hex(&mut rng, 4),
                    hex(&mut rng, 12)
                ),
                ip: format!("10.244.{}.{}", rng.u8(0..16), rng.u8(2..250)),
                node: format!(
                    "ip-10-0-{}-{}.eu-west-1.compute.internal",
                    rng.u8(0..4),
                    rng.u8(2..250)
                ),
                name,
                id: format!("containerd://{}", hex(&mut rng, 64)),
                image: format!(
                    "registry.example.com/{namespace}/{name}:1.{}.{}",
                    rng.u8(0..50),
                    rng.u8(0..10)
                ),
                hash,
            }
        })
        .collect();
    let paths = [
        "/api/v1/pay",
        "/api/v1/refund",
        "/healthz",
        "/login",
        "/api/v2/orders?page=2",
    ];
    let mut out = Vec::with_capacity(n);
    let mut ns = 1_768_212_000_000_000_000u64;
    for _ in 0..n {
        ns += rng.u64(0..2_000_000);
        let c = &containers[rng.usize(0..containers.len())];
        let message = match rng.u8(0..3) {
            0 => format!(
                "{} - - \"GET {} HTTP/1.1\" {} {} \"-\" \"curl/8.5.0\" rt={}.{:03}",
                format_args!("10.0.{}.{}", rng.u8(0..255), rng.u8(1..255)),
                paths[rng.usize(0..paths.len())],
                [200, 200, 201, 404, 500][rng.usize(0..5)],
                rng.u32(0..90_000),
                rng.u8(0..3),
                rng.u16(0..1000)
            ),
            1 => format!(
                r#"{{"level":"info","msg":"order processed","order_id":{},"duration_ms":{}}}"#,
                rng.u32(..),
                rng.u16(0..5000)
            ),
            _ => format!(
                "worker {} finished job {} in {} ms",
                rng.u8(0..16),
                hex(&mut rng, 12),
                rng.u16(0..9000)
            ),
        };
        let message = serde_json::to_string(&message).expect("strings serialize");
        let mut line = String::with_capacity(1024);
        let _ = write!(
            line,
            r#"{{"timestamp":"{ns}","message":{message},"stream":"{stream}","file":"/var/log/pods/{nsn}_{pod}_{uid}/{name}/0.log","source_type":"kubernetes_logs","kubernetes":{{"pod_name":"{pod}","pod_namespace":"{nsn}","pod_uid":"{uid}","pod_ip":"{ip}","pod_node_name":"{node}","container_name":"{name}","container_id":"{cid}","container_image":"{image}","pod_labels":{{"app":"{name}","pod-template-hash":"{hash}"}},"namespace_labels":{{"kubernetes.io/metadata.name":"{nsn}"}}}},"cluster":"prod-eu-1"}}"#,
            stream = if rng.u8(0..10) == 0 {
                "stderr"
            } else {
                "stdout"
            },
            nsn = c.namespace,
            pod = c.pod,
            uid = c.uid,
            name = c.name,
            ip = c.ip,
            node = c.node,
            cid = c.id,
            image = c.image,
            hash = c.hash,
        );
        out.push((format!("{}/{}/{}", c.namespace, c.pod, c.name), line));
    }
    out
}

fn events(flatten: Flatten) -> Vec<(Option<String>, Event)> {
    let config = FromJsonConfig {
        flatten,
        ..FromJsonConfig::default()
    };
    k8s_ndjson(4_000, 7)
        .into_iter()
        .map(|(source, line)| {
            let mut buf = line.into_bytes();
            let event = Event::from_json_slice(&mut buf, Timestamp::EPOCH, &config)
                .expect("corpus lines are valid");
            (Some(source), event)
        })
        .collect()
}

#[test]
fn k8s_corpus_saving() {
    let header = SessionHeader::new(Session::new("k8s-test").expect("valid"))
        .with_info(SessionInfo::with_server_host("node-agent"));
    for (flatten, limit, min_saving) in [
        (Flatten::Dotted, 1_000_000, 0.45),
        (Flatten::JsonString, 1_000_000, 0.45),
        (Flatten::Dotted, 100_000, 0.35),
    ] {
        let corpus = events(flatten);
        let config = Config {
            max_body_bytes: limit,
            ..Config::default()
        };
        let out = build(header.clone(), config.clone(), corpus.clone());
        let body: usize = out.requests.iter().map(|r| r.body().len()).sum();
        let inline: usize = out.requests.iter().map(|r| r.inline_len()).sum();
        let off = build(
            header.clone(),
            Config {
                dedupe: Dedupe::Off,
                ..config
            },
            corpus,
        );
        let off_body: usize = off.requests.iter().map(|r| r.body().len()).sum();
        let saving = 1.0 - body as f64 / inline as f64;
        println!(
            "k8s corpus, {flatten:?}, {limit}-byte requests: {} requests, {body} bytes deduped vs {inline} inline: {:.1}% saved ({} requests, {off_body} bytes without dedupe)",
            out.requests.len(),
            saving * 100.0,
            off.requests.len()
        );
        // The same events, packed without dedupe, weigh what the deduped requests would
        // have weighed inline, give or take the envelopes of the extra requests.
        assert!(off_body.abs_diff(inline) < 1_000 * off.requests.len());
        assert!(
            saving >= min_saving,
            "saving {saving:.3} below {min_saving}"
        );
        assert!(out.requests.len() <= off.requests.len());
        for r in out.requests.iter().take(2) {
            check_round_trip(r);
        }
    }
}
