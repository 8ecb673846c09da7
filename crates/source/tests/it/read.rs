//! Reading: chunk sizes, pipes and real stdin, and read errors naming the input.

use crate::{chain, open, read_all};
use logferry_source::{Input, Resume, Source, SourceConfig};
use std::io::{Read, Write};
use std::process::{Command, Stdio};

/// Deterministic bytes that are not all alike.
fn sample(len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| {
            if i % 61 == 60 {
                b'\n'
            } else {
                b'a' + (i % 26) as u8
            }
        })
        .collect()
}

#[test]
fn a_file_is_read_whole_in_chunks_of_the_configured_size() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("big.log");
    let data = sample((5 << 20) / 2); // 2.5 MiB
    std::fs::write(&path, &data).unwrap();
    let mut source = open(&path, None);
    assert_eq!(source.start().offset, 0);
    assert_eq!(source.resume(), Resume::Fresh);
    assert!(source.is_checkpointable());
    let (bytes, sizes) = read_all(&mut source);
    assert!(bytes == data, "bytes differ");
    assert_eq!(sizes, [1 << 20, 1 << 20, 1 << 19]);
    assert_eq!(source.offset(), data.len() as u64);

    let config = SourceConfig { chunk_bytes: 1000 };
    let mut source = Source::open(&Input::File(path.clone()), &config, None).unwrap();
    let (bytes, sizes) = read_all(&mut source);
    assert!(bytes == data);
    assert!(sizes.iter().all(|&n| n <= 1000));
}

#[test]
fn an_empty_file_has_no_chunks() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("empty.log");
    std::fs::write(&path, b"").unwrap();
    let mut source = open(&path, None);
    assert_eq!(source.read_chunk().unwrap(), None);
}

#[test]
fn a_pipe_is_read_to_the_end_through_the_reader_abstraction() {
    let (reader, mut writer) = std::io::pipe().unwrap();
    let data = sample(3 << 20);
    let expected = data.clone();
    let feeder = std::thread::spawn(move || {
        for part in data.chunks(77_777) {
            writer.write_all(part).unwrap();
        }
    });
    let mut source = Source::from_reader("<pipe>", reader, &SourceConfig::default());
    let (bytes, sizes) = read_all(&mut source);
    feeder.join().unwrap();
    assert!(bytes == expected, "bytes differ");
    assert!(sizes.iter().all(|&n| n <= 1 << 20));
    assert!(!source.is_checkpointable());
    assert_eq!(source.checkpoint(source.start()), None);
}

/// The environment variable that turns [`stdin_child_helper`] into the child side of
/// [`real_stdin_is_read_from_a_pipe`].
const CHILD: &str = "LOGFERRY_SOURCE_STDIN_CHILD";

/// Child side of [`real_stdin_is_read_from_a_pipe`]: with [`CHILD`] set, reads
/// `Input::Stdin` to the end and prints the byte count and a checksum. Without it (a
/// normal test run) it has nothing to do.
#[test]
fn stdin_child_helper() {
    if std::env::var_os(CHILD).is_none() {
        return;
    }
    let mut source = Source::open(&Input::Stdin, &SourceConfig::default(), None).unwrap();
    assert_eq!(&**source.name(), "<stdin>");
    let (bytes, _) = read_all(&mut source);
    let sum: u64 = bytes.iter().map(|&b| u64::from(b)).sum();
    println!("STDIN-RESULT {} {sum}", bytes.len());
}

#[test]
fn real_stdin_is_read_from_a_pipe() {
    let data = sample(2 << 20);
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "read::stdin_child_helper",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD, "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let feed = data.clone();
    let feeder = std::thread::spawn(move || stdin.write_all(&feed).unwrap());
    let mut out = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    feeder.join().unwrap();
    assert!(child.wait().unwrap().success(), "child failed: {out}");
    let sum: u64 = data.iter().map(|&b| u64::from(b)).sum();
    assert!(
        out.contains(&format!("STDIN-RESULT {} {sum}", data.len())),
        "child said: {out}"
    );
}

#[test]
fn open_and_read_errors_name_the_input() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let config = SourceConfig::default();
    let missing = Source::open(&Input::File(d.join("gone.log")), &config, None).unwrap_err();
    let dir = Source::open(&Input::File(d.to_path_buf()), &config, None).unwrap_err();

    struct Failing;
    impl Read for Failing {
        fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> {
            Err(std::io::Error::other("device went away"))
        }
    }
    let mut source = Source::from_reader("/var/log/flaky.log", Failing, &config);
    let read = source.read_chunk().unwrap_err();

    let shown = [missing, dir, read].map(|e| chain(&e, d)).join("\n");
    insta::assert_snapshot!(shown, @r"
    cannot open [TMP]/gone.log: No such file or directory (os error 2)
    [TMP] is a directory, not a file
    cannot read /var/log/flaky.log: device went away
    ");
}

#[cfg(unix)]
#[test]
fn an_unreadable_file_is_an_open_error_naming_it() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("secret.log");
    std::fs::write(&path, b"x\n").unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o000)).unwrap();
    let result = Source::open(&Input::File(path.clone()), &SourceConfig::default(), None);
    if std::fs::File::open(&path).is_ok() {
        // Running as root (as in CI containers): permissions do not stop reads, so the
        // file opens; the error path is covered by the missing-file case above.
        assert!(result.is_ok());
    } else {
        let err = result.unwrap_err();
        assert_eq!(
            chain(&err, tmp.path()),
            "cannot open [TMP]/secret.log: Permission denied (os error 13)"
        );
    }
}
