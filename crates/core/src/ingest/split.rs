//! Cuts a byte stream into records without parsing them: lines of JSONL, or the elements of a
//! top-level JSON array (what the vendors' log APIs return).
//!
//! Splitting is cheap and sequential; parsing is the expensive part and runs on other threads.
//! So the splitter hands out [`Chunk`]s of about a megabyte, each a buffer plus the byte ranges
//! and starting line numbers of the complete records in it, and never holds more than one chunk
//! plus one partial record in memory. A broken array (garbage between elements, a missing `]`)
//! is reported against its line and the splitter resynchronises on the next element.

use std::io::{self, Read};

/// The largest record accepted; a longer line is reported and skipped (protects memory).
pub const MAX_RECORD: usize = 16 << 20;

/// The smallest read.
const READ_STEP: usize = 64 << 10;

/// A batch of complete records.
#[derive(Debug, Default)]
pub struct Chunk {
    /// Position of this chunk in the stream, from 0.
    pub seq: u64,
    pub data: Vec<u8>,
    pub records: Vec<Record>,
    /// Structural problems found while cutting: (line, message).
    pub errors: Vec<(u64, String)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Record {
    /// 1-based line on which the record starts.
    pub line: u64,
    pub start: usize,
    pub end: usize,
}

impl Chunk {
    pub fn bytes(&self, r: &Record) -> &[u8] {
        self.data.get(r.start..r.end).unwrap_or(&[])
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    Lines,
    Array,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Top {
    Start,
    ExpectElem,
    InElem,
    AfterElem,
    End,
}

/// Chunk buffers handed back once every reader of their chunk is done, for the splitter to
/// fill again. Without them each chunk is a fresh allocation, which the allocator mostly serves
/// with pages it returned to the system a moment before: a page fault (and a zeroed page) per
/// 4 KB of input. Clones share one pool.
#[derive(Clone)]
pub struct Buffers {
    pool: std::sync::Arc<std::sync::Mutex<Vec<Vec<u8>>>>,
    /// The splitter's chunk size.
    target: usize,
}

impl Buffers {
    /// At most this many idle buffers are kept (each about a chunk).
    const KEEP: usize = 16;

    fn new(target: usize) -> Self {
        Buffers {
            pool: Default::default(),
            target,
        }
    }

    /// Returns a buffer for reuse; one that grew far beyond a chunk (a very long line) is freed.
    pub fn give(&self, mut buf: Vec<u8>) {
        // (Reads are at least `READ_STEP`, so a chunk's buffer is never smaller than that.)
        if buf.capacity() > 4 * self.target.max(READ_STEP) {
            return;
        }
        buf.clear();
        if let Ok(mut pool) = self.pool.lock()
            && pool.len() < Self::KEEP
        {
            pool.push(buf);
        }
    }

    fn take(&self) -> Vec<u8> {
        self.pool
            .lock()
            .ok()
            .and_then(|mut p| p.pop())
            .unwrap_or_default()
    }

    #[cfg(test)]
    fn idle(&self) -> usize {
        self.pool.lock().map(|p| p.len()).unwrap_or(0)
    }
}

pub struct Splitter<R> {
    reader: R,
    target: usize,
    buf: Vec<u8>,
    buffers: Buffers,
    eof: bool,
    seq: u64,
    layout: Option<Layout>,
    /// Line number of `buf[0]` (lines mode) or of `buf[scan]` (array mode).
    line: u64,
    // Array state.
    scan: usize,
    top: Top,
    depth: u32,
    in_str: bool,
    esc: bool,
    elem_start: usize,
    elem_line: u64,
    scalar: bool,
    skipping_long_line: bool,
}

impl<R: Read> Splitter<R> {
    pub fn new(reader: R, target_chunk: usize) -> Self {
        let target = target_chunk.max(1024);
        Splitter {
            reader,
            target,
            buf: Vec::new(),
            buffers: Buffers::new(target),
            eof: false,
            seq: 0,
            layout: None,
            line: 1,
            scan: 0,
            top: Top::Start,
            depth: 0,
            in_str: false,
            esc: false,
            elem_start: 0,
            elem_line: 0,
            scalar: false,
            skipping_long_line: false,
        }
    }

    /// The pool this splitter takes its chunk buffers from: give a chunk's `data` back to it
    /// once nothing reads it any more.
    pub fn buffers(&self) -> Buffers {
        self.buffers.clone()
    }

    /// Lines or array, once the first non-blank byte has been seen.
    pub fn layout(&self) -> Option<Layout> {
        self.layout
    }

    fn fill(&mut self, want: usize) -> io::Result<()> {
        while !self.eof && self.buf.len() < want {
            let step = (want - self.buf.len()).max(READ_STEP);
            self.buf.reserve(step);
            // Reads into the spare capacity without zeroing it first (`read_to_end` retries
            // interrupted reads); fewer bytes than asked means the end of the input.
            let n = (&mut self.reader).take(step as u64).read_to_end(&mut self.buf)?;
            if n < step {
                self.eof = true;
            }
        }
        Ok(())
    }

    /// The next chunk, or `None` at the end of the stream.
    pub fn next_chunk(&mut self) -> io::Result<Option<Chunk>> {
        if self.layout.is_none() {
            self.fill(self.target)?;
            let mut i = 0;
            if self.buf.starts_with(&[0xEF, 0xBB, 0xBF]) {
                i = 3;
            }
            while i < self.buf.len() && self.buf[i].is_ascii_whitespace() {
                if self.buf[i] == b'\n' {
                    self.line += 1;
                }
                i += 1;
            }
            if i == self.buf.len() && self.eof {
                return Ok(None);
            }
            self.buf.drain(..i);
            self.layout = Some(if self.buf.first() == Some(&b'[') {
                Layout::Array
            } else {
                Layout::Lines
            });
        }
        match self.layout {
            Some(Layout::Array) => self.next_array_chunk(),
            _ => self.next_lines_chunk(),
        }
    }

    fn next_lines_chunk(&mut self) -> io::Result<Option<Chunk>> {
        let mut chunk = Chunk {
            seq: self.seq,
            ..Chunk::default()
        };
        loop {
            self.fill(self.target)?;
            if self.buf.is_empty() {
                return Ok(None);
            }
            let cut = match memchr::memrchr(b'\n', &self.buf) {
                Some(p) => p + 1,
                None if self.eof => self.buf.len(),
                None if self.buf.len() >= MAX_RECORD => {
                    if !self.skipping_long_line {
                        chunk
                            .errors
                            .push((self.line, format!("line longer than {MAX_RECORD} bytes")));
                        self.skipping_long_line = true;
                    }
                    self.buf.clear();
                    if chunk.errors.is_empty() {
                        continue;
                    }
                    self.seq += 1;
                    return Ok(Some(chunk));
                }
                None => {
                    let want = self.buf.len() * 2;
                    self.fill(want)?;
                    continue;
                }
            };
            let mut rest = self.buffers.take();
            rest.extend_from_slice(self.buf.get(cut..).unwrap_or_default());
            self.buf.truncate(cut);
            let data = std::mem::replace(&mut self.buf, rest);
            let mut start = 0;
            let mut line = self.line;
            let push = |start: usize, end: usize, line: u64, chunk: &mut Chunk| {
                let mut s = start;
                let mut e = end;
                while s < e && data[s].is_ascii_whitespace() {
                    s += 1;
                }
                while e > s && data[e - 1].is_ascii_whitespace() {
                    e -= 1;
                }
                if s < e {
                    chunk.records.push(Record {
                        line,
                        start: s,
                        end: e,
                    });
                }
            };
            for nl in memchr::memchr_iter(b'\n', &data) {
                if self.skipping_long_line {
                    self.skipping_long_line = false;
                } else {
                    push(start, nl, line, &mut chunk);
                }
                start = nl + 1;
                line += 1;
            }
            if start < data.len() {
                push(start, data.len(), line, &mut chunk);
            }
            self.line = line;
            chunk.data = data;
            self.seq += 1;
            return Ok(Some(chunk));
        }
    }

    fn next_array_chunk(&mut self) -> io::Result<Option<Chunk>> {
        let mut chunk = Chunk {
            seq: self.seq,
            ..Chunk::default()
        };
        // Offset in `buf` up to which everything is complete and can be handed out.
        let mut done = 0usize;
        loop {
            if self.scan >= self.buf.len() {
                if self.eof {
                    break;
                }
                if done >= self.target {
                    break;
                }
                let want = self.buf.len() + self.target;
                self.fill(want)?;
                if self.scan >= self.buf.len() {
                    continue;
                }
            }
            let c = self.buf[self.scan];
            let here = self.scan;
            self.scan += 1;
            if c == b'\n' {
                self.line += 1;
            }
            match self.top {
                Top::Start => {
                    if c == b'[' {
                        self.top = Top::ExpectElem;
                    }
                    done = self.scan;
                }
                Top::ExpectElem | Top::AfterElem => {
                    if c.is_ascii_whitespace() {
                        done = self.scan;
                        continue;
                    }
                    match (self.top, c) {
                        (_, b']') => {
                            self.top = Top::End;
                            done = self.scan;
                        }
                        (Top::AfterElem, b',') => {
                            self.top = Top::ExpectElem;
                            done = self.scan;
                        }
                        (Top::ExpectElem, b',') => {
                            chunk.errors.push((self.line, "empty array element".into()));
                            done = self.scan;
                        }
                        _ => {
                            if self.top == Top::AfterElem {
                                chunk
                                    .errors
                                    .push((self.line, "expected `,` or `]` between records".into()));
                            }
                            self.begin_elem(here, c);
                        }
                    }
                }
                Top::InElem => {
                    if let Some(end) = self.step_elem(c, here) {
                        chunk.records.push(Record {
                            line: self.elem_line,
                            start: self.elem_start,
                            end,
                        });
                        self.top = Top::AfterElem;
                        done = end;
                        if self.scalar && matches!(c, b',' | b']') {
                            self.top = if c == b',' { Top::ExpectElem } else { Top::End };
                            done = self.scan;
                        }
                    } else if self.scan - self.elem_start > MAX_RECORD {
                        chunk
                            .errors
                            .push((self.elem_line, format!("record longer than {MAX_RECORD} bytes")));
                        self.top = Top::End;
                        done = self.scan;
                    }
                }
                Top::End => {
                    if !c.is_ascii_whitespace() {
                        chunk
                            .errors
                            .push((self.line, "data after the end of the array".into()));
                        self.scan = self.buf.len();
                        self.eof = true;
                        let _ = io::copy(&mut self.reader, &mut io::sink());
                    }
                    done = self.scan;
                }
            }
        }
        if self.eof && self.scan >= self.buf.len() {
            match self.top {
                Top::InElem => {
                    chunk.records.push(Record {
                        line: self.elem_line,
                        start: self.elem_start,
                        end: self.buf.len(),
                    });
                    chunk.errors.push((self.line, "unterminated array".into()));
                    self.top = Top::End;
                }
                Top::ExpectElem | Top::AfterElem => {
                    chunk.errors.push((self.line, "unterminated array".into()));
                    self.top = Top::End;
                }
                Top::Start | Top::End => {}
            }
            done = self.buf.len();
        }
        if chunk.records.is_empty() && chunk.errors.is_empty() && self.eof && self.scan >= self.buf.len() {
            return Ok(None);
        }
        // Hand out [0, done); keep the partial element.
        let rest = self.buf.split_off(done);
        chunk.data = std::mem::replace(&mut self.buf, rest);
        self.scan -= done;
        if self.top == Top::InElem {
            self.elem_start -= done;
        }
        self.seq += 1;
        Ok(Some(chunk))
    }

    fn begin_elem(&mut self, at: usize, c: u8) {
        self.top = Top::InElem;
        self.elem_start = at;
        self.elem_line = self.line - u64::from(c == b'\n');
        self.depth = 0;
        self.in_str = false;
        self.esc = false;
        self.scalar = !matches!(c, b'{' | b'[');
        // Re-run the first byte through the element machine.
        self.scan = at;
        if c == b'\n' {
            self.line -= 1;
        }
    }

    /// Advances inside an element; returns the element's end offset when it completes.
    fn step_elem(&mut self, c: u8, at: usize) -> Option<usize> {
        if self.in_str {
            if self.esc {
                self.esc = false;
            } else if c == b'\\' {
                self.esc = true;
            } else if c == b'"' {
                self.in_str = false;
            }
            return None;
        }
        if self.scalar {
            return match c {
                b',' | b']' => Some(at),
                b'"' => {
                    self.in_str = true;
                    None
                }
                _ => None,
            };
        }
        match c {
            b'"' => self.in_str = true,
            b'{' | b'[' => self.depth += 1,
            b'}' | b']' => {
                self.depth = self.depth.saturating_sub(1);
                if self.depth == 0 {
                    return Some(at + 1);
                }
            }
            _ => {}
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Lines = Vec<(u64, String)>;

    fn split(input: &str, target: usize) -> (Lines, Lines) {
        let mut s = Splitter::new(input.as_bytes(), target);
        let mut recs = Vec::new();
        let mut errs = Vec::new();
        let mut seq = 0;
        while let Some(c) = s.next_chunk().unwrap() {
            assert_eq!(c.seq, seq);
            seq += 1;
            for r in &c.records {
                recs.push((r.line, String::from_utf8(c.bytes(r).to_vec()).unwrap()));
            }
            errs.extend(c.errors);
            // As analysis does: the buffer goes back to be filled again (every test below
            // therefore also cuts into reused buffers).
            s.buffers().give(c.data);
        }
        (recs, errs)
    }

    #[test]
    fn chunk_buffers_given_back_are_filled_again() {
        let input: String = (0..200_000).map(|i| format!("{{\"n\":{i}}}\n")).collect();
        let mut s = Splitter::new(input.as_bytes(), 256 << 10);
        let first = s.next_chunk().unwrap().unwrap();
        let ptr = first.data.as_ptr();
        s.buffers().give(first.data);
        assert_eq!(s.buffers().idle(), 1);
        // The pooled buffer becomes the one being filled, which the chunk after next hands out.
        let _second = s.next_chunk().unwrap().unwrap();
        assert_eq!(s.buffers().idle(), 0, "the splitter took the buffer back");
        let third = s.next_chunk().unwrap().unwrap();
        assert_eq!(third.data.as_ptr(), ptr);
        assert!(
            third
                .records
                .iter()
                .all(|r| third.bytes(r).starts_with(b"{\"n\":"))
        );

        // A buffer that grew far past the chunk size is not kept.
        let pool = Buffers::new(1 << 20);
        pool.give(Vec::with_capacity(16 << 20));
        assert_eq!(pool.take().capacity(), 0);
    }

    #[test]
    fn lines_with_blank_lines_crlf_and_no_final_newline() {
        let (recs, errs) = split("{\"a\":1}\r\n\n  \n{\"b\":2}\n{\"c\":3}", 1024);
        assert!(errs.is_empty());
        assert_eq!(
            recs,
            vec![
                (1, "{\"a\":1}".into()),
                (4, "{\"b\":2}".into()),
                (5, "{\"c\":3}".into())
            ]
        );
    }

    #[test]
    fn arrays_across_small_chunks_keep_line_numbers() {
        let input = "\n[\n {\"a\":\"x]}\\\"\"},\n {\"b\":[1,{\"c\":2}]}\n,{\"d\":3}]\n";
        for target in [1024, 1] {
            let (recs, errs) = split(input, target);
            assert!(errs.is_empty(), "{errs:?}");
            assert_eq!(
                recs,
                vec![
                    (3, "{\"a\":\"x]}\\\"\"}".into()),
                    (4, "{\"b\":[1,{\"c\":2}]}".into()),
                    (5, "{\"d\":3}".into())
                ]
            );
        }
    }

    #[test]
    fn broken_arrays_are_reported_not_fatal() {
        let (recs, errs) = split("[{\"a\":1} {\"b\":2}, 7, {\"c\":", 1024);
        assert_eq!(recs.len(), 4, "{recs:?}");
        assert_eq!(recs[2].1, "7");
        assert!(errs.iter().any(|(_, m)| m.contains("expected `,`")));
        assert!(errs.iter().any(|(_, m)| m.contains("unterminated")));
        let (recs, errs) = split("[{\"a\":1}] trailing", 1024);
        assert_eq!(recs.len(), 1);
        assert!(errs[0].1.contains("after the end"));
    }

    #[test]
    fn empty_input_has_no_chunks() {
        assert_eq!(split("", 1024).0.len(), 0);
        assert_eq!(split(" \n\n", 1024).0.len(), 0);
        assert_eq!(split("[]", 1024).0.len(), 0);
    }
}
