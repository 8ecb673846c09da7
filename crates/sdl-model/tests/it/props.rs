//! Property tests: no request over its limit and every body exactly as long as accounted
//! (in `build`), every event in exactly one request (or rejected, counted), `ts` strictly
//! increasing per session, bodies that parse back to the events (merged with their logs),
//! splits that keep everything, and severity names that round-trip.

use crate::{build, check_round_trip};
use logferry_sdl_model::{
    AttrValue, Attrs, Config, Dedupe, Event, Log, ORIGINAL_TS, Oversize, SEED_NAMES, Session,
    SessionHeader, SessionInfo, Severity, Thread, Timestamp, Timestamps,
};
use proptest::prelude::*;

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z]{0,12}",
        "[ -~]{0,40}",
        "\\PC{0,20}",
        prop::collection::vec(any::<char>(), 0..12).prop_map(|v| v.into_iter().collect()),
        Just("k8s-constant".to_owned()),
    ]
}

fn value() -> impl Strategy<Value = AttrValue> {
    prop_oneof![
        text().prop_map(AttrValue::from),
        any::<i64>().prop_map(AttrValue::Integer),
        any::<u64>().prop_map(AttrValue::from),
        any::<f64>().prop_map(AttrValue::Float),
        any::<bool>().prop_map(AttrValue::Bool),
        Just(AttrValue::Null),
        // Often-shared values, so the dedupe has work to do.
        Just(AttrValue::from("prod-eu-1")),
        Just(AttrValue::Integer(7)),
    ]
}

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(vec!["message", "pod", "namespace", "node", "n", "k\"ey", "ключ"]).prop_map(str::to_owned),
        1 => text(),
    ]
}

#[derive(Debug, Clone)]
struct Input {
    source: Option<String>,
    ts: u64,
    sev: Severity,
    thread: Option<String>,
    static_log: bool,
    attrs: Vec<(String, AttrValue)>,
    big: Option<usize>,
}

fn input() -> impl Strategy<Value = Input> {
    (
        prop::option::of(prop::sample::select(vec!["a", "b", "c"]).prop_map(str::to_owned)),
        prop_oneof![
            // Realistic times with many ties and regressions, and edge cases near powers of ten.
            4 => (0u64..50).prop_map(|d| 1_667_443_947_000_000_000 + d),
            1 => (0u64..30).prop_map(|d| 999_999_999_999_999_990 + d),
            1 => 0u64..20,
            1 => 0u64..1 << 63,
        ],
        prop::sample::select(Severity::ALL.to_vec()),
        prop::option::of(prop::sample::select(vec!["1", "2"]).prop_map(str::to_owned)),
        prop::bool::weighted(0.1),
        prop::collection::vec((key(), value()), 0..6),
        prop::option::weighted(0.05, 0usize..3_000),
    )
        .prop_map(|(source, ts, sev, thread, static_log, attrs, big)| Input {
            source,
            ts,
            sev,
            thread,
            static_log,
            attrs,
            big,
        })
}

fn config() -> impl Strategy<Value = Config> {
    (
        600usize..6_000,
        prop::sample::select(vec![Oversize::Truncate, Oversize::Reject]),
        prop::sample::select(vec![Timestamps::StrictlyIncreasing, Timestamps::AsGiven]),
        prop::sample::select(vec![Dedupe::PerSource, Dedupe::Off]),
    )
        .prop_map(|(max_body_bytes, oversize, timestamps, dedupe)| Config {
            max_body_bytes,
            oversize,
            timestamps,
            dedupe,
        })
}

fn header() -> SessionHeader {
    SessionHeader::new(Session::new("prop-session").expect("valid"))
        .with_info(SessionInfo::with_server_host("host-1"))
        .with_thread(Thread::new("1", "main"))
        .with_log(Log::new("static", Attrs::new().with("app", "demo")))
}

proptest! {
    #[test]
    fn builder_invariants(inputs in prop::collection::vec(input(), 0..120), config in config()) {
        let limit = config.max_body_bytes;
        let ordered = config.timestamps == Timestamps::StrictlyIncreasing;
        let events: Vec<(Option<String>, Event)> = inputs
            .iter()
            .enumerate()
            .map(|(i, inp)| {
                let mut attrs: Attrs = inp.attrs.iter().cloned().collect();
                // A unique tag to follow each event.
                attrs.insert("seq", i as i64);
                if let Some(n) = inp.big {
                    attrs.insert("message", "é".repeat(n));
                }
                let mut e = Event::new(Timestamp::from_nanos(inp.ts), attrs).with_sev(inp.sev);
                e.thread = inp.thread.clone();
                if inp.static_log {
                    e.log = Some("static".to_owned());
                }
                (inp.source.clone(), e)
            })
            .collect();
        let out = build(header(), config.clone(), events.clone());

        // Every event in exactly one request, or rejected.
        let seq = |e: &Event| match e.attrs.get("seq") {
            Some(AttrValue::Integer(i)) => *i as usize,
            other => panic!("seq lost: {other:?}"),
        };
        let mut seen = vec![0u32; events.len()];
        for r in &out.requests {
            for e in r.events() {
                seen[seq(e)] += 1;
            }
        }
        for e in &out.rejected {
            seen[seq(e)] += 1;
            // Handed back as given, never half-truncated.
            prop_assert_eq!(e, &events[seq(e)].1);
        }
        prop_assert!(seen.iter().all(|&n| n == 1), "{seen:?}");

        // Events keep everything but a truncated message; times as written.
        let mut prev: Option<u64> = None;
        for r in &out.requests {
            check_round_trip(r);
            // An event moved beyond a tie-break keeps its own time, and is counted.
            let mut moved = 0;
            for e in r.events() {
                if let Some(original) = e.attrs.get(ORIGINAL_TS) {
                    prop_assert!(ordered);
                    prop_assert_eq!(original, &AttrValue::from(events[seq(e)].1.ts.as_nanos().to_string()));
                    moved += 1;
                }
            }
            prop_assert_eq!(moved, r.ts_moved());
            for e in r.events() {
                let (_, orig) = &events[seq(e)];
                prop_assert_eq!(e.sev, orig.sev);
                prop_assert_eq!(&e.thread, &orig.thread);
                for (k, v) in orig.attrs.iter() {
                    let got = e.attrs.get(k).expect("attribute kept");
                    if k != "message" || r.truncated() == 0 {
                        prop_assert_eq!(got, v);
                    }
                }
                let t = e.ts.as_nanos();
                if ordered {
                    prop_assert!(t >= orig.ts.as_nanos());
                    if let Some(p) = prev {
                        prop_assert!(t > p, "ts {t} after {p}");
                    }
                } else {
                    prop_assert_eq!(t, orig.ts.as_nanos());
                }
                prev = Some(t);
            }
        }
        if config.oversize == Oversize::Reject {
            prop_assert!(out.requests.iter().all(|r| r.truncated() == 0));
        }
        if config.dedupe == Dedupe::Off {
            prop_assert!(out.requests.iter().all(|r| r.inline_len() == r.body().len()));
        }

        // Splitting keeps the events, their order and their times.
        for r in out.requests.iter().filter(|r| r.event_count() >= 2) {
            let before: Vec<Event> = r.events().to_vec();
            let (a, b) = r.split().expect("two or more events");
            prop_assert!(a.event_count() >= 1 && b.event_count() >= 1);
            check_round_trip(&a);
            check_round_trip(&b);
            let after: Vec<Event> = a.events().iter().chain(b.events()).cloned().collect();
            prop_assert_eq!(before, after);
            prop_assert!(a.body().len() <= limit.max(r.body().len()));
        }
    }

    #[test]
    fn severity_names_round_trip(i in 0..SEED_NAMES.len(), flips in prop::collection::vec(any::<bool>(), 9)) {
        let (name, sev) = SEED_NAMES[i];
        prop_assert_eq!(Severity::from_seed_name(name), Some(sev));
        prop_assert_eq!(name.parse::<Severity>().ok(), Some(sev));
        // Any ASCII case of a seed name reads as the same level (documented leniency).
        let recased: String = name
            .chars()
            .zip(flips.iter().cycle())
            .map(|(c, up)| if *up { c.to_ascii_uppercase() } else { c.to_ascii_lowercase() })
            .collect();
        prop_assert_eq!(recased.parse::<Severity>().ok(), Some(sev));
        // The wire form is the number, and it reads back.
        let json = serde_json::to_string(&sev).expect("serializes");
        prop_assert_eq!(&json, &sev.as_u8().to_string());
        prop_assert_eq!(serde_json::from_str::<Severity>(&json).ok(), Some(sev));
        prop_assert_eq!(sev.name().parse::<Severity>().ok(), Some(sev));
    }

    #[test]
    fn request_parser_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        let a = logferry_sdl_model::parse_request(&mut bytes.clone());
        let b = logferry_sdl_model::parse_request_serde_json(&bytes);
        prop_assert_eq!(a.is_ok(), b.is_ok());
        let _ = logferry_sdl_model::parse_response(&bytes);
    }
}

fn json_scalar() -> impl Strategy<Value = serde_json::Value> {
    use serde_json::Value;
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        (-1e20f64..1e20).prop_map(Value::from),
        "[0-9]{1,21}".prop_map(Value::String),
        "[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]{1,12})?(Z|[+-][0-9]{2}:[0-9]{2})"
            .prop_map(Value::String),
        prop::sample::select(SEED_NAMES.iter().map(|(n, _)| *n).collect::<Vec<_>>())
            .prop_map(Value::from),
        "\\PC{0,12}".prop_map(Value::String),
    ]
}

fn json_object() -> impl Strategy<Value = serde_json::Map<String, serde_json::Value>> {
    let leaf = json_scalar();
    let value = leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::Array),
            prop::collection::btree_map("[a-z]{1,4}", inner, 0..4)
                .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    });
    let key = prop_oneof![
        prop::sample::select(vec![
            "ts",
            "timestamp",
            "@timestamp",
            "time",
            "sev",
            "severity",
            "level",
            "message"
        ])
        .prop_map(str::to_owned),
        "[a-z.]{1,6}",
    ];
    prop::collection::btree_map(key, value, 0..8).prop_map(|m| m.into_iter().collect())
}

proptest! {
    /// Any JSON object reads into an event (or a clear error) the same way through
    /// simd-json and serde_json, without panicking, in both strict and lenient modes.
    #[test]
    fn json_objects_read_alike(obj in json_object(), lenient in any::<bool>(), dotted in any::<bool>()) {
        let config = logferry_sdl_model::FromJsonConfig {
            lenient,
            flatten: if dotted { logferry_sdl_model::Flatten::Dotted } else { logferry_sdl_model::Flatten::JsonString },
        };
        let now = Timestamp::from_nanos(42);
        let a = Event::from_json_object(&obj, now, &config);
        let mut line = serde_json::to_vec(&obj).expect("serializes");
        let b = Event::from_json_slice(&mut line, now, &config);
        match (&a, &b) {
            (Ok(x), Ok(y)) => {
                prop_assert_eq!((x.ts, x.sev), (y.ts, y.sev));
                prop_assert_eq!(crate::normalized(&x.attrs), crate::normalized(&y.attrs));
            }
            (Err(x), Err(y)) => prop_assert_eq!(x.to_string(), y.to_string()),
            _ => prop_assert!(false, "readers disagree: {:?} / {:?}", a, b),
        }
        if lenient {
            prop_assert!(a.is_ok());
        }
    }
}

proptest! {
    /// The hand-rolled event writer produces exactly what serde_json makes of the same
    /// `Event` (whose `Serialize` writes `ts` as a string and `sev` as a number).
    #[test]
    fn event_bytes_equal_serde_json(inp in input()) {
        let attrs: Attrs = inp.attrs.iter().cloned().collect();
        let mut event = Event::new(Timestamp::from_nanos(inp.ts), attrs).with_sev(inp.sev);
        event.thread = inp.thread.clone();
        prop_assert_eq!(
            event.to_json(),
            serde_json::to_vec(&event).expect("serializes"),
            "Event::to_json writes what serde_json writes (no number kept as written here)"
        );
        let config = Config { timestamps: Timestamps::AsGiven, ..Config::default() };
        let out = build(SessionHeader::new(Session::new("s").expect("valid")), config, vec![(None, event.clone())]);
        let body = std::str::from_utf8(out.requests[0].body()).expect("UTF-8");
        let inner = body
            .strip_prefix(r#"{"session":"s","events":["#)
            .and_then(|b| b.strip_suffix("]}"))
            .expect("one event, no logs");
        prop_assert_eq!(inner, serde_json::to_string(&event).expect("serializes"));
    }
}

proptest! {
    /// Valid bodies with a few bytes changed: the request parsers reject or accept, and
    /// never panic (a cheap stand-in until the fuzz target exists).
    #[test]
    fn mutated_bodies_never_panic(
        inputs in prop::collection::vec(input(), 1..8),
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
    ) {
        let events = inputs
            .iter()
            .map(|inp| {
                let attrs: Attrs = inp.attrs.iter().cloned().collect();
                (inp.source.clone(), Event::new(Timestamp::from_nanos(inp.ts), attrs))
            })
            .collect();
        let out = build(header(), Config::default(), events);
        let mut body = out.requests[0].body().to_vec();
        for (at, byte) in &edits {
            let i = at.index(body.len());
            body[i] = *byte;
        }
        let _ = logferry_sdl_model::parse_request_serde_json(&body);
        if let Ok(req) = logferry_sdl_model::parse_request(&mut body) {
            // Whatever parses is a valid request: log references resolve.
            for (i, e) in req.events.iter().enumerate() {
                if let Some(id) = &e.log {
                    prop_assert!(req.log(id).is_some(), "event {i} refers to a missing log");
                }
            }
        }
    }
}
