//! Reading alert IDs from a file or stdin: validation, line numbers, and first-seen deduplication.
//!
//! The input is streamed line by line. Deduplication keeps a 128-bit keyed hash of each distinct
//! ID rather than the ID itself, so a file of a million IDs costs ~20 MB here whatever the IDs'
//! length; with per-run random keys a collision (two IDs taken for one) has odds below 1e-25.

use std::collections::HashSet;
use std::hash::{BuildHasher, RandomState};
use std::io::BufRead;
use std::path::PathBuf;

use crate::error::{Error, Result};

/// The longest alert ID accepted. Real ones are under 60 characters.
pub const MAX_ID_LEN: usize = 256;

/// One meaningful input line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    /// A valid ID seen for the first time.
    Id { line: u64, id: String },
    /// A line that is not an alert ID: it is never sent.
    Invalid {
        line: u64,
        value: String,
        reason: String,
    },
}

/// Checks one trimmed line. The reason names the offending character so a user can find it.
pub fn validate(id: &str) -> std::result::Result<(), String> {
    if id.is_empty() {
        return Err("empty ID".into());
    }
    if let Some(c) = id
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '_' || *c == '-'))
    {
        return Err(format!(
            "invalid character {c:?}: an alert ID is ASCII letters, digits, '_' and '-'"
        ));
    }
    if id.len() > MAX_ID_LEN {
        return Err(format!(
            "{} characters long, more than {MAX_ID_LEN}",
            id.len()
        ));
    }
    Ok(())
}

/// Streams `Item`s out of a reader, skipping blank lines, `#` comments and repeated IDs.
pub struct IdReader<R> {
    inner: R,
    /// Shown in errors: the input path, or `<stdin>`.
    source: PathBuf,
    buf: Vec<u8>,
    line: u64,
    seen: HashSet<u128>,
    keys: (RandomState, RandomState),
    /// Valid IDs skipped because they appeared before.
    pub duplicates: u64,
}

impl<R: BufRead> IdReader<R> {
    pub fn new(inner: R, source: impl Into<PathBuf>) -> Self {
        IdReader {
            inner,
            source: source.into(),
            buf: Vec::with_capacity(128),
            line: 0,
            seen: HashSet::new(),
            keys: (RandomState::new(), RandomState::new()),
            duplicates: 0,
        }
    }

    /// Lines read so far, blank and comment lines included.
    pub fn lines(&self) -> u64 {
        self.line
    }

    /// Distinct valid IDs so far.
    pub fn distinct(&self) -> u64 {
        self.seen.len() as u64
    }

    fn first_time(&mut self, id: &str) -> bool {
        let h = (u128::from(self.keys.0.hash_one(id)) << 64) | u128::from(self.keys.1.hash_one(id));
        self.seen.insert(h)
    }

    fn classify(&mut self) -> Option<Item> {
        let line = self.line;
        let mut bytes = &self.buf[..];
        if line == 1 {
            bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
        }
        let text = match std::str::from_utf8(bytes) {
            Ok(t) => t.trim(),
            Err(_) => {
                let value = String::from_utf8_lossy(bytes).trim().to_owned();
                let reason = "not valid UTF-8".to_owned();
                return Some(Item::Invalid {
                    line,
                    value,
                    reason,
                });
            }
        };
        if text.is_empty() || text.starts_with('#') {
            return None;
        }
        if let Err(reason) = validate(text) {
            let value = text.to_owned();
            return Some(Item::Invalid {
                line,
                value,
                reason,
            });
        }
        let id = text.to_owned();
        if self.first_time(&id) {
            Some(Item::Id { line, id })
        } else {
            self.duplicates += 1;
            None
        }
    }
}

impl<R: BufRead> Iterator for IdReader<R> {
    type Item = Result<Item>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            self.buf.clear();
            match self.inner.read_until(b'\n', &mut self.buf) {
                Ok(0) => return None,
                Ok(_) => self.line += 1,
                Err(source) => {
                    let path = self.source.clone();
                    return Some(Err(Error::ReadInput { path, source }));
                }
            }
            if let Some(item) = self.classify() {
                return Some(Ok(item));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn read(input: &[u8]) -> (Vec<Item>, u64, u64) {
        let mut r = IdReader::new(input, "t.txt");
        let items: Vec<Item> = r.by_ref().map(|i| i.unwrap()).collect();
        (items, r.lines(), r.duplicates)
    }

    fn id(line: u64, id: &str) -> Item {
        Item::Id {
            line,
            id: id.into(),
        }
    }

    #[test]
    fn skips_bom_crlf_blanks_comments_and_duplicates() {
        let input = b"\xEF\xBB\xBFda1_2\r\n\r\n  # a comment\n  da3-4 \t\r\nda1_2\n#x\nlast";
        let (items, lines, dups) = read(input);
        assert_eq!(items, vec![id(1, "da1_2"), id(4, "da3-4"), id(7, "last")]);
        assert_eq!((lines, dups), (7, 1));
    }

    #[test]
    fn invalid_lines_carry_their_line_number_and_the_batch_goes_on() {
        let long = "a".repeat(257);
        let input = format!("ok1\nbad id\na/b\nq?\n100%\na.b\ndaé\n{long}\nok2\n");
        let (items, _, _) = read(input.as_bytes());
        let invalid: Vec<(u64, String)> = items
            .iter()
            .filter_map(|i| match i {
                Item::Invalid { line, value, .. } => Some((*line, value.clone())),
                _ => None,
            })
            .collect();
        let expected: Vec<(u64, String)> = ["bad id", "a/b", "q?", "100%", "a.b", "daé", &long]
            .iter()
            .enumerate()
            .map(|(i, v)| (i as u64 + 2, v.to_string()))
            .collect();
        assert_eq!(invalid, expected);
        assert_eq!(items.last(), Some(&id(9, "ok2")));
    }

    #[test]
    fn non_utf8_is_invalid_not_fatal() {
        let (items, _, _) = read(b"a\xff\nb\n");
        assert!(
            matches!(&items[0], Item::Invalid { line: 1, reason, .. } if reason.contains("UTF-8"))
        );
        assert_eq!(items[1], id(2, "b"));
    }

    #[test]
    fn the_longest_valid_id_is_256() {
        assert!(validate(&"x".repeat(256)).is_ok());
        assert!(validate(&"x".repeat(257)).is_err());
    }

    proptest! {
        #[test]
        fn valid_ids_survive_any_framing(
            ids in prop::collection::vec("[A-Za-z0-9_-]{1,40}", 0..30),
            crlf in any::<bool>(), pad in "[ \t]{0,3}",
        ) {
            let eol = if crlf { "\r\n" } else { "\n" };
            let text: String = ids.iter().map(|i| format!("{pad}{i}{pad}{eol}")).collect();
            let (items, lines, dups) = read(text.as_bytes());
            let mut expected: Vec<&String> = Vec::new();
            for i in &ids { if !expected.contains(&i) { expected.push(i); } }
            let got: Vec<&String> = items.iter().map(|it| match it { Item::Id { id, .. } => id, _ => unreachable!() }).collect();
            prop_assert_eq!(got, expected.clone());
            prop_assert_eq!(lines, ids.len() as u64);
            prop_assert_eq!(dups as usize, ids.len() - expected.len());
        }

        #[test]
        fn anything_else_is_reported_never_sent(s in "\\PC{1,20}") {
            let t = s.trim();
            prop_assume!(!t.is_empty() && !t.starts_with('#') && !t.contains('\n') && !t.contains('\r'));
            let (items, _, _) = read(format!("{s}\n").as_bytes());
            let ok = t.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
            match &items[..] {
                [Item::Id { id, .. }] => prop_assert!(ok && id == t),
                [Item::Invalid { value, .. }] => prop_assert!(!ok && value == t),
                other => prop_assert!(false, "unexpected {:?}", other),
            }
        }
    }
}
