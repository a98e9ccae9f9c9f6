//! Reading stdin on a thread of its own (stdin cannot be read without blocking) and handing
//! what it read to the async side as messages.

use std::io::{self, BufRead, Read};

use bytes::Bytes;
use tokio::sync::mpsc;
use wsio::Message;

/// How stdin becomes messages.
#[derive(Debug, Clone, Copy)]
pub(crate) struct InputMode {
    /// Binary messages instead of text.
    pub(crate) binary: bool,
    /// All of stdin as one message, instead of one message per line.
    pub(crate) one_message: bool,
}

/// Why stdin could not be sent.
#[derive(Debug)]
pub(crate) enum InputError {
    /// Text mode, and a line (or the whole input) is not UTF-8.
    NotUtf8 {
        /// The line, counted from 1; `None` for the whole input.
        line: Option<u64>,
    },
    /// Reading stdin failed.
    Io(io::Error),
}

impl std::fmt::Display for InputError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            InputError::NotUtf8 { line: Some(line) } => {
                write!(
                    f,
                    "stdin line {line} is not UTF-8 (use --binary to send bytes)"
                )
            }
            InputError::NotUtf8 { line: None } => {
                write!(f, "stdin is not UTF-8 (use --binary to send bytes)")
            }
            InputError::Io(error) => write!(f, "cannot read stdin: {error}"),
        }
    }
}

/// Starts reading stdin. Messages arrive in order; the channel closes at the end of input,
/// after an error if there was one. The thread blocks while the channel is full, so a slow
/// connection slows the reading down instead of piling input up.
pub(crate) fn spawn(mode: InputMode) -> mpsc::Receiver<Result<Message, InputError>> {
    let (tx, rx) = mpsc::channel(16);
    std::thread::spawn(move || {
        let stdin = io::stdin().lock();
        if mode.one_message {
            let _ = tx.blocking_send(whole(stdin, mode.binary));
        } else {
            lines(stdin, mode.binary, &tx);
        }
    });
    rx
}

/// All of the input as one message.
fn whole(mut input: impl Read, binary: bool) -> Result<Message, InputError> {
    let mut data = Vec::new();
    input.read_to_end(&mut data).map_err(InputError::Io)?;
    if binary {
        return Ok(Message::Binary(Bytes::from(data)));
    }
    String::from_utf8(data)
        .map(Message::text)
        .map_err(|_| InputError::NotUtf8 { line: None })
}

/// A message per line, without its line ending (`\n` or `\r\n`), until the end of input, an
/// error, or until nobody listens.
fn lines(mut input: impl BufRead, binary: bool, tx: &mpsc::Sender<Result<Message, InputError>>) {
    let mut number = 0;
    loop {
        let mut line = Vec::new();
        match input.read_until(b'\n', &mut line) {
            Ok(0) => return,
            Ok(_) => {}
            Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
            Err(error) => {
                let _ = tx.blocking_send(Err(InputError::Io(error)));
                return;
            }
        }
        number += 1;
        if line.last() == Some(&b'\n') {
            line.pop();
            if line.last() == Some(&b'\r') {
                line.pop();
            }
        }
        let message = if binary {
            Ok(Message::Binary(Bytes::from(line)))
        } else {
            String::from_utf8(line)
                .map(Message::text)
                .map_err(|_| InputError::NotUtf8 { line: Some(number) })
        };
        let failed = message.is_err();
        if tx.blocking_send(message).is_err() || failed {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(input: &[u8], binary: bool) -> Vec<Result<Message, String>> {
        let (tx, mut rx) = mpsc::channel(100);
        lines(input, binary, &tx);
        drop(tx);
        let mut out = Vec::new();
        while let Ok(item) = rx.try_recv() {
            out.push(item.map_err(|e| e.to_string()));
        }
        out
    }

    #[test]
    fn each_line_is_a_message_without_its_line_ending() {
        let got = collect(b"one\ntwo\r\n\nlast", false);
        let texts: Vec<_> = got.into_iter().map(Result::unwrap).collect();
        assert_eq!(
            texts,
            ["one", "two", "", "last"].map(Message::text).to_vec()
        );
    }

    #[test]
    fn a_line_that_is_not_utf8_stops_text_input_with_its_number() {
        let got = collect(b"fine\n\xff\nnever\n", false);
        assert_eq!(got.len(), 2);
        assert!(got[1].as_ref().unwrap_err().contains("line 2"));
        let got = collect(b"fine\n\xff\n", true);
        assert_eq!(got[1], Ok(Message::Binary(Bytes::from_static(b"\xff"))));
    }

    #[test]
    fn the_whole_input_is_one_message() {
        let message = whole(&b"a\nb\n"[..], false).unwrap();
        assert_eq!(message, Message::text("a\nb\n"));
        assert!(whole(&b"\xfe"[..], false).is_err());
        let message = whole(&b"\xfe"[..], true).unwrap();
        assert_eq!(message, Message::Binary(Bytes::from_static(b"\xfe")));
    }
}
