//! `${VAR}` substitution: values, defaults, `$$`, unset variables, and where it applies.

use crate::{BASE, edit, error, parse};
use logferry_config::{OptionValue, SourceKind};

fn url_of(text: &str) -> OptionValue {
    parse(text).unwrap().sinks["taegis"]
        .option("url")
        .unwrap()
        .value
        .clone()
}

fn s(v: &str) -> OptionValue {
    OptionValue::String(v.to_owned())
}

#[test]
fn variables_defaults_and_dollars() {
    let url = |v: &str| url_of(&edit("\"https://ingest.example\"", v));
    assert_eq!(url("\"${URL}\""), s("https://from-env.example"));
    assert_eq!(url("\"${URL}/path\""), s("https://from-env.example/path"));
    assert_eq!(
        url("\"${UNSET:-https://default.example}\""),
        s("https://default.example")
    );
    assert_eq!(
        url("\"${EMPTY:-https://default.example}\""),
        s("https://default.example")
    );
    assert_eq!(
        url("\"${URL:-https://default.example}\""),
        s("https://from-env.example")
    );
    assert_eq!(url("\"${EMPTY}\""), s(""));
    assert_eq!(url("\"a$$b$${URL}\""), s("a$b${URL}"));
    assert_eq!(url("\"cost $5\""), s("cost $5"));
}

#[test]
fn an_unset_variable_is_an_error_at_its_key() {
    assert_eq!(
        error(&edit("\"https://ingest.example\"", "\"${NOPE}\"")),
        "t.toml:10:7: sinks.taegis.url: environment variable `NOPE` is not set (write `${NOPE:-default}` for a default)"
    );
    assert_eq!(
        error(&edit("\"/var/lib/logferry\"", "\"${DATA}\"")),
        "t.toml:1:12: data_dir: environment variable `DATA` is not set (write `${DATA:-default}` for a default)"
    );
    assert_eq!(
        error(&edit("[\"/var/log/auth.log*\"]", "[\"/a\", \"${GLOB}\"]")),
        "t.toml:5:18: sources.auth.include[1]: environment variable `GLOB` is not set (write `${GLOB:-default}` for a default)"
    );
    assert_eq!(
        error(&edit("\"https://ingest.example\"", "\"${URL\"")),
        "t.toml:10:7: sinks.taegis.url: unterminated `${` (write `$$` for a literal `$`)"
    );
    assert_eq!(
        error(&edit("\"https://ingest.example\"", "\"${a b}\"")),
        "t.toml:10:7: sinks.taegis.url: `${a b}` is not a variable reference: a name is letters, digits and `_` (write `$$` for a literal `$`)"
    );
}

#[test]
fn substitution_reaches_every_string() {
    let text = BASE
        .replace("\"/var/lib/logferry\"", "\"${UNSET:-/srv}/data\"")
        .replace("[\"/var/log/auth.log*\"]", "[\"${UNSET:-/logs}/*.log\"]\nexclude = [\"${UNSET:-*.gz}\"]\nmultiline = { start = '${UNSET:-^x}$' }")
        .replace("[\"auth\"]", "[\"${UNSET:-auth}\"]")
        + "tags = [\"${URL}\"]\n";
    let config = parse(&text).unwrap();
    assert_eq!(config.data_dir.to_str(), Some("/srv/data"));
    let SourceKind::File(f) = &config.sources["auth"].kind else {
        panic!()
    };
    assert_eq!(f.include, ["/logs/*.log"]);
    assert_eq!(f.exclude, ["*.gz"]);
    assert_eq!(f.multiline.as_ref().unwrap().rule.pattern(), "^x$");
    let sink = &config.sinks["taegis"];
    assert_eq!(sink.inputs, ["auth"]);
    let tags = sink.option("tags").unwrap();
    assert_eq!(
        tags.value,
        OptionValue::List(vec!["https://from-env.example".into()])
    );
    assert!(tags.from_env);
    assert!(!sink.option("url").unwrap().from_env);
}

#[test]
fn keys_are_not_substituted() {
    let config = parse(&format!("{BASE}\"${{URL}}\" = 1\n")).unwrap();
    assert_eq!(config.sinks["taegis"].options[1].key, "${URL}");
}
