//! The spool and checkpoint store a durable run uses, shared by every pipeline.

use futures_util::Stream;
use logferry_framing::{Position, SourceRange};
use logferry_source::{Checkpoint, Checkpoints};
use logferry_spool::{EntryId, Spool};
use std::sync::Arc;

/// The spool and checkpoint store of a durable run.
#[derive(Debug, Clone)]
pub struct Durable {
    /// Where batches wait until delivered.
    pub spool: Arc<Spool>,
    /// Where sources' checkpoints live (absent: sources are always read from the start).
    pub checkpoints: Option<Arc<Checkpoints>>,
}

impl Durable {
    /// Appends `payload` to the spool, then stores `checkpoint` (in that order, so a
    /// source never moves past records that are not yet safe), on the blocking pool.
    pub(crate) async fn append(
        &self,
        payload: Vec<u8>,
        checkpoint: Option<Checkpoint>,
    ) -> Result<u64, String> {
        let this = self.clone();
        let done = tokio::task::spawn_blocking(move || -> Result<u64, String> {
            let id = this.spool.append(&payload).map_err(|e| e.to_string())?;
            if let (Some(store), Some(c)) = (&this.checkpoints, &checkpoint) {
                store.store(c).map_err(|e| e.to_string())?;
            }
            Ok(id.get())
        })
        .await;
        match done {
            Ok(result) => result,
            Err(e) => Err(format!("spool task failed: {e}")),
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

/// The entries an earlier run left in the spool, read on a blocking thread.
pub(crate) fn replay(durable: Option<&Durable>) -> impl Stream<Item = (u64, Vec<u8>)> + use<> {
    let (tx, rx) = tokio::sync::mpsc::channel(8);
    if let Some(d) = durable {
        let spool = d.spool.clone();
        tokio::task::spawn_blocking(move || {
            for entry in spool.replay() {
                match entry {
                    Ok((id, bytes)) => {
                        if tx.blocking_send((id.get(), bytes)).is_err() {
                            return;
                        }
                    }
                    Err(e) => tracing::warn!("spool replay: {e}"),
                }
            }
        });
    }
    futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|x| (x, rx)) })
}

/// The checkpoint to store once the batch covering `range` is safe: the input's
/// template moved to just after the batch, when the input can resume there.
pub(crate) fn checkpoint_after(
    template: Option<&Checkpoint>,
    range: &SourceRange,
    resumable: bool,
) -> Option<Checkpoint> {
    template.filter(|_| resumable).map(|c| Checkpoint {
        position: Position {
            offset: range.end,
            line: range.last_line + 1,
        },
        ..c.clone()
    })
}
