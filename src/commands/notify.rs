//! Webhooks told what a run came to (`[notify]` in the pipeline file): the
//! summary and every product that flipped, with its reason, as siap's own
//! JSON, a Slack message or a Microsoft Teams card.
//!
//! Posting comes after the run is over: it never blocks publishing, never
//! changes the exit code, and a webhook that fails is retried with backoff,
//! then logged. A webhook URL holds its token, so only its scheme and host
//! ever reach a log line.

use std::time::Duration;

use serde_json::{Value, json};

use super::diff::Change;
use super::outcome::Outcome;
use crate::pipeline::notify::{BodyFormat, Event, NotifyOptions, Webhook};
use crate::pipeline::resolve::{EnvProblem, substitute_env};

/// Products listed in a chat message (the JSON body lists up to
/// [`JSON_CHANGES`]); the rest are counted.
const CHAT_CHANGES: usize = 30;
const JSON_CHANGES: usize = 1000;

/// Posts the outcome to every webhook subscribed to one of its events.
/// Runs its own small runtime (no polars work happens here).
pub fn send(options: &NotifyOptions, outcome: &Outcome) {
    let events = outcome.events();
    let due: Vec<(usize, &Webhook)> = options
        .webhooks
        .iter()
        .enumerate()
        .filter(|(_, w)| w.on.iter().any(|e| events.contains(e)))
        .collect();
    if due.is_empty() {
        return;
    }
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(error = %e, "Cannot start the notifier; no webhook was posted.");
            return;
        }
    };
    let client = match reqwest::Client::builder()
        .timeout(options.timeout)
        .user_agent(concat!("siap/", env!("CARGO_PKG_VERSION")))
        // A webhook that redirects is misconfigured: never follow it
        // (and never send the body to another host).
        .redirect(reqwest::redirect::Policy::none())
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "Cannot build the notifier's HTTP client.");
            return;
        }
    };
    runtime.block_on(async {
        let posts = due
            .into_iter()
            .map(|(i, w)| post(&client, options.max_attempts, i, w, outcome, &events));
        futures_util::future::join_all(posts).await;
    });
}

/// One webhook, retried on connection errors, 429 and 5xx.
async fn post(
    client: &reqwest::Client,
    max_attempts: u32,
    index: usize,
    hook: &Webhook,
    outcome: &Outcome,
    events: &[Event],
) {
    let name = format!("notify.webhooks[{index}]");
    let url = match substitute_env(&hook.url) {
        Ok(u) => u,
        Err(EnvProblem::Unset(var)) => {
            tracing::error!(webhook = %name, "Not posted: the environment variable `{var}` in its URL is not set.");
            return;
        }
        Err(EnvProblem::Unclosed) => {
            tracing::error!(webhook = %name, "Not posted: its URL has `${{` without a closing `}}`.");
            return;
        }
    };
    let host = shown_host(&url);
    let body = body(hook.format, outcome, events);
    let mut attempt = 1;
    loop {
        let result = client.post(&url).json(&body).send().await;
        let (retry, why) = match result {
            Ok(r) if r.status().is_success() => {
                tracing::info!(webhook = %name, host = %host, attempts = attempt, "Notified.");
                return;
            }
            Ok(r) => {
                let s = r.status();
                (
                    s.is_server_error() || s == reqwest::StatusCode::TOO_MANY_REQUESTS,
                    format!("HTTP {s}"),
                )
            }
            Err(e) => (true, crate::fetch::http::describe(&e)),
        };
        if !retry || attempt >= max_attempts {
            tracing::error!(webhook = %name, host = %host, attempts = attempt, "Notification failed: {why}; the run's outcome is unchanged.");
            return;
        }
        tokio::time::sleep(backoff(attempt)).await;
        attempt += 1;
    }
}

/// 0.5 s, 1 s, 2 s, … capped at 8 s.
fn backoff(attempt: u32) -> Duration {
    Duration::from_millis((500u64 << (attempt - 1).min(4)).min(8_000))
}

/// `scheme://host[:port]`: all of a webhook URL a log may show.
fn shown_host(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(u) => {
            let port = u.port().map(|p| format!(":{p}")).unwrap_or_default();
            format!("{}://{}{port}", u.scheme(), u.host_str().unwrap_or("?"))
        }
        Err(_) => "(an unparsable URL)".into(),
    }
}

/// The body in the webhook's format.
pub fn body(format: BodyFormat, outcome: &Outcome, events: &[Event]) -> Value {
    match format {
        BodyFormat::Json => json_body(outcome, events),
        BodyFormat::Slack => json!({ "text": slack_text(&message(outcome)) }),
        BodyFormat::Teams => teams_card(&message(outcome)),
    }
}

fn json_body(outcome: &Outcome, events: &[Event]) -> Value {
    let mut v = serde_json::to_value(outcome).unwrap_or_else(|_| json!({}));
    if let Some(o) = v.as_object_mut() {
        o.insert("siap_version".into(), json!(env!("CARGO_PKG_VERSION")));
        o.insert(
            "events".into(),
            json!(events.iter().map(|e| e.as_str()).collect::<Vec<_>>()),
        );
        if let Some(c) = &outcome.changes {
            o.insert("previous_run".into(), json!(c.previous));
            o.insert("changes_total".into(), json!(c.list.len()));
            o.insert(
                "changes".into(),
                json!(c.list.iter().take(JSON_CHANGES).collect::<Vec<_>>()),
            );
        }
    }
    v
}

/// A chat message: a title line and plain lines (rendered per format).
struct Message {
    title: String,
    lines: Vec<String>,
}

fn message(o: &Outcome) -> Message {
    let campaign = o.campaign.as_deref().unwrap_or(&o.pipeline);
    let date = o.run_date.as_deref().unwrap_or("?");
    let Some(p) = &o.published else {
        let mut lines = vec![format!(
            "{} (exit {}). Nothing was published; the previous tables are untouched.",
            o.error.as_deref().unwrap_or("the run failed"),
            o.exit_code
        )];
        lines.extend(o.failed_sources.iter().map(|s| format!("• {s}")));
        return Message {
            title: format!("{campaign}: the run for {date} FAILED"),
            lines,
        };
    };
    let mut lines = vec![format!(
        "{} READY, {} NOT_READY of {} products; {} rejected row(s) in exceptions.",
        p.ready, p.not_ready, p.products, p.rejected
    )];
    lines.extend(o.warnings.iter().map(|w| format!("Warning: {w}")));
    match &o.changes {
        None => lines.push("First run: nothing to compare with.".into()),
        Some(c) if c.list.is_empty() => {
            lines.push(format!("No product changed since {}.", c.previous))
        }
        Some(c) => {
            lines.push(format!(
                "{} product(s) changed since {}:",
                c.list.len(),
                c.previous
            ));
            lines.extend(c.list.iter().take(CHAT_CHANGES).map(change_line));
            if c.list.len() > CHAT_CHANGES {
                lines.push(format!(
                    "… and {} more (siap diff lists them all).",
                    c.list.len() - CHAT_CHANGES
                ));
            }
        }
    }
    lines.push(format!("Tables: {}", p.latest));
    let verb = if o.warnings.is_empty() {
        "published"
    } else {
        "published with warnings"
    };
    Message {
        title: format!("{campaign}: the run for {date} {verb}"),
        lines,
    }
}

fn change_line(c: &Change) -> String {
    let status = |(a, b): &(String, String)| {
        let a = if a.is_empty() { "new" } else { a };
        let b = if b.is_empty() { "gone" } else { b };
        if a == b {
            a.to_string()
        } else {
            format!("{a} → {b}")
        }
    };
    let mut line = format!(
        "• {} {}: {}",
        c.product_id,
        c.product_name,
        status(&c.status)
    );
    if !c.reason.is_empty() {
        line.push_str(&format!(" ({})", c.reason));
    }
    line
}

/// Slack's mrkdwn: `&`, `<` and `>` escaped, the title in bold.
fn slack_text(m: &Message) -> String {
    let esc = |s: &str| {
        s.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
    };
    let mut text = format!("*{}*", esc(&m.title));
    for l in &m.lines {
        text.push('\n');
        text.push_str(&esc(l));
    }
    text
}

/// A Teams message (Workflows' "post to a channel when a webhook request
/// is received"): one Adaptive Card.
fn teams_card(m: &Message) -> Value {
    let mut body = vec![json!({
        "type": "TextBlock", "size": "Medium", "weight": "Bolder",
        "text": m.title, "wrap": true
    })];
    body.extend(
        m.lines
            .iter()
            .map(|l| json!({ "type": "TextBlock", "text": l, "wrap": true, "spacing": "Small" })),
    );
    json!({
        "type": "message",
        "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "contentUrl": null,
            "content": {
                "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                "type": "AdaptiveCard",
                "version": "1.4",
                "body": body
            }
        }]
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_is_capped() {
        let ms: Vec<u128> = (1..=7).map(|a| backoff(a).as_millis()).collect();
        assert_eq!(ms, [500, 1000, 2000, 4000, 8000, 8000, 8000]);
    }

    #[test]
    fn only_scheme_and_host_are_shown() {
        assert_eq!(
            shown_host("https://hooks.slack.com/services/T000/B000/SECRET"),
            "https://hooks.slack.com"
        );
        assert_eq!(
            shown_host("http://user:pw@127.0.0.1:8080/hook?token=x"),
            "http://127.0.0.1:8080"
        );
    }

    #[test]
    fn slack_text_escapes_its_control_characters() {
        let m = Message {
            title: "A & B".into(),
            lines: vec!["<b>".into()],
        };
        assert_eq!(slack_text(&m), "*A &amp; B*\n&lt;b&gt;");
    }
}
