//! `parse` and `to_sdl` on real-world messages.

use logferry_syslog::{Kind, ParseOptions, Pri, Zone, parse, sev_to_sdl, to_sdl};

/// 2025-01-01T00:00:00Z.
const NEW_YEAR_2025: i64 = 1_735_689_600;

#[test]
fn logger_rfc3164() {
    // util-linux 2.38.1: logger -n 127.0.0.1 -d -t myapp -i -p local3.warning --rfc3164
    let m = parse(b"<156>Dec  2 14:49:28 vm myapp[21602]: hello world");
    assert_eq!(m.kind, Kind::Rfc3164);
    assert_eq!(m.problem, None);
    assert_eq!(
        m.pri,
        Some(Pri {
            facility: 19,
            severity: 4
        })
    );
    let ts = m.timestamp.expect("timestamp");
    assert_eq!(
        (ts.year, ts.month, ts.day, ts.hour, ts.minute, ts.second),
        (None, 12, 2, 14, 49, 28)
    );
    assert_eq!(m.hostname, Some("vm"));
    assert_eq!(m.app_name, Some("myapp"));
    assert_eq!(m.proc_id, Some("21602"));
    assert_eq!(m.msg, b"hello world");
}

#[test]
fn logger_rfc5424_with_escaped_structured_data() {
    // logger --rfc5424 --sd-id zoo@123 --sd-param 'tiger="hungry \"yes\" \]"'
    let raw: &[u8] = br#"<156>1 2026-12-02T14:49:28.905696+00:00 vm myapp 21604 - [timeQuality tzKnown="1" isSynced="0"][zoo@123 tiger="hungry \"yes\" \]"] hello world"#;
    let m = parse(raw);
    assert_eq!(m.kind, Kind::Rfc5424);
    assert_eq!(m.problem, None);
    assert_eq!(m.raw, raw);
    assert_eq!(m.hostname, Some("vm"));
    assert_eq!(m.app_name, Some("myapp"));
    assert_eq!(m.proc_id, Some("21604"));
    assert_eq!(m.msg_id, None);
    assert_eq!(m.structured_data.len(), 2);
    assert_eq!(m.structured_data[0].id, "timeQuality");
    assert_eq!(m.structured_data[0].params[1].name, "isSynced");
    assert_eq!(m.structured_data[1].id, "zoo@123");
    assert_eq!(m.structured_data[1].params[0].value, r#"hungry "yes" ]"#);
    assert_eq!(m.msg, b"hello world");
    let sdl = to_sdl(&m, &ParseOptions::received_at(0));
    assert_eq!(sdl.ts, Some(1_796_222_968_905_696_000));
    assert_eq!(sdl.sev, 4);
    assert_eq!(sdl.attrs["sd.zoo@123.tiger"], r#"hungry "yes" ]"#);
    assert_eq!(sdl.attrs["sd.timeQuality.tzKnown"], "1");
    assert_eq!(sdl.attrs["facility"], 19);
    assert_eq!(sdl.attrs["severity"], 4);
    assert_eq!(sdl.attrs["hostname"], "vm");
    assert_eq!(sdl.attrs["appname"], "myapp");
    assert_eq!(sdl.attrs["procid"], "21604");
    assert!(!sdl.attrs.contains_key("msgid"));
    assert_eq!(sdl.attrs["message"], "hello world");
}

#[test]
fn nil_fields_everywhere() {
    // logger --rfc5424=notq,notime
    let m = parse(b"<156>1 - vm myapp 21605 - - hello world");
    assert_eq!((m.kind, m.problem), (Kind::Rfc5424, None));
    assert_eq!(m.timestamp, None);
    assert!(m.structured_data.is_empty());
    assert_eq!(m.msg, b"hello world");
    let m = parse(b"<0>1 - - - - - -");
    assert_eq!((m.kind, m.problem), (Kind::Rfc5424, None));
    assert_eq!(
        (m.hostname, m.app_name, m.proc_id, m.msg_id),
        (None, None, None, None)
    );
    assert_eq!(m.msg, b"");
    assert_eq!(to_sdl(&m, &ParseOptions::received_at(0)).ts, None);
}

#[test]
fn rfc5424_examples_and_bom() {
    // RFC 5424 §6.5, examples 1 and 4.
    let m = parse(b"<34>1 2003-10-11T22:14:15.003Z mymachine.example.com su - ID47 - \xEF\xBB\xBF'su root' failed for lonvick on /dev/pts/8");
    assert_eq!(m.problem, None);
    assert_eq!(m.msg_id, Some("ID47"));
    assert_eq!(m.msg, b"'su root' failed for lonvick on /dev/pts/8");
    let m = parse(br#"<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut="3" eventSource="Application" eventID="1011"][examplePriority@32473 class="high"]"#);
    assert_eq!(m.problem, None);
    assert_eq!(m.structured_data.len(), 2);
    assert_eq!(m.msg, b"");
    // A BOM anywhere else stays.
    let m = parse(b"<34>1 - h a - - - x\xEF\xBB\xBF");
    assert_eq!(m.msg, b"x\xEF\xBB\xBF");
}

#[test]
fn backslash_before_anything_else_stays() {
    let m = parse(br#"<13>1 - h a - - [x@1 path="C:\temp\\dir" q="a\"b"] m"#);
    assert_eq!(m.problem, None);
    assert_eq!(m.structured_data[0].params[0].value, r"C:\temp\dir");
    assert_eq!(m.structured_data[0].params[1].value, r#"a"b"#);
}

#[test]
fn repeated_sd_param_becomes_an_array() {
    let m = parse(br#"<13>1 - h a - - [x@1 ip="10.0.0.1" ip="10.0.0.2"] m"#);
    let sdl = to_sdl(&m, &ParseOptions::received_at(0));
    assert_eq!(
        sdl.attrs["sd.x@1.ip"],
        serde_json::json!(["10.0.0.1", "10.0.0.2"])
    );
}

#[test]
fn rsyslog_forwarding_formats() {
    // RSYSLOG_ForwardFormat: RFC 3339 timestamp in a 3164 header.
    let m = parse(b"<30>2024-03-01T12:00:00.123456+01:00 web01 systemd[1]: Started Session 4 of user alice.\n");
    assert_eq!((m.kind, m.problem), (Kind::Rfc3164, None));
    assert_eq!(m.hostname, Some("web01"));
    assert_eq!((m.app_name, m.proc_id), (Some("systemd"), Some("1")));
    assert_eq!(m.msg, b"Started Session 4 of user alice.");
    let ts = to_sdl(&m, &ParseOptions::received_at(0)).ts;
    assert_eq!(ts, Some(1_709_290_800_123_456_000));
    // RSYSLOG_TraditionalForwardFormat, tag without pid.
    let m = parse(b"<86>Mar  1 12:00:00 web01 CRON: pam_unix(cron:session): session opened");
    assert_eq!((m.app_name, m.proc_id), (Some("CRON"), None));
    assert_eq!(m.msg, b"pam_unix(cron:session): session opened");
}

#[test]
fn cisco_sequence_number_and_clock_mark() {
    let m = parse(b"<189>123: *Mar  1 18:46:11.123: %SYS-5-CONFIG_I: Configured from console by vty0 (10.0.0.1)");
    assert_eq!((m.kind, m.problem), (Kind::Rfc3164, None));
    assert_eq!(
        m.pri,
        Some(Pri {
            facility: 23,
            severity: 5
        })
    );
    let ts = m.timestamp.expect("timestamp");
    assert_eq!(
        (ts.month, ts.day, ts.second, ts.nanos),
        (3, 1, 11, 123_000_000)
    );
    assert_eq!(m.hostname, None);
    assert_eq!(m.app_name, None);
    assert_eq!(
        m.msg,
        b"%SYS-5-CONFIG_I: Configured from console by vty0 (10.0.0.1)"
    );
}

#[test]
fn fortigate_key_values_are_the_message() {
    let raw: &[u8] = br#"<189>date=2024-03-01 time=12:00:00 devname="FG100E" devid="FG100E3G00000000" logid="0000000013" type="traffic" subtype="forward" level="notice" srcip=10.1.1.1 dstip=8.8.8.8 action="accept""#;
    let m = parse(raw);
    assert_eq!(m.kind, Kind::Rfc3164);
    assert!(m.problem.is_some());
    assert_eq!(m.severity(), Some(5));
    assert_eq!(m.msg, &raw[5..]);
    let sdl = to_sdl(&m, &ParseOptions::received_at(0));
    assert_eq!(sdl.ts, None);
    assert_eq!(sdl.sev, 3);
    assert!(sdl.attrs.contains_key("syslog_problem"));
}

#[test]
fn without_pri() {
    let m = parse(b"Mar  1 12:00:00 host app[7]: text");
    assert_eq!((m.kind, m.problem, m.pri), (Kind::Rfc3164, None, None));
    assert_eq!((m.hostname, m.app_name), (Some("host"), Some("app")));
    let sdl = to_sdl(&m, &ParseOptions::received_at(0));
    assert_eq!(sdl.sev, 3, "no PRI reads as notice");
    assert!(!sdl.attrs.contains_key("severity"));

    let m = parse(b"just some text");
    assert_eq!(m.kind, Kind::Unparsed);
    assert!(m.problem.is_some());
    assert_eq!(m.msg, b"just some text");
}

#[test]
fn tag_without_hostname() {
    // What logger writes to /dev/log: no hostname.
    let m = parse(b"<13>Mar  1 12:00:00 alice: hi there");
    assert_eq!((m.hostname, m.app_name), (None, Some("alice")));
    assert_eq!(m.msg, b"hi there");
}

#[test]
fn malformed_messages_keep_their_bytes() {
    for (raw, kind, msg) in [
        (&b"<999>hello"[..], Kind::Unparsed, &b"<999>hello"[..]),
        (b"<13hello", Kind::Unparsed, b"<13hello"),
        (b"<013>x", Kind::Unparsed, b"<013>x"),
        (b"", Kind::Unparsed, b""),
        (
            b"<13>1 2024-13-01T00:00:00Z h a - - - m",
            Kind::Rfc5424,
            b"2024-13-01T00:00:00Z h a - - - m",
        ),
        (b"<13>1 - host app", Kind::Rfc5424, b""),
        (
            b"<13>1 - h a p m [x@1 k=\"v] rest",
            Kind::Rfc5424,
            b"[x@1 k=\"v] rest",
        ),
        (
            b"<13>1 - h a p m [x@1 k=v] rest",
            Kind::Rfc5424,
            b"[x@1 k=v] rest",
        ),
        (b"<13>1 - h a p m -x", Kind::Rfc5424, b"-x"),
        (b"<13>Mar  1 12:00:00host", Kind::Rfc3164, b"host"),
    ] {
        let m = parse(raw);
        assert_eq!(m.raw, raw);
        assert_eq!(m.kind, kind, "{}", String::from_utf8_lossy(raw));
        assert!(m.problem.is_some(), "{}", String::from_utf8_lossy(raw));
        assert_eq!(m.msg, msg, "{}", String::from_utf8_lossy(raw));
    }
    // Fields read before the break are kept.
    let m = parse(b"<13>1 - host app");
    assert_eq!(
        (m.hostname, m.app_name, m.proc_id),
        (Some("host"), Some("app"), None)
    );
}

#[test]
fn bsd_year_is_the_one_nearest_receipt() {
    let m = parse(b"<13>Dec 31 23:59:59 h a: late");
    let ts = m.timestamp.expect("timestamp");
    // Received ten seconds into 2025: last year's.
    assert_eq!(
        ts.unix_nanos(&ParseOptions::received_at(NEW_YEAR_2025 + 10)),
        Some((NEW_YEAR_2025 - 1) * 1_000_000_000)
    );
    let m = parse(b"<13>Jan  1 00:00:01 h a: early");
    let ts = m.timestamp.expect("timestamp");
    // Received a second before 2025: next year's (the sender's clock is ahead).
    assert_eq!(
        ts.unix_nanos(&ParseOptions::received_at(NEW_YEAR_2025 - 1)),
        Some((NEW_YEAR_2025 + 1) * 1_000_000_000)
    );
    // In the middle of the year, the receipt year.
    let june = NEW_YEAR_2025 + 180 * 86_400;
    assert_eq!(
        ts.unix_nanos(&ParseOptions::received_at(june)),
        Some((NEW_YEAR_2025 + 1) * 1_000_000_000)
    );
}

#[test]
fn bsd_zone_from_options_rfc5424_offset_from_the_message() {
    let opts = ParseOptions {
        received_unix_secs: NEW_YEAR_2025 + 3600,
        zone: Zone::Offset(3600),
    };
    let bsd = parse(b"<13>Jan  1 00:30:00 h a: x")
        .timestamp
        .expect("timestamp");
    assert_eq!(
        bsd.unix_nanos(&opts),
        Some((NEW_YEAR_2025 - 1800) * 1_000_000_000)
    );
    let full = parse(b"<13>1 2025-01-01T00:30:00-02:00 h a - - -")
        .timestamp
        .expect("timestamp");
    assert_eq!(
        full.unix_nanos(&opts),
        Some((NEW_YEAR_2025 + 9000) * 1_000_000_000)
    );
}

#[test]
fn leap_day_without_year() {
    let ts = parse(b"<13>Feb 29 12:00:00 h a: x")
        .timestamp
        .expect("timestamp");
    // Received in March 2025: 2024 is the nearest year with a 29 February.
    let march_2025 = NEW_YEAR_2025 + 60 * 86_400;
    let nanos = ts
        .unix_nanos(&ParseOptions::received_at(march_2025))
        .expect("2024-02-29");
    assert_eq!(nanos / 1_000_000_000, 1_709_208_000);
}

#[test]
fn severity_table_from_the_issue() {
    let table: Vec<u8> = (0..=7).map(sev_to_sdl).collect();
    assert_eq!(table, [6, 6, 6, 5, 4, 3, 3, 2]);
}
