//! The fuzz harness (`fuzz/fuzz_targets/config.rs`): [`parse`](crate::parse) never panics,
//! and every error it returns names a position inside the text.

use std::path::Path;

/// Parses `data` (as UTF-8, lossily) with an environment that sets `SET` and nothing else;
/// panics if an error's position lies outside the text or a `Debug` shows the secret.
pub fn config(data: &[u8]) {
    const SECRET: &str = "fuzz-secret-value-9f1c";
    let text = String::from_utf8_lossy(data);
    // A secret written into the file itself may show; only the environment's must not.
    let planted = text.contains(SECRET);
    let env = |name: &str| (name == "SET").then(|| SECRET.to_owned());
    match crate::parse(&text, Path::new("fuzz.toml"), &env) {
        Ok(config) => {
            assert!(
                planted || !format!("{config:?}").contains(SECRET),
                "Debug shows an environment value"
            );
        }
        Err(e) => {
            let location = e.location().expect("parse errors have a location");
            assert!(
                location.offset <= text.len(),
                "error offset past the end: {e}"
            );
            assert!(location.line >= 1 && location.column >= 1);
            assert!(
                planted || !e.to_string().contains(SECRET),
                "error shows an environment value: {e}"
            );
        }
    }
}
