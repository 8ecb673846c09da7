//! systemd's notification protocol (`Type=notify`): READY, RELOADING, STOPPING and the
//! watchdog, through the `sd-notify` crate. Without `NOTIFY_SOCKET` every call does
//! nothing.

use sd_notify::NotifyState;
use std::time::Duration;

fn send(states: &[NotifyState<'_>]) {
    if let Err(e) = sd_notify::notify(false, states) {
        tracing::warn!("cannot notify systemd: {e}");
    }
}

/// Startup (or a reload) is finished.
pub(super) fn ready() {
    send(&[NotifyState::Ready, NotifyState::Status("shipping")]);
}

/// The configuration is being reloaded.
pub(super) fn reloading() {
    send(&[NotifyState::Reloading]);
}

/// Shutting down.
pub(super) fn stopping() {
    send(&[
        NotifyState::Stopping,
        NotifyState::Status("finishing what is in flight"),
    ]);
}

/// Still alive (the watchdog).
pub(super) fn alive() {
    send(&[NotifyState::Watchdog]);
}

/// A timer at half the watchdog interval systemd asks for, if it asks.
pub(super) fn watchdog() -> Option<tokio::time::Interval> {
    let mut usec = 0;
    match sd_notify::watchdog_enabled(false, &mut usec) {
        true if usec > 0 => Some(tokio::time::interval(Duration::from_micros(usec / 2))),
        _ => None,
    }
}
