//! `wsio connect`: stdin to a WebSocket server, its messages to stdout.

use std::time::Duration;

use futures_util::StreamExt;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use wsio::State;
use wsio::reconnect::{Builder, Event, ReconnectingClient};
use wsio::{CloseCode, Message, Response, Transport, WriteHalf};

use crate::client_options::{ClientOptions, parse_positive_seconds};
use crate::exit::Exit;
use crate::input::{self, InputError, InputMode};
use crate::output::{self, Printer};
use crate::signal::Interrupt;

const EXIT_STATUS: &str = "\
With --deflate, a server that declines compression is not an error: the connection goes on
uncompressed and a warning says so on stderr (unless --quiet). On a terminal, the note on
connecting gives the parameters agreed. With --reconnect, each connection offers it again.

Exit status:
  0    the connection closed with a completed close handshake
  1    the connection ended without one (dropped, or a protocol error)
  2    bad arguments, or stdin that cannot be sent (a line that is not UTF-8 in text mode)
  3    no connection could be made (refused, TLS, handshake, timeout)
  130  interrupted by Ctrl-C (the connection is closed with 1001 first)";

/// Connect to a WebSocket server: each line on stdin goes out as a text message, each message
/// that arrives is printed on stdout, one per line.
///
/// Binary messages are printed as `[binary N bytes]` and their hex, or as their bytes with
/// --raw. At the end of stdin the connection is closed (1000) and, once the server has
/// answered, the close code and reason are printed on stderr.
#[derive(Debug, clap::Args)]
#[command(after_help = EXIT_STATUS)]
pub(crate) struct Args {
    /// The server's URL: ws://, wss:// or ws+unix://.
    url: String,
    #[command(flatten)]
    client: ClientOptions,
    /// Send a ping every SECONDS, and give up on a server that does not answer in time. With
    /// --reconnect the default is 30, so that a server gone silent is noticed and reconnected.
    #[arg(long, value_name = "SECONDS", value_parser = parse_positive_seconds)]
    ping_interval: Option<Duration>,
    /// Send binary messages instead of text.
    #[arg(long)]
    binary: bool,
    /// Send all of stdin as one message, at its end, instead of one message per line.
    #[arg(long)]
    one_message: bool,
    /// Print received binary messages as their bytes, unchanged and without a line break.
    #[arg(long)]
    raw: bool,
    /// Reconnect when the connection drops (backoff from 1 s to 30 s). Lines typed meanwhile
    /// are queued and sent in order; any that may not have arrived are printed on stderr.
    #[arg(long)]
    reconnect: bool,
    /// Print nothing on stderr but errors (no connection or close notes).
    #[arg(short, long)]
    quiet: bool,
}

/// Runs `wsio connect`.
pub(crate) async fn run(args: Args) -> Exit {
    let ping_interval = match args.ping_interval {
        None if args.reconnect => Some(wsio::reconnect::DEFAULT_PING_INTERVAL),
        given => given,
    };
    let builder = match args.client.builder(&args.url) {
        Ok(builder) => builder.ping_interval(ping_interval),
        Err(exit) => return exit,
    };
    let notes = Notes {
        progress: !args.quiet && output::stderr_is_terminal(),
        result: !args.quiet,
        deflate: args.client.deflate,
    };
    let input = input::spawn(InputMode {
        binary: args.binary,
        one_message: args.one_message,
    });
    let printer = Printer::new(args.raw);
    let mut ctrl_c = match Interrupt::catch() {
        Ok(ctrl_c) => ctrl_c,
        Err(error) => {
            output::error(format_args!("cannot catch Ctrl-C: {error}"));
            return Exit::Failed;
        }
    };
    if args.reconnect {
        return reconnecting(Builder::new(builder), input, printer, notes, ctrl_c).await;
    }
    let connected = tokio::select! {
        connected = builder.connect() => connected,
        () = ctrl_c.recv() => return Exit::Interrupted,
    };
    let ws = match connected {
        Ok((ws, response)) => {
            notes.connected(&response);
            ws
        }
        Err(error) => {
            output::error(format_args!("{}: {error}", args.url));
            return Exit::for_connect_error(&error);
        }
    };
    let (mut read, write) = ws.split();
    let (stop_writer, stopping) = oneshot::channel();
    let writer = tokio::spawn(forward(input, write, stopping));
    let mut stop_writer = Some(stop_writer);
    // Why this side closed, if it did before the input ended: Ctrl-C, or stdout gone.
    let mut stopped = None;
    loop {
        let stop = tokio::select! {
            message = read.next() => match message {
                Some(Ok(message)) => match printer.message(&message) {
                    Ok(()) => None,
                    // Nobody reads stdout any more (a closed pipe): stop, as tools do.
                    Err(error) if stopped != Some(Exit::Failed) => {
                        output::error(format_args!("cannot write to stdout: {error}"));
                        Some(Exit::Failed)
                    }
                    Err(_) => None,
                },
                // The error ends the stream, and the close details say what happened.
                Some(Err(error)) => {
                    tracing::debug!(%error, "connection failed");
                    None
                }
                None => break,
            },
            () = ctrl_c.recv(), if stopped.is_none() => Some(Exit::Interrupted),
        };
        if let Some(stop) = stop {
            stopped.get_or_insert(stop);
            if let Some(stop_writer) = stop_writer.take() {
                let _ = stop_writer.send(CloseCode::GOING_AWAY);
            }
        }
    }
    let info = read.close_info();
    let was_clean = info.as_ref().is_some_and(|info| info.was_clean);
    if let Some(info) = &info {
        notes.closed(info.code, &info.reason, was_clean, info.error.as_ref());
    }
    verdict(stopped, writer, was_clean).await
}

/// The exit status once the connection is over: why this side stopped, if it did; else
/// whether stdin failed (reported here); else whether the close was clean.
async fn verdict(
    stopped: Option<Exit>,
    writer: JoinHandle<Result<(), InputError>>,
    was_clean: bool,
) -> Exit {
    let input_failed = match writer.await {
        Ok(result) => result.err(),
        Err(_) => None,
    };
    if let Some(error) = &input_failed {
        output::error(format_args!("{error}"));
    }
    if let Some(exit) = stopped {
        exit
    } else if input_failed.is_some() {
        Exit::Usage
    } else if was_clean {
        Exit::Ok
    } else {
        Exit::Failed
    }
}

/// Sends what stdin gives until it ends (then closes with 1000), fails, or `stopping` says to
/// stop (then closes with the code it gives).
async fn forward(
    mut input: mpsc::Receiver<Result<Message, InputError>>,
    mut write: WriteHalf<Transport>,
    mut stopping: oneshot::Receiver<CloseCode>,
) -> Result<(), InputError> {
    let (code, result) = loop {
        tokio::select! {
            item = input.recv() => match item {
                Some(Ok(message)) => {
                    if let Err(error) = write.send(message).await {
                        // The reader sees the failure too and reports it.
                        tracing::debug!(%error, "send failed");
                        return Ok(());
                    }
                }
                Some(Err(error)) => break (CloseCode::NORMAL, Err(error)),
                None => break (CloseCode::NORMAL, Ok(())),
            },
            code = &mut stopping => match code {
                Ok(code) => break (code, Ok(())),
                // The reader is gone: the connection is over.
                Err(_) => return Ok(()),
            },
        }
    };
    if let Err(error) = write.send_close(code, "").await {
        tracing::debug!(%error, "close failed");
    }
    result
}

/// `--reconnect`: the same through a [`ReconnectingClient`].
async fn reconnecting(
    builder: Builder,
    input: mpsc::Receiver<Result<Message, InputError>>,
    printer: Printer,
    notes: Notes,
    mut ctrl_c: Interrupt,
) -> Exit {
    let (client, mut events) = builder.start();
    let writer = tokio::spawn(queue(input, client.clone()));
    let mut stopped = None;
    let mut last_clean = false;
    loop {
        tokio::select! {
            event = events.recv() => match event {
                Some(Event::Connected { response, session }) => {
                    if session.is_reconnect {
                        notes.progress(format_args!("reconnected (attempt {})", session.attempt));
                        notes.declined(&response);
                    } else {
                        notes.connected(&response);
                    }
                }
                Some(Event::Message(message)) => {
                    if let Err(error) = printer.message(&message) {
                        if stopped.is_none() {
                            output::error(format_args!("cannot write to stdout: {error}"));
                            stopped = Some(Exit::Failed);
                            // A sendable code, no reason: close cannot refuse them.
                            let _ = client.send_close(CloseCode::GOING_AWAY, "");
                        }
                    }
                }
                Some(Event::Closed(disconnect)) => {
                    last_clean = disconnect.was_clean;
                    let code = disconnect.code.unwrap_or(CloseCode::ABNORMAL);
                    notes.closed(code, &disconnect.reason, disconnect.was_clean, disconnect.error.as_deref());
                }
                Some(Event::Error(error)) => notes.progress(format_args!("{error}")),
                Some(Event::Reconnecting { attempt, delay, .. }) => notes.progress(format_args!(
                    "reconnecting in {:.1} s (attempt {attempt})",
                    delay.as_secs_f64()
                )),
                Some(Event::Unsent(messages)) => report_unsent(&messages),
                Some(Event::Stopped) | None => break,
                Some(_) => {}
            },
            () = ctrl_c.recv(), if stopped.is_none() => {
                stopped = Some(Exit::Interrupted);
                let _ = client.send_close(CloseCode::GOING_AWAY, "");
            }
        }
    }
    writer.abort();
    verdict(stopped, writer, last_clean).await
}

/// Queues what stdin gives, waiting for room in the queue, and closes the client with 1000 at
/// the end of the input, once a connection is open: closing while none is, the client would
/// stop at once and hand back what is queued (piped input usually ends before the first
/// connection opens).
async fn queue(
    mut input: mpsc::Receiver<Result<Message, InputError>>,
    client: ReconnectingClient,
) -> Result<(), InputError> {
    let mut result = Ok(());
    while let Some(item) = input.recv().await {
        let message = match item {
            Ok(message) => message,
            Err(error) => {
                result = Err(error);
                break;
            }
        };
        if client.ready().await.is_err() {
            return Ok(());
        }
        if let Err(error) = client.send(message) {
            output::error(format_args!("not sent: {error}"));
            return Ok(());
        }
    }
    let mut status = client.state_changes();
    // The client keeps its status sender while a handle lives: this cannot fail.
    let _ = status
        .wait_for(|status| matches!(status, State::Open | State::Closing | State::Closed))
        .await;
    let _ = client.send_close(CloseCode::NORMAL, "");
    result
}

/// Messages the reconnecting client handed back: they may not have arrived.
fn report_unsent(messages: &[Message]) {
    output::error(format_args!(
        "{} message(s) may not have arrived:",
        messages.len()
    ));
    for message in messages {
        match message {
            Message::Text(text) => eprintln!("  {}", text.as_str()),
            Message::Binary(data) => eprintln!("  [binary {} bytes]", data.len()),
            other => eprintln!("  {other:?}"),
        }
    }
}

/// Which notes go to stderr: `progress` (connected, reconnecting) only on a terminal, the
/// `result` (how the connection closed, compression declined) unless `--quiet`; whether
/// `deflate` was asked for.
#[derive(Debug, Clone, Copy)]
struct Notes {
    progress: bool,
    result: bool,
    deflate: bool,
}

impl Notes {
    fn progress(self, message: std::fmt::Arguments<'_>) {
        if self.progress {
            output::note(message);
        }
    }

    /// Connected: the subprotocol and compression the server agreed, if any.
    fn connected(self, response: &Response) {
        let agreed: Vec<String> = response
            .subprotocol()
            .map(|subprotocol| format!("subprotocol {subprotocol}"))
            .into_iter()
            .chain(output::compression(response.negotiated()))
            .collect();
        if agreed.is_empty() {
            self.progress(format_args!("connected"));
        } else {
            self.progress(format_args!("connected ({})", agreed.join(", ")));
        }
        self.declined(response);
    }

    /// Warns when compression was asked for and the server declined it.
    fn declined(self, response: &Response) {
        if self.deflate && self.result && response.negotiated().deflate.is_none() {
            output::warning(format_args!(
                "the server declined permessage-deflate: messages go uncompressed"
            ));
        }
    }

    fn closed(
        self,
        code: CloseCode,
        reason: &str,
        was_clean: bool,
        error: Option<&impl std::fmt::Display>,
    ) {
        if !self.result {
            return;
        }
        let reason = if reason.is_empty() {
            String::new()
        } else {
            format!(" {reason:?}")
        };
        match (was_clean, error) {
            (true, _) => output::note(format_args!("closed: {code}{reason}")),
            (false, Some(error)) => output::note(format_args!(
                "closed without a close handshake: {code}{reason} ({error})"
            )),
            (false, None) => output::note(format_args!(
                "closed without a close handshake: {code}{reason}"
            )),
        }
    }
}
