//! JSON framing: NDJSON, pretty-printed objects, arrays, and their errors.

use crate::{Item, frame, rec};
use logferry_framing::{Format, FramingConfig, JsonFramer, Utf8Policy};

fn json(input: &[u8]) -> Vec<Item> {
    frame(Format::Json, &FramingConfig::default(), input)
}

fn texts(items: &[Item]) -> Vec<String> {
    items
        .iter()
        .map(|i| match i {
            Item::Rec(t, ..) => t.clone(),
            Item::Err(e) => format!("ERR {e}"),
        })
        .collect()
}

#[test]
fn ndjson_lines_pass_through_trimmed() {
    assert_eq!(
        json(b"{\"a\":1}\n  {\"b\": \"x y\"} \r\n\n{}"),
        [
            rec(r#"{"a":1}"#, 0, 1, 8, ""),
            rec(r#"{"b": "x y"}"#, 10, 2, 15, ""),
            rec("{}", 26, 4, 2, "u")
        ]
    );
}

#[test]
fn ndjson_bad_lines_are_errors_and_the_stream_goes_on() {
    let out = json(b"{\"ok\":1}\n{\"broken\":\n[1,2]\n\"str\"\n{\"ok\":2}\n");
    insta::assert_debug_snapshot!(out);
}

#[test]
fn pretty_printed_object_is_one_compact_record() {
    let input =
        b"{\n  \"user\": \"alice smith\",\n  \"n\": 1.50e3,\n  \"tags\": [\"a\", \"b\"]\n}\n";
    assert_eq!(
        json(input),
        [rec(
            r#"{"user":"alice smith","n":1.50e3,"tags":["a","b"]}"#,
            0,
            1,
            input.len() as u64 - 1,
            "j"
        )]
    );
}

#[test]
fn concatenated_pretty_objects_each_become_a_record() {
    let out = json(b"{\n \"a\": 1\n}\n{\n \"b\": {\"c\": \"}\"}\n}\n");
    assert_eq!(texts(&out), [r#"{"a":1}"#, r#"{"b":{"c":"}"}}"#]);
}

#[test]
fn array_of_objects_on_many_lines_or_one() {
    let pretty = json(b"[\n  {\"id\": 1},\n  {\"id\": 2, \"s\": \"a,b]\"}\n]\n");
    assert_eq!(texts(&pretty), [r#"{"id":1}"#, r#"{"id":2,"s":"a,b]"}"#]);
    assert_eq!(pretty[1], rec(r#"{"id":2,"s":"a,b]"}"#, 17, 3, 22, "j"));
    let minified = json(br#"[{"id":1},{"id":2}]"#);
    assert_eq!(texts(&minified), [r#"{"id":1}"#, r#"{"id":2}"#]);
    assert_eq!(json(b"[]\n"), []);
}

#[test]
fn array_elements_that_are_not_objects_are_errors() {
    let out = json(b"[{\"a\":1}, 42, \"s\", [1], {\"b\":2}]");
    insta::assert_debug_snapshot!(out);
}

#[test]
fn document_errors_are_positioned() {
    let out = json(b"[\n {\"a\": tru},\n {\"ok\": true}\n] junk\n{\"x\":1}\n");
    insta::assert_debug_snapshot!(out);
}

#[test]
fn unterminated_documents_are_reported() {
    assert_eq!(
        texts(&json(b"{\n \"a\": 1\n")),
        ["ERR line 1, byte 0: input ends inside a JSON value that started here"]
    );
    assert_eq!(
        texts(&json(b"[{\"a\":1},\n")),
        [
            r#"{"a":1}"#.to_string(),
            "ERR line 1, byte 0: input ends inside a JSON value that started here".into()
        ]
    );
}

#[test]
fn a_raw_newline_inside_a_string_is_not_silently_joined() {
    let out = json(b"{\n \"a\": \"line one\nline two\"\n}\n");
    assert!(
        matches!(&out[0], Item::Err(e) if e.contains("invalid JSON")),
        "{out:?}"
    );
}

#[test]
fn oversized_json_records_are_rejected_never_cut() {
    let config = FramingConfig {
        max_record_bytes: 20,
        ..FramingConfig::default()
    };
    let ndjson = frame(
        Format::Json,
        &config,
        b"{\"a\":\"0123456789012345678\"}\n{\"b\":1}\n",
    );
    assert_eq!(
        texts(&ndjson),
        [
            "ERR line 1, byte 0: record of 27 bytes exceeds the 20-byte maximum".to_string(),
            r#"{"b":1}"#.into()
        ]
    );
    let doc = frame(
        Format::Json,
        &config,
        b"[{\"a\":\"0123456789012345678\"},\n{\"b\":1}]",
    );
    assert_eq!(
        texts(&doc),
        [
            "ERR line 1, byte 1: record of 27 bytes exceeds the 20-byte maximum".to_string(),
            r#"{"b":1}"#.into()
        ]
    );
}

#[test]
fn invalid_utf8_in_json_follows_the_policy() {
    let input = b"{\"a\":\"\xff\"}\n{\"b\":1}\n";
    assert_eq!(
        texts(&json(input)),
        [
            "ERR line 1, byte 0: invalid UTF-8 at byte 6".to_string(),
            r#"{"b":1}"#.into()
        ]
    );
    let replace = FramingConfig {
        utf8: Utf8Policy::Replace,
        ..FramingConfig::default()
    };
    assert_eq!(
        texts(&frame(Format::Json, &replace, input)),
        ["{\"a\":\"\u{fffd}\"}", r#"{"b":1}"#]
    );
}

#[test]
fn mode_is_reported_and_detection_waits_for_the_first_line() {
    let mut framer = JsonFramer::new(FramingConfig::default());
    framer.push(b"\n\n  {\"a\":", |_| panic!("nothing is complete yet"));
    assert_eq!(framer.is_document(), None);
    framer.push(b"1}\n", |_| {});
    assert_eq!(framer.is_document(), Some(false));
    let mut doc = JsonFramer::new(FramingConfig::default());
    doc.push(b"[", |_| {});
    assert_eq!(doc.is_document(), Some(true));
}

#[test]
fn numbers_and_escapes_are_kept_byte_for_byte() {
    let input = b"[{\"big\": 123456789012345678901234567890, \"f\": -0.0e-7, \"s\": \"tab\\t \\\"q\\\" \\u00e9\"}]";
    assert_eq!(
        texts(&json(input)),
        [r#"{"big":123456789012345678901234567890,"f":-0.0e-7,"s":"tab\t \"q\" \u00e9"}"#]
    );
}

#[test]
fn the_rest_of_a_long_line_after_invalid_json_is_reported_never_dropped() {
    let config = FramingConfig {
        max_record_bytes: 100,
        ..FramingConfig::default()
    };
    // A pretty-printed object (document mode), then one physical line far longer than a
    // record: concatenated objects after a stray byte.
    let mut line = b"{\n \"n\": 0\n}\nx".to_vec();
    for n in 1..60 {
        line.extend(format!(" {{\"n\":{n}}}").bytes());
    }
    line.extend(b"\n{\"after\":1}\n");
    let items = frame(Format::Json, &config, &line);
    let errors: Vec<&String> = items
        .iter()
        .filter_map(|i| match i {
            Item::Err(e) => Some(e),
            Item::Rec(..) => None,
        })
        .collect();
    assert!(
        errors[0].contains("unexpected `x` outside any object"),
        "{items:?}"
    );
    assert!(
        errors[1..]
            .iter()
            .all(|e| e.contains("rest of a line skipped")),
        "{items:?}"
    );
    // Every later piece of the line (100 bytes each) is reported, not only the first.
    assert!(errors.len() > 5, "{items:?}");
    assert_eq!(
        items.last(),
        Some(&Item::Rec(
            r#"{"after":1}"#.into(),
            line.len() as u64 - 12,
            5,
            11,
            "j".into()
        )),
        "{items:?}"
    );
}

#[test]
fn numbers_of_any_size_frame_as_valid_records_byte_for_byte() {
    let records = [
        r#"{"a":1E400}"#,
        r#"{"b":-1e-400}"#,
        r#"{"c":18446744073709551616}"#,
        r#"{"d":123456789012345678901234567890}"#,
        r#"{"e":[1E400,-0.0E-400,1e+999999999999]}"#,
    ];
    let ndjson = records.join("\n");
    assert_eq!(texts(&json(ndjson.as_bytes())), records);
    // The same records in an array document: compacted, digits untouched.
    let array = format!("[\n  {}\n]\n", records.join(",\n  "));
    assert_eq!(texts(&json(array.as_bytes())), records);
    // Still invalid: what RFC 8259 does not allow.
    assert_eq!(
        texts(&json(b"{\"a\":1E}\n{\"b\":+1}\n{\"c\":.5}\n{\"d\":NaN}\n")),
        [
            "ERR line 1, byte 0: invalid JSON: invalid number at byte 5: expected a digit in \
             the exponent at byte 7, found '}'",
            "ERR line 2, byte 9: invalid JSON: expected a value at byte 5, found '+'",
            "ERR line 3, byte 18: invalid JSON: expected a value at byte 5, found '.'",
            "ERR line 4, byte 27: invalid JSON: expected a value at byte 5, found 'N'",
        ]
    );
}

#[test]
fn a_byte_order_mark_at_the_start_is_skipped_in_every_shape() {
    // NDJSON: the first record starts at byte 3.
    assert_eq!(
        json(b"\xEF\xBB\xBF{\"a\":1}\n{\"b\":2}\n"),
        [
            rec(r#"{"a":1}"#, 3, 1, 8, ""),
            rec(r#"{"b":2}"#, 11, 2, 8, "")
        ]
    );
    // A pretty-printed document and an array are still recognised as documents.
    assert_eq!(
        json(b"\xEF\xBB\xBF{\n  \"a\": 1\n}\n"),
        [rec(r#"{"a":1}"#, 3, 1, 12, "j")]
    );
    assert_eq!(
        json(b"\xEF\xBB\xBF[{\"a\":1},{\"b\":2}]"),
        [
            rec(r#"{"a":1}"#, 4, 1, 7, "j"),
            rec(r#"{"b":2}"#, 12, 1, 7, "j")
        ]
    );
    // Only at the very start: elsewhere it is data (not JSON).
    let later = texts(&json(b"{}\n\xEF\xBB\xBF{}\n"));
    assert_eq!(later[0], "{}");
    assert!(
        later[1].starts_with("ERR line 2, byte 3: invalid JSON"),
        "{later:?}"
    );
    // Nothing but a mark: nothing to send.
    assert_eq!(json(b"\xEF\xBB\xBF"), []);
}

#[test]
fn json_errors_say_what_was_expected_where() {
    let mut input = String::new();
    for n in 0..300 {
        input.push_str(&format!("{{\"n\":{n}}}\n"));
    }
    input.push_str("{\"msg\":\"a string that never ends}\n");
    input.push_str("{\"key\" \"value\"}\n");
    input.push_str("  {\"a\":1,}\n");
    input.push_str("{\"a\":[1,2}\n");
    input.push_str("{\"a\":1}}\n");
    input.push_str("{\"a\":\"\\x\"}\n");
    input.push_str("{\"a\":tru}\n");
    input.push_str("{\"a\":{\"b\":1}\n");
    let items = json(input.as_bytes());
    let errors: Vec<String> = texts(&items[300..]);
    assert_eq!(
        errors,
        [
            "ERR line 301, byte 2890: invalid JSON: unterminated string at byte 7",
            "ERR line 302, byte 2924: invalid JSON: expected ':' at byte 7, found '\"'",
            "ERR line 303, byte 2940: invalid JSON: expected a string key at byte 9, found '}'",
            "ERR line 304, byte 2951: invalid JSON: expected ',' or ']' at byte 9, found '}'",
            "ERR line 305, byte 2962: invalid JSON: unexpected '}' at byte 7 after the end of \
             the value",
            "ERR line 306, byte 2971: invalid JSON: invalid escape at byte 6: expected one of \
             \\\" \\\\ \\/ \\b \\f \\n \\r \\t \\uXXXX, found \\x",
            "ERR line 307, byte 2982: invalid JSON: invalid literal at byte 5: expected `true`",
            "ERR line 308, byte 2992: invalid JSON: unterminated object at byte 0: expected ',' \
             or '}' at byte 12, found the end of the record",
        ]
    );
}
