//! Buffers of finished batches, handed back for the next ones.
//!
//! A bulk input closes a batch every few hundred kilobytes, and each batch used to take
//! fresh memory: bodies and span lists of that size come from `mmap` or from an arena
//! that the allocator trims, so every batch paid page faults and the kernel's zeroing of
//! each page (about 4% of a two-core run's CPU, more than the framing itself). A batch's
//! body and spans now go back to a small shelf once the batch is done with (its spans
//! when it is dropped or its body taken; its body through [`recycle`], after
//! compression), and the next bulk batch takes them from there.
//!
//! The shelf keeps at most [`KEPT`] buffers of each kind, each between [`MIN_BYTES`]
//! and [`MAX_BYTES`] (a bulk batch reserves about its target, at most the 1 MB batch
//! maximum), so it holds at most 2 × 8 × 2 MiB, typically 8 × 0.5 MB, whatever the input.

use crate::RecordSpan;
use std::sync::{Mutex, PoisonError};

/// Buffers kept of each kind: the batches two cores have in flight at once (being
/// encoded, queued for the encoders, being filled).
const KEPT: usize = 8;

/// Smaller buffers are cheap to allocate and not worth keeping.
const MIN_BYTES: usize = 16 << 10;

/// Larger buffers (one huge record's batch) are let go.
const MAX_BYTES: usize = 2 << 20;

/// A stack of spare buffers of one element type.
pub(crate) struct Shelf<T> {
    spare: Mutex<Vec<Vec<T>>>,
}

impl<T> Shelf<T> {
    const fn new() -> Self {
        Self {
            spare: Mutex::new(Vec::new()),
        }
    }

    /// Keeps `buffer` (emptied) if it is worth keeping and there is room.
    pub(crate) fn put(&self, mut buffer: Vec<T>) {
        let bytes = buffer.capacity() * size_of::<T>();
        if !(MIN_BYTES..=MAX_BYTES).contains(&bytes) {
            return;
        }
        buffer.clear();
        let mut spare = self.spare.lock().unwrap_or_else(PoisonError::into_inner);
        if spare.len() < KEPT {
            spare.push(buffer);
        }
    }

    /// A spare buffer (empty), if one is kept.
    pub(crate) fn take(&self) -> Option<Vec<T>> {
        self.spare
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop()
    }
}

/// Spare batch bodies.
pub(crate) static BODIES: Shelf<u8> = Shelf::new();

/// Spare span lists.
pub(crate) static SPANS: Shelf<RecordSpan> = Shelf::new();

/// Hands a batch body (from [`Batch::into_body`](crate::Batch::into_body)) back once it
/// is no longer needed, typically after compression, so that the next batch reuses its
/// memory. Any `Vec` may be given; one too small or too large to be worth keeping is
/// simply dropped.
///
/// ```
/// let body: Vec<u8> = Vec::with_capacity(500_000); // a batch's body, compressed and sent
/// logferry_framing::recycle(body); // the next bulk batch fills this memory again
/// ```
pub fn recycle(body: Vec<u8>) {
    BODIES.put(body);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_only_buffers_worth_keeping_and_at_most_kept() {
        let shelf: Shelf<u8> = Shelf::new();
        shelf.put(Vec::with_capacity(MIN_BYTES - 1));
        shelf.put(Vec::with_capacity(MAX_BYTES + 1));
        assert!(shelf.take().is_none());
        for _ in 0..KEPT + 3 {
            let mut v = Vec::with_capacity(MIN_BYTES);
            v.push(7);
            shelf.put(v);
        }
        let mut taken = 0;
        while let Some(v) = shelf.take() {
            assert!(v.is_empty() && v.capacity() >= MIN_BYTES);
            taken += 1;
        }
        assert_eq!(taken, KEPT);
    }
}
