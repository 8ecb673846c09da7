//! Credential primitives every API uses: the outcome of a check, a key ring with
//! revocation, new random keys, and the `Authorization` header's credential. Each API's
//! state owns its own [`Keys`] (integration keys, SDL keys, access tokens).

use crate::util::random_secret;
use http::header;
use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

/// How a credential check turned out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Check {
    Valid,
    /// Not known here (or belongs to another integration).
    Unknown,
    /// Known but revoked (a deleted integration).
    Revoked,
    /// An access token past its lifetime.
    Expired,
}

/// A new random key.
pub(crate) fn new_key() -> String {
    random_secret(24)
}

/// Live keys, each with what the API keeps about it (`T`), and the keys revoked.
pub(crate) struct Keys<T> {
    inner: Mutex<KeysInner<T>>,
}

struct KeysInner<T> {
    live: HashMap<String, T>,
    revoked: HashSet<String>,
}

impl<T> Default for Keys<T> {
    fn default() -> Self {
        Keys {
            inner: Mutex::new(KeysInner {
                live: HashMap::new(),
                revoked: HashSet::new(),
            }),
        }
    }
}

impl<T> std::fmt::Debug for Keys<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keys").finish_non_exhaustive()
    }
}

impl<T> Keys<T> {
    fn lock(&self) -> std::sync::MutexGuard<'_, KeysInner<T>> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Drops the live keys whose value `keep` refuses, then adds `key`, in one step.
    pub(crate) fn insert(&self, key: String, value: T, mut keep: impl FnMut(&T) -> bool) {
        let mut inner = self.lock();
        inner.live.retain(|_, v| keep(v));
        inner.live.insert(key, value);
    }

    /// Marks a live key revoked; false when it is not live.
    pub(crate) fn revoke(&self, key: &str) -> bool {
        let mut inner = self.lock();
        let known = inner.live.contains_key(key);
        if known {
            inner.revoked.insert(key.to_owned());
        }
        known
    }

    /// Whether some live key (revoked or not) has a value `matches` accepts.
    pub(crate) fn any(&self, matches: impl FnMut(&T) -> bool) -> bool {
        self.lock().live.values().any(matches)
    }

    /// [`Check::Unknown`] when `key` is not live, else `judge(value, revoked)`.
    pub(crate) fn check(&self, key: &str, judge: impl FnOnce(&T, bool) -> Check) -> Check {
        let inner = self.lock();
        match inner.live.get(key) {
            None => Check::Unknown,
            Some(value) => judge(value, inner.revoked.contains(key)),
        }
    }
}

/// The credential of an `Authorization: <scheme> <credential>` header when the scheme is
/// one of `schemes` (compared case-insensitively, RFC 9110 §11.1).
pub(crate) fn credential<'a>(headers: &'a http::HeaderMap, schemes: &[&str]) -> Option<&'a str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, rest) = value.split_once(' ')?;
    if !schemes.iter().any(|s| s.eq_ignore_ascii_case(scheme)) {
        return None;
    }
    let cred = rest.trim_start_matches(' ');
    (!cred.is_empty()).then_some(cred)
}
