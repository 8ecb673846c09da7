//! Splitting a finished request in two, for a server that found it too large.

use super::ReadyRequest;
use super::assemble::Batch;
use super::envelope::Envelope;
use std::sync::Arc;

impl ReadyRequest {
    /// Splits the request into two halves of its events (first half, second half, in body
    /// order), each with its own body, for a server that found the request too large.
    /// Times are kept as written, so the session's order is unchanged; each half is deduped
    /// anew. `None` for a single-event request, which can't be split.
    pub fn split(&self) -> Option<(ReadyRequest, ReadyRequest)> {
        if self.events.len() < 2 {
            return None;
        }
        let mid = self.events.len() / 2;
        let (sources, env) = (&self.sources, &self.env);
        let mut events = self.events.iter().cloned();
        let mut group_of = self.group_of.iter().copied();
        let mut half = |count: usize| {
            // The halves are re-encoded without a limit: each is a subset of a body that
            // was accepted by the builder's accounting.
            let env = Arc::new(Envelope {
                prefix: env.prefix.clone(),
                static_logs: env.static_logs.clone(),
                static_log_count: env.static_log_count,
                static_log_ids: env.static_log_ids.clone(),
                static_log_list: env.static_log_list.clone(),
                limit: usize::MAX,
                dedupe: env.dedupe,
            });
            let mut batch = Batch::new(env, None, false);
            for (event, group) in events.by_ref().zip(group_of.by_ref()).take(count) {
                let source = group.map(|g| &*sources[g as usize]);
                let s = batch.serialize(&event);
                if batch.try_push(event, source, &s, None).is_err() {
                    unreachable!("a batch without a limit takes every event");
                }
            }
            batch.finish(None).0
        };
        let first = half(mid);
        let second = half(usize::MAX);
        Some((first, second))
    }
}
