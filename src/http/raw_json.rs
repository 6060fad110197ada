//! The text of one member's value inside a JSON body that simd-json has
//! already validated: where it starts and ends, when it is compact (no
//! whitespace outside its strings). A `json` record whose text is compact is
//! then copied as the client sent it instead of written again from the
//! parsed tree (a tree walk, string escaping and float formatting per
//! record), and its numbers keep their digits.
//!
//! The value is found from the structural indexes simd-json's first stage
//! left behind (the offset of every `{ } [ ] : ,`, of every string's opening
//! quote and of every other scalar's first byte), not by reading the text
//! again: a record's value of 250 bytes has about 45 of them. Between two
//! structural offsets lies at most one token and whitespace, so the value is
//! compact when each operator is followed at once by the next structural and
//! no token ends in whitespace.
//!
//! Nothing is trusted: every offset is bounds-checked against the text, and
//! any surprise gives `None`, which sends the caller back to the tree.

use std::ops::Range;

/// The range of a member's value in `text`, given `key`, the offset of the
/// first byte of the member's name (just after its opening quote), and the
/// structural indexes of `text` as simd-json's parse of it gave them, when
/// the value is compact.
pub(crate) fn member_value(text: &[u8], structurals: &[u32], key: usize) -> Option<Range<usize>> {
    let quote = u32::try_from(key.checked_sub(1)?).ok()?;
    let name = structurals.binary_search(&quote).ok()?;
    if *text.get(quote as usize)? != b'"' {
        return None;
    }
    let at = |j: usize| structurals.get(j).map(|&s| s as usize);
    if *text.get(at(name + 1)?)? != b':' {
        return None;
    }
    let first = name + 2;
    let start = at(first)?;
    match *text.get(start)? {
        b'{' | b'[' => {}
        // A string or another scalar: the token up to the next structural,
        // less the whitespace before it.
        _ => {
            let mut end = at(first + 1)?;
            while end > start && is_whitespace(*text.get(end - 1)?) {
                end -= 1;
            }
            return (end > start).then_some(start..end);
        }
    }
    // The value's closing bracket is never the body's last structural (the
    // member is inside an object), so every structural of the value comes
    // with the one after it.
    let mut depth = 0usize;
    for pair in structurals.get(first..)?.windows(2) {
        let (here, next) = (pair[0] as usize, pair[1] as usize);
        match *text.get(here)? {
            b'{' | b'[' => depth += 1,
            b'}' | b']' => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    return Some(start..here + 1);
                }
            }
            b':' | b',' => {}
            // A token (a string, a number, a literal) runs to the next
            // structural; whitespace after it is outside the string.
            _ => {
                if next <= here || is_whitespace(*text.get(next - 1)?) {
                    return None;
                }
                continue;
            }
        }
        // An operator touches the next structural, or whitespace is between.
        if next != here + 1 {
            return None;
        }
    }
    None
}

fn is_whitespace(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// simd-json's structural indexes of `text`, as the produce path has
    /// them after its parse.
    fn structurals(text: &str) -> Vec<u32> {
        let mut buffers = simd_json::Buffers::new(text.len());
        let mut copy = text.as_bytes().to_vec();
        simd_json::to_tape_with_buffers(&mut copy, &mut buffers).expect("valid JSON");
        buffers.structural_indexes().to_vec()
    }

    /// The value of the member named `name` in `text`, found as the
    /// produce path finds it: from the offset of the name's first byte.
    fn value_of<'a>(text: &'a str, name: &str) -> Option<&'a str> {
        let key = text.find(&format!("\"{name}\""))? + 1;
        member_value(text.as_bytes(), &structurals(text), key).map(|r| &text[r])
    }

    #[test]
    fn finds_compact_values_of_every_kind() {
        let text = r#"{"a":{"x":[1,2,{"y":"}]"}],"z":null},"b":"s\"t\\","c":-1.5e3,"d":true,"e":[],"f":{},"g":"","h":[[]]}"#;
        assert_eq!(
            value_of(text, "a"),
            Some(r#"{"x":[1,2,{"y":"}]"}],"z":null}"#)
        );
        assert_eq!(value_of(text, "b"), Some(r#""s\"t\\""#));
        assert_eq!(value_of(text, "c"), Some("-1.5e3"));
        assert_eq!(value_of(text, "d"), Some("true"));
        assert_eq!(value_of(text, "e"), Some("[]"));
        assert_eq!(value_of(text, "f"), Some("{}"));
        assert_eq!(value_of(text, "g"), Some(r#""""#));
        assert_eq!(value_of(text, "h"), Some("[[]]"));
    }

    #[test]
    fn whitespace_around_a_value_is_not_part_of_it() {
        let text = "{\"a\" :\n {\"x\":1} , \"b\":\t7 , \"c\": \"s\" }";
        assert_eq!(value_of(text, "a"), Some(r#"{"x":1}"#));
        assert_eq!(value_of(text, "b"), Some("7"));
        assert_eq!(value_of(text, "c"), Some(r#""s""#));
    }

    #[test]
    fn a_value_with_whitespace_inside_is_not_compact() {
        for text in [
            r#"{"a":{"x": 1}}"#,
            "{\"a\":[1,\n2]}",
            r#"{"a":{"x" :1}}"#,
            r#"{"a":{"x":1 }}"#,
            r#"{"a":[ 1]}"#,
            r#"{"a":[{"x":1} ,2]}"#,
            r#"{"a":[[1] ]}"#,
            r#"{"a":{ }}"#,
            r#"{"a":["s" ]}"#,
        ] {
            assert_eq!(value_of(text, "a"), None, "{text}");
        }
        // Whitespace inside a string is the string's.
        assert_eq!(
            value_of(r#"{"a":{"x":"1 2"}}"#, "a"),
            Some(r#"{"x":"1 2"}"#)
        );
    }

    #[test]
    fn an_escaped_member_name_is_skipped_whole() {
        let text = r#"{"valu\u0065":[true]}"#;
        let s = structurals(text);
        assert_eq!(member_value(text.as_bytes(), &s, 2), Some(14..20));
    }

    /// Strings short and long (a vector search's width is 16 or 32
    /// bytes), with escapes before and after that width.
    #[test]
    fn strings_short_and_long_end_at_their_closing_quote() {
        let long = "x".repeat(21);
        for content in [
            String::new(),
            "x".repeat(15),
            "x".repeat(16),
            "x".repeat(33),
            format!("{long}\\\"{long}"),
            format!("ab\\\"{long}\\\\"),
            format!("{}\\\"", "x".repeat(15)),
        ] {
            let text = format!(r#"{{"a":"{content}","b":[1,"{content}"]}}"#);
            assert_eq!(
                value_of(&text, "a").map(str::len),
                Some(content.len() + 2),
                "{text}"
            );
            let list = format!(r#"[1,"{content}"]"#);
            assert_eq!(value_of(&text, "b"), Some(list.as_str()), "{text}");
        }
    }

    /// Offsets that do not belong to the text (another text's, a list cut
    /// short, a name that is not one) give `None`, never a panic.
    #[test]
    fn structurals_that_do_not_fit_the_text_give_none() {
        let text = r#"{"a":{"x":[1,2]},"b":7}"#;
        let s = structurals(text);
        let key = 2;
        assert_eq!(member_value(text.as_bytes(), &s, key), Some(5..16));
        for cut in 0..s.len() {
            let found = member_value(text.as_bytes(), &s[..cut], key);
            assert!(found.is_none() || found == Some(5..16), "{cut}: {found:?}");
        }
        let other = structurals(r#"[1,22,333,4444,{"q":[[[[]]]]}]"#);
        assert_eq!(member_value(text.as_bytes(), &other, key), None);
        assert_eq!(member_value(&text.as_bytes()[..9], &s, key), None);
        // Offset 0 has no name before it; 6 is not a name's first byte.
        assert_eq!(member_value(text.as_bytes(), &s, 0), None);
        assert_eq!(member_value(text.as_bytes(), &s, 6), None);
    }

    /// Any JSON value, compact or spread with whitespace, as a member of an
    /// object among others.
    fn json_value() -> impl Strategy<Value = serde_json::Value> {
        use serde_json::Value;
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            (-1e6f64..1e6).prop_map(Value::from),
            "[a-z \"\\\\{}\\[\\],:é\u{1F600}]{0,40}".prop_map(Value::from),
        ];
        leaf.prop_recursive(4, 32, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(serde_json::Value::from),
                prop::collection::btree_map("[a-z\"]{1,6}", inner, 0..6)
                    .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        /// A compact value is found exactly as serde_json wrote it; the same
        /// value pretty-printed is found only when printing it added no
        /// whitespace (a scalar, an empty list or object), and then exactly.
        #[test]
        fn finds_exactly_the_compact_values(value in json_value()) {
            let compact = serde_json::to_string(&value).unwrap();
            let text = format!(r#"{{"before":[1,{{}}],"v":{compact},"after":"x"}}"#);
            prop_assert_eq!(value_of(&text, "v"), Some(compact.as_str()));
            let last = format!(r#"{{"v":{compact}}}"#);
            prop_assert_eq!(value_of(&last, "v"), Some(compact.as_str()));

            let pretty = serde_json::to_string_pretty(&value).unwrap();
            let text = format!("{{\n  \"v\" : {pretty} ,\n  \"w\": 1\n}}");
            let expected = (pretty == compact).then_some(compact.as_str());
            prop_assert_eq!(value_of(&text, "v"), expected);
        }
    }
}
