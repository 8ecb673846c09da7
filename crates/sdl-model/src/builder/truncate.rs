//! Cutting the `message` of an event too large for any request ([`Oversize::Truncate`](super::Oversize::Truncate)).

use crate::{Event, json};

/// The truncation marker appended to a cut `message`.
fn marker(removed: usize) -> String {
    format!("…[truncated {removed} bytes]")
}

/// Shortens the string `message` of `event` so its serialized form is at least `excess`
/// bytes smaller, ending it with [`marker`]. False when there is no string message or it
/// can't be made short enough.
pub(super) fn truncate_message(event: &mut Event, excess: usize) -> bool {
    let Some(crate::AttrValue::String(message)) = event.attrs.get_mut("message") else {
        return false;
    };
    let escaped = json::escaped_len(message);
    // The marker is ASCII but for `…`, which needs no escape: its length is its byte length.
    let marker_max = marker(message.len()).len();
    let Some(budget) = escaped.checked_sub(excess + marker_max) else {
        return false;
    };
    let mut used = 0;
    let mut cut = 0;
    for (i, c) in message.char_indices() {
        let len: usize = message[i..i + c.len_utf8()]
            .bytes()
            .map(json::escaped_byte_len)
            .sum();
        if used + len > budget {
            break;
        }
        used += len;
        cut = i + c.len_utf8();
    }
    let removed = message.len() - cut;
    message.truncate(cut);
    message.push_str(&marker(removed));
    true
}
