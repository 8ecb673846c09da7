//! Integration tests of logferry-sdl-model: request bodies (snapshots), builder invariants
//! (proptest), the `logs` dedupe on a Kubernetes-style corpus, and parsing.

mod bodies;
mod dedupe;
mod fuzz_regressions;
mod props;

use logferry_sdl_model::{
    AttrValue, Attrs, Config, Error, Event, ReadyRequest, RequestBuilder, SessionHeader,
    parse_request, parse_request_serde_json,
};

/// What pushing a sequence of events produced.
#[derive(Debug, Default)]
pub(crate) struct Outcome {
    pub(crate) requests: Vec<ReadyRequest>,
    pub(crate) rejected: Vec<Event>,
}

/// Pushes every `(source, event)` into one builder, then finishes it, checking on the way
/// that each body has exactly the length the builder accounted for and fits the limit.
pub(crate) fn build(
    header: SessionHeader,
    config: Config,
    events: Vec<(Option<String>, Event)>,
) -> Outcome {
    let mut builder = RequestBuilder::new(header, config).expect("valid builder");
    let limit = builder.limit();
    let mut out = Outcome::default();
    for (source, event) in events {
        let accounted = builder.pending_len();
        let result = match &source {
            Some(src) => builder.push_from(src, event),
            None => builder.push(event),
        };
        match result {
            Ok(Some(ready)) => {
                assert_eq!(
                    ready.body().len(),
                    accounted,
                    "body length equals the accounted size"
                );
                out.requests.push(ready);
            }
            Ok(None) => {}
            Err(Error::EventTooLarge {
                event,
                size,
                limit: l,
            }) => {
                assert!(size > l);
                out.rejected.push(*event);
            }
            Err(e) => panic!("unexpected push error: {e}"),
        }
        assert!(builder.pending_len() <= limit);
    }
    let accounted = builder.pending_len();
    if let Some(ready) = builder.finish() {
        assert_eq!(
            ready.body().len(),
            accounted,
            "body length equals the accounted size"
        );
        out.requests.push(ready);
    }
    for r in &out.requests {
        assert!(r.body().len() <= limit, "{} > {limit}", r.body().len());
        assert!(r.inline_len() >= r.body().len());
    }
    let stats = builder.stats();
    assert_eq!(stats.requests as usize, out.requests.len());
    assert_eq!(stats.rejected as usize, out.rejected.len());
    assert_eq!(
        stats.body_bytes as usize,
        out.requests.iter().map(|r| r.body().len()).sum::<usize>()
    );
    out
}

/// Attributes as a key-sorted list, with what JSON can't carry (NaN, ±infinity) as null.
pub(crate) fn normalized(attrs: &Attrs) -> Vec<(String, AttrValue)> {
    let mut v: Vec<(String, AttrValue)> = attrs
        .iter()
        .map(|(k, v)| {
            let v = match v {
                AttrValue::Float(f) if !f.is_finite() => AttrValue::Null,
                other => other.clone(),
            };
            (k.to_owned(), v)
        })
        .collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

/// Parses a body with both parsers, checks they agree, and checks the events the server
/// reconstructs (own attributes merged with their log's) are the request's events.
pub(crate) fn check_round_trip(ready: &ReadyRequest) {
    let parsed = parse_request(&mut ready.body().to_vec()).expect("builder bodies parse");
    let reference =
        parse_request_serde_json(ready.body()).expect("builder bodies parse with serde_json");
    assert_eq!(parsed.events.len(), reference.events.len());
    assert_eq!(parsed.events.len(), ready.event_count());
    // The dedupe moves bytes out of events, not out of the charge.
    assert_eq!(parsed.bytes_charged(), ready.bytes_charged());
    for (i, (got, want)) in parsed.events.iter().zip(ready.events()).enumerate() {
        assert_eq!(
            (got.ts, got.sev, &got.thread),
            (want.ts, want.sev, &want.thread),
            "event {i}"
        );
        if want.log.is_some() {
            // The caller's own log reference is kept as is.
            assert_eq!(got.log, want.log, "event {i}");
            assert_eq!(normalized(&got.attrs), normalized(&want.attrs), "event {i}");
            continue;
        }
        let merged = parsed.merged_attrs(i).expect("event exists");
        assert_eq!(normalized(&merged), normalized(&want.attrs), "event {i}");
        let merged_ref = reference.merged_attrs(i).expect("event exists");
        assert_eq!(
            normalized(&merged_ref),
            normalized(&want.attrs),
            "event {i} (serde_json)"
        );
    }
}
