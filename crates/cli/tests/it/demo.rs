//! `logferry demo`: the README's main command works offline and proves delivery.

use crate::*;

#[test]
fn the_demo_ships_everything_through_every_backend() {
    let dir = tempfile::tempdir().unwrap();
    let out = logferry()
        .args(["demo", "--records", "3000", "--dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}\n{}",
        stdout(&out),
        stderr(&out)
    );
    let report = stdout(&out);
    for backend in [
        "| http-ingest | syslog.log (text)",
        "| http-ingest | events.ndjson (json)",
        "| sdl | events.ndjson (json)",
        "| file-upload | syslog.log",
    ] {
        let line = report
            .lines()
            .find(|l| l.starts_with(backend))
            .unwrap_or_else(|| panic!("no {backend} row: {report}"));
        assert!(line.ends_with("| all delivered |"), "{line}");
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        assert_eq!(cells[3], cells[4], "sent and received differ: {line}");
    }
    assert!(report.contains("0 contract violations"), "{report}");
    assert!(report.contains("demo: every record arrived."));
    assert!(dir.path().join("syslog.log").exists() && dir.path().join("events.ndjson").exists());
}
