//! The dead-letter file: records no retry can deliver, one JSON object per line, created
//! only when the first record arrives, flushed after each write.
//!
//! Fields: `kind` (`invalid` for records the framer refused, `rejected` for records the
//! endpoint refused, `undelivered` for records given up or left when the sender
//! stopped), `source`, `line` and `offset` when known, `reason`, and the record(s) as
//! `records` (text, one per line) or `raw_base64` (exact bytes, for invalid UTF-8), and
//! `truncated: true` when a refused record was longer than the 8 MiB kept of it.
//! [`read`] reads such a file back, for a replay.

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(Serialize)]
struct Entry<'a> {
    kind: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    source: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    line: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    offset: Option<u64>,
    reason: &'a str,
    count: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    records: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    raw_base64: Option<String>,
    /// The record was longer than the framer keeps of a rejected record
    /// (`max_rejected_bytes`, 8 MiB): only its start is here.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    truncated: bool,
}

/// What a dead-letter line holds, read back (`logferry dead-letter replay`).
#[derive(Deserialize)]
struct Stored {
    source: Option<String>,
    records: Option<String>,
    raw_base64: Option<String>,
}

/// One dead-letter line read back: where its records came from, and their bytes.
pub(crate) struct ReadBack {
    pub(crate) source: Option<String>,
    pub(crate) body: Vec<u8>,
}

/// Every line of the dead-letter file `path`, in order; a line that is not one of ours
/// is a usage error naming the file and line.
pub(crate) fn read(path: &Path) -> anyhow::Result<Vec<ReadBack>> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => crate::exit::usage!("cannot read {}: {e}", path.display()),
    };
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let at = || format!("{}:{}", path.display(), i + 1);
        let stored: Stored = match serde_json::from_str(line) {
            Ok(s) => s,
            Err(e) => crate::exit::usage!("{}: not a dead-letter entry: {e}", at()),
        };
        let body = match (stored.records, stored.raw_base64) {
            (Some(text), _) => text.into_bytes(),
            (None, Some(b64)) => match base64::engine::general_purpose::STANDARD.decode(b64) {
                Ok(b) => b,
                Err(e) => crate::exit::usage!("{}: bad raw_base64: {e}", at()),
            },
            (None, None) => Vec::new(),
        };
        out.push(ReadBack {
            source: stored.source,
            body,
        });
    }
    Ok(out)
}

/// What goes into one dead-letter line.
pub(crate) struct Letter<'a> {
    pub(crate) kind: &'a str,
    pub(crate) source: Option<&'a str>,
    pub(crate) line: Option<u64>,
    pub(crate) offset: Option<u64>,
    pub(crate) reason: &'a str,
    pub(crate) count: u64,
    pub(crate) body: &'a [u8],
    /// `body` is only the start of the record.
    pub(crate) truncated: bool,
}

/// The dead-letter writer.
pub(crate) struct DeadLetter {
    path: PathBuf,
    file: Option<File>,
    records: u64,
}

impl DeadLetter {
    pub(crate) fn new(path: PathBuf) -> Self {
        Self {
            path,
            file: None,
            records: 0,
        }
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Records written so far.
    pub(crate) fn records(&self) -> u64 {
        self.records
    }

    /// Appends one entry. Failing to write the dead-letter file is fatal for the run:
    /// the records would be lost.
    pub(crate) fn write(&mut self, letter: Letter<'_>) -> anyhow::Result<()> {
        let (records, raw_base64) = match std::str::from_utf8(letter.body) {
            Ok(text) => (Some(text), None),
            Err(_) => (
                None,
                Some(base64::engine::general_purpose::STANDARD.encode(letter.body)),
            ),
        };
        let entry = Entry {
            kind: letter.kind,
            source: letter.source,
            line: letter.line,
            offset: letter.offset,
            reason: letter.reason,
            count: letter.count,
            records,
            raw_base64,
            truncated: letter.truncated,
        };
        let mut line = serde_json::to_vec(&entry)?;
        line.push(b'\n');
        if self.file.is_none() {
            if let Some(parent) = self.path.parent().filter(|p| !p.as_os_str().is_empty()) {
                std::fs::create_dir_all(parent)?;
            }
            let mut options = OpenOptions::new();
            options.create(true).append(true);
            // Records may carry secrets of their own: readable by the owner only.
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            let file = options.open(&self.path).map_err(|e| {
                anyhow::anyhow!(
                    "cannot open the dead-letter file {}: {e}",
                    self.path.display()
                )
            })?;
            self.file = Some(file);
        }
        let file = self.file.as_mut().expect("opened above");
        file.write_all(&line)
            .and_then(|()| file.flush())
            .map_err(|e| {
                anyhow::anyhow!(
                    "cannot write the dead-letter file {}: {e}",
                    self.path.display()
                )
            })?;
        self.records += letter.count;
        Ok(())
    }
}

/// The records of a dead-letter file, grouped by source name in order of first
/// appearance, each record ending with a line feed.
pub(crate) fn grouped(path: &std::path::Path) -> anyhow::Result<Vec<(String, Vec<u8>)>> {
    let mut groups: Vec<(String, Vec<u8>)> = Vec::new();
    for letter in read(path)? {
        let mut bytes = letter.body;
        if bytes.is_empty() {
            continue;
        }
        if bytes.last() != Some(&b'\n') {
            bytes.push(b'\n');
        }
        let name = letter.source.unwrap_or_else(|| "<dead-letter>".to_owned());
        match groups.iter_mut().find(|(n, _)| *n == name) {
            Some((_, b)) => b.extend_from_slice(&bytes),
            None => groups.push((name, bytes)),
        }
    }
    Ok(groups)
}
