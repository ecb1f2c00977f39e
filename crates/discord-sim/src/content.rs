//! Seeded generators for realistic Discord text: names, message bodies with unicode, emoji,
//! mentions, links, code blocks, and the traps a careless parser falls into (quotes,
//! backslashes, a body that looks like a gateway frame).

use rand::Rng;
use rand::rngs::StdRng;

const WORDS: &[&str] = &[
    "deploy",
    "release",
    "rollback",
    "latency",
    "review",
    "merge",
    "ticket",
    "meeting",
    "lunch",
    "coffee",
    "schema",
    "backup",
    "alert",
    "pager",
    "incident",
    "quarterly",
    "roadmap",
    "budget",
    "customer",
    "feedback",
    "préférence",
    "naïve",
    "façade",
    "Straße",
    "smörgåsbord",
    "日本語",
    "テスト",
    "中文",
    "한국어",
    "русский",
    "Ελληνικά",
    "עברית",
    "مرحبا",
    "हिन्दी",
    "ไทย",
    "zalgơ̸̢",
    "e\u{301}",
    "ﬁle",
    "Ⅻ",
    "𝔘𝔫𝔦𝔠𝔬𝔡𝔢",
    "\u{200b}zero-width",
];

const EMOJI: &[&str] = &[
    "🎉",
    "👍🏽",
    "🔥",
    "🚀",
    "😂",
    "🙈",
    "🏳️‍🌈",
    "👨‍👩‍👧‍👦",
    "🇫🇷",
    "❤️",
    "✅",
    "⚠️",
    "🤖",
    "<:sim_blob:812345678901234567>",
    "<a:sim_dance:812345678901234568>",
];

const LINKS: &[&str] = &[
    "https://example.com/status",
    "https://docs.example.org/runbook#incident",
    "https://github.com/example/project/pull/42",
    "https://www.youtube.com/watch?v=dQw4w9WgXcQ",
    "https://example.net/a%20path/with?query=1&x=é",
];

const FIRST_NAMES: &[&str] = &[
    "alice", "bob", "carol", "dmitri", "eve", "fatima", "gao", "hana", "ivan", "jürgen", "kofi",
    "lucía", "mei", "nikolai", "olu", "priya",
];

const CHANNEL_NAMES: &[&str] = &[
    "general",
    "announcements",
    "dev",
    "random",
    "support",
    "ops",
    "design",
    "off-topic",
    "releases",
    "日本語-chat",
    "music-🎵",
    "help-desk",
];

const GUILD_WORDS: &[&str] = &[
    "Rustaceans",
    "Night Owls",
    "Café Société",
    "Platform Team",
    "Ops Guild",
    "Ünicode Club",
    "Build Farm",
    "日本 Dev",
    "Gamers 🎮",
    "Book Circle",
];

pub(crate) fn pick<'a>(rng: &mut StdRng, items: &[&'a str]) -> &'a str {
    items[rng.random_range(0..items.len())]
}

pub(crate) fn user_name(rng: &mut StdRng, index: usize) -> String {
    format!("{}{}", pick(rng, FIRST_NAMES), index)
}

pub(crate) fn display_name(rng: &mut StdRng, username: &str) -> Option<String> {
    // About a third of accounts never set a display name: Discord sends an explicit null.
    if rng.random_bool(0.33) {
        None
    } else {
        let mut name = username.to_owned();
        if let Some(first) = name.get_mut(0..1) {
            first.make_ascii_uppercase();
        }
        Some(format!("{name} {}", pick(rng, EMOJI)))
    }
}

pub(crate) fn guild_name(rng: &mut StdRng, index: usize) -> String {
    format!("{} #{index}", pick(rng, GUILD_WORDS))
}

pub(crate) fn channel_name(rng: &mut StdRng, index: usize) -> String {
    format!("{}-{index}", pick(rng, CHANNEL_NAMES))
}

pub(crate) fn thread_name(rng: &mut StdRng, index: usize) -> String {
    format!("{} {} thread {index}", pick(rng, WORDS), pick(rng, EMOJI))
}

pub(crate) fn topic(rng: &mut StdRng) -> Option<String> {
    if rng.random_bool(0.3) {
        None
    } else {
        Some(format!(
            "About {} and {}",
            pick(rng, WORDS),
            pick(rng, WORDS)
        ))
    }
}

/// What a generated body refers to, so the message object can list it.
pub(crate) struct Body {
    pub text: String,
    /// Indexes into the sim's user list, for `<@id>` mentions.
    pub mentioned_users: Vec<usize>,
    /// Present when the body contains a link that can be unfurled later.
    pub link: Option<String>,
}

/// A message body. `users` is how many users exist (mention targets); `user_id` renders one.
pub(crate) fn body(rng: &mut StdRng, users: usize, user_id: impl Fn(usize) -> u64) -> Body {
    let mut mentioned_users = Vec::new();
    let mut link = None;
    let roll: f64 = rng.random();
    let text = if roll < 0.04 {
        // Content that contains a serialized gateway frame: clients that find fields by
        // substring search instead of parsing break here.
        r#"look: {"op":0,"t":"READY","s":1,"d":{"session_id":"x"}} \"quoted\" and a \\ backslash"#
            .to_owned()
    } else if roll < 0.08 {
        format!(
            "```rust\nfn main() {{\n    println!(\"{}\");\n}}\n```",
            pick(rng, WORDS)
        )
    } else if roll < 0.10 {
        // Near Discord's 2000-character limit.
        let unit = format!("{} {} ", pick(rng, WORDS), pick(rng, EMOJI));
        let mut long = String::new();
        while long.chars().count() + unit.chars().count() < 1990 {
            long.push_str(&unit);
        }
        long
    } else {
        let words = rng.random_range(1..14);
        let mut parts = Vec::with_capacity(words + 2);
        for _ in 0..words {
            let p: f64 = rng.random();
            if p < 0.15 {
                parts.push(pick(rng, EMOJI).to_owned());
            } else {
                parts.push(pick(rng, WORDS).to_owned());
            }
        }
        if users > 0 && rng.random_bool(0.15) {
            let target = rng.random_range(0..users);
            mentioned_users.push(target);
            parts.insert(0, format!("<@{}>", user_id(target)));
        }
        if rng.random_bool(0.12) {
            let url = pick(rng, LINKS).to_owned();
            parts.push(url.clone());
            link = Some(url);
        }
        if rng.random_bool(0.05) {
            parts.push("line one\nline two\r\n\ttabbed".to_owned());
        }
        parts.join(" ")
    };
    Body {
        text,
        mentioned_users,
        link,
    }
}

pub(crate) fn edited_text(rng: &mut StdRng, previous: &str) -> String {
    let suffix = format!(" (edit: {} {})", pick(rng, WORDS), pick(rng, EMOJI));
    // Keep edits under the 2000-character limit like Discord enforces.
    let mut text: String = previous.chars().take(1900).collect();
    text.push_str(&suffix);
    text
}

/// File name, content type and image dimensions of a sample attachment.
pub(crate) type SampleFile = (&'static str, &'static str, Option<(u32, u32)>);

pub(crate) fn attachment_name(rng: &mut StdRng) -> SampleFile {
    const FILES: &[SampleFile] = &[
        ("screenshot.png", "image/png", Some((1920, 1080))),
        ("photo 📷.jpg", "image/jpeg", Some((4032, 3024))),
        ("report-2024.pdf", "application/pdf", None),
        ("logs.txt", "text/plain; charset=utf-8", None),
        ("données.csv", "text/csv", None),
    ];
    FILES[rng.random_range(0..FILES.len())]
}

pub(crate) fn word(rng: &mut StdRng) -> &'static str {
    pick(rng, WORDS)
}
