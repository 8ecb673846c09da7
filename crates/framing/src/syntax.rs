//! A strict RFC 8259 syntax checker: the second opinion when simd-json rejects a record.
//!
//! simd-json parses numbers into machine types, so it refuses some valid JSON (numbers
//! whose magnitude overflows an `f64`, such as `1E400`), and its errors name a kind and a
//! character index ("Syntax at character 0"). The framer only validates records and sends
//! their original bytes, so when simd-json says no, this checker decides: it accepts
//! exactly the RFC 8259 grammar (any number of any size, strings without raw control
//! characters and with valid escapes; a `\u` escape of a lone surrogate is refused, as
//! simd-json refuses it) and, on an error, says what was expected at which byte.

/// Where a record stops being JSON, and what was expected there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SyntaxError {
    /// The message: what was expected or found, with byte offsets.
    pub(crate) message: String,
}

/// Checks that `bytes` (UTF-8) is exactly one JSON value with optional whitespace around
/// it. `Ok(true)` when that value is an object. Byte offsets in messages are indices into
/// `bytes` plus `base`.
pub(crate) fn check(bytes: &[u8], base: usize) -> Result<bool, SyntaxError> {
    Checker {
        b: bytes,
        base,
        stack: Vec::new(),
    }
    .run()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// A value (the root, after `:` or after `,` in an array).
    Value,
    /// A value or `]` (just after `[`).
    ValueOrClose,
    /// A key or `}` (just after `{`).
    KeyOrClose,
    /// A key (after `,` in an object).
    Key,
    /// `:` after a key.
    Colon,
    /// `,` or the container's closing bracket, after a value.
    Next,
    /// Nothing but whitespace: the root value is complete.
    Done,
}

struct Checker<'a> {
    b: &'a [u8],
    base: usize,
    /// Open containers: `{` or `[`, and where they opened.
    stack: Vec<(u8, usize)>,
}

impl Checker<'_> {
    fn run(mut self) -> Result<bool, SyntaxError> {
        let b = self.b;
        let mut i = skip_ws(b, 0);
        let object = b.get(i) == Some(&b'{');
        let mut expect = Expect::Value;
        loop {
            i = skip_ws(b, i);
            let Some(&c) = b.get(i) else {
                return self.at_end(expect).map(|()| object);
            };
            expect = match expect {
                Expect::Value | Expect::ValueOrClose => {
                    if expect == Expect::ValueOrClose && c == b']' {
                        self.stack.pop();
                        i += 1;
                        self.after_value()
                    } else {
                        match c {
                            b'{' => {
                                self.stack.push((c, i));
                                i += 1;
                                Expect::KeyOrClose
                            }
                            b'[' => {
                                self.stack.push((c, i));
                                i += 1;
                                Expect::ValueOrClose
                            }
                            b'"' => {
                                i = self.string(i)?;
                                self.after_value()
                            }
                            b'-' | b'0'..=b'9' => {
                                i = self.number(i)?;
                                self.after_value()
                            }
                            b't' | b'f' | b'n' => {
                                i = self.literal(i)?;
                                self.after_value()
                            }
                            _ => {
                                let what = if expect == Expect::ValueOrClose {
                                    "a value or ']'"
                                } else {
                                    "a value"
                                };
                                return Err(self.expected(what, i));
                            }
                        }
                    }
                }
                Expect::KeyOrClose | Expect::Key => match c {
                    b'}' if expect == Expect::KeyOrClose => {
                        self.stack.pop();
                        i += 1;
                        self.after_value()
                    }
                    b'"' => {
                        i = self.string(i)?;
                        Expect::Colon
                    }
                    _ => {
                        let what = if expect == Expect::KeyOrClose {
                            "a string key or '}'"
                        } else {
                            "a string key"
                        };
                        return Err(self.expected(what, i));
                    }
                },
                Expect::Colon if c == b':' => {
                    i += 1;
                    Expect::Value
                }
                Expect::Colon => return Err(self.expected("':'", i)),
                Expect::Next => {
                    let (open, _) = *self.stack.last().expect("Next only inside a container");
                    let close = if open == b'{' { b'}' } else { b']' };
                    if c == b',' {
                        i += 1;
                        if open == b'{' {
                            Expect::Key
                        } else {
                            Expect::Value
                        }
                    } else if c == close {
                        self.stack.pop();
                        i += 1;
                        self.after_value()
                    } else if open == b'{' {
                        return Err(self.expected("',' or '}'", i));
                    } else {
                        return Err(self.expected("',' or ']'", i));
                    }
                }
                Expect::Done => {
                    return Err(self.err(format!(
                        "unexpected {} at byte {} after the end of the value",
                        found(b, i),
                        self.base + i
                    )));
                }
            };
        }
    }

    fn after_value(&self) -> Expect {
        if self.stack.is_empty() {
            Expect::Done
        } else {
            Expect::Next
        }
    }

    fn err(&self, message: String) -> SyntaxError {
        SyntaxError { message }
    }

    /// "expected X at byte N, found Y".
    fn expected(&self, what: &str, i: usize) -> SyntaxError {
        self.err(format!(
            "expected {what} at byte {}, found {}",
            self.base + i,
            found(self.b, i)
        ))
    }

    /// The record ended while `expect`ing something.
    fn at_end(&self, expect: Expect) -> Result<(), SyntaxError> {
        let end = self.base + self.b.len();
        let what = match expect {
            Expect::Done => return Ok(()),
            Expect::Value if self.stack.is_empty() => {
                return Err(self.err(format!("expected a value at byte {end}, found nothing")));
            }
            Expect::Value => "a value",
            Expect::ValueOrClose => "a value or ']'",
            Expect::KeyOrClose => "a string key or '}'",
            Expect::Key => "a string key",
            Expect::Colon => "':'",
            Expect::Next if self.stack.last().is_some_and(|(c, _)| *c == b'{') => "',' or '}'",
            Expect::Next => "',' or ']'",
        };
        let (open, at) = *self.stack.last().expect("only Done and Value at the root");
        let container = if open == b'{' { "object" } else { "array" };
        Err(self.err(format!(
            "unterminated {container} at byte {}: expected {what} at byte {end}, found the end \
             of the record",
            self.base + at
        )))
    }

    /// A string starting at `start` (a `"`); returns the index after its closing quote.
    fn string(&self, start: usize) -> Result<usize, SyntaxError> {
        let b = self.b;
        let mut j = start + 1;
        loop {
            let Some(&c) = b.get(j) else {
                return Err(self.err(format!("unterminated string at byte {}", self.base + start)));
            };
            match c {
                b'"' => return Ok(j + 1),
                b'\\' => j = self.escape(j)?,
                0..=0x1f => {
                    return Err(self.err(format!(
                        "control character U+{c:04X} at byte {} inside a string (it must be \
                         escaped)",
                        self.base + j
                    )));
                }
                _ => j += 1,
            }
        }
    }

    /// An escape starting at `j` (a `\`); returns the index after it.
    fn escape(&self, j: usize) -> Result<usize, SyntaxError> {
        let b = self.b;
        match b.get(j + 1) {
            Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => Ok(j + 2),
            Some(b'u') => {
                let unit = self.hex4(j)?;
                if (0xDC00..0xE000).contains(&unit) {
                    return Err(self.err(format!(
                        "escape at byte {} is a lone low surrogate",
                        self.base + j
                    )));
                }
                if !(0xD800..0xDC00).contains(&unit) {
                    return Ok(j + 6);
                }
                let low = (b.get(j + 6..j + 8) == Some(b"\\u"))
                    .then(|| self.hex4(j + 6))
                    .transpose()?;
                match low {
                    Some(low) if (0xDC00..0xE000).contains(&low) => Ok(j + 12),
                    _ => Err(self.err(format!(
                        "escape at byte {} is a high surrogate not followed by a low one",
                        self.base + j
                    ))),
                }
            }
            _ => Err(self.err(format!(
                "invalid escape at byte {}: expected one of \\\" \\\\ \\/ \\b \\f \\n \\r \\t \
                 \\uXXXX, found {}",
                self.base + j,
                match b.get(j + 1) {
                    Some(_) => format!("\\{}", found_char(b, j + 1)),
                    None => "the end of the record".to_owned(),
                }
            ))),
        }
    }

    /// The four hex digits of the `\u` escape at `j`.
    fn hex4(&self, j: usize) -> Result<u32, SyntaxError> {
        let digits = self
            .b
            .get(j + 2..j + 6)
            .filter(|d| d.iter().all(u8::is_ascii_hexdigit));
        match digits {
            Some(d) => Ok(d
                .iter()
                .fold(0, |n, &c| n * 16 + char::from(c).to_digit(16).unwrap_or(0))),
            None => Err(self.err(format!(
                "invalid \\u escape at byte {}: expected four hex digits",
                self.base + j
            ))),
        }
    }

    /// A number starting at `start`; returns the index after it. Any size is accepted.
    fn number(&self, start: usize) -> Result<usize, SyntaxError> {
        let b = self.b;
        let mut j = start;
        if b[j] == b'-' {
            j += 1;
        }
        let digits = |from: usize| {
            from + b[from.min(b.len())..]
                .iter()
                .take_while(|c| c.is_ascii_digit())
                .count()
        };
        let bad = |at: usize, what: &str| {
            self.err(format!(
                "invalid number at byte {}: expected {what} at byte {}, found {}",
                self.base + start,
                self.base + at,
                found(b, at)
            ))
        };
        match b.get(j) {
            Some(b'0') => {
                j += 1;
                if b.get(j).is_some_and(u8::is_ascii_digit) {
                    return Err(self.err(format!(
                        "invalid number at byte {}: a leading zero must not be followed by \
                         digits",
                        self.base + start
                    )));
                }
            }
            Some(b'1'..=b'9') => j = digits(j),
            _ => return Err(bad(j, "a digit")),
        }
        if b.get(j) == Some(&b'.') {
            let end = digits(j + 1);
            if end == j + 1 {
                return Err(bad(j + 1, "a digit after '.'"));
            }
            j = end;
        }
        if matches!(b.get(j), Some(b'e' | b'E')) {
            j += 1;
            if matches!(b.get(j), Some(b'+' | b'-')) {
                j += 1;
            }
            let end = digits(j);
            if end == j {
                return Err(bad(j, "a digit in the exponent"));
            }
            j = end;
        }
        Ok(j)
    }

    /// `true`, `false` or `null` at `start`; returns the index after it.
    fn literal(&self, start: usize) -> Result<usize, SyntaxError> {
        let word: &[u8] = match self.b[start] {
            b't' => b"true",
            b'f' => b"false",
            _ => b"null",
        };
        if self.b[start..].starts_with(word) {
            Ok(start + word.len())
        } else {
            Err(self.err(format!(
                "invalid literal at byte {}: expected `{}`",
                self.base + start,
                String::from_utf8_lossy(word)
            )))
        }
    }
}

fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while b
        .get(i)
        .is_some_and(|c| matches!(c, b' ' | b'\t' | b'\n' | b'\r'))
    {
        i += 1;
    }
    i
}

/// The character at `i` for a message: `'x'`, or "the end of the record".
fn found(b: &[u8], i: usize) -> String {
    if i >= b.len() {
        "the end of the record".to_owned()
    } else {
        format!("'{}'", found_char(b, i))
    }
}

/// The character starting at `i`, escaped for display.
fn found_char(b: &[u8], i: usize) -> String {
    let rest = &b[i..b.len().min(i + 4)];
    let valid = match std::str::from_utf8(rest) {
        Ok(s) => s,
        Err(e) => std::str::from_utf8(&rest[..e.valid_up_to()]).unwrap_or(""),
    };
    match valid.chars().next() {
        Some(c @ ('"' | '\'')) => c.to_string(),
        Some(c) => c.escape_debug().to_string(),
        None => format!("\\x{:02X}", b[i]),
    }
}

#[cfg(test)]
mod tests {
    use super::check;

    fn msg(json: &str) -> String {
        check(json.as_bytes(), 0).unwrap_err().message
    }

    #[test]
    fn accepts_the_rfc_8259_grammar_with_numbers_of_any_size() {
        for ok in [
            r#"{"a":1E400,"b":-1e-400,"c":18446744073709551616}"#,
            r#" {"n":123456789012345678901234567890, "f": 0.5e+3, "z": -0} "#,
            r#"{"s":"\u00e9\ud83d\ude00\n\"","t":[true,false,null,[],{}]}"#,
        ] {
            assert_eq!(check(ok.as_bytes(), 0), Ok(true), "{ok}");
        }
        assert_eq!(check(b"[1E400]", 0), Ok(false));
        assert_eq!(check(b"\"x\"", 0), Ok(false));
    }

    #[test]
    fn says_what_was_expected_where() {
        assert_eq!(msg(r#"{"a" 1}"#), "expected ':' at byte 5, found '1'");
        assert_eq!(
            msg(r#"{"a":1,}"#),
            "expected a string key at byte 7, found '}'"
        );
        assert_eq!(
            msg(r#"{"a":1 "b":2}"#),
            "expected ',' or '}' at byte 7, found '\"'"
        );
        assert_eq!(msg(r#"{"a":"x"#), "unterminated string at byte 5");
        assert_eq!(
            msg(r#"{"a":[1,2"#),
            "unterminated array at byte 5: expected ',' or ']' at byte 9, found the end of \
             the record"
        );
        assert_eq!(
            msg(r#"{"a":01}"#),
            "invalid number at byte 5: a leading zero must not be followed by digits"
        );
        assert_eq!(
            msg(r#"{"a":1.}"#),
            "invalid number at byte 5: expected a digit after '.' at byte 7, found '}'"
        );
        assert_eq!(
            msg(r#"{"a":tru}"#),
            "invalid literal at byte 5: expected `true`"
        );
        assert_eq!(
            msg(r#"{"a":"\q"}"#),
            "invalid escape at byte 6: expected one of \\\" \\\\ \\/ \\b \\f \\n \\r \\t \\uXXXX, \
             found \\q"
        );
        assert_eq!(
            msg(r#"{"a":"\ud800"}"#),
            "escape at byte 6 is a high surrogate not followed by a low one"
        );
        assert_eq!(
            msg("{\"a\":\"x\ty\"}"),
            "control character U+0009 at byte 7 inside a string (it must be escaped)"
        );
        assert_eq!(
            msg("{} {}"),
            "unexpected '{' at byte 3 after the end of the value"
        );
        assert_eq!(msg("  "), "expected a value at byte 2, found nothing");
        assert_eq!(msg("{\"é\":ü}"), "expected a value at byte 6, found 'ü'");
        assert_eq!(
            check(br#"{"a" 1}"#, 10).unwrap_err().message,
            "expected ':' at byte 15, found '1'"
        );
    }
}
