//! A minimal Server-Sent Events parser (the subset authd's feed uses: `id`, `event`, `data`,
//! comment lines for keep-alive). Fed raw chunks as they arrive; lines may span chunks.

/// One dispatched event, or a comment (keep-alive).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    Event {
        id: Option<String>,
        event: Option<String>,
        data: String,
    },
    Comment,
}

/// Upper bound on a buffered partial line: a feed entry is small; anything larger is refused.
const MAX_LINE: usize = 64 * 1024;

#[derive(Debug, Default)]
pub struct Parser {
    buf: Vec<u8>,
    id: Option<String>,
    event: Option<String>,
    data: Option<String>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SseError {
    #[error("SSE line longer than {MAX_LINE} bytes")]
    LineTooLong,
    #[error("SSE line is not UTF-8")]
    NotUtf8,
}

impl Parser {
    /// Feeds bytes; returns the items completed by them.
    pub fn push(&mut self, chunk: &[u8]) -> Result<Vec<Item>, SseError> {
        self.buf.extend_from_slice(chunk);
        let mut out = Vec::new();
        while let Some(nl) = self.buf.iter().position(|&b| b == b'\n') {
            let mut line: Vec<u8> = self.buf.drain(..=nl).collect();
            line.pop();
            if line.last() == Some(&b'\r') {
                line.pop();
            }
            let line = String::from_utf8(line).map_err(|_| SseError::NotUtf8)?;
            self.line(&line, &mut out);
        }
        if self.buf.len() > MAX_LINE {
            return Err(SseError::LineTooLong);
        }
        Ok(out)
    }

    fn line(&mut self, line: &str, out: &mut Vec<Item>) {
        if line.is_empty() {
            if let Some(data) = self.data.take() {
                out.push(Item::Event {
                    id: self.id.clone(),
                    event: self.event.take(),
                    data,
                });
            }
            self.event = None;
            return;
        }
        if line.starts_with(':') {
            out.push(Item::Comment);
            return;
        }
        let (field, value) = match line.split_once(':') {
            Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
            None => (line, ""),
        };
        match field {
            "id" => self.id = Some(value.to_owned()),
            "event" => self.event = Some(value.to_owned()),
            "data" => match &mut self.data {
                Some(d) => {
                    d.push('\n');
                    d.push_str(value);
                }
                None => self.data = Some(value.to_owned()),
            },
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_split_across_chunks_are_reassembled() {
        let mut p = Parser::default();
        assert!(p.push(b"id: 4\nevent: revo").unwrap().is_empty());
        assert_eq!(p.push(b"cation\ndata: {\"a\":1}\r\n").unwrap(), vec![]);
        assert_eq!(
            p.push(b"\n: keep-alive\n\n").unwrap(),
            vec![
                Item::Event {
                    id: Some("4".into()),
                    event: Some("revocation".into()),
                    data: "{\"a\":1}".into()
                },
                Item::Comment
            ]
        );
    }

    #[test]
    fn multi_line_data_is_joined_and_an_overlong_line_is_refused() {
        let mut p = Parser::default();
        let items = p.push(b"data: a\ndata: b\n\n").unwrap();
        assert_eq!(
            items,
            vec![Item::Event {
                id: None,
                event: None,
                data: "a\nb".into()
            }]
        );
        assert_eq!(p.push(&vec![b'x'; MAX_LINE + 1]), Err(SseError::LineTooLong));
    }
}
