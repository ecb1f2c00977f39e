//! Checks that need the typed config: ranges and allowed values from the key catalogue, and
//! rules that tie keys together (email needs a host, Slack needs a URL, ...). Every failing
//! check adds a problem; none stops the others.

use std::net::IpAddr;

use serde_json::Value;

use super::Config;
use super::env::override_for_key;
use super::error::ConfigProblem;
use super::keys::{Allowed, KEYS, one_of_hint};
use super::load::Origins;
use crate::actors::alert::config::RouteKind;
use crate::admin::config::parse_network;

pub(crate) fn check(config: &Config, origins: &Origins, problems: &mut Vec<ConfigProblem>) {
    check_catalogue(config, origins, problems);
    check_not_empty(config, origins, problems);
    check_health_check_host(config, origins, problems);
    check_email(config, origins, problems);
    check_slack(config, origins, problems);
    check_routes(config, origins, problems);
    check_allowed_cidrs(config, origins, problems);
    check_discord(config, origins, problems);
    check_llm(config, origins, problems);
}

/// Providers, models, prices and routes. Prices are checked on the effective providers, so a
/// seed-style `fallback_providers` entry without a known price is reported too.
fn check_llm(config: &Config, origins: &Origins, problems: &mut Vec<ConfigProblem>) {
    use crate::actors::llm::config::{PROVIDER_KINDS, split_target};

    let llm = &config.llm;
    for (index, provider) in llm.providers.iter().enumerate() {
        let at = format!("llm.providers[{index}]");
        if provider.name.trim().is_empty() || provider.name.contains('/') {
            problems.push(origins.problem(
                &format!("{at}.name"),
                format!("`{}` is not a usable provider name", provider.name),
                Some("use a short name without `/`, such as gemini or local".to_owned()),
            ));
        } else if llm.providers[..index]
            .iter()
            .any(|earlier| earlier.name == provider.name)
        {
            problems.push(origins.problem(
                &format!("{at}.name"),
                format!("duplicate provider name `{}`", provider.name),
                Some("each provider needs its own name".to_owned()),
            ));
        }
        if let Some(url) = &provider.base_url
            && !is_http_url(url)
        {
            problems.push(origins.problem(
                &format!("{at}.base_url"),
                format!("`{url}` is not an http:// or https:// URL"),
                Some(format!(
                    "default for {}: {}",
                    provider.kind.as_str(),
                    provider.kind.default_base_url()
                )),
            ));
        }
        if !(1..=600).contains(&provider.timeout_secs) {
            problems.push(origins.problem(
                &format!("{at}.timeout_secs"),
                format!("{} is out of range", provider.timeout_secs),
                Some("allowed: 1 to 600".to_owned()),
            ));
        }
        if provider.max_output_tokens == 0 {
            problems.push(origins.problem(
                &format!("{at}.max_output_tokens"),
                "0 is out of range",
                Some("allowed: at least 1".to_owned()),
            ));
        }
        if provider.models.is_empty() {
            problems.push(origins.problem(
                &format!("{at}.models"),
                "a provider needs at least one model",
                Some(format!("kinds: {}", PROVIDER_KINDS.join(", "))),
            ));
        }
        for (model_index, model) in provider.models.iter().enumerate() {
            let model_at = format!("{at}.models[{model_index}]");
            if model.name.trim().is_empty() {
                problems.push(origins.problem(
                    &format!("{model_at}.name"),
                    "model name must not be empty",
                    None,
                ));
            } else if provider.models[..model_index]
                .iter()
                .any(|earlier| earlier.name == model.name)
            {
                problems.push(origins.problem(
                    &format!("{model_at}.name"),
                    format!(
                        "duplicate model `{}` in provider `{}`",
                        model.name, provider.name
                    ),
                    None,
                ));
            }
            let prices = [
                ("input_usd_per_mtok", model.input_usd_per_mtok),
                ("output_usd_per_mtok", model.output_usd_per_mtok),
            ];
            for (name, price) in prices {
                if let Some(price) = price
                    && !(price.is_finite() && price >= 0.0)
                {
                    problems.push(origins.problem(
                        &format!("{model_at}.{name}"),
                        format!("{price} is not a price"),
                        Some("US dollars per million tokens, 0 or more".to_owned()),
                    ));
                }
            }
            if model.context_tokens == Some(0) {
                problems.push(origins.problem(
                    &format!("{model_at}.context_tokens"),
                    "0 is out of range",
                    Some("allowed: at least 1".to_owned()),
                ));
            }
            if !model.name.trim().is_empty() && model.price(provider.kind).is_none() {
                problems.push(
                    origins.problem(
                        &format!("{model_at}.input_usd_per_mtok"),
                        format!("no price known for `{}`", model.name),
                        Some(
                            "set input_usd_per_mtok and output_usd_per_mtok, or the budget cannot \
                         be enforced"
                                .to_owned(),
                        ),
                    ),
                );
            }
        }
    }

    let providers = llm.effective_providers();
    if llm.providers.is_empty() {
        for (index, name) in llm.fallback_providers.iter().enumerate() {
            let unpriced = providers
                .iter()
                .filter_map(|provider| provider.model(name).map(|model| (provider, model)))
                .any(|(provider, model)| model.price(provider.kind).is_none());
            if !name.trim().is_empty() && unpriced {
                problems.push(
                    origins.problem(
                        &format!("llm.fallback_providers[{index}]"),
                        format!("no price known for `{name}`"),
                        Some(
                            "list the model under `llm.providers` with its prices, or the budget \
                         cannot be enforced"
                                .to_owned(),
                        ),
                    ),
                );
            }
        }
    }

    for (route, targets) in llm.routes.named() {
        for (index, target) in targets.iter().enumerate() {
            let at = format!("llm.routes.{route}[{index}]");
            let Some((provider_name, model_name)) = split_target(target) else {
                problems.push(origins.problem(
                    &at,
                    format!("`{target}` is not a `provider/model` target"),
                    Some("write it as gemini/gemini-2.5-flash".to_owned()),
                ));
                continue;
            };
            let names: Vec<&str> = providers.iter().map(|p| p.name.as_str()).collect();
            match providers.iter().find(|p| p.name == provider_name) {
                None => problems.push(origins.problem(
                    &at,
                    format!("unknown provider `{provider_name}`"),
                    Some(one_of_hint(&names, Some(provider_name))),
                )),
                Some(provider) if provider.model(model_name).is_none() => {
                    let models: Vec<&str> =
                        provider.models.iter().map(|m| m.name.as_str()).collect();
                    problems.push(origins.problem(
                        &at,
                        format!("provider `{provider_name}` has no model `{model_name}`"),
                        Some(one_of_hint(&models, Some(model_name))),
                    ));
                }
                Some(_) => {}
            }
        }
    }
}

fn check_discord(config: &Config, origins: &Origins, problems: &mut Vec<ConfigProblem>) {
    let discord = &config.discord;
    if !is_http_url(&discord.api_base_url) {
        problems.push(origins.problem(
            "discord.api_base_url",
            "must be an http:// or https:// URL",
            Some("default: https://discord.com/api/v10".to_owned()),
        ));
    }
    if let Some(url) = &discord.gateway_url
        && !(url.starts_with("wss://") || url.starts_with("ws://"))
    {
        problems.push(origins.problem(
            "discord.gateway_url",
            "must be a ws:// or wss:// URL",
            Some("leave it unset to use the URL Discord returns".to_owned()),
        ));
    }
    let known: Vec<&str> = crate::discord::gateway::intents::NAMED
        .iter()
        .map(|(name, _)| *name)
        .collect();
    for (index, name) in discord.intents.iter().enumerate() {
        if !known.iter().any(|known| known.eq_ignore_ascii_case(name)) {
            problems.push(origins.problem(
                &format!("discord.intents[{index}]"),
                format!("unknown intent `{name}`"),
                Some(one_of_hint(&known, Some(name))),
            ));
        }
    }
    if discord.shard_id >= discord.shard_count {
        problems.push(origins.problem(
            "discord.shard_id",
            format!(
                "shard {} does not exist with shard_count {}",
                discord.shard_id, discord.shard_count
            ),
            Some("shard ids run from 0 to shard_count - 1".to_owned()),
        ));
    }
}

fn is_http_url(url: &str) -> bool {
    ["https://", "http://"].iter().any(|scheme| {
        url.len() > scheme.len()
            && url
                .get(..scheme.len())
                .is_some_and(|prefix| prefix.eq_ignore_ascii_case(scheme))
    })
}

/// Ranges and allowed values, read from the serialized config so the catalogue alone decides.
fn check_catalogue(config: &Config, origins: &Origins, problems: &mut Vec<ConfigProblem>) {
    let Ok(tree) = serde_json::to_value(config) else {
        return;
    };
    for doc in KEYS {
        let Some(value) = doc
            .key
            .split('.')
            .try_fold(&tree, |node, segment| node.get(segment))
        else {
            continue;
        };
        match (doc.allowed, value) {
            (Allowed::Range { .. }, Value::Number(number)) => {
                if let Some(number) = number.as_f64()
                    && !doc.allowed.permits(number)
                {
                    problems.push(origins.problem(
                        doc.key,
                        format!("{value} is out of range"),
                        Some(format!("allowed: {}", doc.allowed)),
                    ));
                }
            }
            (Allowed::OneOf(values), Value::String(text)) if !values.contains(&text.as_str()) => {
                problems.push(origins.problem(
                    doc.key,
                    format!("unknown value `{text}`"),
                    Some(one_of_hint(values, Some(text))),
                ));
            }
            _ => {}
        }
    }
}

fn check_not_empty(config: &Config, origins: &Origins, problems: &mut Vec<ConfigProblem>) {
    let paths = [
        ("database.path", &config.database.path),
        ("database.backup_dir", &config.database.backup_dir),
        ("monitoring.log_dir", &config.monitoring.log_dir),
    ];
    for (key, path) in paths {
        if path.as_os_str().is_empty() {
            problems.push(origins.problem(key, "must not be empty", None));
        }
    }
    for (index, model) in config.llm.fallback_providers.iter().enumerate() {
        if model.trim().is_empty() {
            problems.push(origins.problem(
                &format!("llm.fallback_providers[{index}]"),
                "model name must not be empty",
                None,
            ));
        }
    }
}

fn check_health_check_host(config: &Config, origins: &Origins, problems: &mut Vec<ConfigProblem>) {
    let host = &config.monitoring.health_check_host;
    if host.parse::<IpAddr>().is_err() {
        problems.push(origins.problem(
            "monitoring.health_check_host",
            format!("`{host}` is not an IP address"),
            Some("use 0.0.0.0 (all interfaces), 127.0.0.1 (this machine only) or ::".to_owned()),
        ));
    }
}

fn check_email(config: &Config, origins: &Origins, problems: &mut Vec<ConfigProblem>) {
    let alerts = &config.alerts;
    if alerts.email_enabled {
        let required = [
            ("alerts.email_smtp_host", alerts.email_smtp_host.is_none()),
            ("alerts.email_from", alerts.email_from.is_none()),
            ("alerts.email_to", alerts.email_to.is_empty()),
        ];
        for (key, missing) in required {
            if missing {
                problems.push(origins.problem(
                    key,
                    "required when `alerts.email_enabled` is true",
                    Some(how_to_set(key)),
                ));
            }
        }
    }
    // Checked even while email is off, so turning it on later does not surface old typos.
    let addresses = alerts
        .email_from
        .iter()
        .map(|address| ("alerts.email_from".to_owned(), address))
        .chain(
            alerts
                .email_to
                .iter()
                .enumerate()
                .map(|(index, address)| (format!("alerts.email_to[{index}]"), address)),
        );
    for (key, address) in addresses {
        if !is_plausible_email(address) {
            problems.push(origins.problem(
                &key,
                format!("`{address}` is not an email address"),
                Some("write it as name@example.org".to_owned()),
            ));
        }
    }
}

fn check_slack(config: &Config, origins: &Origins, problems: &mut Vec<ConfigProblem>) {
    let key = "alerts.slack_webhook_url";
    match &config.alerts.slack_webhook_url {
        None if config.alerts.slack_enabled => problems.push(origins.problem(
            key,
            "required when `alerts.slack_enabled` is true",
            Some(how_to_set(key)),
        )),
        // The URL embeds its credential: say what is wrong without echoing it.
        Some(url) if !is_http_url(url.expose()) => problems.push(origins.problem(
            key,
            "is not an http(s) URL",
            Some("expected https://hooks.slack.com/services/...".to_owned()),
        )),
        _ => {}
    }
}

fn check_routes(config: &Config, origins: &Origins, problems: &mut Vec<ConfigProblem>) {
    let alerts = &config.alerts;
    // The flat keys own the names `email` and `slack` when they are enabled.
    let mut names: Vec<&str> = [
        (alerts.email_enabled, "email"),
        (alerts.slack_enabled, "slack"),
    ]
    .into_iter()
    .filter_map(|(enabled, name)| enabled.then_some(name))
    .collect();
    for (index, route) in alerts.routes.iter().enumerate() {
        let prefix = format!("alerts.routes[{index}]");
        let name = route.name.trim();
        if name.is_empty() {
            problems.push(origins.problem(&format!("{prefix}.name"), "must not be empty", None));
        } else if names.contains(&name) {
            problems.push(
                origins.problem(
                    &format!("{prefix}.name"),
                    format!("route name `{name}` is used twice"),
                    Some(
                        "route names are unique; `email` and `slack` belong to the flat keys \
                     when those are enabled"
                            .to_owned(),
                    ),
                ),
            );
        } else {
            names.push(name);
        }
        let kind = route.kind.map_or("", RouteKind::as_str);
        for (key, missing) in route.required_keys() {
            let key_path = format!("{prefix}.{key}");
            // An unknown `kind` was reported (and dropped) while deserializing.
            let reported = problems.iter().any(|problem| problem.key == key_path);
            if missing && !reported {
                let message = if kind.is_empty() {
                    "required: email, slack, webhook or discord_webhook".to_owned()
                } else {
                    format!("required for a `{kind}` route")
                };
                problems.push(origins.problem(&key_path, message, None));
            }
        }
        for key in route.foreign_keys() {
            problems.push(origins.problem(
                &format!("{prefix}.{key}"),
                format!("does not apply to a `{kind}` route"),
                Some("remove it, or set `kind` to the route it belongs to".to_owned()),
            ));
        }
        let urls = [("webhook_url", &route.webhook_url), ("url", &route.url)];
        for (key, url) in urls {
            // The URL may embed its credential: say what is wrong without echoing it.
            if let Some(url) = url
                && !is_http_url(url.expose())
            {
                problems.push(origins.problem(
                    &format!("{prefix}.{key}"),
                    "is not an http(s) URL",
                    None,
                ));
            }
        }
        let addresses = route
            .from
            .iter()
            .map(|address| (format!("{prefix}.from"), address))
            .chain(
                route
                    .to
                    .iter()
                    .enumerate()
                    .map(|(i, address)| (format!("{prefix}.to[{i}]"), address)),
            );
        for (key, address) in addresses {
            if !is_plausible_email(address) {
                problems.push(origins.problem(
                    &key,
                    format!("`{address}` is not an email address"),
                    Some("write it as name@example.org".to_owned()),
                ));
            }
        }
        if let Some(file) = &route.tls_ca_file
            && !file.is_file()
        {
            problems.push(origins.problem(
                &format!("{prefix}.tls_ca_file"),
                format!("{} is not a readable file", file.display()),
                Some("a PEM file with the CA certificate".to_owned()),
            ));
        }
        if route.smtp_port == Some(0) {
            problems.push(origins.problem(
                &format!("{prefix}.smtp_port"),
                "0 is out of range",
                Some("allowed: 1 to 65535".to_owned()),
            ));
        }
        let positive = [
            ("max_per_minute", u64::from(route.max_per_minute)),
            ("timeout_secs", route.timeout_secs),
        ];
        for (key, value) in positive {
            if value == 0 {
                problems.push(origins.problem(
                    &format!("{prefix}.{key}"),
                    "0 is out of range",
                    Some("allowed: at least 1".to_owned()),
                ));
            }
        }
        for header in route.headers.keys() {
            let valid = !header.is_empty()
                && header
                    .bytes()
                    .all(|byte| byte.is_ascii_alphanumeric() || b"-_".contains(&byte));
            if !valid {
                problems.push(origins.problem(
                    &format!("{prefix}.headers"),
                    format!("`{header}` is not a valid header name"),
                    Some("letters, digits, `-` and `_`".to_owned()),
                ));
            }
        }
    }
    if alerts.retry_max_secs < alerts.retry_initial_secs {
        problems.push(origins.problem(
            "alerts.retry_max_secs",
            "must not be below `alerts.retry_initial_secs`",
            None,
        ));
    }
}

fn check_allowed_cidrs(config: &Config, origins: &Origins, problems: &mut Vec<ConfigProblem>) {
    for (index, entry) in config.admin.allowed_cidrs.iter().enumerate() {
        if let Err(err) = parse_network(entry) {
            problems.push(
                origins.problem(
                    &format!("admin.allowed_cidrs[{index}]"),
                    err.to_string(),
                    Some(
                        "write a network such as 10.0.0.0/8 or an address such as 192.168.1.7"
                            .to_owned(),
                    ),
                ),
            );
        }
    }
}

fn how_to_set(key: &str) -> String {
    match override_for_key(key) {
        Some(entry) => format!(
            "set `{key}` in the config file or the environment variable {}",
            entry.var
        ),
        None => format!("set `{key}` in the config file"),
    }
}

/// Deliberately loose: catches a name or a host pasted instead of an address, not RFC 5321.
fn is_plausible_email(address: &str) -> bool {
    match address.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && !domain.is_empty()
                && !domain.contains('@')
                && !address.chars().any(char::is_whitespace)
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn email_plausibility() {
        assert!(is_plausible_email("admin@company.com"));
        assert!(!is_plausible_email("admin"));
        assert!(!is_plausible_email("@company.com"));
        assert!(!is_plausible_email("a@b@c"));
        assert!(!is_plausible_email("a b@c.org"));
    }

    #[test]
    fn webhook_scheme() {
        assert!(is_http_url("https://hooks.slack.com/services/x"));
        assert!(is_http_url("HTTP://internal/hook"));
        assert!(!is_http_url("https://"));
        assert!(!is_http_url("hooks.slack.com/services/x"));
    }
}
