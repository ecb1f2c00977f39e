//! Gateway faults a test can script beyond the ones applied to open connections directly
//! (op 7, op 9, zombie, drop, close): what the next connection does instead of a normal
//! HELLO, and the malformed frames a client must skip.

use std::time::Duration;

/// Applied to the next accepted gateway connection (either listener), first queued first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectFault {
    /// Send HELLO only after this delay.
    DelayHello(Duration),
    /// Never send HELLO (the client should give up after ~15 s).
    SkipHello,
    /// Send op 7 RECONNECT instead of HELLO, then wait for the client to leave.
    ReconnectBeforeHello,
    /// Refuse the WebSocket upgrade with this HTTP status (a gateway outage).
    RejectHandshake { status: u16 },
    /// Close with this code instead of sending HELLO.
    CloseBeforeHello { code: u16 },
}

/// A frame that is not a valid gateway payload; a client must log it and carry on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MalformedFrame {
    /// Truncated JSON.
    InvalidJson,
    /// Valid JSON whose envelope has the wrong types (`op` a string, `d` an array).
    WrongEnvelopeTypes,
    /// A MESSAGE_CREATE (with `s` null) whose fields have the wrong types.
    WrongMessageTypes,
    /// Valid JSON that is not an object.
    NotAnObject,
    /// A binary frame of garbage ending in `00 00 ff ff`: breaks a zlib-stream client's
    /// inflate context (it must reconnect with a fresh one); on an uncompressed connection
    /// it is simply an unexpected binary frame.
    CorruptZlib,
}

impl MalformedFrame {
    /// The frame's text, or `None` for the binary variant.
    pub(crate) fn text(self) -> Option<&'static str> {
        match self {
            Self::InvalidJson => {
                Some(r#"{"t":"MESSAGE_CREATE","s":99,"op":0,"d":{"id":"1","content":"#)
            }
            Self::WrongEnvelopeTypes => Some(r#"{"t":42,"s":"seven","op":"0","d":[1,2,3]}"#),
            Self::WrongMessageTypes => Some(
                r#"{"t":"MESSAGE_CREATE","s":null,"op":0,"d":{"id":12345,"channel_id":false,"guild_id":[],"author":"nobody","content":42,"timestamp":{},"edited_timestamp":7,"mentions":"none","attachments":null,"embeds":{}}}"#,
            ),
            Self::NotAnObject => Some(r#"[0,"READY",null]"#),
            Self::CorruptZlib => None,
        }
    }

    pub(crate) fn corrupt_zlib_bytes() -> Vec<u8> {
        vec![
            0x78, 0x9c, 0xff, 0xfe, 0x13, 0x37, 0xde, 0xad, 0x00, 0x00, 0xff, 0xff,
        ]
    }
}
