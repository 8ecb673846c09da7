//! Received records and uploads: bounded in memory, optionally appended to a JSONL file.
//!
//! Every accepted request's records are written to the records file (one JSON object per
//! line, the same shape as [`Record`]'s serde form) and the file is flushed **before the
//! reply is sent**, so whatever the emulator acknowledged is on disk even if the client is
//! killed right after. In memory, the newest [`Config::memory_records`](crate::Config)
//! records are kept; older ones are dropped and counted.

use crate::{Endpoint, Error};
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// One stored record: a line of HTTP Ingest or File Upload, or one SDL event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Record {
    /// Position in arrival order, from 0, over all endpoints.
    pub seq: u64,
    /// The endpoint that received it.
    pub endpoint: Endpoint,
    /// HTTP Ingest: the integration id; File Upload: the file name; SDL addEvents: the
    /// session; SDL uploadLogs: the `logfile` header (or `uploadLogs`).
    pub source: String,
    /// The request that carried it (also sent back as the `x-emulator-request-id` header).
    pub request_id: u64,
    /// The line without its line feed; for SDL, the `message` attribute when it is a
    /// string (else empty).
    pub text: String,
    /// The last line of a body that did not end with a line feed.
    pub unterminated: bool,
    /// SDL fields.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sdl: Option<SdlFields>,
}

/// The SDL parts of an event record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SdlFields {
    /// `ts` as sent (a string of digits), if any.
    pub ts: Option<String>,
    /// `sev` as sent, if any (the seed's default is 3).
    pub sev: Option<u8>,
    /// `thread` as sent, if any.
    pub thread: Option<String>,
    /// The event's `attrs` with its `logs` entry's attributes merged in (the event's own
    /// attributes win on a clash).
    pub attrs: serde_json::Value,
}

/// One file received by the presigned PUT.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Upload {
    /// The PUT request.
    pub request_id: u64,
    /// `file_name` as presigned.
    pub file_name: String,
    /// `sensor_id` (default `toaster.localhost`, as the seed says).
    pub sensor_id: String,
    /// `service`, when given.
    pub service: Option<String>,
    /// File size in bytes.
    pub bytes: u64,
    /// Records stored from it.
    pub lines: u64,
}

/// A record before it gets its sequence number.
#[derive(Debug)]
pub(crate) struct NewRecord {
    pub(crate) text: String,
    pub(crate) unterminated: bool,
    pub(crate) sdl: Option<SdlFields>,
}

#[derive(Debug)]
struct Memory {
    records: VecDeque<Record>,
    next_seq: u64,
    dropped: u64,
    uploads: Vec<Upload>,
}

#[derive(Debug)]
pub(crate) struct Store {
    memory: Mutex<Memory>,
    cap: usize,
    file: Option<(PathBuf, Mutex<BufWriter<File>>)>,
}

/// Records returned by [`Store::since`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct RecordPage {
    pub(crate) records: Vec<Record>,
    pub(crate) next: u64,
    pub(crate) dropped: u64,
}

impl Store {
    pub(crate) fn new(cap: usize, file: Option<&Path>) -> Result<Store, Error> {
        let file = match file {
            Some(path) => {
                let f = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .map_err(|source| Error::Write {
                        path: path.to_owned(),
                        source,
                    })?;
                Some((
                    path.to_owned(),
                    Mutex::new(BufWriter::with_capacity(1 << 20, f)),
                ))
            }
            None => None,
        };
        Ok(Store {
            memory: Mutex::new(Memory {
                records: VecDeque::new(),
                next_seq: 0,
                dropped: 0,
                uploads: Vec::new(),
            }),
            cap,
            file,
        })
    }

    fn memory(&self) -> std::sync::MutexGuard<'_, Memory> {
        self.memory.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Stores one request's records (and its upload, for File Upload); returns how many
    /// were dropped from memory to make room.
    pub(crate) fn append(
        &self,
        endpoint: Endpoint,
        source: &str,
        request_id: u64,
        new: Vec<NewRecord>,
        upload: Option<Upload>,
    ) -> std::io::Result<u64> {
        // The file lock is taken first and held while sequence numbers are given, so the
        // file is in `seq` order too.
        let mut file = self
            .file
            .as_ref()
            .map(|(_, f)| f.lock().unwrap_or_else(|e| e.into_inner()));
        let mut memory = self.memory();
        let first = memory.next_seq;
        memory.next_seq += new.len() as u64;
        let records = new.into_iter().enumerate().map(|(i, r)| Record {
            seq: first + i as u64,
            endpoint,
            source: source.to_owned(),
            request_id,
            text: r.text,
            unterminated: r.unterminated,
            sdl: r.sdl,
        });
        let mut dropped = 0;
        if let Some(file) = file.as_mut() {
            let records: Vec<Record> = records.collect();
            for record in &records {
                serde_json::to_writer(&mut **file, record)?;
                file.write_all(b"\n")?;
            }
            file.flush()?;
            for record in records {
                dropped += push(&mut memory, self.cap, record);
            }
        } else {
            for record in records {
                dropped += push(&mut memory, self.cap, record);
            }
        }
        if let Some(upload) = upload {
            memory.uploads.push(upload);
        }
        Ok(dropped)
    }

    pub(crate) fn records(&self) -> Vec<Record> {
        self.memory().records.iter().cloned().collect()
    }

    pub(crate) fn uploads(&self) -> Vec<Upload> {
        self.memory().uploads.clone()
    }

    pub(crate) fn dropped(&self) -> u64 {
        self.memory().dropped
    }

    pub(crate) fn path(&self) -> Option<&Path> {
        self.file.as_ref().map(|(p, _)| p.as_path())
    }

    /// Records with `seq >= since`, at most `limit` of them.
    pub(crate) fn since(&self, since: u64, limit: usize) -> RecordPage {
        let memory = self.memory();
        let oldest = memory.records.front().map_or(memory.next_seq, |r| r.seq);
        let start = since.max(oldest);
        let skip = usize::try_from(start - oldest).unwrap_or(usize::MAX);
        let records: Vec<Record> = memory
            .records
            .iter()
            .skip(skip)
            .take(limit)
            .cloned()
            .collect();
        let next = records.last().map_or(start, |r| r.seq + 1);
        RecordPage {
            records,
            next,
            dropped: start - since.min(start),
        }
    }
}

fn push(memory: &mut Memory, cap: usize, record: Record) -> u64 {
    let mut dropped = 0;
    if cap == 0 {
        memory.dropped += 1;
        return 1;
    }
    while memory.records.len() >= cap {
        memory.records.pop_front();
        memory.dropped += 1;
        dropped += 1;
    }
    memory.records.push_back(record);
    dropped
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(n: usize) -> Vec<NewRecord> {
        (0..n)
            .map(|i| NewRecord {
                text: format!("line {i}"),
                unterminated: false,
                sdl: None,
            })
            .collect()
    }

    #[test]
    fn memory_is_bounded_and_drops_are_counted() {
        let store = Store::new(3, None).unwrap();
        store
            .append(Endpoint::HttpIngest, "i", 1, lines(2), None)
            .unwrap();
        let dropped = store
            .append(Endpoint::HttpIngest, "i", 2, lines(3), None)
            .unwrap();
        assert_eq!(dropped, 2);
        assert_eq!(store.dropped(), 2);
        let seqs: Vec<u64> = store.records().iter().map(|r| r.seq).collect();
        assert_eq!(seqs, vec![2, 3, 4]);
        let page = store.since(0, 10);
        assert_eq!((page.dropped, page.next, page.records.len()), (2, 5, 3));
        let page = store.since(4, 10);
        assert_eq!((page.dropped, page.next, page.records.len()), (0, 5, 1));
        let page = store.since(9, 10);
        assert_eq!((page.dropped, page.next, page.records.len()), (0, 9, 0));
    }

    #[test]
    fn the_file_gets_every_record_even_past_the_memory_cap() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("records.jsonl");
        let store = Store::new(1, Some(&path)).unwrap();
        store
            .append(Endpoint::HttpIngest, "i", 7, lines(3), None)
            .unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let parsed: Vec<Record> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(parsed.len(), 3);
        assert_eq!(parsed[2].text, "line 2");
        assert_eq!(parsed[2].request_id, 7);
    }
}
