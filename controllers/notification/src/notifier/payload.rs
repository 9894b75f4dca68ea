//! What each service expects: the method, URL, headers and body of the
//! request for one event, from Flux's notifiers and the services' public
//! API documentation. No IO here; pure but for the random IDs and send time
//! of a Sentry envelope.

use std::collections::BTreeMap;

use hmac::{Hmac, Mac};
use reqwest::Method;
use serde_json::{Value, json};
use sha2::Sha256;

use super::{Config, Error, NOTIFICATION_HEADER};
use crate::event::Event;

/// One HTTP request.
#[derive(Debug, Clone)]
pub struct Request {
    /// The method.
    pub method: Method,
    /// The URL.
    pub url: String,
    /// The headers, in order.
    pub headers: Vec<(String, String)>,
    /// HTTP basic auth.
    pub basic_auth: Option<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

/// A GET whose answer tells whether the delivery is a duplicate (an
/// identical commit status already set), as Flux's Git providers check.
pub struct Lookup {
    /// The request.
    pub request: Request,
    /// True when the answer shows the delivery is not needed.
    pub duplicate: Box<dyn Fn(&Value) -> bool + Send + Sync>,
    /// A 404 answer means "nothing set yet" (Bitbucket answers a missing
    /// status so) rather than a failure.
    pub missing_ok: bool,
}

/// Checks the body of a 2xx answer.
pub type Validate = fn(&[u8]) -> Result<(), Error>;

/// The requests of one delivery.
pub struct Plan {
    /// An optional duplicate check first.
    pub lookup: Option<Lookup>,
    /// The delivery.
    pub request: Request,
    /// Checks a 2xx answer's body (Slack's API answers errors with 200).
    pub validate: Option<Validate>,
    /// Requests sent after the delivery succeeded, in order (PagerDuty's
    /// change event after the alert event).
    pub then: Vec<Request>,
}

impl Request {
    fn json(method: Method, url: impl Into<String>, body: &Value) -> Self {
        Self {
            method,
            url: url.into(),
            headers: vec![("Content-Type".into(), "application/json".into())],
            basic_auth: None,
            body: serde_json::to_vec(body).unwrap_or_default(),
        }
    }

    fn header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        self.headers.push((name.to_string(), value.into()));
        self
    }

    fn bearer(self, token: &str) -> Self {
        if token.is_empty() { self } else { self.header("Authorization", format!("Bearer {token}")) }
    }
}

fn valid_url(address: &str, what: &str) -> Result<url::Url, Error> {
    url::Url::parse(address).map_err(|source| Error::InvalidAddress { address: format!("{what} {address}"), source })
}

/// Refuses a configuration its type cannot deliver with (no address, no token).
pub fn check(config: &Config) -> Result<(), Error> {
    match config.kind.as_str() {
        "telegram" => {
            if config.channel.is_empty() {
                return Err(Error::Invalid("empty Telegram channel".into()));
            }
            if config.token.is_empty() {
                return Err(Error::Invalid("empty Telegram token".into()));
            }
        }
        "generic-hmac" if config.token.is_empty() => {
            return Err(Error::Invalid("HMAC key is empty: set 'token' in the secretRef".into()));
        }
        "matrix" if config.channel.is_empty() => {
            return Err(Error::Invalid("empty Matrix room id (spec.channel)".into()));
        }
        "sentry" => {
            sentry_dsn(&config.address)?;
        }
        "bitbucket" => {
            bitbucket_cloud(config)?;
        }
        "azuredevops" => {
            if config.token.is_empty() {
                return Err(Error::Invalid(
                    "azuredevops token cannot be empty: set 'token' (a personal access token) in the secretRef; managed identity is not supported by Ferry".into(),
                ));
            }
            azure_devops_statuses(&config.address)?;
        }
        "bitbucketserver" => {
            bitbucket_server_commits(&config.address)?;
            if config.token.is_empty() && (config.username.is_empty() || config.password.is_empty()) {
                return Err(Error::Invalid(
                    "invalid credentials, expected to be one of username/password or API Token".into(),
                ));
            }
        }
        "opsgenie" if config.token.is_empty() => {
            return Err(Error::Invalid("empty Opsgenie apikey/token: set 'token' in the secretRef".into()));
        }
        "datadog" if config.token.is_empty() => {
            return Err(Error::Invalid(
                "datadog token cannot be empty: set 'token' (the API key) in the secretRef".into(),
            ));
        }
        "github" | "gitlab" | "gitea" | "githubdispatch" if config.token.is_empty() => {
            return Err(Error::Invalid(format!("{} token cannot be empty: set 'token' in the secretRef", config.kind)));
        }
        "github" | "gitlab" | "gitea" | "githubdispatch" => {
            git_address(&config.address)?;
        }
        _ => {}
    }
    if config.kind != "telegram" {
        if config.address.is_empty() {
            return Err(Error::Invalid("no address: set spec.address or 'address' in the secretRef".into()));
        }
        valid_url(&config.address, "address")?;
    }
    Ok(())
}

/// `kind/name.namespace` in lower case, the title most chat providers use.
fn object_title(event: &Event) -> String {
    format!("{}/{}.{}", event.kind().to_lowercase(), event.name(), event.namespace())
}

fn slack_like(event: &Event, username: &str, channel: &str, good: &str, bad: &str, fallback: bool) -> Value {
    let color = if event.severity == "error" { bad } else { good };
    let fields: Vec<Value> =
        event.metadata.iter().map(|(k, v)| json!({"title": k, "value": v, "short": false})).collect();
    let author = object_title(event);
    let mut attachment = json!({
        "color": color, "author_name": author, "text": event.message,
        "mrkdwn_in": ["text"], "fields": fields,
    });
    attachment["fallback"] = if fallback {
        json!(format!("{author}: {}", event.message.split('\n').next().unwrap_or_default()))
    } else {
        json!("")
    };
    json!({"channel": channel, "username": username, "icon_url": "", "icon_emoji": "", "attachments": [attachment]})
}

/// The requests delivering `event` with `config`, or `None` when the type
/// skips this event (Git providers skip `Progressing`).
pub fn plan(config: &Config, event: &Event) -> Result<Option<Plan>, Error> {
    let simple = |request: Request| Ok(Some(Plan { lookup: None, request, validate: None, then: Vec::new() }));
    let address = config.address.as_str();
    let with_headers = |mut request: Request| {
        for (k, v) in &config.headers {
            request = request.header(k, v.clone());
        }
        request
    };
    match config.kind.as_str() {
        "generic" | "generic-hmac" => {
            let body = serde_json::to_vec(event).unwrap_or_default();
            let mut request = Request {
                method: Method::POST,
                url: address.to_string(),
                headers: vec![("Content-Type".into(), "application/json".into())],
                basic_auth: None,
                body,
            }
            .header(NOTIFICATION_HEADER, event.reporting_controller.clone());
            request = with_headers(request);
            if config.kind == "generic-hmac" {
                let mut mac = <Hmac<Sha256>>::new_from_slice(config.token.as_bytes())
                    .map_err(|_| Error::Invalid("HMAC key is empty".into()))?;
                mac.update(&request.body);
                request = request.header("X-Signature", format!("sha256={}", hex::encode(mac.finalize().into_bytes())));
            }
            simple(request)
        }
        "slack" => {
            let username = if config.username.is_empty() { &event.reporting_controller } else { &config.username };
            let body = slack_like(event, username, &config.channel, "good", "danger", true);
            let request = Request::json(Method::POST, address, &body).bearer(&config.token);
            let validate: Option<Validate> =
                (address == "https://slack.com/api/chat.postMessage").then_some(validate_slack);
            Ok(Some(Plan { lookup: None, request, validate, then: Vec::new() }))
        }
        "discord" => {
            let mut url = valid_url(address, "Discord hook URL")?;
            if !address.ends_with("/slack") {
                let path = format!("{}/slack", url.path().trim_end_matches('/'));
                url.set_path(&path);
            }
            let username = if config.username.is_empty() { &event.reporting_controller } else { &config.username };
            let mut body = slack_like(event, username, "", "good", "danger", false);
            body["channel"] = json!("");
            simple(Request::json(Method::POST, url.as_str(), &body))
        }
        "rocket" => {
            let body = slack_like(event, &config.username, &config.channel, "#0076D7", "#FF0000", false);
            simple(Request::json(Method::POST, address, &body))
        }
        "msteams" => simple(Request::json(Method::POST, address, &msteams(address, event))),
        "googlechat" => {
            let message = if event.severity == "error" {
                format!("<font color=\"#ff0000\">{}</font>", event.message)
            } else {
                event.message.clone()
            };
            let mut sections =
                vec![json!({"header": "", "widgets": [{"textParagraph": {"text": message}, "keyValue": null}]})];
            if !event.metadata.is_empty() {
                let widgets: Vec<Value> = event
                    .metadata
                    .iter()
                    .map(|(k, v)| {
                        json!({"textParagraph": null, "keyValue": {"topLabel": k, "content": v,
                        "contentMultiline": false, "bottomLabel": null, "icon": null}})
                    })
                    .collect();
                sections.push(json!({"header": "", "widgets": widgets}));
            }
            let body = json!({"cards": [{"header": {"title": object_title(event), "subtitle": event.reporting_controller,
                "imageUrl": null, "imageStyle": null}, "sections": sections}]});
            simple(Request::json(Method::POST, address, &body))
        }
        "webex" => {
            let emoji = if event.severity == "error" { "💣" } else { "✅" };
            let mut markdown = format!("{emoji} **{}**\n{}\n", object_title(event), event.message);
            for (k, v) in &event.metadata {
                markdown.push_str(&format!(">**{k}**: {v}\n"));
            }
            let mut body = json!({"markdown": markdown});
            if !config.channel.is_empty() {
                body["roomId"] = json!(config.channel);
            }
            simple(
                Request::json(Method::POST, address, &body).header("Authorization", format!("Bearer {}", config.token)),
            )
        }
        "telegram" => {
            let emoji = if event.severity == "error" { "🚨" } else { "💫" };
            let heading = format!("{emoji} {}/{}/{}", event.kind().to_lowercase(), event.name(), event.namespace());
            let mut metadata = String::new();
            for (k, v) in &event.metadata {
                metadata.push_str(&format!("\\- *{}*: {}\n", telegram_escape(k), telegram_escape(v)));
            }
            let text = format!("*{}*\n{}\n{metadata}", telegram_escape(&heading), telegram_escape(&event.message));
            let (chat, thread) = match config.channel.split_once(':') {
                Some((chat, thread)) => (chat, Some(thread)),
                None => (config.channel.as_str(), None),
            };
            let mut body = json!({"chat_id": chat, "text": text, "parse_mode": "MarkdownV2"});
            if let Some(thread) = thread {
                body["message_thread_id"] = json!(thread);
            }
            // Flux always posts to api.telegram.org; an `address` replaces that base (a Bot API server).
            let base = if address.is_empty() { "https://api.telegram.org" } else { address.trim_end_matches('/') };
            simple(Request::json(Method::POST, format!("{base}/bot{}/sendMessage", config.token), &body))
        }
        "lark" => {
            let (emoji, color) = if event.severity == "error" { ("🚨", "red") } else { ("💫", "turquoise") };
            let mut message = format!("**{}**\n\n", event.message);
            for (k, v) in &event.metadata {
                message.push_str(&format!("{k}: {v}\n"));
            }
            let body = json!({"msg_type": "interactive", "card": {
                "config": {"wide_screen_mode": true},
                "header": {"title": {"tag": "plain_text", "content": format!("{emoji} {}", object_title(event))}, "template": color},
                "elements": [{"tag": "div", "text": {"tag": "lark_md", "content": message}}]}});
            simple(Request::json(Method::POST, address, &body))
        }
        "matrix" => {
            let emoji = if event.severity == "error" { "🚨" } else { "💫" };
            let mut metadata = String::new();
            for (k, v) in &event.metadata {
                metadata.push_str(&format!("- {k}: {v}\n"));
            }
            let body = json!({"body": format!("{emoji} {}\n{}\n{metadata}", object_title(event), event.message), "msgtype": "m.text"});
            let transaction = {
                use sha1::Digest;
                hex::encode(sha1::Sha1::digest(serde_json::to_vec(event).unwrap_or_default()))
            };
            let url = format!(
                "{}/_matrix/client/r0/rooms/{}/send/m.room.message/{transaction}",
                address.trim_end_matches('/'),
                config.channel
            );
            simple(Request::json(Method::PUT, url, &body).header("Authorization", format!("Bearer {}", config.token)))
        }
        "alertmanager" => {
            let mut labels: BTreeMap<String, String> = event.metadata.clone();
            let mut annotations = BTreeMap::from([("message".to_string(), event.message.clone())]);
            if let Some(summary) = labels.remove("summary") {
                annotations.insert("summary".into(), summary);
            }
            labels.insert("alertname".into(), format!("Flux{}{}", event.kind(), title_case(&event.reason)));
            for (k, v) in [
                ("severity", event.severity.as_str()),
                ("reason", event.reason.as_str()),
                ("kind", event.kind()),
                ("name", event.name()),
                ("namespace", event.namespace()),
                ("reportingcontroller", event.reporting_controller.as_str()),
            ] {
                labels.insert(k.into(), v.into());
            }
            let body = json!([{"status": "firing", "labels": labels, "annotations": annotations, "startsAt": event.timestamp}]);
            let mut request = Request::json(Method::POST, address, &body).bearer(&config.token);
            if !config.username.is_empty() && !config.password.is_empty() {
                request.basic_auth = Some((config.username.clone(), config.password.clone()));
            }
            simple(request)
        }
        "grafana" => {
            let mut tags = vec!["flux".to_string(), event.reporting_controller.clone()];
            for (k, v) in &event.metadata {
                tags.push(format!("{}: {}", k.replace(':', "|"), v.replace(':', "|")));
            }
            tags.push(format!("kind: {}", event.kind()));
            tags.push(format!("name: {}", event.name()));
            tags.push(format!("namespace: {}", event.namespace()));
            let body = json!({"when": unix_seconds(event), "text": object_title(event), "tags": tags});
            let mut request = Request::json(Method::POST, address, &body);
            if !config.token.is_empty() {
                request = request.bearer(&config.token);
            } else if !config.username.is_empty() && !config.password.is_empty() {
                request.basic_auth = Some((config.username.clone(), config.password.clone()));
            }
            simple(request)
        }
        "pagerduty" => pagerduty(config, event),
        "sentry" => sentry(config, event).map(Some),
        "opsgenie" => {
            let mut details = event.metadata.clone();
            details.insert("severity".into(), event.severity.clone());
            let body = json!({"message": format!("{}/{}", event.kind(), event.name()),
                "alias": opsgenie_alias(&config.provider_uid, event),
                "description": event.message, "details": details});
            simple(
                Request::json(Method::POST, address, &body)
                    .header("Authorization", format!("GenieKey {}", config.token)),
            )
        }
        "datadog" => {
            let url = valid_url(address, "Datadog address")?;
            let mut tags = vec![
                format!("flux_reporting_controller:{}", event.reporting_controller),
                format!("flux_reason:{}", event.reason),
                format!("kube_kind:{}", event.kind()),
                format!("kube_name:{}", event.name()),
                format!("kube_namespace:{}", event.namespace()),
            ];
            tags.extend(event.metadata.iter().map(|(k, v)| format!("{k}:{v}")));
            let tags: Vec<String> = tags.iter().map(|t| t.to_lowercase()).collect();
            let body = json!({
                "title": format!("Events from the {} {}/{}", event.kind(), event.name(), event.namespace()),
                "text": event.message, "tags": tags, "source_type_name": "fluxcd",
                "date_happened": unix_seconds(event),
                "alert_type": if event.severity == "error" { "error" } else { "info" }});
            simple(
                Request::json(Method::POST, format!("{}/api/v1/events", url.origin().ascii_serialization()), &body)
                    .header("Accept", "application/json")
                    .header("DD-API-KEY", config.token.clone()),
            )
        }
        "github" | "gitlab" | "gitea" => commit_status(config, event),
        "bitbucket" | "bitbucketserver" => bitbucket_status(config, event),
        "azuredevops" => azure_devops_status(config, event),
        "githubdispatch" => {
            let (api, repo) = github_api(&config.address)?;
            let body = json!({"event_type": format!("{}/{}.{}", event.kind(), event.name(), event.namespace()),
                "client_payload": serde_json::to_value(event).unwrap_or_default()});
            simple(
                Request::json(Method::POST, format!("{api}repos/{repo}/dispatches"), &body)
                    .bearer(&config.token)
                    .header("Accept", "application/vnd.github+json"),
            )
        }
        other => Err(Error::Unsupported(other.to_string())),
    }
}

/// The event's time in Unix seconds (0 when it does not parse).
fn unix_seconds(event: &Event) -> i64 {
    k8s_openapi::jiff::Timestamp::strptime("%Y-%m-%dT%H:%M:%S%:z", &event.timestamp)
        .or_else(|_| event.timestamp.parse::<k8s_openapi::jiff::Timestamp>())
        .map(|t| t.as_second())
        .unwrap_or_default()
}

/// PagerDuty Events API v2: an alert event on `<origin>/v2/enqueue` keyed by
/// the object's UID (`trigger` for errors, `resolve` otherwise, so a
/// recovery closes the incident), then for info events a change event on
/// `<origin>/v2/change/enqueue`. The routing key is `spec.channel`.
fn pagerduty(config: &Config, event: &Event) -> Result<Option<Plan>, Error> {
    if event.reason == "Progressing" {
        return Ok(None);
    }
    let origin = valid_url(&config.address, "PagerDuty endpoint URL")?.origin().ascii_serialization();
    let summary = format!("{}: {}/{}", describe(&event.reason), event.kind(), event.name()).to_lowercase();
    let source = format!("Flux {}", event.reporting_controller);
    let details = json!({"message": event.message, "metadata": event.metadata});
    let mut alert = json!({"routing_key": config.channel, "event_action": "resolve"});
    if let Some(uid) = event.involved_object.uid.as_deref().filter(|u| !u.is_empty()) {
        alert["dedup_key"] = json!(uid);
    }
    if event.severity == "error" {
        alert["event_action"] = json!("trigger");
        alert["payload"] = json!({"summary": summary, "source": source, "severity": "error",
            "timestamp": event.timestamp, "component": event.name(), "group": event.kind(),
            "custom_details": details});
    }
    let mut then = Vec::new();
    if event.severity == "info" {
        let change = json!({"routing_key": config.channel, "payload": {"summary": summary, "source": source,
            "timestamp": event.timestamp, "custom_details": details}});
        then.push(Request::json(Method::POST, format!("{origin}/v2/change/enqueue"), &change));
    }
    let request = Request::json(Method::POST, format!("{origin}/v2/enqueue"), &alert);
    Ok(Some(Plan { lookup: None, request, validate: None, then }))
}

/// Bitbucket Cloud's API base and `owner/repo`, and the `user:password` of
/// the token. Flux's client always calls `https://api.bitbucket.org/2.0`;
/// Ferry does so for `bitbucket.org` and uses `<scheme>://<host>/2.0` for any
/// other host (a proxy or a test double).
fn bitbucket_cloud(config: &Config) -> Result<(String, String, (String, String)), Error> {
    if config.token.is_empty() {
        return Err(Error::Invalid("bitbucket token cannot be empty: set 'token' in the secretRef".into()));
    }
    let (host, id) = git_address(&config.address)?;
    let auth = match config.token.split(':').collect::<Vec<_>>()[..] {
        [user, pass] => (user.to_string(), pass.to_string()),
        _ => return Err(Error::Invalid("invalid token format, expected to be <user>:<password>".into())),
    };
    if id.split('/').count() != 2 {
        return Err(Error::Invalid(format!("invalid repository id {id:?}")));
    }
    let api = if host == "https://bitbucket.org" {
        "https://api.bitbucket.org/2.0".to_string()
    } else {
        format!("{host}/2.0")
    };
    Ok((api, id, auth))
}

/// Bitbucket Server's commits API for a clone URL
/// `<scheme>://<host>[<context>]/scm/<project>/<repo>[.git]`:
/// `<scheme>://<host><context>/rest/api/latest/projects/<project>/repos/<repo>/commits`.
fn bitbucket_server_commits(address: &str) -> Result<String, Error> {
    let url = valid_url(address, "git address")?;
    if url.scheme() != "http" && url.scheme() != "https" {
        return Err(Error::Invalid(format!(
            "could not parse git address: unsupported scheme type in address: {}. Must be http or https",
            url.scheme()
        )));
    }
    let path = url.path().trim_end_matches(".git");
    let (context, id) = path.rsplit_once("/scm/").ok_or_else(|| {
        Error::Invalid("could not parse git address: supplied provider address is not http(s) git clone url".into())
    })?;
    let [project, repo] = id.split('/').collect::<Vec<_>>()[..] else {
        return Err(Error::Invalid(format!("could not parse git address: invalid repository id {id:?}")));
    };
    let mut api = url.clone();
    api.set_path(&format!("{context}/rest/api/latest/projects/{project}/repos/{repo}/commits"));
    api.set_query(None);
    Ok(api.as_str().trim_end_matches('/').to_string())
}

/// A Bitbucket build status on the event's revision, keyed by the SHA-1 of
/// the commit status key (Bitbucket keys are at most 40 characters): `GET`
/// the status with that key (a 404 means none yet), skip when state and
/// description (and, on Server, name) are the same, else `POST` it.
fn bitbucket_status(config: &Config, event: &Event) -> Result<Option<Plan>, Error> {
    if event.reason == "Progressing" {
        return Ok(None);
    }
    let revision = event.metadata.get("revision").ok_or_else(|| Error::Invalid("missing revision metadata".into()))?;
    let sha = parse_revision(revision)?;
    let state = match event.severity.as_str() {
        "info" => "SUCCESSFUL",
        "error" => "FAILED",
        _ => return Err(Error::Invalid("can't convert to bitbucket state".into())),
    };
    let description = describe(&event.reason);
    let object = format!("{}/{}", event.kind(), event.name()).to_lowercase();
    let key = {
        use sha1::Digest;
        hex::encode(sha1::Sha1::digest(config.commit_status.as_bytes()))
    };
    let server = config.kind == "bitbucketserver";
    let (lookup, post, name) = if server {
        let builds = format!("{}/{sha}/builds", bitbucket_server_commits(&config.address)?);
        let name = format!("{object} [{description}]");
        let body = json!({"description": description, "key": key, "name": name, "state": state, "url": config.address});
        let auth = |request: Request| {
            let mut request =
                request.header("x-atlassian-token", "no-check").header("x-requested-with", "XMLHttpRequest");
            if config.token.is_empty() {
                request.basic_auth = Some((config.username.clone(), config.password.clone()));
                request
            } else {
                request.bearer(&config.token)
            }
        };
        let lookup = Request::json(Method::GET, format!("{builds}?key={key}"), &Value::Null);
        (auth(lookup), auth(Request::json(Method::POST, builds, &body)), Some(name))
    } else {
        let (api, id, (user, pass)) = bitbucket_cloud(config)?;
        let statuses = format!("{api}/repositories/{id}/commit/{sha}/statuses/build");
        let body = json!({"key": key, "url": "https://bitbucket.org", "state": state, "name": object,
            "description": description});
        let mut lookup = Request::json(Method::GET, format!("{statuses}/{key}"), &Value::Null);
        let mut post = Request::json(Method::POST, statuses, &body);
        lookup.basic_auth = Some((user.clone(), pass.clone()));
        post.basic_auth = Some((user, pass));
        (lookup, post, None)
    };
    let mut lookup = lookup;
    lookup.body.clear();
    lookup.headers.retain(|(n, _)| n != "Content-Type");
    let (st, desc) = (state.to_string(), description);
    let duplicate = Box::new(move |existing: &Value| {
        existing["state"].as_str() == Some(&st)
            && existing["description"].as_str() == Some(&desc)
            && name.as_ref().is_none_or(|name| existing["name"].as_str() == Some(name) && existing["key"] == key)
    });
    Ok(Some(Plan {
        lookup: Some(Lookup { request: lookup, duplicate, missing_ok: true }),
        request: post,
        validate: None,
        then: Vec::new(),
    }))
}

/// The Git API version Flux's Azure DevOps client (azure-devops-go-api v6) asks for.
const AZURE_DEVOPS_API_VERSION: &str = "6.0";

/// The commit statuses route of an Azure DevOps repository address
/// `<host>/<org>/<project>/_git/<repo>`, without the commit:
/// `<host>/<org>/<project>/_apis/git/repositories/<repo>/commits`.
fn azure_devops_statuses(address: &str) -> Result<String, Error> {
    let (host, id) = git_address(address)?;
    let [org, project, _, repo] = id.split('/').collect::<Vec<_>>()[..] else {
        return Err(Error::Invalid(format!("invalid repository id {id:?}")));
    };
    Ok(format!("{host}/{org}/{project}/_apis/git/repositories/{repo}/commits"))
}

/// An Azure DevOps commit status (Git "Statuses" REST API, as Flux's
/// azure-devops-go-api client calls it, minus its route discovery): `GET
/// …/commits/<sha>/statuses` (a `{count, value}` list, newest first); the
/// first with this context decides whether it is a duplicate; else `POST`
/// `{state: succeeded/error, description, context: {genre, name: <key>}}`.
/// The genre is `fluxcd`, or `fluxcd:<summary>` when the event has a
/// summary. A personal access token as basic auth password.
fn azure_devops_status(config: &Config, event: &Event) -> Result<Option<Plan>, Error> {
    if event.reason == "Progressing" {
        return Ok(None);
    }
    let revision = event.metadata.get("revision").ok_or_else(|| Error::Invalid("missing revision metadata".into()))?;
    let sha = parse_revision(revision)?;
    let state = match event.severity.as_str() {
        "info" => "succeeded",
        "error" => "error",
        _ => return Err(Error::Invalid("can't convert to azure devops state".into())),
    };
    let genre = match event.metadata.get("summary") {
        Some(summary) => format!("fluxcd:{summary}"),
        None => "fluxcd".to_string(),
    };
    let description = describe(&event.reason);
    let statuses = format!("{}/{sha}/statuses", azure_devops_statuses(&config.address)?);
    let accept = format!("application/json;api-version={AZURE_DEVOPS_API_VERSION}");
    let body = json!({"state": state, "description": description,
        "context": {"genre": genre, "name": config.commit_status}});
    let with_auth = |mut request: Request| {
        request.basic_auth = Some((String::new(), config.token.clone()));
        request.header("Accept", accept.clone())
    };
    let mut lookup = with_auth(Request::json(Method::GET, statuses.clone(), &Value::Null));
    lookup.body.clear();
    lookup.headers.retain(|(n, _)| n != "Content-Type");
    let request = with_auth(Request::json(Method::POST, statuses, &body));
    let (name, st) = (config.commit_status.clone(), state.to_string());
    let duplicate = Box::new(move |existing: &Value| {
        let list = existing["value"].as_array().map(Vec::as_slice).unwrap_or_default();
        list.iter()
            .filter(|s| s["state"].is_string() && s["description"].is_string())
            .find(|s| s["context"]["name"].as_str() == Some(&name) && s["context"]["genre"].as_str() == Some(&genre))
            .is_some_and(|s| s["state"].as_str() == Some(&st) && s["description"].as_str() == Some(&description))
    });
    Ok(Some(Plan {
        lookup: Some(Lookup { request: lookup, duplicate, missing_ok: false }),
        request,
        validate: None,
        then: Vec::new(),
    }))
}

/// The sentry-go version whose requests Flux sends (its `go.mod`).
const SENTRY_SDK_VERSION: &str = "0.46.2";

/// A Sentry DSN's parts: `<scheme>://<public key>[:<secret>]@<host>[:<port>][/<path>]/<project>`.
struct Dsn {
    /// Where the project's envelopes go: `<origin><path>/api/<project>/envelope/`.
    envelope_url: String,
    public_key: String,
    secret_key: String,
}

fn sentry_dsn(address: &str) -> Result<Dsn, Error> {
    if address.is_empty() {
        return Err(Error::Invalid("DSN cannot be empty: set spec.address or 'address' in the secretRef".into()));
    }
    let url = valid_url(address, "Sentry DSN")?;
    if url.username().is_empty() {
        return Err(Error::Invalid("invalid Sentry DSN: empty username (the public key)".into()));
    }
    let path = url.path().trim_end_matches('/');
    let (prefix, project) = path.rsplit_once('/').unwrap_or(("", path));
    if project.is_empty() {
        return Err(Error::Invalid("invalid Sentry DSN: empty project id".into()));
    }
    Ok(Dsn {
        envelope_url: format!("{}{prefix}/api/{project}/envelope/", url.origin().ascii_serialization()),
        public_key: url.username().to_string(),
        secret_key: url.password().unwrap_or_default().to_string(),
    })
}

/// Sentry, as Flux's sentry-go client sends it: one envelope to the DSN's
/// project, authenticated by `X-Sentry-Auth` with the DSN's public key.
/// Errors are `event` items (level, message, server name = controller,
/// transaction `Kind: namespace/name`, the metadata as a context); info
/// events are `transaction` items with one span tagged with the object.
/// `spec.channel` is the environment.
fn sentry(config: &Config, event: &Event) -> Result<Plan, Error> {
    let dsn = sentry_dsn(&config.address)?;
    let event_id = hex::encode(rand::random::<[u8; 16]>());
    let transaction = format!("{}: {}/{}", event.kind(), event.namespace(), event.name());
    let sdk = json!({"name": "sentry.go", "version": SENTRY_SDK_VERSION});
    let (item_type, mut item) = if event.severity == "error" {
        let item = json!({"event_id": event_id, "level": "error", "message": event.message,
            "server_name": event.reporting_controller, "transaction": transaction,
            "timestamp": event.timestamp, "contexts": {"metadata": event.metadata}});
        ("event", item)
    } else {
        let mut tags = BTreeMap::from([
            ("flux_involved_object_kind".to_string(), event.kind().to_string()),
            ("flux_involved_object_namespace".to_string(), event.namespace().to_string()),
            ("flux_involved_object_name".to_string(), event.name().to_string()),
            ("flux_reporting_controller".to_string(), event.reporting_controller.clone()),
            ("flux_reporting_instance".to_string(), event.reporting_instance.clone()),
            ("flux_reason".to_string(), event.reason.clone()),
        ]);
        tags.extend(event.metadata.clone());
        let trace_id = hex::encode(rand::random::<[u8; 16]>());
        let span_id = hex::encode(rand::random::<[u8; 8]>());
        let span = json!({"trace_id": trace_id, "span_id": span_id, "op": "event", "tags": tags,
            "start_timestamp": event.timestamp, "timestamp": event.timestamp});
        let item = json!({"event_id": event_id, "type": "transaction", "transaction": transaction,
            "message": event.message, "contexts": {"trace": {"trace_id": trace_id, "span_id": span_id, "op": "event"}},
            "tags": tags, "start_timestamp": event.timestamp, "timestamp": event.timestamp, "spans": [span]});
        ("transaction", item)
    };
    item["platform"] = json!("go");
    item["sdk"] = sdk.clone();
    if !config.channel.is_empty() {
        item["environment"] = json!(config.channel);
    }
    let payload = serde_json::to_vec(&item).unwrap_or_default();
    let header = json!({"event_id": event_id, "sent_at": k8s_openapi::jiff::Timestamp::now().to_string(),
        "dsn": config.address, "sdk": sdk});
    let mut body = serde_json::to_vec(&header).unwrap_or_default();
    body.push(b'\n');
    body.extend(serde_json::to_vec(&json!({"type": item_type, "length": payload.len()})).unwrap_or_default());
    body.push(b'\n');
    body.extend(payload);
    body.push(b'\n');
    let client = format!("sentry.go/{SENTRY_SDK_VERSION}");
    let mut auth = format!("Sentry sentry_version=7, sentry_client={client}, sentry_key={}", dsn.public_key);
    if !dsn.secret_key.is_empty() {
        auth.push_str(&format!(", sentry_secret={}", dsn.secret_key));
    }
    let request = Request {
        method: Method::POST,
        url: dsn.envelope_url,
        headers: vec![("Content-Type".into(), "application/x-sentry-envelope".into())],
        basic_auth: None,
        body,
    }
    .header("User-Agent", client)
    .header("X-Sentry-Auth", auth);
    Ok(Plan { lookup: None, request, validate: None, then: Vec::new() })
}

/// Opsgenie's deduplication alias: the SHA-256 (hex) of the Provider UID and
/// the object and reason, so repeats of one alert fold into one and clusters
/// (one Provider each) stay apart.
fn opsgenie_alias(provider_uid: &str, event: &Event) -> String {
    use sha2::Digest;
    let key = format!("{provider_uid}/{}/{}/{}/{}", event.kind(), event.namespace(), event.name(), event.reason);
    hex::encode(Sha256::digest(key.as_bytes()))
}

fn validate_slack(body: &[u8]) -> Result<(), Error> {
    let answer: Value =
        serde_json::from_slice(body).map_err(|e| Error::Refused(format!("unable to unmarshal response body: {e}")))?;
    if answer["ok"].as_bool() == Some(true) {
        Ok(())
    } else {
        Err(Error::Refused(format!("Slack responded with error: {}", answer["error"].as_str().unwrap_or_default())))
    }
}

fn msteams(address: &str, event: &Event) -> Value {
    let title = object_title(event);
    let host = url::Url::parse(address).ok().and_then(|u| u.host_str().map(str::to_string)).unwrap_or_default();
    if host.ends_with(".webhook.office.com") {
        let facts: Vec<Value> = event.metadata.iter().map(|(k, v)| json!({"name": k, "value": v})).collect();
        let color = if event.severity == "error" { "FF0000" } else { "0076D7" };
        return json!({"@type": "MessageCard", "@context": "http://schema.org/extensions", "themeColor": color,
            "summary": title, "sections": [{"activityTitle": event.message, "activitySubtitle": title, "facts": facts}]});
    }
    let mut facts: Vec<Value> = Vec::new();
    if let Some(summary) = event.metadata.get("summary") {
        facts.push(json!({"title": "summary", "value": summary}));
    }
    facts.extend(event.metadata.iter().filter(|(k, _)| *k != "summary").map(|(k, v)| json!({"title": k, "value": v})));
    let mut message = json!({"type": "TextBlock", "text": event.message, "wrap": true});
    if event.severity == "error" {
        message["color"] = json!("attention");
    }
    json!({"type": "message", "attachments": [{"contentType": "application/vnd.microsoft.card.adaptive", "content": {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json", "type": "AdaptiveCard", "version": "1.4",
        "body": [{"type": "Container", "items": [
            {"type": "TextBlock", "text": title, "size": "large", "weight": "bolder", "wrap": true},
            message,
            {"type": "FactSet", "facts": facts}]}],
        "msteams": {"width": "Full"}}}]})
}

fn telegram_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if "\\.-_[]()~>`#+=|{}!*".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn title_case(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars.flat_map(char::to_lowercase)).collect(),
        None => String::new(),
    }
}

/// `https://host` and `owner/repo` of a Git repository address (https or ssh).
pub fn git_address(address: &str) -> Result<(String, String), Error> {
    let (scheme, rest) = if let Some(rest) = address.strip_prefix("ssh://") {
        ("https", rest.split_once('@').map(|(_, r)| r).unwrap_or(rest).to_string())
    } else if let Some((scheme, rest)) = address.split_once("://") {
        (scheme, rest.to_string())
    } else if let Some((user_host, path)) = address.split_once(':') {
        // scp-like `git@host:owner/repo.git`
        ("https", format!("{}/{path}", user_host.split_once('@').map(|(_, h)| h).unwrap_or(user_host)))
    } else {
        return Err(Error::Invalid(format!("failed parsing URL \"{address}\"")));
    };
    let (host, path) = rest
        .split_once('/')
        .ok_or_else(|| Error::Invalid(format!("failed parsing URL \"{address}\": no repository path")))?;
    let host = host.split_once('@').map(|(_, h)| h).unwrap_or(host);
    let id = path.trim_start_matches('/').trim_end_matches('/').trim_end_matches(".git").to_string();
    if id.is_empty() {
        return Err(Error::Invalid(format!("failed parsing URL \"{address}\": no repository path")));
    }
    Ok((format!("{scheme}://{host}"), id))
}

fn github_api(address: &str) -> Result<(String, String), Error> {
    let (host, repo) = git_address(address)?;
    let api =
        if host == "https://github.com" { "https://api.github.com/".to_string() } else { format!("{host}/api/v3/") };
    Ok((api, repo))
}

/// The commit hash of a Flux revision (`main@sha1:<hex>`, `sha256:<hex>`, legacy `main/<hex>`).
pub fn parse_revision(revision: &str) -> Result<String, Error> {
    let tail = revision.rsplit_once('@').map(|(_, t)| t).unwrap_or(revision);
    let hash = tail
        .strip_prefix("sha1:")
        .or_else(|| tail.strip_prefix("sha256:"))
        .unwrap_or_else(|| tail.rsplit_once('/').map(|(_, h)| h).unwrap_or(tail));
    if matches!(hash.len(), 40 | 64) && hash.chars().all(|c| c.is_ascii_hexdigit()) {
        Ok(hash.to_string())
    } else {
        Err(Error::Invalid(format!("failed to extract commit hash from '{revision}' revision")))
    }
}

/// The lower-case, space-separated words of a CamelCase reason.
fn describe(reason: &str) -> String {
    let mut words = String::new();
    for (i, c) in reason.chars().enumerate() {
        if i > 0 && c.is_uppercase() {
            words.push(' ');
        }
        words.extend(c.to_lowercase());
    }
    words
}

fn commit_status(config: &Config, event: &Event) -> Result<Option<Plan>, Error> {
    let progressing = event.reason == "Progressing";
    if progressing && config.kind != "gitea" {
        return Ok(None);
    }
    let revision = event.metadata.get("revision").ok_or_else(|| Error::Invalid("missing revision metadata".into()))?;
    let sha = parse_revision(revision)?;
    let state = match (config.kind.as_str(), event.severity.as_str(), progressing) {
        ("gitea", _, true) => "pending",
        ("gitlab", "info", _) => "success",
        ("gitlab", "error", _) => "failed",
        (_, "info", _) => "success",
        (_, "error", _) => "failure",
        (kind, _, _) => return Err(Error::Invalid(format!("can't convert to {kind} state"))),
    };
    let description = describe(&event.reason);
    let context = config.commit_status.clone();
    let (host, repo) = git_address(&config.address)?;
    let (lookup_request, request) = match config.kind.as_str() {
        "github" => {
            let (api, repo) = github_api(&config.address)?;
            let lookup = Request::json(
                Method::GET,
                format!("{api}repos/{repo}/commits/{sha}/statuses?per_page=50"),
                &Value::Null,
            );
            let body = json!({"state": state, "context": context, "description": description});
            let post = Request::json(Method::POST, format!("{api}repos/{repo}/statuses/{sha}"), &body);
            (lookup.bearer(&config.token), post.bearer(&config.token))
        }
        "gitlab" => {
            let project = url::form_urlencoded::byte_serialize(repo.as_bytes()).collect::<String>();
            let name = url::form_urlencoded::byte_serialize(context.as_bytes()).collect::<String>();
            let lookup = Request::json(
                Method::GET,
                format!("{host}/api/v4/projects/{project}/repository/commits/{sha}/statuses?name={name}"),
                &Value::Null,
            );
            let body = json!({"state": state, "name": context, "description": description});
            let post = Request::json(Method::POST, format!("{host}/api/v4/projects/{project}/statuses/{sha}"), &body);
            (lookup.header("PRIVATE-TOKEN", config.token.clone()), post.header("PRIVATE-TOKEN", config.token.clone()))
        }
        _ => {
            let lookup = Request::json(
                Method::GET,
                format!("{host}/api/v1/repos/{repo}/commits/{sha}/statuses?page=0&limit=50"),
                &Value::Null,
            );
            let body = json!({"state": state, "target_url": "", "description": description, "context": context});
            let post = Request::json(Method::POST, format!("{host}/api/v1/repos/{repo}/statuses/{sha}"), &body);
            let auth = format!("token {}", config.token);
            (lookup.header("Authorization", auth.clone()), post.header("Authorization", auth))
        }
    };
    let mut lookup_request = lookup_request;
    lookup_request.body.clear();
    lookup_request.headers.retain(|(n, _)| n != "Content-Type");
    let (kind, ctx, st, desc) = (config.kind.clone(), context.clone(), state.to_string(), description.clone());
    let duplicate = Box::new(move |existing: &Value| {
        existing.as_array().is_some_and(|statuses| {
            statuses.iter().any(|s| {
                let name = if kind == "gitlab" { &s["name"] } else { &s["context"] };
                let state = if kind == "gitlab" { &s["status"] } else { &s["state"] };
                name.as_str() == Some(&ctx) && state.as_str() == Some(&st) && s["description"].as_str() == Some(&desc)
            })
        })
    });
    Ok(Some(Plan {
        lookup: Some(Lookup { request: lookup_request, duplicate, missing_ok: false }),
        request,
        validate: None,
        then: Vec::new(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn git_addresses_and_revisions_parse_as_flux() {
        assert_eq!(
            git_address("https://github.com/org/repo.git").unwrap(),
            ("https://github.com".into(), "org/repo".into())
        );
        assert_eq!(
            git_address("ssh://git@gitlab.example.com/group/sub/repo").unwrap(),
            ("https://gitlab.example.com".into(), "group/sub/repo".into())
        );
        assert_eq!(
            git_address("git@github.com:org/repo.git").unwrap(),
            ("https://github.com".into(), "org/repo".into())
        );
        let sha = "a".repeat(40);
        assert_eq!(parse_revision(&format!("main@sha1:{sha}")).unwrap(), sha);
        assert_eq!(parse_revision(&format!("main/{sha}")).unwrap(), sha);
        assert!(parse_revision("v1.0.0@sha256:zz").is_err());
        assert_eq!(describe("ReconciliationSucceeded"), "reconciliation succeeded");
        assert_eq!(title_case("ReconciliationFailed"), "Reconciliationfailed");
    }
}
