//! The shipped example parses, and the model holds what it says.

use logferry_config::{
    AfterUpload, Format, MultilineRule, OptionValue, SinkKind, SourceKind, StartAt,
};
use std::path::Path;
use std::time::Duration;

fn example_path() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/logferry.example.toml")
}

fn example_env(name: &str) -> Option<String> {
    let value = match name {
        "HTTP_INGEST_URL" => "https://ingest.example",
        "HTTP_INGEST_KEY" => "ingest-key-1",
        "SDL_URL" => "https://sdl.example",
        "TAEGIS_CLIENT_ID" => "client-1",
        "TAEGIS_CLIENT_SECRET" => "client-secret-1",
        "HEC_TOKEN" => "hec-token-1",
        _ => return None,
    };
    Some(value.to_owned())
}

#[test]
fn the_example_parses() {
    let path = example_path();
    let text = std::fs::read_to_string(&path).unwrap();
    let config = logferry_config::parse(&text, &path, &example_env).unwrap();
    assert_eq!(config.path, path);
    assert_eq!(config.data_dir, Path::new("/var/lib/logferry"));
    assert_eq!(config.shutdown_timeout, Duration::from_secs(30));
    assert_eq!(
        config.api.as_ref().unwrap().listen.to_string(),
        "127.0.0.1:9598"
    );
    assert_eq!(
        config.sources.keys().collect::<Vec<_>>(),
        ["app", "auth", "drop", "fw", "hooks", "nginx_json"]
    );
    let SourceKind::Syslog(fw) = &config.sources["fw"].kind else {
        panic!()
    };
    assert_eq!(fw.mode, logferry_config::SyslogMode::Tls);
    assert_eq!(fw.listen.to_string(), "0.0.0.0:6514");
    let SourceKind::Http(hooks) = &config.sources["hooks"].kind else {
        panic!()
    };
    assert_eq!(hooks.token, "hec-token-1");
    let SourceKind::File(auth) = &config.sources["auth"].kind else {
        panic!()
    };
    assert_eq!(auth.include, ["/var/log/auth.log*"]);
    assert_eq!(auth.exclude, ["*.gz"]);
    assert_eq!(
        (auth.format, auth.start_at),
        (Format::Text, StartAt::Beginning)
    );
    assert!(!auth.whole_files && auth.multiline.is_none());
    let SourceKind::File(app) = &config.sources["app"].kind else {
        panic!()
    };
    let multiline = app.multiline.as_ref().unwrap();
    assert_eq!(multiline.rule, MultilineRule::Start(r"^\S".into()));
    assert_eq!(multiline.max_bytes, 1_000_000);
    assert_eq!(multiline.timeout, Duration::from_secs(1));
    assert_eq!(app.max_open_files, Some(256));
    let SourceKind::File(json) = &config.sources["nginx_json"].kind else {
        panic!()
    };
    assert_eq!((json.format, json.start_at), (Format::Json, StartAt::End));
    let SourceKind::File(drop) = &config.sources["drop"].kind else {
        panic!()
    };
    assert!(drop.whole_files);
    assert_eq!(drop.settle, Duration::from_secs(10));
    assert_eq!(
        drop.after_upload,
        AfterUpload::MoveTo("/srv/logferry/uploaded".into())
    );

    let kinds: Vec<_> = config.sinks.values().map(|s| s.kind).collect();
    assert_eq!(
        kinds,
        [SinkKind::Sdl, SinkKind::HttpIngest, SinkKind::FileUpload]
    );
    let taegis = &config.sinks["taegis"];
    assert_eq!(taegis.inputs, ["auth", "app", "fw"]);
    let keys: Vec<_> = taegis.options.iter().map(|o| o.key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "url",
            "key",
            "compression",
            "batch_bytes",
            "concurrency",
            "retry_for",
            "max_record_bytes"
        ],
        "options keep file order"
    );
    assert_eq!(
        taegis.option("batch-bytes").unwrap().value,
        OptionValue::Integer(100_000)
    );
    assert_eq!(
        taegis
            .option("max_record_bytes")
            .unwrap()
            .value
            .as_arg()
            .as_deref(),
        Some("500000")
    );
    assert_eq!(
        taegis.option("key").unwrap().value.as_arg().as_deref(),
        Some("ingest-key-1")
    );
    let sdl = &config.sinks["sdl"];
    assert_eq!(
        sdl.option("server_host").unwrap().value,
        OptionValue::String("web-1".into()),
        "default used when HOSTNAME is unset"
    );
    assert_eq!(
        config
            .sinks_of("app")
            .map(|s| s.name.as_str())
            .collect::<Vec<_>>(),
        ["sdl", "taegis"]
    );

    // Nothing from the environment shows in Debug.
    let debug = format!("{config:?}");
    for secret in [
        "https://ingest.example",
        "ingest-key-1",
        "client-secret-1",
        "client-1",
    ] {
        assert!(!debug.contains(secret), "{secret} in {debug}");
    }
    // What the file itself says does.
    assert!(debug.contains("web-1.example.com"), "{debug}");
}

#[test]
fn load_reads_the_file_and_names_it_when_unreadable() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("logferry.toml");
    std::fs::write(&path, crate::BASE).unwrap();
    let config = logferry_config::load(&path).unwrap();
    assert_eq!(config.sinks["taegis"].inputs, ["auth"]);

    let missing = dir.path().join("missing.toml");
    let e = logferry_config::load(&missing).unwrap_err();
    assert_eq!(e.location(), None);
    assert!(
        e.to_string().starts_with(&format!(
            "{}: cannot read the configuration file: ",
            missing.display()
        )),
        "{e}"
    );
}

#[test]
fn equal_files_give_equal_configs_and_a_change_shows() {
    let a = crate::parse(crate::BASE).unwrap();
    let b = crate::parse(crate::BASE).unwrap();
    assert_eq!(a, b);
    let c = crate::parse(&crate::edit(
        "https://ingest.example",
        "https://other.example",
    ))
    .unwrap();
    assert_eq!(a.sources, c.sources, "the source did not change");
    assert_ne!(a.sinks["taegis"], c.sinks["taegis"]);
}

#[test]
fn defaults() {
    let config = crate::parse(crate::BASE).unwrap();
    assert_eq!(config.shutdown_timeout, Duration::from_secs(30));
    assert!(config.api.is_none());
    let SourceKind::File(f) = &config.sources["auth"].kind else {
        panic!()
    };
    assert!(f.exclude.is_empty());
    assert_eq!((f.format, f.start_at), (Format::Text, StartAt::Beginning));
    assert_eq!((f.whole_files, f.settle), (false, Duration::from_secs(10)));
    assert_eq!(
        (f.after_upload.clone(), f.max_open_files),
        (AfterUpload::Keep, None)
    );
    assert_eq!(config.sources["auth"].location.to_string(), "3:10");
    assert_eq!(config.sinks["taegis"].location.to_string(), "7:8");
    let url = &config.sinks["taegis"].options[0];
    assert_eq!(
        (url.location.to_string(), url.key_location.to_string()),
        ("10:7".into(), "10:1".into())
    );
}

#[test]
fn values_of_every_kind() {
    let text = crate::BASE.to_owned()
        + "fixed_concurrency = true\nrate = 1_000\nratio = 0.5\nheaders = [\"a\", \"b\"]\nshutdown = 0x10\n";
    let config = crate::parse(&text).unwrap();
    let o = |k| config.sinks["taegis"].option(k).unwrap().value.clone();
    assert_eq!(o("fixed_concurrency"), OptionValue::Bool(true));
    assert_eq!(o("fixed_concurrency").as_arg().as_deref(), Some("true"));
    assert_eq!(o("rate"), OptionValue::Integer(1000));
    assert_eq!(o("ratio"), OptionValue::Float(0.5));
    assert_eq!(o("ratio").as_arg().as_deref(), Some("0.5"));
    assert_eq!(
        o("headers"),
        OptionValue::List(vec!["a".into(), "b".into()])
    );
    assert_eq!(o("headers").as_arg(), None);
    assert_eq!(o("shutdown"), OptionValue::Integer(16));
}

#[test]
fn durations_and_multiline_forms() {
    let text = crate::BASE.replacen(
        "include = [\"/var/log/auth.log*\"]",
        "include = [\"/var/log/auth.log*\"]\nmultiline = { continue = '^\\s', join = \" \", timeout = \"250ms\", max_bytes = 4096 }",
        1,
    );
    let text = format!("shutdown_timeout = 90\n{text}");
    let config = crate::parse(&text).unwrap();
    assert_eq!(config.shutdown_timeout, Duration::from_secs(90));
    let SourceKind::File(f) = &config.sources["auth"].kind else {
        panic!()
    };
    let m = f.multiline.as_ref().unwrap();
    assert_eq!(m.rule, MultilineRule::Continue(r"^\s".into()));
    assert_eq!(m.rule.pattern(), r"^\s");
    assert_eq!(m.join.as_deref(), Some(" "));
    assert_eq!(m.timeout, Duration::from_millis(250));
    assert_eq!(m.max_bytes, 4096);
    for (written, secs) in [
        ("\"15m\"", 900),
        ("\"2h\"", 7200),
        ("\"45\"", 45),
        ("\"90s\"", 90),
    ] {
        let config =
            crate::parse(&format!("shutdown_timeout = {written}\n{}", crate::BASE)).unwrap();
        assert_eq!(
            config.shutdown_timeout,
            Duration::from_secs(secs),
            "{written}"
        );
    }
}
