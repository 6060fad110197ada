//! Splits a v3 streaming body (JSON objects one after another, with any
//! whitespace between them, in chunks cut anywhere) into whole objects.

/// Why the body cannot be split further; the stream ends there.
#[derive(Debug, PartialEq, Eq)]
pub enum SplitError {
    /// Something other than an object where one should start.
    NotAnObject { at: usize },
    /// One object is larger than the limit.
    TooLarge { limit: usize },
}

/// Collects chunks and hands out complete top-level objects.
pub struct Splitter {
    buf: Vec<u8>,
    /// Where scanning resumes in `buf`.
    pos: usize,
    /// Where the current object starts, once its `{` is seen.
    start: Option<usize>,
    depth: usize,
    in_string: bool,
    escaped: bool,
    /// Bytes dropped from the front of `buf` so far (for error offsets).
    consumed: usize,
    limit: usize,
}

impl Splitter {
    pub fn new(limit: usize) -> Splitter {
        Splitter {
            buf: Vec::new(),
            pos: 0,
            start: None,
            depth: 0,
            in_string: false,
            escaped: false,
            consumed: 0,
            limit,
        }
    }

    pub fn push(&mut self, chunk: &[u8]) {
        self.buf.extend_from_slice(chunk);
    }

    /// The next complete object, if the bytes so far hold one.
    pub fn next_object(&mut self) -> Result<Option<Vec<u8>>, SplitError> {
        while self.pos < self.buf.len() {
            let b = self.buf[self.pos];
            match self.start {
                None => {
                    if b.is_ascii_whitespace() {
                        self.pos += 1;
                        continue;
                    }
                    if b != b'{' {
                        return Err(SplitError::NotAnObject {
                            at: self.consumed + self.pos,
                        });
                    }
                    self.start = Some(self.pos);
                    self.depth = 1;
                }
                Some(start) => {
                    if self.in_string {
                        if self.escaped {
                            self.escaped = false;
                        } else if b == b'\\' {
                            self.escaped = true;
                        } else if b == b'"' {
                            self.in_string = false;
                        }
                    } else {
                        match b {
                            b'"' => self.in_string = true,
                            b'{' | b'[' => self.depth += 1,
                            b'}' | b']' => {
                                self.depth -= 1;
                                if self.depth == 0 {
                                    let object = self.buf[start..=self.pos].to_vec();
                                    self.drop_front(self.pos + 1);
                                    self.start = None;
                                    return Ok(Some(object));
                                }
                            }
                            _ => {}
                        }
                    }
                    if self.pos + 1 - start > self.limit {
                        return Err(SplitError::TooLarge { limit: self.limit });
                    }
                }
            }
            self.pos += 1;
        }
        // Keep only what the current object needs.
        let keep_from = self.start.unwrap_or(self.pos);
        if keep_from > 0 {
            self.drop_front(keep_from);
            if self.start.is_some() {
                self.start = Some(0);
            }
        }
        Ok(None)
    }

    fn drop_front(&mut self, n: usize) {
        self.buf.drain(..n);
        self.consumed += n;
        self.pos -= n.min(self.pos);
    }

    /// Whether bytes of an unfinished object are left (at the end of the
    /// body, a truncated object).
    pub fn has_partial(&self) -> bool {
        self.start.is_some()
            || self.buf[self.pos.min(self.buf.len())..]
                .iter()
                .any(|b| !b.is_ascii_whitespace())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(chunks: &[&str]) -> (Vec<String>, Option<SplitError>, bool) {
        let mut s = Splitter::new(1000);
        let mut out = Vec::new();
        for chunk in chunks {
            s.push(chunk.as_bytes());
            loop {
                match s.next_object() {
                    Ok(Some(o)) => out.push(String::from_utf8(o).unwrap()),
                    Ok(None) => break,
                    Err(e) => return (out, Some(e), false),
                }
            }
        }
        let partial = s.has_partial();
        (out, None, partial)
    }

    #[test]
    fn objects_cut_anywhere_come_out_whole() {
        let body = r#"{"a": "}{\"", "b": [1, {"c": 2}]} {"d": 3}
{"e": "\\"}"#;
        for cut in 0..body.len() {
            let (objects, err, partial) = all(&[&body[..cut], &body[cut..]]);
            assert_eq!(err, None);
            assert!(!partial);
            assert_eq!(
                objects,
                [
                    r#"{"a": "}{\"", "b": [1, {"c": 2}]}"#,
                    r#"{"d": 3}"#,
                    r#"{"e": "\\"}"#
                ],
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn junk_truncation_and_size_are_reported() {
        let (objects, err, _) = all(&[r#"{"a": 1} [1]"#]);
        assert_eq!(objects.len(), 1);
        assert_eq!(err, Some(SplitError::NotAnObject { at: 9 }));
        let (objects, err, partial) = all(&[r#"{"a": 1} {"b": "#]);
        assert_eq!((objects.len(), err, partial), (1, None, true));
        let mut s = Splitter::new(8);
        s.push(br#"{"a": "0123456789"}"#);
        assert_eq!(s.next_object(), Err(SplitError::TooLarge { limit: 8 }));
    }
}
