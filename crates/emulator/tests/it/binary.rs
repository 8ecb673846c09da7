//! The `logferry-emulator` binary: ready file, admin API, signals, and the seeds' Python
//! example clients run against it over TLS.

use crate::support::{Client, bearer};
use http::Method;
use logferry_emulator::ReadyInfo;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

struct Running {
    child: Child,
    info: ReadyInfo,
    client: Client,
    dir: tempfile::TempDir,
}

impl Running {
    fn admin(&self) -> String {
        bearer(&self.info.admin_token)
    }

    async fn admin_get(&self, call: &str) -> serde_json::Value {
        let url = format!("{}/_emulator/{call}", self.info.base_url);
        let r = self
            .client
            .send(Method::GET, &url, &[("authorization", &self.admin())], "")
            .await;
        assert_eq!(r.status, 200, "{call}: {}", r.text());
        r.json()
    }

    async fn admin_post(&self, call: &str, body: serde_json::Value) -> crate::support::Reply {
        let url = format!("{}/_emulator/{call}", self.info.base_url);
        self.client
            .post(
                &url,
                &[
                    ("authorization", &self.admin()),
                    ("content-type", "application/json"),
                ],
                body.to_string(),
            )
            .await
    }

    async fn stop(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().expect("the child runs").to_string();
        let status = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill runs");
        assert!(status.success());
        self.child.wait().await.expect("the child exits")
    }
}

/// Starts the binary and waits for its "listening" line, printed after the ready file is
/// written.
async fn spawn(extra: &[&str]) -> Running {
    let dir = tempfile::tempdir().unwrap();
    let ready = dir.path().join("ready.json");
    // A relative ready file, as a user types it: every path inside must still be usable
    // from anywhere.
    let mut child = Command::new(env!("CARGO_BIN_EXE_logferry-emulator"))
        .args(["--listen", "127.0.0.1:0", "--ready-file", "ready.json"])
        .current_dir(dir.path())
        .args(extra)
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("the emulator binary starts");
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let first = lines.next_line().await.unwrap().unwrap_or_default();
    assert!(
        first.contains("listening on"),
        "unexpected first line: {first}"
    );
    // Keep draining stderr so the child never blocks on it.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    let info: ReadyInfo =
        serde_json::from_slice(&std::fs::read(&ready).unwrap()).expect("ready file is JSON");
    let pem = info
        .ca_cert
        .as_ref()
        .map(|p| std::fs::read_to_string(p).expect("the CA file exists"));
    let client = Client::with_ca(pem.as_deref(), false);
    Running {
        child,
        info,
        client,
        dir,
    }
}

#[tokio::test]
async fn the_ready_file_has_every_key_and_the_process_stops_on_sigterm() {
    let running = spawn(&[]).await;
    let raw: serde_json::Value =
        serde_json::from_slice(&std::fs::read(running.dir.path().join("ready.json")).unwrap())
            .unwrap();
    for key in [
        "http_ingest_url",
        "http_ingest_key",
        "taegis_api_endpoint",
        "taegis_client_id",
        "taegis_client_secret",
        "taegis_access_token",
        "sdl_url",
        "sdl_api_key",
        "ca_cert",
        "base_url",
        "admin_token",
    ] {
        assert!(
            raw.get(key).is_some_and(|v| !v.is_null()),
            "ready file lacks {key}: {raw}"
        );
    }
    assert!(running.info.base_url.starts_with("https://127.0.0.1:"));
    let ca = running.info.ca_cert.as_ref().expect("TLS by default");
    assert!(ca.is_absolute(), "{}", ca.display());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(running.dir.path().join("ready.json"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let key = bearer(&running.info.http_ingest_key);
    let r = running
        .client
        .post(
            &running.info.http_ingest_url,
            &[("authorization", &key), ("content-type", "text/plain")],
            "hello\n",
        )
        .await;
    assert_eq!(r.status, 200);
    let status = running.stop().await;
    assert!(status.success(), "{status:?}");
}

#[tokio::test]
async fn the_admin_api_reports_and_changes_faults() {
    let records_dir = tempfile::tempdir().unwrap();
    let records_path = records_dir.path().join("records.jsonl");
    let running = spawn(&["--records", records_path.to_str().unwrap()]).await;
    let info = &running.info;
    let key = bearer(&info.http_ingest_key);
    let send = |body: &'static str| {
        let client = running.client.clone();
        let url = info.http_ingest_url.clone();
        let key = key.clone();
        async move {
            client
                .post(
                    &url,
                    &[("authorization", &key), ("content-type", "text/plain")],
                    body,
                )
                .await
        }
    };
    // Unauthorized admin calls are refused.
    let r = running
        .client
        .send(
            Method::GET,
            &format!("{}/_emulator/stats", info.base_url),
            &[],
            "",
        )
        .await;
    assert_eq!(r.status, 401);
    let r = running
        .admin_post(
            "faults",
            serde_json::json!({"all": {"fail_first": 1, "fail_first_status": 502}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(send("a\n").await.status, 502);
    assert_eq!(send("b\nc\n").await.status, 200);
    let page = running.admin_get("records?since=1").await;
    assert_eq!(page["records"].as_array().unwrap().len(), 1);
    assert_eq!(page["records"][0]["text"], "c");
    assert_eq!(page["next"], 2);
    let stats = running.admin_get("stats").await;
    assert_eq!(stats["endpoints"]["http_ingest"]["by_status"]["502"], 1);
    assert_eq!(stats["endpoints"]["http_ingest"]["faults_injected"], 1);
    let bad = running
        .admin_post("faults", serde_json::json!({"all": {"fail_rate": 3.0}}))
        .await;
    assert_eq!(bad.status, 400);
    let added = running
        .admin_post("integrations", serde_json::json!({"id": "second"}))
        .await
        .json();
    let r = running
        .client
        .post(
            added["url"].as_str().unwrap(),
            &[
                ("authorization", &bearer(added["key"].as_str().unwrap())),
                ("content-type", "text/plain"),
            ],
            "z\n",
        )
        .await;
    assert_eq!(r.status, 200);
    let r = running
        .admin_post("revoke", serde_json::json!({"key": info.http_ingest_key}))
        .await;
    assert_eq!(r.json()["revoked"], true);
    assert_eq!(send("d\n").await.status, 403);
    assert!(running.stop().await.success());
}

#[tokio::test]
async fn non_loopback_is_refused_without_the_danger_flag() {
    let out = Command::new(env!("CARGO_BIN_EXE_logferry-emulator"))
        .args(["--listen", "0.0.0.0:0"])
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--danger-allow-non-loopback"), "{stderr}");
}

fn python_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python")
}

/// python3 with `requests`, or a failure that says what is missing.
fn python() -> &'static str {
    let probe = std::process::Command::new("python3")
        .args(["-c", "import requests"])
        .output();
    match probe {
        Err(e) => panic!(
            "python3 is required to run the seeds' example clients and could not be started: {e}"
        ),
        Ok(out) if !out.status.success() => panic!(
            "python3 lacks the `requests` module needed by the seeds' example clients \
             (install it with `python3 -m pip install requests`; .ci/run does): {}",
            String::from_utf8_lossy(&out.stderr)
        ),
        Ok(_) => "python3",
    }
}

#[tokio::test]
async fn the_seeds_python_clients_succeed_against_the_binary_over_tls() {
    let python = python();
    let running = spawn(&[]).await;
    let info = &running.info;
    let ca = info.ca_cert.as_ref().expect("TLS by default");
    let file = running.dir.path().join("syslog.txt");
    let lines: Vec<String> = (0..50)
        .map(|i| format!("<13>Nov 23 20:00:{:02} host app[1]: event {i}", i % 60))
        .collect();
    std::fs::write(&file, lines.join("\n") + "\n").unwrap();

    let out = Command::new(python)
        .arg(python_dir().join("http_ingest_send.py"))
        .arg(&file)
        .env("HTTP_INGEST_URL", &info.http_ingest_url)
        .env("HTTP_INGEST_KEY", &info.http_ingest_key)
        .env("REQUESTS_CA_BUNDLE", ca)
        .env("NO_PROXY", "127.0.0.1,localhost")
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "http ingest client failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let page = running.admin_get("records?since=0").await;
    let texts: Vec<&str> = page["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["text"].as_str().unwrap())
        .collect();
    assert_eq!(texts, lines.iter().map(String::as_str).collect::<Vec<_>>());

    let out = Command::new(python)
        .arg(python_dir().join("file_upload.py"))
        .arg(&file)
        .env("TAEGIS_API_ENDPOINT", &info.taegis_api_endpoint)
        .env("ACCESS_TOKEN", &info.taegis_access_token)
        .env("REQUESTS_CA_BUNDLE", ca)
        .env("NO_PROXY", "127.0.0.1,localhost")
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("Upload success!"),
        "file upload client failed: {stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let uploads = running.admin_get("uploads").await;
    let upload = &uploads[0];
    assert_eq!(upload["file_name"], file.to_string_lossy().as_ref());
    assert_eq!(upload["sensor_id"], "toaster.localhost");
    assert_eq!(upload["service"], "Syslog");
    assert_eq!(upload["lines"], 50);
    let page = running.admin_get("records?since=50").await;
    let uploaded: Vec<&str> = page["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["text"].as_str().unwrap())
        .collect();
    assert_eq!(
        uploaded,
        lines.iter().map(String::as_str).collect::<Vec<_>>(),
        "the upload stored the file's lines"
    );
    assert!(running.stop().await.success());
}

#[tokio::test]
async fn the_stats_file_is_written_on_shutdown() {
    let stats_dir = tempfile::tempdir().unwrap();
    let stats_path = stats_dir.path().join("stats.json");
    let running = spawn(&["--stats-file", stats_path.to_str().unwrap()]).await;
    let key = bearer(&running.info.http_ingest_key);
    let r = running
        .client
        .post(
            &running.info.http_ingest_url,
            &[("authorization", &key), ("content-type", "text/plain")],
            "one\ntwo\n",
        )
        .await;
    assert_eq!(r.status, 200);
    assert!(!stats_path.exists(), "written only on shutdown");
    let status = running.stop().await;
    assert!(status.success(), "{status:?}");
    let stats: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&stats_path).unwrap()).unwrap();
    assert_eq!(stats["endpoints"]["http_ingest"]["records"], 2);
    assert_eq!(stats["endpoints"]["http_ingest"]["wire_bytes"], 8);
}
