//! REST routes as the limiter sees them: a method, a path template and the major parameter
//! Discord keys its buckets by.

use std::fmt;

use serde::Serialize;

use crate::discord::Snowflake;

/// The path parameters Discord scopes rate limits by: the same route on two channels has two
/// independent buckets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MajorKind {
    Channel,
    Guild,
    Webhook,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MajorParameter {
    pub kind: MajorKind,
    pub id: Snowflake,
}

/// A route without its major parameter: what `X-RateLimit-Bucket` hashes are learned for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RouteId {
    pub method: &'static str,
    /// Path template below the API base, e.g. `/channels/{channel_id}/messages`. Templates
    /// are static strings, so the set of routes (and of metric labels) is fixed.
    pub template: &'static str,
}

/// One REST route with its major parameter, e.g. `GET /channels/{channel_id}/messages` for
/// channel 42.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Route {
    pub id: RouteId,
    pub major: Option<MajorParameter>,
}

impl Route {
    /// A `GET` of `template`, which has no major parameter.
    pub const fn get(template: &'static str) -> Self {
        Self {
            id: RouteId {
                method: "GET",
                template,
            },
            major: None,
        }
    }

    pub const fn with_major(self, kind: MajorKind, id: Snowflake) -> Self {
        Self {
            id: self.id,
            major: Some(MajorParameter { kind, id }),
        }
    }

    pub const fn for_channel(self, channel_id: Snowflake) -> Self {
        self.with_major(MajorKind::Channel, channel_id)
    }

    pub const fn for_guild(self, guild_id: Snowflake) -> Self {
        self.with_major(MajorKind::Guild, guild_id)
    }

    /// The channel this route is about, if its major parameter is one.
    pub fn channel_id(&self) -> Option<Snowflake> {
        self.major
            .filter(|major| major.kind == MajorKind::Channel)
            .map(|major| major.id)
    }

    /// `GET /channels/{channel_id}/messages`: the template, never the ids, so that metric
    /// labels and history entries stay few and carry no identifiers.
    pub fn label(&self) -> String {
        self.to_string()
    }
}

impl fmt::Display for Route {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.id.method, self.id.template)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_name_the_template_not_the_ids() {
        let route = Route::get("/channels/{channel_id}/messages").for_channel(Snowflake(42));
        assert_eq!(route.label(), "GET /channels/{channel_id}/messages");
        assert_eq!(route.channel_id(), Some(Snowflake(42)));
        let guild = Route::get("/guilds/{guild_id}").for_guild(Snowflake(7));
        assert_eq!(guild.channel_id(), None);
        assert_ne!(
            Route::get("/channels/{channel_id}").for_channel(Snowflake(1)),
            Route::get("/channels/{channel_id}").for_channel(Snowflake(2))
        );
    }
}
