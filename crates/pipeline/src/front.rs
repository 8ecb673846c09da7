//! The one frame loop's state, shared by every source that frames bytes: a framer and a
//! batcher for one input, with the batcher's linger deadline.

use crate::FrontConfig;
use logferry_framing::{
    Batch, Batcher, FrameError, FrameStats, Framed, Framer, Multiline, Position, Record,
};
use std::sync::Arc;
use std::time::Instant;

/// What framing one input gives, in input order.
pub(crate) enum Out {
    /// A batch closed (full, lingered long enough, or flushed).
    Batch(Batch),
    /// A record the framer could not emit.
    Error(FrameError),
}

/// Framer (+ multiline merger) + batcher of one input.
pub(crate) struct Front {
    framer: Framer,
    stages: Stages,
}

/// What comes after the framer: the multiline merger when configured, and the batcher.
struct Stages {
    multiline: Option<Multiline>,
    batcher: Batcher,
}

/// Batches `record`, emitting the batches it closes.
fn batch(batcher: &mut Batcher, record: &Record<'_>, now: Instant, out: &mut impl FnMut(Out)) {
    batcher.push(record, now, |b| out(Out::Batch(b)));
}

impl Stages {
    /// Where framed records go: the one place for stages between framer and batcher.
    fn record(&mut self, record: &Record<'_>, now: Instant, out: &mut impl FnMut(Out)) {
        let batcher = &mut self.batcher;
        match &mut self.multiline {
            Some(m) => m.push(record.clone(), now, &mut |r| batch(batcher, &r, now, out)),
            None => batch(batcher, record, now, out),
        }
    }

    /// Emits what waited long enough: a held multiline record, then a lingering batch.
    fn poll(&mut self, now: Instant, out: &mut impl FnMut(Out)) {
        let batcher = &mut self.batcher;
        if let Some(m) = &mut self.multiline {
            m.poll(now, &mut |r| batch(batcher, &r, now, out));
        }
        self.batcher.poll(now, |b| out(Out::Batch(b)));
    }

    /// Emits everything held.
    fn flush(&mut self, now: Instant, out: &mut impl FnMut(Out)) {
        let batcher = &mut self.batcher;
        if let Some(m) = &mut self.multiline {
            m.flush(&mut |r| batch(batcher, &r, now, out));
        }
        self.batcher.flush(|b| out(Out::Batch(b)));
    }

    fn deadline(&self) -> Option<Instant> {
        let held = self.multiline.as_ref().and_then(Multiline::deadline);
        match (held, self.batcher.deadline()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

impl Front {
    /// Frames the input `name` whose first byte sits at `start`.
    pub(crate) fn new(config: &FrontConfig, name: Arc<str>, start: Position) -> Front {
        let mut framing = config.framing.clone();
        framing.source_name = Some(name.clone());
        Front {
            framer: Framer::resume(config.format, framing, start),
            stages: Stages {
                // Lines only: a JSON object is one record already.
                multiline: config
                    .multiline
                    .clone()
                    .filter(|_| config.format == logferry_framing::Format::Text)
                    .map(Multiline::new),
                batcher: Batcher::new(config.batching, Some(name)),
            },
        }
    }

    /// Frames `chunk`, then closes batches whose linger time is up.
    pub(crate) fn push(
        &mut self,
        config: &FrontConfig,
        chunk: &[u8],
        now: Instant,
        out: &mut impl FnMut(Out),
    ) {
        self.learn_target(config);
        let stages = &mut self.stages;
        if stages.multiline.is_some() {
            self.framer.push(chunk, |r| match r {
                Ok(record) => stages.record(&record, now, out),
                Err(e) => out(Out::Error(e)),
            });
        } else {
            // Plain lines go to the batcher in runs: one copy per batch, not per record.
            self.framer.push_runs(chunk, |f| match f {
                Framed::Run(run) => stages.batcher.push_run(&run, now, |b| out(Out::Batch(b))),
                Framed::Record(Ok(record)) => stages.record(&record, now, out),
                Framed::Record(Err(e)) => out(Out::Error(e)),
            });
        }
        self.stages.poll(now, out);
    }

    /// Closes the open batch if it lingered long enough.
    pub(crate) fn poll(&mut self, config: &FrontConfig, now: Instant, out: &mut impl FnMut(Out)) {
        self.learn_target(config);
        self.stages.poll(now, out);
    }

    /// When the open batch must close, if one is open.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        self.stages.deadline()
    }

    /// The input ended: frames what is left (a last line without `\n`) and closes the
    /// open batch.
    pub(crate) fn finish(&mut self, now: Instant, out: &mut impl FnMut(Out)) {
        let stages = &mut self.stages;
        self.framer.finish(|r| match r {
            Ok(record) => stages.record(&record, now, out),
            Err(e) => out(Out::Error(e)),
        });
        self.stages.flush(now, out);
    }

    /// The input stopped short (a read error, a restart from 0): closes the open batch
    /// (with a held multiline record: its lines were read whole); an incomplete line is
    /// dropped.
    pub(crate) fn flush(&mut self, out: &mut impl FnMut(Out)) {
        self.stages.flush(Instant::now(), out);
    }

    /// Closes the open batch now, whatever its size or age (a held multiline record
    /// and an incomplete line stay).
    pub(crate) fn close_batch(&mut self, out: &mut impl FnMut(Out)) {
        self.stages.batcher.flush(|b| out(Out::Batch(b)));
    }

    /// Where the next record will start.
    pub(crate) fn position(&self) -> Position {
        self.framer.position()
    }

    /// The framer's counters.
    pub(crate) fn stats(&self) -> FrameStats {
        self.framer.stats()
    }

    /// Whether a read may resume after a batch: not inside a JSON document.
    pub(crate) fn resumable(&self) -> bool {
        self.framer.is_document() == Some(false)
    }

    fn learn_target(&mut self, config: &FrontConfig) {
        if let Some(target) = &config.wire_target {
            self.stages.batcher.set_target_bytes(target.raw_target());
        }
    }
}
