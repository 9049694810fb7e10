//! A log file's lines, read through a bounded buffer: each line numbered as an editor numbers it,
//! without its `\n` or `\r\n`, and a line longer than [`MAX_LINE_BYTES`] skipped without ever
//! being held in memory, so a file's size or a hostile line never decides how much memory an
//! import takes.

use std::io::{BufRead, BufReader, Read};

/// The longest line read as a request: 1 MiB. No request log line comes near it (a saturated
/// Meraki record is ~370 bytes); a longer one is skipped as malformed, unread.
pub const MAX_LINE_BYTES: usize = 1 << 20;

/// What the file holds at a line.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Line<'a> {
    /// The line's bytes (not necessarily UTF-8).
    Text(&'a [u8]),
    /// A line longer than [`MAX_LINE_BYTES`], skipped.
    TooLong,
}

/// Reads lines one after the other; see the module docs.
pub(super) struct Lines<R> {
    reader: BufReader<R>,
    /// A line that did not lie whole in the reader's buffer, copied together.
    line: Vec<u8>,
    number: u64,
    /// Bytes of the reader's buffer the last line took: consumed when the next one is read.
    taken: usize,
}

/// Bytes read from the file at a time.
const READ_BUFFER_BYTES: usize = 1 << 20;

impl<R: Read> Lines<R> {
    pub(super) fn new(input: R) -> Self {
        Lines {
            reader: BufReader::with_capacity(READ_BUFFER_BYTES, input),
            line: Vec::new(),
            number: 0,
            taken: 0,
        }
    }

    /// The next line and its 1-based number, or `None` at the end of the file.
    pub(super) fn next_line(&mut self) -> std::io::Result<Option<(u64, Line<'_>)>> {
        self.reader.consume(std::mem::take(&mut self.taken));
        // Nearly every line lies whole in the buffer: it is read where it lies, without a copy.
        let end = {
            let buffered = self.reader.fill_buf()?;
            if buffered.is_empty() {
                return Ok(None);
            }
            memchr::memchr(b'\n', buffered)
        };
        if let Some(end) = end {
            self.number += 1;
            self.taken = end + 1;
            let text = &self.reader.buffer()[..end];
            let text = text.strip_suffix(b"\r").unwrap_or(text);
            return Ok(Some((self.number, Self::check(self.number, text))));
        }
        self.read_across_buffers()
    }

    /// A line that reaches past the buffered bytes, copied together as it is read.
    fn read_across_buffers(&mut self) -> std::io::Result<Option<(u64, Line<'_>)>> {
        self.line.clear();
        // At most the longest line and its `\r\n`: the reading stops there, whatever follows.
        let limit = MAX_LINE_BYTES as u64 + 2;
        let read = (&mut self.reader)
            .take(limit)
            .read_until(b'\n', &mut self.line)?;
        if read == 0 {
            return Ok(None);
        }
        self.number += 1;
        if self.line.last() == Some(&b'\n') {
            self.line.pop();
            if self.line.last() == Some(&b'\r') {
                self.line.pop();
            }
        } else if read as u64 == limit {
            // The line goes on: skip the rest of it without keeping a byte.
            self.reader.skip_until(b'\n')?;
            return Ok(Some((self.number, Line::TooLong)));
        }
        let number = self.number;
        Ok(Some((number, Self::check(number, &self.line))))
    }

    /// A line's text as read: too long, or without a byte order mark (spreadsheet programs write
    /// one at the start of a CSV; it is not text).
    fn check(number: u64, text: &[u8]) -> Line<'_> {
        if text.len() > MAX_LINE_BYTES {
            return Line::TooLong;
        }
        let text = match number {
            1 => text.strip_prefix(b"\xef\xbb\xbf").unwrap_or(text),
            _ => text,
        };
        Line::Text(text)
    }

    /// How much memory the line buffer holds: bounded by [`MAX_LINE_BYTES`], whatever was read.
    #[cfg(test)]
    fn buffer_capacity(&self) -> usize {
        self.line.capacity()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(input: &[u8]) -> Vec<(u64, Result<String, ()>)> {
        let mut lines = Lines::new(input);
        let mut out = Vec::new();
        while let Some((n, line)) = lines.next_line().unwrap() {
            out.push(match line {
                Line::Text(t) => (n, Ok(String::from_utf8_lossy(t).into_owned())),
                Line::TooLong => (n, Err(())),
            });
        }
        out
    }

    #[test]
    fn lines_are_numbered_without_their_line_ends() {
        assert_eq!(
            all(b"a\r\nb\n\nc"),
            [
                (1, Ok("a".into())),
                (2, Ok("b".into())),
                (3, Ok("".into())),
                (4, Ok("c".into()))
            ]
        );
        assert_eq!(all(b""), []);
        assert_eq!(
            all(b"\xef\xbb\xbfts,path\n\xef\xbb\xbf"),
            [(1, Ok("ts,path".into())), (2, Ok("\u{feff}".into()))]
        );
    }

    #[test]
    fn a_line_over_the_limit_is_skipped_and_the_next_one_read() {
        let mut input = vec![b'x'; MAX_LINE_BYTES];
        input.extend(b"\n");
        input.extend(vec![b'y'; MAX_LINE_BYTES + 1]);
        input.extend(b"\r\nnext\n");
        input.extend(vec![b'z'; MAX_LINE_BYTES + 5]);
        let lines = all(&input);
        assert_eq!(lines.len(), 4);
        assert_eq!(lines[0].1.as_ref().map(String::len), Ok(MAX_LINE_BYTES));
        assert_eq!(lines[1], (2, Err(())));
        assert_eq!(lines[2], (3, Ok("next".into())));
        assert_eq!(lines[3], (4, Err(())));
    }

    /// A gibibyte of one line, made up as it is read: the reader skips it with its buffers, never
    /// holding more than a line's limit.
    #[test]
    fn a_gibibyte_line_costs_no_more_memory_than_the_limit() {
        struct EndlessLine {
            left: u64,
            tail: &'static [u8],
        }
        impl Read for EndlessLine {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                if self.left == 0 {
                    let n = self.tail.len().min(buf.len());
                    buf[..n].copy_from_slice(&self.tail[..n]);
                    self.tail = &self.tail[n..];
                    return Ok(n);
                }
                let n = buf
                    .len()
                    .min(usize::try_from(self.left).unwrap_or(usize::MAX));
                buf[..n].fill(b'x');
                self.left -= n as u64;
                Ok(n)
            }
        }
        let mut lines = Lines::new(EndlessLine {
            left: 1 << 30,
            tail: b"\nafter\n",
        });
        assert_eq!(lines.next_line().unwrap(), Some((1, Line::TooLong)));
        assert_eq!(
            lines.next_line().unwrap(),
            Some((2, Line::Text(&b"after"[..])))
        );
        assert_eq!(lines.next_line().unwrap(), None);
        assert!(
            lines.buffer_capacity() <= 2 * MAX_LINE_BYTES + 2,
            "{}",
            lines.buffer_capacity()
        );
    }
}
