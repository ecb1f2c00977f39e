//! Sessions that outlive the process. Every event the gateway queues carries the
//! [`ResumableSession`] it arrived on and its sequence number; the storage side saves the
//! session with the sequence of the last event whose effects it has committed (see
//! `actors::ingest`), and a GatewayActor starting without a session loads that record
//! through its [`PersistedSessionSource`] and RESUMEs it if [`check_persisted`] finds it
//! usable: Discord then replays every event after the committed one, the edits and deletes
//! a killed process still had queued included.
//!
//! A record is only as good as its identity: the same shard (`[id, count]`), the same token
//! (compared by [`token_fingerprint`]), and recent enough for Discord to still hold it
//! ([`MAX_PERSISTED_SESSION_AGE`]). Anything else is ignored and the actor identifies, as
//! it does when a RESUME is refused.

use std::sync::Arc;
use std::time::Duration;

use futures_util::future::LocalBoxFuture;

use crate::actors::db::{DbError, GatewaySessionRecord};
use crate::config::Secret;
use crate::discord::{Snowflake, User};
use crate::supervisor::AskError;

/// How long after its last save a persisted session is still worth a RESUME. Discord does
/// not publish how long a disconnected session stays resumable; clients observe a few
/// minutes (discord-sim models three). A RESUME that is refused costs one connection and
/// the 1-5 s wait before identifying; one that succeeds saves every edit and delete of the
/// gap. So the bound errs towards trying: the last save can be up to
/// [`PERSISTED_SESSION_REFRESH`] older than the process's death, and the session's clock at
/// Discord starts only then.
pub const MAX_PERSISTED_SESSION_AGE: Duration = Duration::from_secs(5 * 60);

/// How often the storage side rewrites the saved session while nothing new is committed, so
/// that the record's age measures how long ago its process was last alive (a quiet server
/// commits nothing for hours). One small row write per interval; far below
/// [`MAX_PERSISTED_SESSION_AGE`].
pub const PERSISTED_SESSION_REFRESH: Duration = Duration::from_secs(30);

/// Hex digits of the token's SHA-256 kept as its fingerprint: 64 bits tell two tokens apart
/// with certainty for our purpose and reveal nothing usable about either.
const FINGERPRINT_HEX_DIGITS: usize = 16;

/// Loads the record saved for a shard (`shard_id`): through the DbActor in the service, a
/// closure in tests.
pub type PersistedSessionSource = Arc<
    dyn Fn(u32) -> LocalBoxFuture<'static, Result<Option<GatewaySessionRecord>, AskError<DbError>>>
        + Send
        + Sync,
>;

/// A session as another process needs it to RESUME: what READY said, and whose it is.
#[derive(Debug, Clone, PartialEq)]
pub struct ResumableSession {
    pub session_id: String,
    /// READY's `resume_gateway_url`.
    pub resume_url: String,
    pub user: User,
    /// `[shard_id, shard_count]` it was opened with.
    pub shard: [u32; 2],
    /// [`token_fingerprint`] of the token it was opened with.
    pub token_fingerprint: String,
}

impl ResumableSession {
    /// The row to save: this session, resumable from `seq`, as of `saved_at_ms`.
    pub fn record(&self, seq: u64, saved_at_ms: i64) -> GatewaySessionRecord {
        GatewaySessionRecord {
            shard: self.shard,
            session_id: self.session_id.clone(),
            resume_url: self.resume_url.clone(),
            seq,
            user_id: self.user.id.get(),
            user_name: self.user.username.clone(),
            token_fingerprint: self.token_fingerprint.clone(),
            saved_at_ms,
        }
    }

    /// The session a saved row describes; `bot` is whether the configured token is a bot's
    /// (the row keeps only the user's id and name).
    pub fn from_record(record: &GatewaySessionRecord, bot: bool) -> Self {
        Self {
            session_id: record.session_id.clone(),
            resume_url: record.resume_url.clone(),
            user: User {
                id: Snowflake(record.user_id),
                username: record.user_name.clone(),
                global_name: None,
                bot,
            },
            shard: record.shard,
            token_fingerprint: record.token_fingerprint.clone(),
        }
    }
}

/// Why a saved session is not resumed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unusable {
    #[error("saved {age:?} ago, longer than Discord keeps a session")]
    TooOld { age: Duration },
    #[error("opened for shard {saved:?}, this process runs shard {configured:?}")]
    OtherShard {
        saved: [u32; 2],
        configured: [u32; 2],
    },
    #[error("opened with another token")]
    OtherToken,
}

impl Unusable {
    /// A short label for logs and metrics.
    pub const fn label(&self) -> &'static str {
        match self {
            Unusable::TooOld { .. } => "too_old",
            Unusable::OtherShard { .. } => "other_shard",
            Unusable::OtherToken => "other_token",
        }
    }
}

/// Whether `record` can be resumed by a process running `shard` with the token whose
/// fingerprint is `fingerprint`, at `now_ms`; answers the record's age when it can.
pub fn check_persisted(
    record: &GatewaySessionRecord,
    shard: [u32; 2],
    fingerprint: &str,
    now_ms: i64,
) -> Result<Duration, Unusable> {
    if record.shard != shard {
        return Err(Unusable::OtherShard {
            saved: record.shard,
            configured: shard,
        });
    }
    if record.token_fingerprint != fingerprint {
        return Err(Unusable::OtherToken);
    }
    // A record from the future (the clock was set back) counts as fresh.
    let age = Duration::from_millis(u64::try_from(now_ms - record.saved_at_ms).unwrap_or(0));
    if age > MAX_PERSISTED_SESSION_AGE {
        return Err(Unusable::TooOld { age });
    }
    Ok(age)
}

/// A short, one-way fingerprint of `token`: equal for the same token, different for
/// another, and useless for recovering it.
pub fn token_fingerprint(token: &Secret) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, token.expose().as_bytes());
    let mut hex = String::with_capacity(FINGERPRINT_HEX_DIGITS);
    for byte in digest.as_ref().iter().take(FINGERPRINT_HEX_DIGITS / 2) {
        hex.push_str(&format!("{byte:02x}"));
    }
    hex
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW_MS: i64 = 1_764_000_000_000;

    fn session() -> ResumableSession {
        ResumableSession {
            session_id: "c0ffee".to_owned(),
            resume_url: "wss://gateway-us-east1-b.discord.gg".to_owned(),
            user: User {
                id: Snowflake(900),
                username: "monitor".to_owned(),
                global_name: None,
                bot: true,
            },
            shard: [0, 1],
            token_fingerprint: token_fingerprint(&Secret::new("MTAx.first.token")),
        }
    }

    #[test]
    fn a_record_round_trips_into_the_same_session() {
        let record = session().record(77, NOW_MS);
        assert_eq!(record.seq, 77);
        assert_eq!(record.user_id, 900);
        assert_eq!(ResumableSession::from_record(&record, true), session());
    }

    #[test]
    fn only_a_recent_record_of_the_same_shard_and_token_is_usable() {
        let fingerprint = token_fingerprint(&Secret::new("MTAx.first.token"));
        let record = session().record(5, NOW_MS - 60_000);
        assert_eq!(
            check_persisted(&record, [0, 1], &fingerprint, NOW_MS),
            Ok(Duration::from_secs(60))
        );
        let stale = session().record(5, NOW_MS - 6 * 60_000);
        assert!(matches!(
            check_persisted(&stale, [0, 1], &fingerprint, NOW_MS),
            Err(Unusable::TooOld { .. })
        ));
        assert_eq!(
            check_persisted(&record, [0, 2], &fingerprint, NOW_MS),
            Err(Unusable::OtherShard {
                saved: [0, 1],
                configured: [0, 2]
            })
        );
        let other = token_fingerprint(&Secret::new("MTAy.second.token"));
        assert_eq!(
            check_persisted(&record, [0, 1], &other, NOW_MS),
            Err(Unusable::OtherToken)
        );
        let future = session().record(5, NOW_MS + 60_000);
        assert_eq!(
            check_persisted(&future, [0, 1], &fingerprint, NOW_MS),
            Ok(Duration::ZERO)
        );
    }

    #[test]
    fn fingerprints_are_short_stable_and_never_contain_the_token() {
        let token = Secret::new("MTAx.first.token");
        let fingerprint = token_fingerprint(&token);
        assert_eq!(fingerprint.len(), FINGERPRINT_HEX_DIGITS);
        assert_eq!(fingerprint, token_fingerprint(&token));
        assert!(fingerprint.chars().all(|c| c.is_ascii_hexdigit()));
        assert!(!fingerprint.contains("MTAx"));
    }
}
