//! Property tests: `parse` never panics, and its errors point inside the text.

use proptest::prelude::*;

/// Fragments that steer random text toward the config's own shapes.
fn fragment() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("data_dir = \"/d\"\n".to_owned()),
        Just("[sources.a]\ntype = \"file\"\ninclude = [\"/x\"]\n".to_owned()),
        Just("[sinks.b]\ntype = \"http-ingest\"\ninputs = [\"a\"]\n".to_owned()),
        Just("[sinks.c]\ntype = \"file-upload\"\ninputs = [\"a\"]\n".to_owned()),
        Just("whole_files = true\n".to_owned()),
        Just("multiline = { start = '^\\S', timeout = \"1s\" }\n".to_owned()),
        Just("after_upload = { move_to = \"${X:-/m}\" }\n".to_owned()),
        Just("[api]\nlisten = \"127.0.0.1:1\"\n".to_owned()),
        Just("url = \"${SET}\"\n".to_owned()),
        "[ -~\\n\\t$\\{\\}é]{0,40}",
    ]
}

proptest! {
    #[test]
    fn parse_never_panics_on_any_text(text in ".{0,300}") {
        logferry_config::fuzzing::config(text.as_bytes());
    }

    #[test]
    fn parse_never_panics_on_config_like_text(parts in proptest::collection::vec(fragment(), 0..12)) {
        logferry_config::fuzzing::config(parts.concat().as_bytes());
    }
}
