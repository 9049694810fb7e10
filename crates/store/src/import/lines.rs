//! A log file's lines, read in blocks of bounded size: each line numbered as an editor numbers
//! it, without its `\n` or `\r\n` (or, for a last line without a line end, its `\r`), and a
//! line longer than [`MAX_LINE_BYTES`] skipped without
//! ever being held in memory, so a file's size or a hostile line never decides how much memory an
//! import takes.
//!
//! The blocks come from [`Blocks`]: read where the lines are read ([`ReadBlocks`]), or on a thread
//! of their own ([`read_ahead`]), so that the copying from the file into memory overlaps the
//! decoding of the lines already read. A line that lies whole in a block (nearly every one) is
//! read where it lies; only a line across two blocks is copied together.

use std::io::Read;
use std::sync::mpsc::{Receiver, Sender, SyncSender};

/// The longest line read as a request: 1 MiB. No request log line comes near it (a saturated
/// Meraki record is ~370 bytes); a longer one is skipped as malformed, unread.
pub const MAX_LINE_BYTES: usize = 1 << 20;

/// How much of the file a block holds.
const BLOCK_BYTES: usize = 1 << 20;

/// Blocks read ahead of the lines being decoded.
const BLOCKS_AHEAD: usize = 4;

/// What the file holds at a line.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Line<'a> {
    /// The line's bytes (not necessarily UTF-8).
    Text(&'a [u8]),
    /// A line longer than [`MAX_LINE_BYTES`], skipped.
    TooLong,
}

/// The input in blocks, in order.
pub(super) trait Blocks {
    /// The next block (never empty), or `None` at the end of the input.
    fn next_block(&mut self) -> std::io::Result<Option<Vec<u8>>>;
    /// A block whose lines were all read, for the next one to be read into.
    fn recycle(&mut self, block: Vec<u8>);
}

/// Blocks read from `R` when they are asked for.
pub(super) struct ReadBlocks<R> {
    input: R,
    spare: Option<Vec<u8>>,
}

impl<R: Read> ReadBlocks<R> {
    pub(super) fn new(input: R) -> Self {
        ReadBlocks { input, spare: None }
    }
}

impl<R: Read> Blocks for ReadBlocks<R> {
    fn next_block(&mut self) -> std::io::Result<Option<Vec<u8>>> {
        let mut block = self.spare.take().unwrap_or_default();
        // A recycled block keeps its bytes: only what a short read left out is zeroed again.
        block.resize(BLOCK_BYTES, 0);
        // One read: a file fills the block (short only at its end), a pipe hands on what it has,
        // so that a pipe's writer that pauses never holds back the lines already written.
        let read = loop {
            match self.input.read(&mut block) {
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                read => break read?,
            }
        };
        block.truncate(read);
        Ok((read > 0).then_some(block))
    }

    fn recycle(&mut self, block: Vec<u8>) {
        self.spare = Some(block);
    }
}

/// Blocks read on another thread: see [`read_ahead`].
pub(super) struct ReadAhead {
    blocks: Receiver<std::io::Result<Vec<u8>>>,
    spare: Sender<Vec<u8>>,
}

impl Blocks for ReadAhead {
    fn next_block(&mut self) -> std::io::Result<Option<Vec<u8>>> {
        // The reading thread ends, dropping its sender, at the end of the input or an error.
        self.blocks.recv().ok().transpose()
    }

    fn recycle(&mut self, block: Vec<u8>) {
        // A reading thread that has ended needs no more.
        let _ = self.spare.send(block);
    }
}

/// Reads `input` in blocks on a thread of `scope`, [`BLOCKS_AHEAD`] at most ahead of the lines
/// being read, until its end, an error (handed on), or the [`ReadAhead`] is dropped.
pub(super) fn read_ahead<'scope, R: Read + Send + 'scope>(
    scope: &'scope std::thread::Scope<'scope, '_>,
    input: R,
) -> std::io::Result<ReadAhead> {
    let (sender, blocks) = std::sync::mpsc::sync_channel(BLOCKS_AHEAD);
    let (spare, spares) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("import-io".to_owned())
        .spawn_scoped(scope, move || {
            send_blocks(ReadBlocks::new(input), &sender, &spares)
        })?;
    Ok(ReadAhead { blocks, spare })
}

fn send_blocks<R: Read>(
    mut input: ReadBlocks<R>,
    sender: &SyncSender<std::io::Result<Vec<u8>>>,
    spares: &Receiver<Vec<u8>>,
) {
    loop {
        if let Ok(block) = spares.try_recv() {
            input.recycle(block);
        }
        match input.next_block() {
            Ok(None) => return,
            Ok(Some(block)) => {
                if sender.send(Ok(block)).is_err() {
                    return;
                }
            }
            Err(e) => {
                let _ = sender.send(Err(e));
                return;
            }
        }
    }
}

/// Where the line [`Lines::next_line`] found lies.
enum Found {
    /// In the current block, between these offsets.
    InBlock(usize, usize),
    /// Copied together in `Lines::line`.
    Joined,
    TooLong,
}

/// Reads lines one after the other; see the module docs.
pub(super) struct Lines<B> {
    blocks: B,
    block: Vec<u8>,
    /// Where the next line starts in `block`.
    at: usize,
    /// The start of a line that did not lie whole in one block, copied together.
    line: Vec<u8>,
    /// The line being read is longer than the limit: the rest of it is skipped.
    skipping: bool,
    number: u64,
}

#[cfg(test)]
impl<R: Read> Lines<ReadBlocks<R>> {
    /// The lines of `input`, read where they are asked for.
    pub(super) fn new(input: R) -> Self {
        Lines::of_blocks(ReadBlocks::new(input))
    }
}

impl<B: Blocks> Lines<B> {
    pub(super) fn of_blocks(blocks: B) -> Self {
        Lines {
            blocks,
            block: Vec::new(),
            at: 0,
            line: Vec::new(),
            skipping: false,
            number: 0,
        }
    }

    /// The next line and its number (from 1), or `None` at the end of the file.
    pub(super) fn next_line(&mut self) -> std::io::Result<Option<(u64, Line<'_>)>> {
        self.line.clear();
        let found = loop {
            if self.at >= self.block.len() {
                let done = std::mem::take(&mut self.block);
                self.blocks.recycle(done);
                self.at = 0;
                match self.blocks.next_block()? {
                    Some(block) => self.block = block,
                    // The last line, without a line end.
                    None if self.skipping => break Found::TooLong,
                    None if !self.line.is_empty() => break Found::Joined,
                    None => return Ok(None),
                }
            }
            let rest = &self.block[self.at..];
            match memchr::memchr(b'\n', rest) {
                Some(end) => {
                    let start = self.at;
                    self.at += end + 1;
                    if self.skipping {
                        break Found::TooLong;
                    }
                    if self.line.is_empty() {
                        break Found::InBlock(start, start + end);
                    }
                    // One byte more than the limit, for a `\r` before the line end.
                    if self.line.len() + end > MAX_LINE_BYTES + 1 {
                        break Found::TooLong;
                    }
                    self.line.extend_from_slice(&rest[..end]);
                    break Found::Joined;
                }
                None => {
                    self.at = self.block.len();
                    if !self.skipping {
                        // One byte more than the limit, for a `\r` before the line end.
                        if self.line.len() + rest.len() > MAX_LINE_BYTES + 1 {
                            self.skipping = true;
                            self.line = Vec::new();
                        } else {
                            self.line.extend_from_slice(rest);
                        }
                    }
                }
            }
        };
        self.number += 1;
        let text = match found {
            Found::TooLong => {
                self.skipping = false;
                return Ok(Some((self.number, Line::TooLong)));
            }
            Found::InBlock(start, end) => &self.block[start..end],
            Found::Joined => &self.line[..],
        };
        let text = text.strip_suffix(b"\r").unwrap_or(text);
        Ok(Some((self.number, Self::check(self.number, text))))
    }

    /// A line within the limit, its byte order mark taken off the first line.
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

    /// Every line of `lines`, numbered, its text or `Err` for one over the limit.
    fn read_all<B: Blocks>(mut lines: Lines<B>) -> Vec<(u64, Result<String, ()>)> {
        let mut out = Vec::new();
        while let Some((n, line)) = lines.next_line().unwrap() {
            out.push(match line {
                Line::Text(t) => (n, Ok(String::from_utf8_lossy(t).into_owned())),
                Line::TooLong => (n, Err(())),
            });
        }
        out
    }

    fn all(input: &[u8]) -> Vec<(u64, Result<String, ()>)> {
        read_all(Lines::new(input))
    }

    /// A byte string in blocks of `size` bytes: a file read in pieces of any size.
    struct SmallBlocks<'a> {
        rest: &'a [u8],
        size: usize,
    }

    impl Blocks for SmallBlocks<'_> {
        fn next_block(&mut self) -> std::io::Result<Option<Vec<u8>>> {
            if self.rest.is_empty() {
                return Ok(None);
            }
            let (block, rest) = self.rest.split_at(self.size.min(self.rest.len()));
            self.rest = rest;
            Ok(Some(block.to_vec()))
        }

        fn recycle(&mut self, _: Vec<u8>) {}
    }

    fn all_in_blocks(input: &[u8], size: usize) -> Vec<(u64, Result<String, ()>)> {
        read_all(Lines::of_blocks(SmallBlocks { rest: input, size }))
    }

    #[test]
    fn lines_across_blocks_read_as_the_same_lines_in_one_block() {
        let input = b"\xef\xbb\xbfa\r\nbc\n\r\n\nlonger line here\r\n\r\rlast\r";
        let whole = all(input);
        assert_eq!(whole.len(), 6);
        for size in 1..=input.len() {
            assert_eq!(all_in_blocks(input, size), whole, "blocks of {size}");
        }
    }

    #[test]
    fn the_limit_holds_for_lines_across_blocks() {
        let mut input = vec![b'x'; MAX_LINE_BYTES];
        input.extend(b"\r\n");
        input.extend(vec![b'y'; MAX_LINE_BYTES + 1]);
        input.extend(b"\nnext\n");
        input.extend(vec![b'z'; MAX_LINE_BYTES]);
        input.extend(b"\r");
        for size in [4096, 4097, MAX_LINE_BYTES - 1, MAX_LINE_BYTES + 1] {
            let lines = all_in_blocks(&input, size);
            assert_eq!(lines.len(), 4, "blocks of {size}");
            assert_eq!(lines[0].1.as_ref().map(String::len), Ok(MAX_LINE_BYTES));
            assert_eq!(lines[1], (2, Err(())));
            assert_eq!(lines[2], (3, Ok("next".into())));
            assert_eq!(lines[3].1.as_ref().map(String::len), Ok(MAX_LINE_BYTES));
        }
    }

    #[test]
    fn lines_read_ahead_on_a_thread_are_the_file_s_lines_then_its_error() {
        /// Two blocks of lines, then a failing read.
        struct FailingAfter {
            read: usize,
            limit: usize,
        }
        impl Read for FailingAfter {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                if self.read == self.limit {
                    return Err(std::io::Error::other("the disk went away"));
                }
                let n = buf.len().min(self.limit - self.read);
                for (i, b) in buf[..n].iter_mut().enumerate() {
                    *b = b"line 0123\n"[(self.read + i) % 10];
                }
                self.read += n;
                Ok(n)
            }
        }
        std::thread::scope(|scope| {
            // A multiple of 10 bytes: every line whole.
            let blocks = read_ahead(
                scope,
                FailingAfter {
                    read: 0,
                    limit: 2_097_150,
                },
            )
            .unwrap();
            let mut lines = Lines::of_blocks(blocks);
            let mut read = 0;
            let error = loop {
                match lines.next_line() {
                    Ok(Some((n, Line::Text(text)))) => {
                        assert_eq!((n, text), (read + 1, &b"line 0123"[..]));
                        read += 1;
                    }
                    Ok(other) => panic!("{other:?}"),
                    Err(e) => break e,
                }
            };
            assert_eq!(read, 209_715);
            assert_eq!(error.to_string(), "the disk went away");
        });
        // Lines read where they are asked for end alike.
        let mut lines = Lines::new(FailingAfter { read: 0, limit: 10 });
        assert_eq!(
            lines.next_line().unwrap(),
            Some((1, Line::Text(&b"line 0123"[..])))
        );
        assert!(matches!(lines.next_line(), Err(e) if e.to_string() == "the disk went away"));
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
