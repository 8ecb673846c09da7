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
}
