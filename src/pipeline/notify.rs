//! `[notify]`: the webhooks told when a run publishes or fails.
//!
//! ```toml
//! [notify]
//! on = ["changed", "warned", "failed"]   # the default
//! timeout_secs = 10
//! max_attempts = 4
//!
//! [[notify.webhooks]]
//! url = "${SIAP_SLACK_WEBHOOK}"          # from the environment
//! format = "slack"                       # json (default) | slack | teams
//! on = ["failed"]                        # optional, overrides notify.on
//! ```
//!
//! A webhook URL is a secret (Slack's and Teams' carry their token in the
//! path), so `${VAR}` is expanded only when posting, and a variable that is
//! not set then skips that webhook with a logged error rather than failing
//! the run: a notification never decides whether the tables are published.

use std::time::Duration;

use toml_edit::{Item, TableLike};

use super::doc::{Doc, join_path};

/// What happened to a run, as webhooks subscribe to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Event {
    /// Every published run.
    Published,
    /// A published run in which some product changed status or flags
    /// against the run before it.
    Changed,
    /// A published run with warnings (exit 7).
    Warned,
    /// A run that published nothing.
    Failed,
}

impl Event {
    pub const ALL: [Event; 4] = [
        Event::Published,
        Event::Changed,
        Event::Warned,
        Event::Failed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Event::Published => "published",
            Event::Changed => "changed",
            Event::Warned => "warned",
            Event::Failed => "failed",
        }
    }

    fn parse(s: &str) -> Option<Event> {
        Event::ALL.into_iter().find(|e| e.as_str() == s)
    }
}

/// The body a webhook receives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyFormat {
    /// siap's own JSON document (every field).
    Json,
    /// Slack's incoming-webhook message (`text` in mrkdwn).
    Slack,
    /// A Microsoft Teams (Workflows) message holding an Adaptive Card.
    Teams,
}

impl BodyFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            BodyFormat::Json => "json",
            BodyFormat::Slack => "slack",
            BodyFormat::Teams => "teams",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Webhook {
    /// The URL as written, `${VAR}` unexpanded.
    pub url: String,
    pub format: BodyFormat,
    /// The events posted to it.
    pub on: Vec<Event>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotifyOptions {
    pub webhooks: Vec<Webhook>,
    /// Per attempt.
    pub timeout: Duration,
    pub max_attempts: u32,
}

impl Default for NotifyOptions {
    fn default() -> Self {
        NotifyOptions {
            webhooks: Vec::new(),
            timeout: Duration::from_secs(10),
            max_attempts: 4,
        }
    }
}

const DEFAULT_ON: [Event; 3] = [Event::Changed, Event::Warned, Event::Failed];

/// Reads `[notify]` (absent: no webhooks).
pub fn notify(doc: &mut Doc, root: &dyn TableLike) -> NotifyOptions {
    let mut o = NotifyOptions::default();
    if root.get("notify").is_none() {
        return o;
    }
    let Some(t) = doc.table(root, "", "notify") else {
        return o;
    };
    doc.check_keys(
        t,
        "notify",
        &["on", "timeout_secs", "max_attempts", "webhooks"],
    );
    let on = events(doc, t, "notify").unwrap_or_else(|| DEFAULT_ON.to_vec());
    if let Some(n) = bounded(doc, t, "timeout_secs", 1..=300) {
        o.timeout = Duration::from_secs(n);
    }
    if let Some(n) = bounded(doc, t, "max_attempts", 1..=10) {
        o.max_attempts = n as u32;
    }
    match t.get("webhooks") {
        None => doc.problem(
            Doc::span_of(root, "notify"),
            "`notify` needs at least one `[[notify.webhooks]]` table with a `url`",
        ),
        Some(Item::ArrayOfTables(arr)) => {
            for (i, w) in arr.iter().enumerate() {
                if let Some(w) = webhook(doc, w, &format!("notify.webhooks[{i}]"), &on) {
                    o.webhooks.push(w);
                }
            }
        }
        Some(_) => doc.problem(
            Doc::span_of(t, "webhooks"),
            "`notify.webhooks` must be written as `[[notify.webhooks]]` tables",
        ),
    }
    o
}

fn webhook(doc: &mut Doc, t: &dyn TableLike, path: &str, on: &[Event]) -> Option<Webhook> {
    doc.check_keys(t, path, &["url", "format", "on"]);
    let span = Doc::span_of(t, "url");
    let url = doc.required_string(t, None, path, "url")?;
    let scheme_ok = url.starts_with("https://") || url.starts_with("http://");
    if !(scheme_ok || url.starts_with("${")) {
        doc.problem(span, format!("`{path}.url` must be an http(s) URL"));
        return None;
    }
    let format = match t.get("format") {
        None => BodyFormat::Json,
        Some(_) => match doc.string(t, path, "format")?.as_str() {
            "json" => BodyFormat::Json,
            "slack" => BodyFormat::Slack,
            "teams" => BodyFormat::Teams,
            _ => {
                doc.problem(
                    Doc::span_of(t, "format"),
                    format!("`{path}.format` must be \"json\", \"slack\" or \"teams\""),
                );
                return None;
            }
        },
    };
    let on = events(doc, t, path).unwrap_or_else(|| on.to_vec());
    Some(Webhook { url, format, on })
}

/// `on = [...]`: known event names, at least one.
fn events(doc: &mut Doc, t: &dyn TableLike, path: &str) -> Option<Vec<Event>> {
    t.get("on")?;
    let names = doc.strings(t, path, "on")?;
    let mut out = Vec::new();
    for n in &names {
        match Event::parse(n) {
            Some(e) => out.push(e),
            None => doc.problem(
                Doc::span_of(t, "on"),
                format!(
                    "`{}`: unknown event `{n}`; known: published, changed, warned, failed",
                    join_path(path, "on")
                ),
            ),
        }
    }
    if names.is_empty() {
        doc.problem(
            Doc::span_of(t, "on"),
            format!("`{}` must name at least one event", join_path(path, "on")),
        );
    }
    out.sort();
    out.dedup();
    Some(out)
}

fn bounded(
    doc: &mut Doc,
    t: &dyn TableLike,
    key: &str,
    range: std::ops::RangeInclusive<i64>,
) -> Option<u64> {
    t.get(key)?;
    match doc.integer(t, "notify", key) {
        Some(n) if range.contains(&n) => Some(n as u64),
        Some(_) => {
            doc.problem(
                Doc::span_of(t, key),
                format!(
                    "`notify.{key}` must be between {} and {}",
                    range.start(),
                    range.end()
                ),
            );
            None
        }
        None => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn parse(src: &str) -> (NotifyOptions, Vec<String>) {
        let mut doc = Doc::new(src, Path::new("p.toml"));
        let parsed = toml_edit::Document::parse(src).unwrap();
        let o = notify(&mut doc, parsed.as_table());
        let problems = doc.problems.iter().map(|p| p.message.clone()).collect();
        (o, problems)
    }

    #[test]
    fn reads_webhooks_with_defaults_and_overrides() {
        let (o, problems) = parse(
            "[notify]\nmax_attempts = 2\n[[notify.webhooks]]\nurl = \"${HOOK}\"\nformat = \"slack\"\n[[notify.webhooks]]\nurl = \"http://127.0.0.1:1/x\"\non = [\"failed\", \"published\"]\n",
        );
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(o.max_attempts, 2);
        assert_eq!(o.webhooks[0].format, BodyFormat::Slack);
        assert_eq!(o.webhooks[0].on, DEFAULT_ON.to_vec());
        assert_eq!(o.webhooks[1].on, vec![Event::Published, Event::Failed]);
        assert_eq!(o.webhooks[1].format, BodyFormat::Json);
    }

    #[test]
    fn names_every_mistake() {
        let (_, problems) = parse(
            "[notify]\non = [\"sometimes\"]\nmax_attempts = 0\n[[notify.webhooks]]\nurl = \"ftp://x\"\n[[notify.webhooks]]\nurl = \"https://x\"\nformat = \"email\"\n",
        );
        let all = problems.join("\n");
        assert!(all.contains("unknown event `sometimes`"), "{all}");
        assert!(
            all.contains("`notify.max_attempts` must be between 1 and 10"),
            "{all}"
        );
        assert!(
            all.contains("`notify.webhooks[0].url` must be an http(s) URL"),
            "{all}"
        );
        assert!(all.contains("`notify.webhooks[1].format`"), "{all}");
    }
}
