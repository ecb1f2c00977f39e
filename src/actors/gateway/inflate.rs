//! `zlib-stream` transport compression: the whole connection is one zlib stream, and each
//! gateway message ends with a sync flush (`00 00 ff ff`). A message may span several
//! WebSocket frames, so bytes are buffered until that suffix. One context per connection:
//! a new connection starts a new stream, and reusing the old context would fail on its
//! header (a classic client bug).

use flate2::{Decompress, FlushDecompress, Status};

use super::error::InflateError;

/// The end of every complete zlib-stream message (a sync flush's empty stored block).
const SYNC_FLUSH_SUFFIX: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

/// Bytes added to the output buffer whenever it runs out: a typical dispatch fits at once,
/// a multi-megabyte GUILD_CREATE takes a few rounds.
const OUTPUT_GROWTH_BYTES: usize = 64 * 1024;

/// Buffer capacity kept between messages. After a large GUILD_CREATE the buffers shrink back
/// to this, so one big guild does not pin megabytes for the life of the connection.
const RETAINED_CAPACITY_BYTES: usize = 256 * 1024;

pub(super) struct ZlibStream {
    decompress: Decompress,
    /// Compressed bytes of the message being received.
    input: Vec<u8>,
    /// Inflated bytes of the last complete message.
    output: Vec<u8>,
}

impl ZlibStream {
    pub(super) fn new() -> Self {
        Self {
            // `true`: the stream starts with a zlib header.
            decompress: Decompress::new(true),
            input: Vec::new(),
            output: Vec::new(),
        }
    }

    /// Adds one WebSocket frame's bytes; returns the inflated message once it is complete.
    pub(super) fn push(&mut self, frame: &[u8]) -> Result<Option<&[u8]>, InflateError> {
        self.input.extend_from_slice(frame);
        if !self.input.ends_with(&SYNC_FLUSH_SUFFIX) {
            return Ok(None);
        }
        self.shrink_output();
        self.output.clear();
        let mut consumed = 0;
        loop {
            if self.output.capacity() == self.output.len() {
                self.output.reserve(OUTPUT_GROWTH_BYTES);
            }
            let in_before = self.decompress.total_in();
            let out_before = self.decompress.total_out();
            let status = self
                .decompress
                .decompress_vec(
                    &self.input[consumed..],
                    &mut self.output,
                    FlushDecompress::Sync,
                )
                .map_err(InflateError::Corrupt)?;
            let read = usize::try_from(self.decompress.total_in() - in_before).unwrap_or(0);
            let written = self.decompress.total_out() - out_before;
            consumed += read;
            let output_full = self.output.len() == self.output.capacity();
            if consumed >= self.input.len() && !output_full {
                break;
            }
            if read == 0 && written == 0 && !output_full {
                return Err(InflateError::Stalled(self.input.len() - consumed));
            }
            if status == Status::StreamEnd {
                break;
            }
        }
        self.input.clear();
        if self.input.capacity() > RETAINED_CAPACITY_BYTES {
            self.input.shrink_to(RETAINED_CAPACITY_BYTES);
        }
        Ok(Some(&self.output))
    }

    fn shrink_output(&mut self) {
        if self.output.capacity() > RETAINED_CAPACITY_BYTES {
            self.output.clear();
            self.output.shrink_to(RETAINED_CAPACITY_BYTES);
        }
    }
}

#[cfg(test)]
pub(super) mod tests {
    use flate2::{Compress, Compression, FlushCompress};

    use super::*;

    /// The server side of a zlib stream: one context, a sync flush after each message.
    pub(crate) struct Deflater(Compress);

    impl Deflater {
        pub(crate) fn new() -> Self {
            Self(Compress::new(Compression::default(), true))
        }

        pub(crate) fn message(&mut self, text: &[u8]) -> Vec<u8> {
            let mut out = Vec::with_capacity(text.len() / 2 + 64);
            let mut consumed = 0;
            loop {
                if out.capacity() - out.len() < 64 {
                    out.reserve(text.len() / 2 + 1024);
                }
                let before = self.0.total_in();
                self.0
                    .compress_vec(&text[consumed..], &mut out, FlushCompress::Sync)
                    .unwrap();
                consumed += usize::try_from(self.0.total_in() - before).unwrap();
                if consumed == text.len() && out.ends_with(&SYNC_FLUSH_SUFFIX) {
                    return out;
                }
            }
        }
    }

    #[test]
    fn messages_split_across_frames_inflate_once_complete() {
        let mut deflater = Deflater::new();
        let mut stream = ZlibStream::new();
        let first = deflater.message(br#"{"op":10,"d":{"heartbeat_interval":41250}}"#);
        let (head, tail) = first.split_at(first.len() / 2);
        assert!(stream.push(head).unwrap().is_none());
        assert_eq!(
            stream.push(tail).unwrap().unwrap(),
            br#"{"op":10,"d":{"heartbeat_interval":41250}}"#
        );
        // The second message depends on the first's dictionary: same context required.
        let second = deflater.message(br#"{"op":11,"d":{"heartbeat_interval":41250}}"#);
        assert_eq!(
            stream.push(&second).unwrap().unwrap(),
            br#"{"op":11,"d":{"heartbeat_interval":41250}}"#
        );
    }

    #[test]
    fn multi_megabyte_messages_inflate() {
        let big: String = (0..200_000).map(|i| format!("{i:x}-")).collect::<String>();
        assert!(big.len() > 1_000_000);
        let mut deflater = Deflater::new();
        let mut stream = ZlibStream::new();
        let compressed = deflater.message(big.as_bytes());
        assert_eq!(stream.push(&compressed).unwrap().unwrap(), big.as_bytes());
        let small = deflater.message(b"{}");
        assert_eq!(stream.push(&small).unwrap().unwrap(), b"{}");
    }

    #[test]
    fn a_context_from_another_stream_is_an_error() {
        let mut old_connection = Deflater::new();
        old_connection.message(b"first");
        let later = old_connection.message(b"second");
        // A fresh context (new connection) fed the middle of an old stream: no zlib header.
        assert!(ZlibStream::new().push(&later).is_err());
    }
}
