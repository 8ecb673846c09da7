//! Every kind of error, with its exact file:line:col and key path.

use crate::{BASE, edit, error};

fn check(text: &str, expected: &str) {
    assert_eq!(error(text), expected, "in:\n{text}");
}

#[test]
fn toml_syntax() {
    check(
        "data_dir = \n",
        "t.toml:1:12: string values must be quoted, expected literal string",
    );
    check(
        &format!("{BASE}url = \"again\"\n"),
        "t.toml:11:1: duplicate key",
    );
}

#[test]
fn unknown_keys_with_and_without_a_suggestion() {
    check(
        &edit("data_dir", "data_dri"),
        "t.toml:1:1: data_dri: unknown key `data_dri` (did you mean `data_dir`?)",
    );
    check(
        &edit("include =", "includes ="),
        "t.toml:5:1: sources.auth.includes: unknown key `includes` (did you mean `include`?)",
    );
    check(
        &edit("include =", "start-at = \"end\"\ninclude ="),
        "t.toml:5:1: sources.auth.start-at: unknown key `start-at` (did you mean `start_at`?)",
    );
    check(
        &format!("{BASE}[api]\nlisten = \"127.0.0.1:1\"\ncolour = 1\n"),
        "t.toml:13:1: api.colour: unknown key `colour`: expected `listen` or `ready_max_age`",
    );
    check(
        &format!("[source.x]\n{BASE}"),
        "t.toml:1:2: source: unknown key `source` (did you mean `sources`?)",
    );
    check(
        &edit(
            "include = [\"/var/log/auth.log*\"]",
            "include = [\"/var/log/auth.log*\"]\nmultiline = { start = 'x', max_byte = 1 }",
        ),
        "t.toml:6:28: sources.auth.multiline.max_byte: unknown key `max_byte` (did you mean `max_bytes`?)",
    );
}

#[test]
fn a_near_miss_of_a_required_key_is_named() {
    check(
        &edit("type = \"file\"", "typ = \"file\""),
        "t.toml:4:1: sources.auth.typ: unknown key `typ` (did you mean `type`?)",
    );
    check(
        &edit("inputs = [", "input = ["),
        "t.toml:9:1: sinks.taegis.input: unknown key `input` (did you mean `inputs`?)",
    );
    check(
        &edit("type = \"http-ingest\"", "Type = \"http-ingest\""),
        "t.toml:8:1: sinks.taegis.Type: unknown key `Type` (did you mean `type`?)",
    );
}

#[test]
fn wrong_types_name_what_is_expected() {
    check(
        &edit("[\"/var/log/auth.log*\"]", "\"/var/log/auth.log*\""),
        "t.toml:5:11: sources.auth.include: expected an array of strings, found a string",
    );
    check(
        &edit("[\"/var/log/auth.log*\"]", "[\"/var/log/auth.log*\", 3]"),
        "t.toml:5:34: sources.auth.include[1]: expected a string, found an integer",
    );
    check(
        &edit("\"/var/lib/logferry\"", "1"),
        "t.toml:1:12: data_dir: expected a string, found an integer",
    );
    check(
        &edit("type = \"file\"", "type = \"file\"\nwhole_files = \"yes\""),
        "t.toml:5:15: sources.auth.whole_files: expected a boolean (true or false), found a string",
    );
    check(
        &edit("type = \"file\"", "type = \"file\"\nmax_open_files = 0"),
        "t.toml:5:18: sources.auth.max_open_files: expected an integer of at least 1",
    );
    check(
        &format!("{BASE}headers = {{ a = 1 }}\n"),
        "t.toml:11:11: sinks.taegis.headers: expected a string, a number, a boolean or an array of strings, found a table",
    );
    check(
        &format!("{BASE}headers = [1]\n"),
        "t.toml:11:12: sinks.taegis.headers[0]: expected a string, found an integer",
    );
    check(
        &format!("shutdown_timeout = \"5 minutes\"\n{BASE}"),
        "t.toml:1:20: shutdown_timeout: `5 minutes` is not a duration like \"250ms\", \"90s\", \"15m\", \"2h\" or whole seconds",
    );
    check(
        &format!("shutdown_timeout = -1\n{BASE}"),
        "t.toml:1:20: shutdown_timeout: expected a duration like \"250ms\", \"90s\", \"15m\", \"2h\" or whole seconds",
    );
    check(
        &format!(
            "data_dir = \"/d\"\nsources = 1\n{}",
            &BASE[BASE.find("[sinks").unwrap()..]
        ),
        "t.toml:2:11: sources: expected a table, found an integer",
    );
}

#[test]
fn bad_choices_list_the_good_ones() {
    check(
        &edit("type = \"file\"", "type = \"file\"\nformat = \"jsn\""),
        "t.toml:5:10: sources.auth.format: unknown value `jsn`: expected `text` or `json` (did you mean `json`?)",
    );
    check(
        &edit("type = \"file\"", "type = \"file\"\nstart_at = \"start\""),
        "t.toml:5:12: sources.auth.start_at: unknown value `start`: expected `beginning` or `end`",
    );
    let long = "x".repeat(100);
    check(
        &edit(
            "type = \"file\"",
            &format!("type = \"file\"\nformat = \"{long}\""),
        ),
        &format!(
            "t.toml:5:10: sources.auth.format: unknown value `{}…`: expected `text` or `json`",
            &long[..60]
        ),
    );
    check(
        &edit("type = \"file\"", "type = \"files\""),
        "t.toml:4:8: sources.auth.type: unknown value `files`: expected `file`, `syslog`, `http` or `nats` (did you mean `file`?)",
    );
    check(
        &edit("type = \"http-ingest\"", "type = \"http_ingest\""),
        "t.toml:8:8: sinks.taegis.type: unknown value `http_ingest`: expected `http-ingest`, `sdl`, `file-upload` or `nats` (did you mean `http-ingest`?)",
    );
    check(
        &edit(
            "type = \"file\"",
            "type = \"file\"\nwhole_files = true\nafter_upload = \"remove\"",
        ),
        "t.toml:6:16: sources.auth.after_upload: unknown value `remove`: expected `keep` or `delete` (or `{ move_to = \"/path\" }`)",
    );
    check(
        &edit(
            "type = \"file\"",
            "type = \"file\"\nwhole_files = true\nafter_upload = { move = \"/x\" }",
        ),
        "t.toml:6:18: sources.auth.after_upload.move: unknown key `move` (did you mean `move_to`?)",
    );
}

#[test]
fn missing_required_keys() {
    check(
        &edit("data_dir = \"/var/lib/logferry\"", ""),
        "t.toml:1:1: data_dir: missing required key: the folder for spools and checkpoints, like `data_dir = \"/var/lib/logferry\"`",
    );
    check(
        &edit("data_dir = \"/var/lib/logferry\"", "data_dir = \"\""),
        "t.toml:1:12: data_dir: must not be empty",
    );
    check(
        &edit("type = \"file\"\n", ""),
        "t.toml:3:10: sources.auth.type: missing required key: one of `file`, `syslog`, `http` or `nats`",
    );
    check(
        &edit("include = [\"/var/log/auth.log*\"]\n", ""),
        "t.toml:3:10: sources.auth.include: missing required key: the files to read, like `include = [\"/var/log/*.log\"]`",
    );
    check(
        &edit("[\"/var/log/auth.log*\"]", "[]"),
        "t.toml:5:11: sources.auth.include: must name at least one file or glob",
    );
    check(
        &edit("[\"/var/log/auth.log*\"]", "[\"/var/log/auth.log*\", \"\"]"),
        "t.toml:5:34: sources.auth.include[1]: an empty pattern matches nothing",
    );
    check(
        &edit("type = \"http-ingest\"\n", ""),
        "t.toml:7:8: sinks.taegis.type: missing required key: one of `http-ingest`, `sdl`, `file-upload` or `nats`",
    );
    check(
        &edit("inputs = [\"auth\"]\n", ""),
        "t.toml:7:8: sinks.taegis.inputs: missing required key: the sources it takes, like `inputs = [\"auth\"]`",
    );
    check(
        &format!("{BASE}[api]\n"),
        "t.toml:11:2: api.listen: missing required key: the address to serve on, like `listen = \"127.0.0.1:9598\"`",
    );
}

#[test]
fn inputs_must_name_sources() {
    check(
        &edit("[\"auth\"]", "[\"authh\"]"),
        "t.toml:9:11: sinks.taegis.inputs[0]: unknown source `authh` (did you mean `auth`?)",
    );
    check(
        &edit("[\"auth\"]", "[\"auth\", \"authh\"]"),
        "t.toml:9:19: sinks.taegis.inputs[1]: unknown source `authh` (did you mean `auth`?)",
    );
    check(
        &edit("[\"auth\"]", "[\"auth\", \"syslog\"]"),
        "t.toml:9:19: sinks.taegis.inputs[1]: unknown source `syslog`",
    );
    check(
        &edit("[\"auth\"]", "[\"auth\", \"auth\"]"),
        "t.toml:9:19: sinks.taegis.inputs[1]: source `auth` is listed twice",
    );
    check(
        &edit("[\"auth\"]", "[]"),
        "t.toml:9:10: sinks.taegis.inputs: must name at least one source",
    );
}

#[test]
fn every_source_feeds_a_sink_and_there_is_a_sink() {
    check(
        &edit(
            "[sinks.taegis]",
            "[sources.spare]\ntype = \"file\"\ninclude = [\"/x\"]\n\n[sinks.taegis]",
        ),
        "t.toml:7:10: sources.spare: source `spare` is not an input of any sink",
    );
    let no_sinks = &BASE[..BASE.find("[sinks").unwrap()];
    check(
        no_sinks,
        "t.toml:1:1: sinks: at least one sink is needed, like `[sinks.NAME]` with `type` and `inputs`",
    );
    check(
        &format!("sinks = {{}}\n{no_sinks}"),
        "t.toml:1:1: sinks: at least one sink is needed, like `[sinks.NAME]` with `type` and `inputs`",
    );
}

#[test]
fn whole_files_go_to_file_upload_sinks_only() {
    check(
        &edit("type = \"file\"", "type = \"file\"\nwhole_files = true"),
        "t.toml:10:11: sinks.taegis.inputs[0]: source `auth` sets `whole_files = true`: only a `file-upload` sink takes whole files",
    );
    check(
        &edit("type = \"http-ingest\"", "type = \"file-upload\""),
        "t.toml:9:11: sinks.taegis.inputs[0]: source `auth` does not set `whole_files = true`, which a `file-upload` sink needs",
    );
    check(
        &edit("type = \"file\"", "type = \"file\"\nsettle = \"5s\""),
        "t.toml:5:1: sources.auth.settle: `settle` applies only with `whole_files = true`",
    );
    check(
        &edit(
            "type = \"file\"",
            "type = \"file\"\nwhole_files = true\nmultiline = { start = 'x' }",
        ),
        "t.toml:6:1: sources.auth.multiline: `multiline` does not apply with `whole_files = true` (files are uploaded as they are)",
    );
}

#[test]
fn names_are_letters_digits_underscores_and_dashes() {
    check(
        &edit("[sources.auth]", "[sources.\"a b\"]").replace("[\"auth\"]", "[\"a b\"]"),
        "t.toml:3:10: sources.\"a b\": a source name is letters, digits, `_` and `-`",
    );
    check(
        &edit("[sinks.taegis]", "[sinks.\"t.x\"]"),
        "t.toml:7:8: sinks.\"t.x\": a sink name is letters, digits, `_` and `-`",
    );
}

#[test]
fn api_listen_is_a_socket_address() {
    check(
        &format!("{BASE}[api]\nlisten = \"localhost:9598\"\n"),
        "t.toml:12:10: api.listen: `localhost:9598` is not a socket address like `127.0.0.1:9598` or `[::1]:9598`",
    );
    let ok = crate::parse(&format!("{BASE}[api]\nlisten = \"[::1]:9598\"\n")).unwrap();
    assert_eq!(ok.api.unwrap().listen.port(), 9598);
    let aged = crate::parse(&format!(
        "{BASE}[api]\nlisten = \"[::1]:9598\"\nready_max_age = \"5m\"\n"
    ))
    .unwrap();
    assert_eq!(
        aged.api.unwrap().ready_max_age,
        Some(std::time::Duration::from_secs(300))
    );
}

#[test]
fn multiline_needs_exactly_one_valid_pattern() {
    let with = |m: &str| {
        edit(
            "include = [\"/var/log/auth.log*\"]",
            &format!("include = [\"/var/log/auth.log*\"]\nmultiline = {m}"),
        )
    };
    check(
        &with("{ start = 'a', continue = 'b' }"),
        "t.toml:6:28: sources.auth.multiline.continue: set one of `start` and `continue`, not both",
    );
    check(
        &with("{ max_bytes = 10 }"),
        "t.toml:6:13: sources.auth.multiline: missing `start` (a regex matching a record's first line) or `continue` (one matching its other lines)",
    );
    check(
        &with("{ start = '^(\\S' }"),
        "t.toml:6:23: sources.auth.multiline.start: not a valid regular expression: unclosed group",
    );
    check(
        &with("{ start = 'x', timeout = \"soon\" }"),
        "t.toml:6:38: sources.auth.multiline.timeout: `soon` is not a duration like \"250ms\", \"90s\", \"15m\", \"2h\" or whole seconds",
    );
}

#[test]
fn the_daemon_builds_its_errors_like_ours() {
    let config = crate::parse(&format!("{BASE}max_recod_bytes = 10\n")).unwrap();
    let sink = &config.sinks["taegis"];
    let option = sink.option("max_recod_bytes").unwrap();
    let flags = ["max_record_bytes", "batch_bytes", "url", "key"];
    let hint = logferry_config::did_you_mean(&option.key, &flags).unwrap();
    let e = logferry_config::ConfigError::at(
        &config.path,
        option.key_location,
        format!("sinks.{}.{}", sink.name, option.key),
        format!("unknown option `{}` (did you mean `{hint}`?)", option.key),
    );
    assert_eq!(
        e.to_string(),
        "t.toml:11:1: sinks.taegis.max_recod_bytes: unknown option `max_recod_bytes` (did you mean `max_record_bytes`?)"
    );
    assert_eq!(
        (e.key_path(), e.location().unwrap().offset),
        ("sinks.taegis.max_recod_bytes", BASE.len())
    );
    assert_eq!(option.location.to_string(), "11:19");
}

#[test]
fn positions_count_characters_and_crlf_lines() {
    // A two-byte character before the error moves the column by one, the offset by two.
    let text = edit("\"https://ingest.example\"", "[\"é\", 1]").replace('\n', "\r\n");
    let e = crate::parse(&text).unwrap_err();
    assert_eq!(
        e.to_string(),
        "t.toml:10:13: sinks.taegis.url[1]: expected a string, found an integer"
    );
    assert_eq!(e.location().unwrap().offset, text.find(", 1]").unwrap() + 2);
}

#[test]
fn did_you_mean_ignores_case_and_dashes() {
    use logferry_config::did_you_mean;
    assert_eq!(
        did_you_mean("Max-Record-Bytes", &["max_record_bytes"]).as_deref(),
        Some("max_record_bytes")
    );
    assert_eq!(
        did_you_mean("concurency", &["concurrency", "compression"]).as_deref(),
        Some("concurrency")
    );
    assert_eq!(did_you_mean("zzz", &["concurrency"]), None);
    assert_eq!(did_you_mean("x", &[]), None);
}
