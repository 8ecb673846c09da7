//! The serialized fixed parts of a session's requests: `{"session":…,"events":[` and the
//! declared `logs` entries, with the body limit they leave room under.

use super::{Config, Dedupe, MAX_BODY_BYTES, SessionHeader};
use crate::json;
use crate::{Error, Log};
use std::collections::HashSet;

/// `,"logs":[`. Its closing `]` is counted with the entries: each costs its length plus
/// one byte, a comma or that bracket.
const LOGS_KEY: usize = 9;

/// The serialized fixed parts of a session's requests.
#[derive(Debug)]
pub(super) struct Envelope {
    /// `{"session":…,"events":[`.
    pub(super) prefix: Vec<u8>,
    /// The declared logs' entries, comma-separated.
    pub(super) static_logs: Vec<u8>,
    pub(super) static_log_count: usize,
    pub(super) static_log_ids: HashSet<String>,
    /// The declared logs themselves, for charge estimates.
    pub(super) static_log_list: Vec<Log>,
    pub(super) limit: usize,
    pub(super) dedupe: Dedupe,
}

impl Envelope {
    pub(super) fn new(header: &SessionHeader, config: &Config) -> Result<Envelope, Error> {
        let mut prefix = Vec::with_capacity(256);
        prefix.extend_from_slice(b"{\"session\":");
        json::write_str(&mut prefix, header.session.as_str());
        if !header.info.0.is_empty() {
            prefix.extend_from_slice(b",\"sessionInfo\":");
            header.info.0.write_json(&mut prefix);
        }
        if !header.threads.is_empty() {
            prefix.extend_from_slice(b",\"threads\":[");
            for (i, t) in header.threads.iter().enumerate() {
                if i > 0 {
                    prefix.push(b',');
                }
                prefix.extend_from_slice(b"{\"id\":");
                json::write_str(&mut prefix, &t.id);
                prefix.extend_from_slice(b",\"name\":");
                json::write_str(&mut prefix, &t.name);
                prefix.push(b'}');
            }
            prefix.push(b']');
        }
        prefix.extend_from_slice(b",\"events\":[");
        let mut static_logs = Vec::new();
        let mut static_log_ids = HashSet::new();
        for (i, log) in header.logs.iter().enumerate() {
            if !static_log_ids.insert(log.id.clone()) {
                return Err(Error::InvalidConfig {
                    reason: format!("log id `{}` is declared twice", log.id),
                });
            }
            if i > 0 {
                static_logs.push(b',');
            }
            write_log_entry(&mut static_logs, &log.id, |out| log.attrs.write_json(out));
        }
        if config.max_body_bytes > MAX_BODY_BYTES {
            return Err(Error::InvalidConfig {
                reason: format!(
                    "max_body_bytes {} exceeds the documented {MAX_BODY_BYTES}-byte limit",
                    config.max_body_bytes
                ),
            });
        }
        let env = Envelope {
            prefix,
            static_log_count: header.logs.len(),
            static_logs,
            static_log_ids,
            static_log_list: header.logs.clone(),
            limit: config.max_body_bytes,
            dedupe: config.dedupe,
        };
        // Room for at least one small event.
        if env.fixed_len() + env.static_logs_part(0) + 256 > env.limit {
            return Err(Error::InvalidConfig {
                reason: format!(
                    "max_body_bytes {} leaves no room for events after the {}-byte session header",
                    env.limit,
                    env.fixed_len() + env.static_logs_part(0)
                ),
            });
        }
        Ok(env)
    }

    /// Prefix, `]` closing the events, `}` closing the body.
    pub(super) fn fixed_len(&self) -> usize {
        self.prefix.len() + 2
    }

    /// The `,"logs":[…]` overhead besides the deduped entries (whose own cost includes
    /// their separator), given how many groups are deduped.
    pub(super) fn static_logs_part(&self, deduped_groups: usize) -> usize {
        if self.static_log_count + deduped_groups == 0 {
            0
        } else {
            LOGS_KEY + self.static_logs.len() + self.static_log_count
        }
    }
}

pub(super) fn write_log_entry(out: &mut Vec<u8>, id: &str, attrs: impl FnOnce(&mut Vec<u8>)) {
    out.extend_from_slice(b"{\"id\":");
    json::write_str(out, id);
    out.extend_from_slice(b",\"attrs\":");
    attrs(out);
    out.push(b'}');
}
