//! What the command prints: received messages on stdout, notes and errors on stderr, in
//! colour only on a terminal (and never with `NO_COLOR` set).

use std::fmt;
use std::io::{self, IsTerminal, Write};

use wsio::{Message, Negotiated};

const RED: &str = "\x1b[31m";
const YELLOW: &str = "\x1b[33m";
const CYAN: &str = "\x1b[36m";
const DIM: &str = "\x1b[2m";
const RESET: &str = "\x1b[0m";

/// Whether colour may be used at all: `NO_COLOR` (https://no-color.org) unset or empty.
fn colour_allowed() -> bool {
    std::env::var_os("NO_COLOR").is_none_or(|value| value.is_empty())
}

/// Whether to colour what goes to stderr.
pub(crate) fn colour_on_stderr() -> bool {
    colour_allowed() && io::stderr().is_terminal()
}

/// Whether stderr is a person's terminal, where progress and notes are worth showing.
pub(crate) fn stderr_is_terminal() -> bool {
    io::stderr().is_terminal()
}

/// Prints an error on stderr: `wsio: error: ...`.
pub(crate) fn error(message: fmt::Arguments<'_>) {
    let (start, end) = paint(colour_on_stderr(), RED);
    eprintln!("wsio: {start}error{end}: {message}");
}

/// Prints a warning on stderr: `wsio: warning: ...`.
pub(crate) fn warning(message: fmt::Arguments<'_>) {
    let (start, end) = paint(colour_on_stderr(), YELLOW);
    eprintln!("wsio: {start}warning{end}: {message}");
}

/// Prints a note about the connection on stderr (connected, closed, reconnecting).
pub(crate) fn note(message: fmt::Arguments<'_>) {
    let (start, end) = paint(colour_on_stderr(), YELLOW);
    eprintln!("{start}{message}{end}");
}

fn paint(colour: bool, code: &'static str) -> (&'static str, &'static str) {
    if colour { (code, RESET) } else { ("", "") }
}

/// The compression a handshake agreed, as the command shows it: the server's answer (for example
/// `permessage-deflate; client_max_window_bits=15`); `None` when the connection is
/// uncompressed.
pub(crate) fn compression(negotiated: &Negotiated) -> Option<String> {
    negotiated.deflate.map(|params| params.to_string())
}

/// Writes received messages to stdout, one per line: text as it is, binary as its length and
/// hex (or its bytes unchanged, with `raw`).
pub(crate) struct Printer {
    raw: bool,
    colour: bool,
}

impl Printer {
    pub(crate) fn new(raw: bool) -> Self {
        Printer {
            raw,
            colour: colour_allowed() && io::stdout().is_terminal(),
        }
    }

    /// Prints a text or binary message; other kinds are not printed. Flushes, so that each
    /// message shows as it arrives even through a pipe.
    pub(crate) fn message(&self, message: &Message) -> io::Result<()> {
        let mut out = io::stdout().lock();
        match message {
            Message::Text(text) => writeln!(out, "{}", text.as_str())?,
            Message::Binary(data) if self.raw => out.write_all(data)?,
            Message::Binary(data) => {
                let (start, end) = paint(self.colour, CYAN);
                write!(out, "{start}[binary {} bytes]{end}", data.len())?;
                if !data.is_empty() {
                    let (start, end) = paint(self.colour, DIM);
                    write!(out, " {start}")?;
                    for byte in data.iter() {
                        write!(out, "{byte:02x}")?;
                    }
                    write!(out, "{end}")?;
                }
                writeln!(out)?;
            }
            _ => return Ok(()),
        }
        out.flush()
    }
}
