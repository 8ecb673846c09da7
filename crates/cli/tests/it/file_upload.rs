//! `logferry file-upload` end to end.

use crate::*;

fn upload(emu: &Emulator, dir: &Path) -> Command {
    let mut cmd = logferry();
    cmd.arg("file-upload")
        .arg("--ca-file")
        .arg(ca_file(emu, dir))
        .env("TAEGIS_API_ENDPOINT", emu.taegis_api_endpoint())
        .current_dir(dir);
    cmd
}

#[tokio::test(flavor = "multi_thread")]
async fn files_are_uploaded_with_a_token_or_client_credentials_and_not_twice() {
    let emu = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.log"), numbered(300)).unwrap();
    std::fs::write(dir.path().join("b.log"), "one\ntwo\n").unwrap();

    let with_token = upload(&emu, dir.path())
        .env("ACCESS_TOKEN", emu.taegis_access_token())
        .args([
            "a.log",
            "--spool",
            "spool",
            "--sensor-id",
            "web-01",
            "--summary-json",
            "1.json",
        ])
        .output()
        .unwrap();
    assert_eq!(with_token.status.code(), Some(0), "{}", stderr(&with_token));
    assert_eq!(summary(dir.path(), "1.json")["records"]["delivered"], 1);
    let with_client = upload(&emu, dir.path())
        .env("TAEGIS_CLIENT_ID", emu.taegis_client_id())
        .env("TAEGIS_CLIENT_SECRET", emu.taegis_client_secret())
        .args(["*.log", "--spool", "spool", "--summary-json", "2.json"])
        .output()
        .unwrap();
    assert_eq!(
        with_client.status.code(),
        Some(0),
        "{}",
        stderr(&with_client)
    );
    let second = summary(dir.path(), "2.json");
    assert_eq!(
        second["records"]["skipped"], 1,
        "a.log was uploaded already: {second}"
    );
    assert_eq!(second["records"]["delivered"], 1);

    let uploads = emu.uploads();
    let names: Vec<(&str, &str, u64)> = uploads
        .iter()
        .map(|u| (u.file_name.as_str(), u.sensor_id.as_str(), u.lines))
        .collect();
    assert_eq!(
        names,
        [("a.log", "web-01", 300), ("b.log", "toaster.localhost", 2)]
    );
    for secret in [emu.taegis_access_token(), emu.taegis_client_secret()] {
        assert!(!stderr(&with_token).contains(secret) && !stderr(&with_client).contains(secret));
    }
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refused_token_exits_1_and_names_the_file() {
    let emu = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.log"), "x\n").unwrap();
    let out = upload(&emu, dir.path())
        .env("ACCESS_TOKEN", "not-a-valid-token-51ac")
        .args(["a.log", "--summary-json", "s.json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let summary = summary(dir.path(), "s.json");
    assert_eq!(summary["records"]["undelivered"], 1);
    assert!(
        summary["inputs"][0]["error"]
            .as_str()
            .unwrap()
            .contains("401"),
        "{summary}"
    );
    assert!(!stderr(&out).contains("not-a-valid-token-51ac"));
    assert!(emu.uploads().is_empty());
    emu.shutdown().await;
}

#[test]
fn usage_errors_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.log"), "x\n").unwrap();
    for (args, env) in [
        (
            vec!["a.log"],
            vec![("TAEGIS_API_ENDPOINT", "https://api.example.com")],
        ),
        (
            vec!["a.log", "--region", "mars"],
            vec![("ACCESS_TOKEN", "t")],
        ),
        (
            vec!["-"],
            vec![
                ("TAEGIS_API_ENDPOINT", "https://api.example.com"),
                ("ACCESS_TOKEN", "t"),
            ],
        ),
        (
            vec!["a.log", "--client-id", "id"],
            vec![("TAEGIS_API_ENDPOINT", "https://api.example.com")],
        ),
    ] {
        let mut cmd = logferry();
        cmd.arg("file-upload").args(&args).current_dir(dir.path());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = cmd.output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert_eq!(stderr(&out).lines().count(), 1, "{}", stderr(&out));
    }
    // --region against an endpoint from the environment names the variable.
    let out = logferry()
        .args(["file-upload", "a.log", "--region", "us1"])
        .env("TAEGIS_API_ENDPOINT", "https://api.example.com")
        .env("ACCESS_TOKEN", "t")
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("TAEGIS_API_ENDPOINT"),
        "{}",
        stderr(&out)
    );
}

/// The seed's only working example sends `service=Syslog`: so does logferry, unless told
/// otherwise.
#[tokio::test(flavor = "multi_thread")]
async fn service_is_syslog_unless_told_otherwise() {
    let emu = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    for name in ["a.log", "b.log", "c.log"] {
        std::fs::write(dir.path().join(name), format!("{name}\n")).unwrap();
    }
    for args in [
        &["a.log"][..],
        &["b.log", "--service", "Windows"],
        &["c.log", "--no-service"],
    ] {
        let out = upload(&emu, dir.path())
            .env("ACCESS_TOKEN", emu.taegis_access_token())
            .args(args)
            .args(["--summary-json", "s.json"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", stderr(&out));
        assert_eq!(summary(dir.path(), "s.json")["records"]["delivered"], 1);
    }
    let mut seen: Vec<(String, Option<String>)> = emu
        .uploads()
        .into_iter()
        .map(|u| (u.file_name, u.service))
        .collect();
    seen.sort();
    let expected = [
        ("a.log", Some("Syslog")),
        ("b.log", Some("Windows")),
        ("c.log", None),
    ];
    assert_eq!(
        seen,
        expected.map(|(n, s)| (n.to_owned(), s.map(str::to_owned)))
    );
    let both = upload(&emu, dir.path())
        .env("ACCESS_TOKEN", emu.taegis_access_token())
        .args(["a.log", "--service", "Windows", "--no-service"])
        .output()
        .unwrap();
    assert_eq!(both.status.code(), Some(2), "{}", stderr(&both));
    emu.shutdown().await;
}

/// Gzip and non-UTF-8 files are refused before anything is sent, by the same rule
/// `check --backend file-upload` applies, unless `--allow-binary`.
#[tokio::test(flavor = "multi_thread")]
async fn binary_files_are_refused_as_check_says_unless_allowed() {
    let emu = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    let gzip = [0x1f, 0x8b, 0x08, 0, 0, 0, 0, 0, 0, 3, 0x4b, 0x04, 0];
    std::fs::write(dir.path().join("logs.gz"), gzip).unwrap();
    std::fs::write(dir.path().join("latin1.log"), b"ok\ncaf\xe9\n").unwrap();
    std::fs::write(dir.path().join("good.log"), "caf\u{e9}\n").unwrap();
    let files = ["logs.gz", "latin1.log", "good.log"];

    let out = upload(&emu, dir.path())
        .env("ACCESS_TOKEN", emu.taegis_access_token())
        .args(files)
        .args(["--summary-json", "s.json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let summary = summary(dir.path(), "s.json");
    assert_eq!(summary["records"]["invalid"], 2, "{summary}");
    assert_eq!(summary["records"]["delivered"], 1, "{summary}");
    let errors = stderr(&out);
    let gzip_reason = "gzip-compressed, not a text log file (decompress it first, or pass --allow-binary to upload it as it is)";
    let utf8_reason = "line 2, byte 6: invalid UTF-8, not a text log file (pass --allow-binary to upload it as it is)";
    assert!(
        errors.contains(&format!("logs.gz: {gzip_reason}")),
        "{errors}"
    );
    assert!(
        errors.contains(&format!("latin1.log: {utf8_reason}")),
        "{errors}"
    );
    let uploaded: Vec<String> = emu.uploads().into_iter().map(|u| u.file_name).collect();
    assert_eq!(uploaded, ["good.log"]);

    let check = logferry()
        .args(["check", "--backend", "file-upload"])
        .args(files)
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_eq!(check.status.code(), Some(1));
    assert_eq!(
        stdout(&check),
        format!(
            "logs.gz: {gzip_reason}\nlatin1.log: {utf8_reason}\n2 problem(s) in 2 of 3 input(s) (1 good records)\n"
        )
    );

    let allowed = upload(&emu, dir.path())
        .env("ACCESS_TOKEN", emu.taegis_access_token())
        .args(["logs.gz", "latin1.log", "--allow-binary"])
        .args(["--summary-json", "allowed.json"])
        .output()
        .unwrap();
    assert_eq!(allowed.status.code(), Some(0), "{}", stderr(&allowed));
    assert_eq!(
        crate::summary(dir.path(), "allowed.json")["records"]["delivered"],
        2
    );
    let check = logferry()
        .args(["check", "--backend", "file-upload", "--allow-binary"])
        .args(files)
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_eq!(check.status.code(), Some(0), "{}", stdout(&check));
    let mut uploaded: Vec<(String, u64)> = emu
        .uploads()
        .into_iter()
        .map(|u| (u.file_name, u.bytes))
        .collect();
    uploaded.sort();
    let expected = [("good.log", 6), ("latin1.log", 8), ("logs.gz", 13)];
    assert_eq!(uploaded, expected.map(|(n, b)| (n.to_owned(), b)));
    emu.shutdown().await;
}

/// A file that grew since its upload goes again whole (the API takes whole files), and
/// the log and the summary say so (issue 13, item 14).
#[tokio::test(flavor = "multi_thread")]
async fn a_file_that_grew_is_uploaded_again_whole_and_the_summary_says_so() {
    let emu = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.log");
    std::fs::write(&path, numbered(10)).unwrap();
    let first_size = std::fs::metadata(&path).unwrap().len();
    let run = |summary: &str| {
        upload(&emu, dir.path())
            .env("ACCESS_TOKEN", emu.taegis_access_token())
            .args(["-v", "a.log", "--spool", "spool", "--summary-json", summary])
            .output()
            .unwrap()
    };
    let first = run("1.json");
    assert_eq!(first.status.code(), Some(0), "{}", stderr(&first));
    let s = summary(dir.path(), "1.json");
    assert!(
        s["records"].get("reuploaded").is_none(),
        "a first upload: {s}"
    );
    assert!(!stderr(&first).contains("reuploaded"), "{}", stderr(&first));
    let mut grown = numbered(10);
    grown.push_str("one more line\n");
    std::fs::write(&path, &grown).unwrap();
    let second = run("2.json");
    assert_eq!(second.status.code(), Some(0), "{}", stderr(&second));
    let size = grown.len() as u64;
    let log = stderr(&second);
    assert!(
        log.contains(&format!(
            "a.log: grew from {first_size} to {size} bytes since it was uploaded: uploading it again whole ({first_size} bytes a second time)"
        )),
        "{log}"
    );
    let s = summary(dir.path(), "2.json");
    assert_eq!(s["records"]["delivered"], 1, "{s}");
    assert_eq!(s["records"]["reuploaded"], 1, "{s}");
    assert!(s["records"].get("skipped").is_none(), "not skipped: {s}");
    assert!(
        log.contains("reuploaded 1 file grew since its last upload and was uploaded again whole"),
        "the summary on stderr says so: {log}"
    );
    let uploads: Vec<(String, u64, u64)> = emu
        .uploads()
        .into_iter()
        .map(|u| (u.file_name, u.bytes, u.lines))
        .collect();
    assert_eq!(
        uploads,
        [
            ("a.log".to_owned(), first_size, 10),
            ("a.log".to_owned(), size, 11)
        ]
    );
    // Unchanged since: skipped.
    let third = run("3.json");
    assert_eq!(third.status.code(), Some(0), "{}", stderr(&third));
    let s = summary(dir.path(), "3.json");
    assert_eq!(s["records"]["skipped"], 1, "{s}");
    assert!(s["records"].get("reuploaded").is_none(), "{s}");
    assert_eq!(emu.uploads().len(), 2);
    emu.shutdown().await;
}
