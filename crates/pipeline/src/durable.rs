//! The spool side of a durable run: append (then acknowledge to the source), replay,
//! and acknowledge entries once done.

use crate::source::Ack;
use futures_util::Stream;
use logferry_spool::{EntryId, Spool};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// The spool of a durable run: batches wait there until delivered, and a source's
/// acknowledgement runs only once its batch is in it.
#[derive(Debug, Clone)]
pub struct Durable {
    /// Where batches wait until delivered.
    pub spool: Arc<Spool>,
    /// Set by the first failed append: nothing is spooled or acknowledged after it.
    broken: Arc<AtomicBool>,
    /// Held by the append on the blocking pool, which goes on when its caller stops
    /// waiting: [`Durable::settled`] waits for it.
    in_flight: Arc<tokio::sync::Mutex<()>>,
}

impl Durable {
    /// A durable run over `spool`.
    pub fn new(spool: Arc<Spool>) -> Self {
        Self {
            spool,
            broken: Arc::default(),
            in_flight: Arc::default(),
        }
    }

    /// Appends `payload` to the spool, then runs the source's `ack` (in that order, so
    /// a source never moves past records that are not yet safe), on the blocking pool.
    ///
    /// After one append fails, every later one fails too without touching the disk:
    /// batches are appended in source order, and a later checkpoint stored after a
    /// failed batch would move its source past records that were never spooled (a disk
    /// that was full a moment ago may have room again).
    pub(crate) async fn append(&self, payload: Vec<u8>, ack: Option<Ack>) -> Result<u64, String> {
        let this = self.clone();
        let held = self.in_flight.clone().lock_owned().await;
        let done = tokio::task::spawn_blocking(move || -> Result<u64, String> {
            let _held = held;
            if this.broken.load(Ordering::Acquire) {
                return Err("an earlier batch could not be spooled; nothing after it is".into());
            }
            let stored = this
                .spool
                .append(&payload)
                .map_err(|e| e.to_string())
                .and_then(|id| {
                    ack.map_or(Ok(()), |ack| ack())?;
                    Ok(id.get())
                });
            if stored.is_err() {
                this.broken.store(true, Ordering::Release);
            }
            stored
        })
        .await;
        match done {
            Ok(result) => result,
            Err(e) => {
                self.broken.store(true, Ordering::Release);
                Err(format!("spool task failed: {e}"))
            }
        }
    }

    /// Waits for an append the run stopped waiting for (it ended while the append ran):
    /// once this returns, every spooled batch's acknowledgement (its checkpoint) is
    /// stored too, so a rerun neither loses nor re-reads it.
    pub(crate) async fn settled(&self) {
        drop(self.in_flight.lock().await);
    }

    /// The first entry not yet acknowledged at or after `from`, read back on a blocking
    /// thread: `None` when there is none (or it cannot be read: then it stays for the
    /// next run's replay, which reports it).
    pub(crate) async fn read_from(&self, from: u64) -> Option<(u64, Vec<u8>)> {
        let spool = self.spool.clone();
        let read =
            tokio::task::spawn_blocking(move || spool.replay_from(EntryId::new(from)).next());
        match read.await {
            Ok(Some(Ok((id, payload)))) => Some((id.get(), payload)),
            Ok(Some(Err(e))) => {
                tracing::warn!("cannot read spool entries back from {from}: {e}");
                None
            }
            Ok(None) | Err(_) => None,
        }
    }

    /// Acknowledges an entry, off the async worker when the ack waits for the disk.
    pub(crate) fn ack(&self, id: u64) {
        let spool = &self.spool;
        let result = match tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor()) {
            Ok(tokio::runtime::RuntimeFlavor::MultiThread) => {
                tokio::task::block_in_place(|| spool.ack(EntryId::new(id)))
            }
            _ => spool.ack(EntryId::new(id)),
        };
        if let Err(e) = result {
            // The entry stays and is sent again next run: a duplicate, never a loss.
            tracing::warn!("cannot acknowledge spool entry {id}: {e}");
        }
    }
}

/// The entries an earlier run left in the spool, each read on the blocking pool when the
/// sink asks for it. A reading thread is never held while the sink does not ask (its
/// endpoint down, say): a replay that waited on a blocking thread for room held that
/// thread for as long, and a few routes replaying into sinks that were down took every
/// thread of the pool, so every other route's compression and spool waited for them.
pub(crate) fn replay(durable: Option<&Durable>) -> impl Stream<Item = (u64, Vec<u8>)> + use<> {
    let entries = durable.map(|d| d.spool.replay());
    futures_util::stream::unfold(entries, |entries| async move {
        let mut entries = entries?;
        loop {
            let (back, next) = tokio::task::spawn_blocking(move || {
                let next = entries.next();
                (entries, next)
            })
            .await
            .ok()?;
            entries = back;
            match next? {
                Ok((id, bytes)) => return Some(((id.get(), bytes), Some(entries))),
                Err(e) => tracing::warn!("spool replay: {e}"),
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use logferry_framing::Position;
    use logferry_source::{Checkpoint, Checkpoints, Fingerprint, HEAD_BYTES};

    fn template(head: &[u8]) -> Checkpoint {
        Checkpoint {
            path: "/var/log/app.log".into(),
            file_id: None,
            position: Position::START,
            fingerprint: Fingerprint::of(head),
        }
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn after_a_failed_append_nothing_is_spooled_or_acknowledged() {
        let dir = tempfile::tempdir().unwrap();
        let config = logferry_spool::SpoolConfig {
            max_bytes: 200,
            when_full: logferry_spool::WhenFull::Block,
            block_timeout: Some(std::time::Duration::from_millis(10)),
            ..logferry_spool::SpoolConfig::default()
        };
        let spool = Arc::new(Spool::open(dir.path().join("spool"), config).unwrap());
        let store = Arc::new(
            Checkpoints::open(dir.path(), logferry_source::CheckpointConfig::default()).unwrap(),
        );
        let durable = Durable::new(spool.clone());
        let at = |offset| -> Option<Ack> {
            let store = store.clone();
            let c = Checkpoint {
                position: Position { offset, line: 1 },
                ..template(&[b'a'; HEAD_BYTES])
            };
            Some(Box::new(move || store.store(&c).map_err(|e| e.to_string())))
        };
        durable.append(vec![b'x'; 50], at(50)).await.unwrap();
        // Too big for the space left: fails (the spool stays full).
        assert!(durable.append(vec![b'y'; 500], at(550)).await.is_err());
        // Room again after an ack; still refused, and the checkpoint stays at 50.
        spool.ack(EntryId::new(0)).unwrap();
        let err = durable.append(vec![b'z'; 10], at(560)).await.unwrap_err();
        assert!(err.contains("earlier batch could not be spooled"), "{err}");
        assert_eq!(spool.stats().appended, 1);
        let stored = store
            .find(std::path::Path::new("/var/log/app.log"), None)
            .unwrap();
        assert_eq!(stored.position.offset, 50);
    }
}
