//! What the fuzz targets share: reading a setup from the front of the input, feeding bytes in
//! pieces, and the connection harness of the `receive_*` targets.

pub mod connection;

use arbitrary::{Arbitrary, Unstructured};

/// How a target cuts its wire bytes into pieces and how large a head it accepts: the first
/// bytes of every handshake input.
#[derive(Debug, Arbitrary)]
pub struct Pieces {
    /// The size limit: 0 is the library's default, otherwise 8 bytes per unit.
    limit: u8,
    /// The size of each piece: 0 feeds everything at once.
    piece: u8,
    /// Target-specific options.
    pub flags: u8,
}

impl Pieces {
    /// Splits `data` into the setup and the wire bytes that follow it; `None` if it is too
    /// short to hold a setup (`arbitrary` would pad it with zeros).
    pub fn split(data: &[u8]) -> Option<(Pieces, &[u8])> {
        if data.len() < 3 {
            return None;
        }
        let mut u = Unstructured::new(data);
        let pieces = u.arbitrary().ok()?;
        Some((pieces, u.take_rest()))
    }

    /// The head size limit to configure, if not the default.
    pub fn limit(&self) -> Option<usize> {
        (self.limit != 0).then_some(usize::from(self.limit) * 8)
    }

    /// Reads `wire` with two fresh readers from `new`: one given it whole, one given it in the
    /// configured pieces until it returns a result, and checks that the two agree by
    /// `summary`.
    ///
    /// A handshake reader parses again only when a piece may end the head, so a malformed head
    /// that has not ended may fail at once when given whole and wait when given in pieces;
    /// otherwise the pieces change nothing.
    pub fn read<R, T, E>(
        &self,
        wire: &[u8],
        new: impl Fn() -> R,
        receive: impl Fn(&mut R, &[u8]) -> Result<Option<T>, E>,
        summary: impl Fn(&Result<Option<T>, E>) -> String,
    ) -> Read<T, E> {
        let whole = receive(&mut new(), wire);
        let mut reader = new();
        let mut result = Ok(None);
        let mut fed = 0;
        let pieces = match self.piece {
            0 => wire.chunks(wire.len().max(1)),
            n => wire.chunks(usize::from(n)),
        };
        for piece in pieces {
            fed += piece.len();
            result = receive(&mut reader, piece);
            if !matches!(result, Ok(None)) {
                break;
            }
        }
        if !(matches!(result, Ok(None)) && whole.is_err()) {
            assert_eq!(summary(&whole), summary(&result), "whole and in pieces");
        }
        Read {
            whole,
            pieces: result,
            fed,
        }
    }
}

impl<T, E> Read<T, E> {
    /// Checks what followed an accepted head in `wire`, given the `leftover` of the head read
    /// in pieces and of the head read whole (`leftover_whole`): the head fits in `limit`, and
    /// each leftover is exactly the bytes after it that its reader was given. Returns the
    /// length of the head.
    pub fn check_leftover(
        &self,
        wire: &[u8],
        limit: usize,
        leftover: &[u8],
        leftover_whole: impl FnOnce(&T) -> &[u8],
    ) -> usize {
        let head_len = self.fed - leftover.len();
        assert!(
            head_len <= limit,
            "head of {head_len} bytes accepted, limit {limit}"
        );
        assert_eq!(&wire[head_len..self.fed], leftover);
        let Ok(Some(whole)) = &self.whole else {
            unreachable!("the results were compared")
        };
        assert_eq!(&wire[head_len..], leftover_whole(whole));
        head_len
    }
}

/// What [`Pieces::read`] found.
pub struct Read<T, E> {
    /// The result of the reader given everything at once.
    pub whole: Result<Option<T>, E>,
    /// The result of the reader given pieces.
    pub pieces: Result<Option<T>, E>,
    /// How many bytes the pieces held, up to the one that gave the result.
    pub fed: usize,
}
