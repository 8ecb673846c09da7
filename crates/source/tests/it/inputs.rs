//! Turning arguments into inputs: stdin, literal paths, sorted globs, and the errors.

use crate::chain;
use logferry_source::{Error, Input, expand};
use std::path::{Path, PathBuf};

fn touch(dir: &Path, names: &[&str]) {
    for name in names {
        let path = dir.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, name.as_bytes()).unwrap();
    }
}

fn files(inputs: &[Input], dir: &Path) -> Vec<String> {
    inputs
        .iter()
        .map(|i| match i {
            Input::Stdin => "-".to_owned(),
            Input::File(p) => p
                .strip_prefix(dir)
                .unwrap_or(p)
                .to_string_lossy()
                .into_owned(),
        })
        .collect()
}

fn pat(dir: &Path, p: &str) -> PathBuf {
    dir.join(p)
}

#[test]
fn globs_expand_sorted_files_only_without_dotfiles() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    touch(
        d,
        &[
            "b.log",
            "a.log",
            "c.txt",
            "a1.log",
            ".hidden.log",
            "sub/d.log",
            "sub/deep/e.log",
        ],
    );
    std::fs::create_dir(d.join("dir.log")).unwrap();
    let got = expand([pat(d, "*.log")]).unwrap();
    assert_eq!(files(&got, d), ["a.log", "a1.log", "b.log"]);
    let got = expand([pat(d, "?.log")]).unwrap();
    assert_eq!(files(&got, d), ["a.log", "b.log"]);
    let got = expand([pat(d, "[ab]*.log")]).unwrap();
    assert_eq!(files(&got, d), ["a.log", "a1.log", "b.log"]);
    let got = expand([pat(d, "**/*.log")]).unwrap();
    assert_eq!(
        files(&got, d),
        ["a.log", "a1.log", "b.log", "sub/d.log", "sub/deep/e.log"]
    );
}

#[test]
fn arguments_keep_their_order_and_duplicates_are_read_once() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    touch(d, &["a.log", "b.log", "z.txt"]);
    let got = expand([pat(d, "z.txt"), pat(d, "*.log"), pat(d, "a.log")]).unwrap();
    assert_eq!(files(&got, d), ["z.txt", "a.log", "b.log"]);
    let got = expand([pat(d, "b.log").into_os_string(), "-".into()]).unwrap();
    assert_eq!(files(&got, d), ["b.log", "-"]);
}

#[test]
fn an_existing_file_with_glob_characters_is_taken_literally() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    touch(d, &["odd[1].log", "odd1.log"]);
    let got = expand([pat(d, "odd[1].log")]).unwrap();
    assert_eq!(files(&got, d), ["odd[1].log"]);
}

#[test]
fn errors_name_the_file_or_pattern() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    touch(d, &["a.log"]);
    let cases = [
        pat(d, "missing.log"),
        pat(d, "*.nothing"),
        pat(d, "nodir/*.log"),
        PathBuf::from("[oops.log"),
        d.to_path_buf(),
    ];
    let shown: Vec<String> = cases
        .iter()
        .map(|c| chain(&expand([c]).unwrap_err(), d))
        .collect();
    insta::assert_snapshot!(shown.join("\n"), @r"
    cannot open [TMP]/missing.log: No such file or directory (os error 2)
    no file matches [TMP]/*.nothing
    no file matches [TMP]/nodir/*.log
    invalid glob pattern [oops.log: Pattern syntax error near position 0: invalid range pattern
    [TMP] is a directory, not a file
    ");
    assert!(matches!(
        expand([pat(d, "a.log"), pat(d, "missing.log")]),
        Err(Error::Open { .. })
    ));
}
