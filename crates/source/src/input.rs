//! Command-line inputs: `-` for stdin, file paths, and glob patterns expanded to a
//! sorted, deterministic list of files.

use crate::Error;
use std::collections::HashSet;
use std::ffi::OsStr;
use std::fmt;
use std::path::{Path, PathBuf};

/// One input to read.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Input {
    /// Standard input.
    Stdin,
    /// A file (or FIFO, or character device), by the path the user gave or the glob found.
    File(PathBuf),
}

impl Input {
    /// The name used in messages and framing errors: the path, or `<stdin>`.
    pub fn name(&self) -> String {
        self.to_string()
    }
}

impl fmt::Display for Input {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Input::Stdin => f.write_str("<stdin>"),
            Input::File(path) => write!(f, "{}", path.display()),
        }
    }
}

/// Characters that make an argument a glob pattern (when no file has that exact name).
const GLOB_CHARS: &[char] = &['*', '?', '['];

/// Expands command-line arguments into the inputs to read, in order.
///
/// - No arguments at all means stdin; `-` means stdin.
/// - An argument naming an existing path is that path (even if it contains `*`, `?` or
///   `[`). It must not be a directory.
/// - Otherwise an argument containing `*`, `?` or `[` is a glob pattern, matched as a
///   shell would: `*` and `?` do not cross `/` or match a leading `.`, `**` matches any
///   number of directories, `[a-z]` and `[!a-z]` match one character. Its matches are
///   sorted by path; directories among them are skipped. A pattern with no file match is
///   an error naming the pattern.
/// - Any other argument is a missing file: an error naming it.
///
/// A file named twice (by two patterns, say) is read once, at its first place.
pub fn expand<I, S>(args: I) -> Result<Vec<Input>, Error>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut out: Vec<Input> = Vec::new();
    let mut seen = HashSet::new();
    let mut any = false;
    for arg in args {
        any = true;
        for input in expand_one(arg.as_ref())? {
            if seen.insert(input.clone()) {
                out.push(input);
            }
        }
    }
    if !any {
        out.push(Input::Stdin);
    }
    Ok(out)
}

fn expand_one(arg: &OsStr) -> Result<Vec<Input>, Error> {
    if arg == "-" {
        return Ok(vec![Input::Stdin]);
    }
    let path = Path::new(arg);
    match std::fs::metadata(path) {
        Ok(meta) if meta.is_dir() => Err(Error::IsDirectory {
            path: path.to_path_buf(),
        }),
        Ok(_) => Ok(vec![Input::File(path.to_path_buf())]),
        Err(source) => match arg.to_str() {
            Some(pattern) if pattern.contains(GLOB_CHARS) => glob(pattern),
            _ => Err(Error::Open {
                path: path.to_path_buf(),
                source,
            }),
        },
    }
}

fn glob(pattern: &str) -> Result<Vec<Input>, Error> {
    let options = glob::MatchOptions {
        case_sensitive: true,
        require_literal_separator: true,
        require_literal_leading_dot: true,
    };
    let paths = glob::glob_with(pattern, options).map_err(|source| Error::Pattern {
        pattern: pattern.to_owned(),
        source,
    })?;
    let mut files = Vec::new();
    for entry in paths {
        let path = entry.map_err(|e| Error::Glob {
            pattern: pattern.to_owned(),
            path: e.path().to_path_buf(),
            source: e.into(),
        })?;
        // Follows symlinks: a link to a file is a file. Entries that vanish between the
        // listing and this check are skipped like directories.
        if std::fs::metadata(&path).is_ok_and(|m| !m.is_dir()) {
            files.push(path);
        }
    }
    if files.is_empty() {
        return Err(Error::NoMatch {
            pattern: pattern.to_owned(),
        });
    }
    files.sort();
    Ok(files.into_iter().map(Input::File).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_arguments_or_a_dash_mean_stdin() {
        assert_eq!(expand(Vec::<&str>::new()).unwrap(), [Input::Stdin]);
        assert_eq!(expand(["-", "-"]).unwrap(), [Input::Stdin]);
    }

    #[test]
    fn names() {
        assert_eq!(Input::Stdin.name(), "<stdin>");
        assert_eq!(Input::File("a/b.log".into()).name(), "a/b.log");
    }
}
