//! The text of one member's value inside a JSON body that simd-json has
//! already validated: where it starts and ends, when it is compact (no
//! whitespace outside its strings). A `json` record whose text is compact is
//! then copied as the client sent it instead of written again from the
//! parsed tree (a tree walk, string escaping and float formatting per
//! record), and its numbers keep their digits.
//!
//! The scan trusts nothing: it is bounds-checked, and any surprise gives
//! `None`, which sends the caller back to the tree.

use std::ops::Range;

/// The range of a member's value in `text`, given `key`, the offset of the
/// first byte of the member's name (just after its opening quote), when the
/// value is compact.
pub(crate) fn member_value(text: &[u8], key: usize) -> Option<Range<usize>> {
    let mut i = string_end(text, key)?;
    i = skip_whitespace(text, i);
    if *text.get(i)? != b':' {
        return None;
    }
    let start = skip_whitespace(text, i + 1);
    let end = compact_value_end(text, start)?;
    Some(start..end)
}

fn skip_whitespace(text: &[u8], mut i: usize) -> usize {
    while matches!(text.get(i), Some(b' ' | b'\t' | b'\n' | b'\r')) {
        i += 1;
    }
    i
}

/// The offset just past the closing quote of the string whose content
/// starts at `i`.
fn string_end(text: &[u8], mut i: usize) -> Option<usize> {
    loop {
        i += memchr::memchr2(b'"', b'\\', text.get(i..)?)?;
        if text[i] == b'"' {
            return Some(i + 1);
        }
        // A backslash and the byte it escapes (the rest of a \u escape is
        // plain hex digits).
        i += 2;
    }
}

/// The offset just past the value starting at `start`, if the value holds
/// no whitespace outside its strings.
fn compact_value_end(text: &[u8], start: usize) -> Option<usize> {
    match *text.get(start)? {
        b'"' => return string_end(text, start + 1),
        b'{' | b'[' => {}
        _ => {
            // A number, true, false or null.
            let mut i = start;
            while let Some(b) = text.get(i) {
                if matches!(b, b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r') {
                    break;
                }
                i += 1;
            }
            return (i > start).then_some(i);
        }
    }
    let mut depth = 0usize;
    let mut i = start;
    loop {
        match *text.get(i)? {
            b'"' => {
                i = string_end(text, i + 1)?;
                continue;
            }
            b'{' | b'[' => depth += 1,
            b'}' | b']' => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    return Some(i + 1);
                }
            }
            b' ' | b'\t' | b'\n' | b'\r' => return None,
            _ => {}
        }
        i += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The value of the member named `name` in `text`, found as the
    /// produce path finds it: from the offset of the name's first byte.
    fn value_of<'a>(text: &'a str, name: &str) -> Option<&'a str> {
        let key = text.find(&format!("\"{name}\""))? + 1;
        member_value(text.as_bytes(), key).map(|r| &text[r])
    }

    #[test]
    fn finds_compact_values_of_every_kind() {
        let text =
            r#"{"a":{"x":[1,2,{"y":"}]"}],"z":null},"b":"s\"t\\","c":-1.5e3,"d":true,"e":[]}"#;
        assert_eq!(
            value_of(text, "a"),
            Some(r#"{"x":[1,2,{"y":"}]"}],"z":null}"#)
        );
        assert_eq!(value_of(text, "b"), Some(r#""s\"t\\""#));
        assert_eq!(value_of(text, "c"), Some("-1.5e3"));
        assert_eq!(value_of(text, "d"), Some("true"));
        assert_eq!(value_of(text, "e"), Some("[]"));
    }

    #[test]
    fn whitespace_around_a_value_is_not_part_of_it() {
        let text = "{\"a\" :\n {\"x\":1} , \"b\":\t7 }";
        assert_eq!(value_of(text, "a"), Some(r#"{"x":1}"#));
        assert_eq!(value_of(text, "b"), Some("7"));
    }

    #[test]
    fn a_value_with_whitespace_inside_is_not_compact() {
        assert_eq!(value_of(r#"{"a":{"x": 1}}"#, "a"), None);
        assert_eq!(value_of("{\"a\":[1,\n2]}", "a"), None);
        // Whitespace inside a string is the string's.
        assert_eq!(
            value_of(r#"{"a":{"x":"1 2"}}"#, "a"),
            Some(r#"{"x":"1 2"}"#)
        );
    }

    #[test]
    fn an_escaped_member_name_is_skipped_whole() {
        let text = r#"{"valu\u0065":[true]}"#;
        assert_eq!(member_value(text.as_bytes(), 2), Some(14..20));
    }

    #[test]
    fn truncated_or_unbalanced_text_gives_none() {
        for text in [
            r#"{"a":{"x":1"#,
            r#"{"a":"open"#,
            r#"{"a""#,
            r#"{"a":}"#,
            r#"{"a":"#,
        ] {
            assert_eq!(member_value(text.as_bytes(), 2), None, "{text}");
        }
    }
}
