//! `${VAR}` substitution in string values.
//!
//! - `${NAME}` is the variable's value; unset is an error.
//! - `${NAME:-default}` is the default when the variable is unset or empty; the default is
//!   taken literally up to the first `}`.
//! - `$$` is one literal `$`; any other `$` (such as a regex's `$` anchor) stays as it is.
//! - NAME is `[A-Za-z_][A-Za-z0-9_]*`.

/// A string after substitution.
#[derive(Debug)]
pub(crate) struct Substituted {
    pub(crate) text: String,
    /// Whether any part came from the environment (a default written in the file does not count).
    pub(crate) from_env: bool,
}

/// Substitutes `raw`. The error message quotes only names, never values.
pub(crate) fn substitute(
    raw: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Substituted, String> {
    if !raw.contains('$') {
        return Ok(Substituted {
            text: raw.to_owned(),
            from_env: false,
        });
    }
    let mut text = String::with_capacity(raw.len());
    let mut from_env = false;
    let mut rest = raw;
    while let Some(i) = rest.find('$') {
        text.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            text.push('$');
            rest = tail;
        } else if let Some(inner) = after.strip_prefix('{') {
            let Some(end) = inner.find('}') else {
                return Err("unterminated `${` (write `$$` for a literal `$`)".into());
            };
            let body = &inner[..end];
            let (name, default) = match body.split_once(":-") {
                Some((name, default)) => (name, Some(default)),
                None => (body, None),
            };
            if !valid_name(name) {
                return Err(format!(
                    "`${{{}}}` is not a variable reference: a name is letters, digits and `_` (write `$$` for a literal `$`)",
                    printable(name)
                ));
            }
            match (env(name), default) {
                (Some(value), Some(default)) if value.is_empty() => text.push_str(default),
                (Some(value), _) => {
                    text.push_str(&value);
                    from_env = true;
                }
                (None, Some(default)) => text.push_str(default),
                (None, None) => {
                    return Err(format!(
                        "environment variable `{name}` is not set (write `${{{name}:-default}}` for a default)"
                    ));
                }
            }
            rest = &inner[end + 1..];
        } else {
            text.push('$');
            rest = after;
        }
    }
    text.push_str(rest);
    Ok(Substituted { text, from_env })
}

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// A name for an error message: at most 40 characters, control characters escaped.
fn printable(name: &str) -> String {
    let short: String = name.chars().take(40).collect();
    let mut s = short.escape_debug().to_string();
    if name.chars().count() > 40 {
        s.push('…');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sub(raw: &str) -> Result<(String, bool), String> {
        let env = |k: &str| match k {
            "A" => Some("alpha".to_owned()),
            "EMPTY" => Some(String::new()),
            _ => None,
        };
        substitute(raw, &env).map(|s| (s.text, s.from_env))
    }

    #[test]
    fn substitutes() {
        assert_eq!(sub("x${A}y"), Ok(("xalphay".into(), true)));
        assert_eq!(sub("${B:-d}"), Ok(("d".into(), false)));
        assert_eq!(sub("${EMPTY:-d}"), Ok(("d".into(), false)));
        assert_eq!(sub("${EMPTY}"), Ok(("".into(), true)));
        assert_eq!(sub("${A:-d}"), Ok(("alpha".into(), true)));
        assert_eq!(sub("$${A}"), Ok(("${A}".into(), false)));
        assert_eq!(sub("^a$"), Ok(("^a$".into(), false)));
        assert_eq!(sub("a$"), Ok(("a$".into(), false)));
        assert!(sub("${B}").unwrap_err().contains("`B` is not set"));
        assert!(sub("${A").unwrap_err().contains("unterminated"));
        assert!(sub("${1x}").unwrap_err().contains("not a variable"));
    }
}
