//! Values from the environment never show in an error or a `Debug`; options named like
//! secrets never show in a `Debug`.

use crate::{BASE, edit, error, parse};

const SECRET: &str = "sekrit-from-env";

#[test]
fn environment_values_never_show_in_errors() {
    // Each puts `${KEY}` where it makes an error about that very value.
    let cases = [
        edit("type = \"file\"", "type = \"file\"\nformat = \"${KEY}\""),
        edit("type = \"file\"", "type = \"${KEY}\""),
        edit("type = \"http-ingest\"", "type = \"${KEY}\""),
        edit("[\"auth\"]", "[\"${KEY}\"]"),
        edit("[\"auth\"]", "[\"auth\", \"${KEY}\"]"),
        format!("shutdown_timeout = \"${{KEY}}\"\n{BASE}"),
        format!("{BASE}[api]\nlisten = \"${{KEY}}\"\n"),
        edit(
            "include = [\"/var/log/auth.log*\"]",
            "include = [\"/var/log/auth.log*\"]\nmultiline = { start = '(${KEY}' }",
        ),
        edit(
            "include = [\"/var/log/auth.log*\"]",
            "include = [\"/var/log/auth.log*\"]\nmultiline = { start = 'x', timeout = \"${KEY}\" }",
        ),
        edit(
            "type = \"file\"",
            "type = \"file\"\nwhole_files = true\nafter_upload = \"${KEY}\"",
        ),
    ];
    for text in &cases {
        let e = error(text);
        assert!(!e.contains(SECRET), "{e}");
        assert!(e.starts_with("t.toml:"), "{e}");
    }
    // The message still says which key and that the environment was involved.
    let e = error(&cases[0]);
    assert_eq!(
        e,
        "t.toml:5:10: sources.auth.format: unknown value `${KEY}` (after substitution from the environment): expected `text` or `json`"
    );
    let e = error(&cases[3]);
    assert!(e.contains("sinks.taegis.inputs[0]"), "{e}");
}

#[test]
fn environment_values_never_show_in_debug() {
    let text = BASE
        .replace("\"/var/lib/logferry\"", "\"/data/${KEY}\"")
        .replace("[\"/var/log/auth.log*\"]", "[\"/logs/${KEY}\"]\nexclude = [\"${KEY}\"]\nmultiline = { start = '^${KEY}', join = \"${KEY}\" }")
        .replace("\"https://ingest.example\"", "\"https://${KEY}.example\"")
        + "header = \"${KEY}\"\nlist = [\"a\", \"${KEY}\"]\n[api]\nlisten = \"${ADDR:-127.0.0.1:1}\"\n";
    let env = |name: &str| match name {
        "KEY" => Some(SECRET.to_owned()),
        "ADDR" => Some("127.0.0.1:4242".to_owned()),
        _ => None,
    };
    let config = logferry_config::parse(&text, std::path::Path::new("t.toml"), &env).unwrap();
    let debug = format!("{config:?}");
    let pretty = format!("{config:#?}");
    for d in [&debug, &pretty] {
        assert!(!d.contains(SECRET), "{d}");
        assert!(!d.contains("4242"), "{d}");
        assert!(d.contains("<redacted>"), "{d}");
    }
    // What did not come from the environment still shows.
    assert!(
        debug.contains("http-ingest") || debug.contains("HttpIngest"),
        "{debug}"
    );
    assert!(debug.contains("\"auth\""), "{debug}");
}

#[test]
fn secret_named_options_never_show_in_debug() {
    let keys = [
        "key",
        "token",
        "password",
        "secret",
        "client_secret",
        "api_key",
        "access-token",
        "write_key",
    ];
    let mut text = BASE.to_owned();
    for (i, k) in keys.iter().enumerate() {
        text.push_str(&format!("{k} = \"written-secret-{i}\"\n"));
    }
    text.push_str("key_file = \"/etc/logferry/ingest.key\"\n");
    let config = parse(&text).unwrap();
    let debug = format!("{:?}", config.sinks["taegis"]);
    assert!(!debug.contains("written-secret"), "{debug}");
    for k in keys {
        let option = config.sinks["taegis"].option(k).unwrap();
        assert!(option.is_secret() && !option.is_showable(), "{k}");
        assert!(
            debug.contains(&format!("{k:?}")),
            "the key itself shows: {debug}"
        );
    }
    // A path to a key file is not a secret.
    assert!(debug.contains("/etc/logferry/ingest.key"), "{debug}");
    assert!(debug.contains("https://ingest.example"), "{debug}");
}
