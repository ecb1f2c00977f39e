//! Gateway transport compression (`compress=zlib-stream`): one deflate context for the whole
//! connection, every message flushed with Z_SYNC_FLUSH so it ends in `00 00 ff ff` and the
//! client can inflate it on its own. A new connection gets a new context.

use flate2::{Compress, Compression, FlushCompress};

/// The four bytes every zlib-stream message ends with.
pub const SYNC_FLUSH_SUFFIX: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

pub(crate) struct ZlibStream {
    deflate: Compress,
}

impl ZlibStream {
    pub(crate) fn new() -> Self {
        Self {
            // `true`: a zlib header on the first message, like Discord's stream.
            deflate: Compress::new(Compression::default(), true),
        }
    }

    /// Compresses one gateway message, continuing the connection's stream.
    pub(crate) fn compress(&mut self, input: &[u8]) -> Result<Vec<u8>, flate2::CompressError> {
        let mut output = Vec::with_capacity(input.len() / 3 + 64);
        let mut consumed = 0usize;
        loop {
            if output.capacity() - output.len() < 64 {
                output.reserve(output.capacity().max(1024));
            }
            let before = self.deflate.total_in();
            self.deflate
                .compress_vec(&input[consumed..], &mut output, FlushCompress::Sync)?;
            consumed += usize::try_from(self.deflate.total_in() - before).unwrap_or(usize::MAX);
            // zlib has finished the sync flush once all input is in and it left output room.
            let room_left = output.len() < output.capacity();
            if consumed >= input.len() && room_left {
                break;
            }
        }
        Ok(output)
    }
}

#[cfg(test)]
mod tests {
    use flate2::{Decompress, FlushDecompress};

    use super::*;

    fn inflate(context: &mut Decompress, data: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(data.len() * 8 + 1024);
        let mut consumed = 0usize;
        loop {
            if out.capacity() - out.len() < 1024 {
                out.reserve(out.capacity());
            }
            let before = context.total_in();
            context
                .decompress_vec(&data[consumed..], &mut out, FlushDecompress::Sync)
                .expect("valid zlib stream");
            consumed += (context.total_in() - before) as usize;
            if consumed >= data.len() && out.len() < out.capacity() {
                return out;
            }
        }
    }

    #[test]
    fn every_message_ends_with_sync_flush_and_inflates_in_one_context() {
        let mut stream = ZlibStream::new();
        let mut client = Decompress::new(true);
        let big = format!(r#"{{"op":0,"d":"{}"}}"#, "é🎉x".repeat(300_000));
        for message in [
            r#"{"op":10,"d":{"heartbeat_interval":41250}}"#,
            big.as_str(),
            "{}",
        ] {
            let compressed = stream.compress(message.as_bytes()).expect("compress");
            assert!(compressed.ends_with(&SYNC_FLUSH_SUFFIX));
            assert_eq!(inflate(&mut client, &compressed), message.as_bytes());
        }
    }

    #[test]
    fn a_fresh_context_cannot_continue_an_old_stream() {
        let mut stream = ZlibStream::new();
        let _first = stream.compress(b"first message").expect("compress");
        let second = stream.compress(b"second message").expect("compress");
        // A client that reused (or reset) the wrong context fails on the second message: the
        // reason every reconnect needs a new inflate context.
        let mut fresh = Decompress::new(true);
        let mut out = Vec::with_capacity(1024);
        assert!(
            fresh
                .decompress_vec(&second, &mut out, FlushDecompress::Sync)
                .is_err()
        );
    }
}
