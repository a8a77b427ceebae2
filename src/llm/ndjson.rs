//! Newline-delimited JSON as it arrives: bytes are kept until a `\n`, and only whole lines
//! are handed on, so a line (or a UTF-8 character) cut across reads is never seen in half.

use std::collections::VecDeque;

/// A line longer than this is not an Ollama line; stop rather than buffer without end.
pub const MAX_LINE_BYTES: usize = 1024 * 1024;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum LineError {
    #[error("a line of more than {MAX_LINE_BYTES} bytes")]
    TooLong,
    #[error("a line that is not UTF-8")]
    NotUtf8,
}

/// Complete lines, in order, from bytes pushed in any chunking.
#[derive(Debug, Default)]
pub struct Lines {
    partial: Vec<u8>,
    complete: VecDeque<String>,
}

impl Lines {
    /// Takes in the next bytes of the body; blank lines are skipped.
    pub fn push(&mut self, mut bytes: &[u8]) -> Result<(), LineError> {
        while let Some(end) = bytes.iter().position(|b| *b == b'\n') {
            self.extend(&bytes[..end])?;
            let line = std::mem::take(&mut self.partial);
            let text = String::from_utf8(line).map_err(|_| LineError::NotUtf8)?;
            if !text.trim().is_empty() {
                self.complete.push_back(text);
            }
            bytes = &bytes[end + 1..];
        }
        self.extend(bytes)
    }

    fn extend(&mut self, bytes: &[u8]) -> Result<(), LineError> {
        if self.partial.len() + bytes.len() > MAX_LINE_BYTES {
            return Err(LineError::TooLong);
        }
        self.partial.extend_from_slice(bytes);
        Ok(())
    }

    /// The oldest complete line not yet taken.
    pub fn next_line(&mut self) -> Option<String> {
        self.complete.pop_front()
    }

    /// The body has ended: a last line without its `\n` is a line too.
    pub fn end(&mut self) -> Result<(), LineError> {
        self.push(b"\n")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all_lines(lines: &mut Lines) -> Vec<String> {
        std::iter::from_fn(|| lines.next_line()).collect()
    }

    #[test]
    fn lines_cut_anywhere_come_out_whole() {
        let body = "{\"a\":\"é\"}\n\n{\"b\":\"日本\"}\n{\"c\":1}\n".as_bytes();
        for cut in 1..body.len() {
            let mut lines = Lines::default();
            for piece in body.chunks(cut) {
                lines.push(piece).unwrap();
            }
            assert_eq!(
                all_lines(&mut lines),
                ["{\"a\":\"é\"}", "{\"b\":\"日本\"}", "{\"c\":1}"],
                "pieces of {cut} bytes"
            );
            lines.end().unwrap();
            assert_eq!(lines.next_line(), None);
        }
    }

    #[test]
    fn several_lines_in_one_read_and_a_last_line_without_newline() {
        let mut lines = Lines::default();
        lines.push(b"1\n2\n3").unwrap();
        assert_eq!(all_lines(&mut lines), ["1", "2"]);
        lines.end().unwrap();
        assert_eq!(all_lines(&mut lines), ["3"]);
    }

    #[test]
    fn an_endless_line_is_refused_and_bad_utf8_named() {
        let mut lines = Lines::default();
        let block = vec![b'x'; 64 * 1024];
        let mut result = Ok(());
        for _ in 0..=MAX_LINE_BYTES / block.len() {
            result = lines.push(&block);
            if result.is_err() {
                break;
            }
        }
        assert_eq!(result, Err(LineError::TooLong));
        let mut lines = Lines::default();
        assert_eq!(lines.push(b"\xff\xfe\n"), Err(LineError::NotUtf8));
    }
}
