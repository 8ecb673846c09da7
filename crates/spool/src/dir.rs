//! Where a backend's spool lives: one directory per backend and target.

/// The name of the spool directory of backend `backend` sending to `target` (a URL, an
/// account): `{backend}-{hash}`, the hash being the low 32 bits of the 64-bit FNV-1a of
/// `target`, in 8 hex digits. Different targets get different spools, so an entry never
/// goes to an endpoint it was not meant for, and the same target finds its spool again
/// in the next run.
///
/// ```
/// assert_eq!(logferry_spool::dir_name("sdl", ""), "sdl-84222325");
/// ```
pub fn dir_name(backend: &str, target: &str) -> String {
    let hash = target.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    format!("{backend}-{:08x}", hash as u32)
}

#[cfg(test)]
mod tests {
    use super::dir_name;

    #[test]
    fn names_are_those_of_earlier_versions() {
        // Computed with the CLI's `open_spool` before the rule moved here: existing spool
        // directories keep their names.
        assert_eq!(
            dir_name(
                "http-ingest",
                "https://ingest.example.com/http-endpoint/v1/abc"
            ),
            "http-ingest-5e710dc7"
        );
        assert_eq!(dir_name("sdl", ""), "sdl-84222325");
    }
}
