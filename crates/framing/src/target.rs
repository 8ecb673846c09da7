//! A batch target measured on the wire: the raw batch size that compresses to a wanted
//! request body size.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};

/// The raw batch size to aim at so that encoded (compressed) bodies come out near a
/// target size on the wire, learned from the bodies encoded so far.
///
/// The HTTP Ingest contract recommends "request body size ≈ 100 KB" for the body as sent;
/// a gzipped body is several times smaller than its records, so the batcher must collect
/// more raw bytes than the wire target. The encoder reports each body's raw and encoded
/// size ([`WireTarget::observe`]); the batcher reads [`WireTarget::raw_target`] before
/// each chunk. The ratio is smoothed (7/8 old, 1/8 new) and the raw target stays between
/// the wire target (no compression) and the batching maximum. Shared between threads.
#[derive(Debug)]
pub struct WireTarget {
    wire: usize,
    raw_max: usize,
    /// Smoothed raw/wire ratio in thousandths; 0 until the first observation.
    ratio: AtomicU64,
    raw: AtomicUsize,
}

impl WireTarget {
    /// Aims encoded bodies at `wire` bytes, with raw batches of at most `raw_max` bytes.
    pub fn new(wire: usize, raw_max: usize) -> WireTarget {
        let wire = wire.max(1);
        WireTarget {
            wire,
            raw_max: raw_max.max(wire),
            ratio: AtomicU64::new(0),
            raw: AtomicUsize::new(wire),
        }
    }

    /// Learns from one encoded body: `raw` bytes of records became `wire` bytes.
    pub fn observe(&self, raw: usize, wire: usize) {
        let now = raw as u64 * 1000 / wire.max(1) as u64;
        // Concurrent observers may interleave; either order is a fine smoothing.
        let smoothed = match self.ratio.load(Relaxed) {
            0 => now,
            old => (old * 7 + now) / 8,
        };
        self.ratio.store(smoothed, Relaxed);
        let raw_target = (self.wire as u64 * smoothed / 1000) as usize;
        self.raw
            .store(raw_target.clamp(self.wire, self.raw_max), Relaxed);
    }

    /// The raw batch size to aim at now.
    pub fn raw_target(&self) -> usize {
        self.raw.load(Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::WireTarget;

    #[test]
    fn the_raw_target_follows_the_compression_ratio_within_bounds() {
        let t = WireTarget::new(100_000, 800_000);
        assert_eq!(t.raw_target(), 100_000, "no observation: the wire target");
        t.observe(400_000, 100_000); // 4x
        assert_eq!(t.raw_target(), 400_000);
        t.observe(1_200_000, 100_000); // 12x, smoothed: (4000*7 + 12000)/8 = 5000
        assert_eq!(t.raw_target(), 500_000);
        for _ in 0..100 {
            t.observe(2_000_000, 100_000);
        }
        assert_eq!(t.raw_target(), 800_000, "capped at the batching maximum");
        let incompressible = WireTarget::new(100_000, 800_000);
        incompressible.observe(100_000, 120_000);
        assert_eq!(
            incompressible.raw_target(),
            100_000,
            "never below the wire target"
        );
    }
}
