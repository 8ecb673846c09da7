//! The default `serverHost`: this machine's hostname, read without a new dependency.

/// The hostname, for `sessionInfo.serverHost` (seed: "Set at least the serverHost field
/// with the hostname, or a stable server identifier").
///
/// Read from `/proc/sys/kernel/hostname` (Linux), else the `HOSTNAME` environment
/// variable, else `localhost`.
pub fn hostname() -> String {
    let from_proc = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_owned());
    pick([from_proc, std::env::var("HOSTNAME").ok()])
}

fn pick(candidates: [Option<String>; 2]) -> String {
    candidates
        .into_iter()
        .flatten()
        .map(|h| h.trim().to_owned())
        .find(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_non_empty_candidate_else_localhost() {
        assert_eq!(pick([Some("a\n".into()), Some("b".into())]), "a");
        assert_eq!(pick([Some(" ".into()), Some("b".into())]), "b");
        assert_eq!(pick([None, None]), "localhost");
        assert!(!hostname().is_empty());
    }
}
