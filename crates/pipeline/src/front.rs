//! The one frame loop's state, shared by every source that frames bytes: a framer and a
//! batcher for one input, with the batcher's linger deadline.

use crate::FrontConfig;
use logferry_framing::{Batch, Batcher, FrameError, FrameStats, Framer, Position, Record};
use std::sync::Arc;
use std::time::Instant;

/// What framing one input gives, in input order.
pub(crate) enum Out {
    /// A batch closed (full, lingered long enough, or flushed).
    Batch(Batch),
    /// A record the framer could not emit.
    Error(FrameError),
}

/// Framer + batcher of one input.
pub(crate) struct Front {
    framer: Framer,
    batcher: Batcher,
}

/// Where framed records go to the batcher: the one place for stages between them.
fn to_batcher(batcher: &mut Batcher, record: &Record<'_>, now: Instant, out: &mut impl FnMut(Out)) {
    // multiline: a merger of continuation lines goes here, between the framer's records
    // and the batcher (it keeps the position of a merged record's first line).
    batcher.push(record, now, |b| out(Out::Batch(b)));
}

impl Front {
    /// Frames the input `name` whose first byte sits at `start`.
    pub(crate) fn new(config: &FrontConfig, name: Arc<str>, start: Position) -> Front {
        let mut framing = config.framing.clone();
        framing.source_name = Some(name.clone());
        Front {
            framer: Framer::resume(config.format, framing, start),
            batcher: Batcher::new(config.batching, Some(name)),
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
        let batcher = &mut self.batcher;
        self.framer.push(chunk, |r| match r {
            Ok(record) => to_batcher(batcher, &record, now, out),
            Err(e) => out(Out::Error(e)),
        });
        self.batcher.poll(now, |b| out(Out::Batch(b)));
    }

    /// Closes the open batch if it lingered long enough.
    pub(crate) fn poll(&mut self, config: &FrontConfig, now: Instant, out: &mut impl FnMut(Out)) {
        self.learn_target(config);
        self.batcher.poll(now, |b| out(Out::Batch(b)));
    }

    /// When the open batch must close, if one is open.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        self.batcher.deadline()
    }

    /// The input ended: frames what is left (a last line without `\n`) and closes the
    /// open batch.
    pub(crate) fn finish(&mut self, now: Instant, out: &mut impl FnMut(Out)) {
        let batcher = &mut self.batcher;
        self.framer.finish(|r| match r {
            Ok(record) => to_batcher(batcher, &record, now, out),
            Err(e) => out(Out::Error(e)),
        });
        self.batcher.flush(|b| out(Out::Batch(b)));
    }

    /// The input stopped short (a read error, a restart from 0): closes the open batch;
    /// an incomplete record is dropped.
    pub(crate) fn flush(&mut self, out: &mut impl FnMut(Out)) {
        self.batcher.flush(|b| out(Out::Batch(b)));
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
            self.batcher.set_target_bytes(target.raw_target());
        }
    }
}
