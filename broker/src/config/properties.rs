//! A reader of Java `.properties` text, the format of Kafka's `server.properties`: `key=value`,
//! `key: value` or `key value`; `#` and `!` comments; a trailing backslash continues a line;
//! `\t`, `\n`, `\r`, `\f` and `\uXXXX` escapes. Kafka counterpart: `java.util.Properties::load`.

/// One `key=value` pair and the line it starts on (1-based), so errors can point at it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub key: String,
    pub value: String,
    pub line: usize,
}

/// Why a properties text could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct ParseError {
    pub line: usize,
    pub message: String,
}

/// Parses properties text into its entries, in file order (a repeated key appears twice; the
/// caller lets the later one win, as `Properties::load` does).
pub fn parse(text: &str) -> Result<Vec<Entry>, ParseError> {
    let mut entries = Vec::new();
    let mut lines = text.lines().enumerate();
    while let Some((index, first)) = lines.next() {
        let line = index + 1;
        let start = first.trim_start_matches([' ', '\t', '\x0c']);
        if start.is_empty() || start.starts_with('#') || start.starts_with('!') {
            continue;
        }
        // Join continuation lines: an odd number of trailing backslashes escapes the newline.
        let mut logical = start.to_string();
        while ends_with_odd_backslashes(&logical) {
            logical.pop();
            match lines.next() {
                Some((_, next)) => logical.push_str(next.trim_start_matches([' ', '\t', '\x0c'])),
                None => break,
            }
        }
        let (key, value) = split_key_value(&logical);
        let key = unescape(key).map_err(|message| ParseError { line, message })?;
        let value = unescape(value).map_err(|message| ParseError { line, message })?;
        entries.push(Entry { key, value, line });
    }
    Ok(entries)
}

fn ends_with_odd_backslashes(s: &str) -> bool {
    s.bytes().rev().take_while(|&b| b == b'\\').count() % 2 == 1
}

/// Splits at the first unescaped `=`, `:` or whitespace; whitespace around the separator and
/// one `=` or `:` after whitespace belong to neither side. Both halves are still escaped.
fn split_key_value(line: &str) -> (&str, &str) {
    let bytes = line.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'=' | b':' | b' ' | b'\t' | b'\x0c' => break,
            _ => i += 1,
        }
    }
    let key_end = i.min(bytes.len());
    let mut rest = line[key_end..].trim_start_matches([' ', '\t', '\x0c']);
    if let Some(after) = rest.strip_prefix(['=', ':']) {
        rest = after.trim_start_matches([' ', '\t', '\x0c']);
    }
    (&line[..key_end], rest)
}

fn unescape(s: &str) -> Result<String, String> {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('t') => out.push('\t'),
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('f') => out.push('\x0c'),
            Some('u') => {
                let hex: String = chars.by_ref().take(4).collect();
                let code = u32::from_str_radix(&hex, 16)
                    .ok()
                    .filter(|_| hex.len() == 4)
                    .and_then(char::from_u32)
                    .ok_or_else(|| format!("malformed \\uXXXX escape `\\u{hex}`"))?;
                out.push(code);
            }
            Some(other) => out.push(other),
            None => {}
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(text: &str) -> Vec<(String, String, usize)> {
        parse(text)
            .unwrap()
            .into_iter()
            .map(|e| (e.key, e.value, e.line))
            .collect()
    }

    fn pair(k: &str, v: &str, line: usize) -> (String, String, usize) {
        (k.to_string(), v.to_string(), line)
    }

    #[test]
    fn separators_and_whitespace() {
        let text = "a=1\nb = 2\nc:3\nd 4\n  e\t=\t5  \nf\ng=\nh = x = y\n";
        assert_eq!(
            pairs(text),
            vec![
                pair("a", "1", 1),
                pair("b", "2", 2),
                pair("c", "3", 3),
                pair("d", "4", 4),
                // Trailing whitespace of a value is kept, as Java keeps it.
                pair("e", "5  ", 5),
                pair("f", "", 6),
                pair("g", "", 7),
                pair("h", "x = y", 8),
            ]
        );
    }

    #[test]
    fn comments_and_blank_lines_are_skipped() {
        let text = "# comment\n   ! another\n\n\t\nlisteners=PLAINTEXT://:9092 # not a comment\n";
        assert_eq!(
            pairs(text),
            vec![pair("listeners", "PLAINTEXT://:9092 # not a comment", 5)]
        );
    }

    #[test]
    fn continuation_lines_join_and_report_the_first_line() {
        let text = "x=1\nlisteners=PLAINTEXT://:9092,\\\n    CONTROLLER://:9093\ny=\\\\\nz=2";
        assert_eq!(
            pairs(text),
            vec![
                pair("x", "1", 1),
                pair("listeners", "PLAINTEXT://:9092,CONTROLLER://:9093", 2),
                // An even number of backslashes is an escaped backslash, not a continuation.
                pair("y", "\\", 4),
                pair("z", "2", 5),
            ]
        );
    }

    #[test]
    fn escapes() {
        let text = "k\\=ey=v\\tal\\u00e9\\:\nwith\\ space=1\n";
        assert_eq!(
            pairs(text),
            vec![pair("k=ey", "v\talé:", 1), pair("with space", "1", 2)]
        );
    }

    #[test]
    fn malformed_unicode_escape_names_the_line() {
        let err = parse("a=1\nb=\\u12G4\n").unwrap_err();
        assert_eq!(err.line, 2);
        assert!(err.message.contains("\\u"), "{err}");
    }

    #[test]
    fn crlf_line_endings() {
        assert_eq!(
            pairs("a=1\r\nb=2\r\n"),
            vec![pair("a", "1", 1), pair("b", "2", 2)]
        );
    }

    #[test]
    fn a_backslash_on_the_last_line_ends_the_value() {
        assert_eq!(pairs("a=1\\"), vec![pair("a", "1", 1)]);
    }
}
