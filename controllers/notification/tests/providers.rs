//! Each provider against a loopback service that checks the request as the
//! real service does (method, path, auth, content type, JSON shape) and
//! refuses anything else, so a delivery that succeeds is one the service
//! would have taken. No cluster needed: the notifier is driven directly.

mod support;

use std::time::Duration;

use axum::http::{Method, StatusCode};
use ferry_api_notification::ProviderSpec;
use ferry_notification_controller::event::Event;
use ferry_notification_controller::notifier::{self, Config, Notifier, Retry, Secrets};
use hmac::Mac;
use serde_json::{Value, json};
use support::{Seen, Service, ok, refuse};

const SHA: &str = "0123456789abcdef0123456789abcdef01234567";

fn event(severity: &str) -> Event {
    serde_json::from_value(json!({
        "involvedObject": {"kind": "Kustomization", "name": "apps", "namespace": "flux-system",
                           "apiVersion": "kustomize.toolkit.fluxcd.io/v1", "uid": "1234"},
        "severity": severity, "timestamp": "2026-12-02T10:00:00Z",
        "message": "Applied revision: main@sha1:0123", "reason": "ReconciliationSucceeded",
        "reportingController": "kustomize-controller",
        "metadata": {"revision": format!("main@sha1:{SHA}"), "summary": "prod cluster"}
    }))
    .unwrap()
}

fn spec(kind: &str, address: &str) -> ProviderSpec {
    ProviderSpec { type_: kind.into(), address: Some(address.into()), ..ProviderSpec::default() }
}

fn secret(pairs: &[(&str, &str)]) -> Secrets {
    Secrets {
        secret: Some(pairs.iter().map(|(k, v)| (k.to_string(), v.as_bytes().to_vec())).collect()),
        ..Secrets::default()
    }
}

fn fast() -> Retry {
    Retry { max: 4, wait_min: Duration::from_millis(10), wait_max: Duration::from_millis(50) }
}

async fn deliver(spec: &ProviderSpec, secrets: &Secrets, event: &Event) -> Result<(), notifier::Error> {
    let mut config = Config::new(spec, secrets)?;
    config.commit_status = notifier::default_commit_status("6f1c1b7e-0000-4000-8000-000000000000", event);
    Notifier::new(config)?.with_retry(fast()).post(event).await
}

fn is_json(seen: &Seen) -> bool {
    seen.header("content-type").starts_with("application/json") && serde_json::from_slice::<Value>(&seen.body).is_ok()
}

#[tokio::test]
async fn generic_posts_the_flux_event_with_its_headers() {
    let service = Service::start(|s| {
        if s.method != Method::POST || !is_json(s) || s.header("gotk-component") != "kustomize-controller" {
            return refuse(StatusCode::BAD_REQUEST, "not a Flux event");
        }
        ok()
    })
    .await;
    let secrets = secret(&[("headers", "X-Team: platform\nAuthorization: Bearer abc\n")]);
    deliver(&spec("generic", &service.url("/hook")), &secrets, &event("info")).await.unwrap();
    let seen = &service.seen()[0];
    assert_eq!(seen.path, "/hook");
    assert_eq!(seen.header("x-team"), "platform");
    assert_eq!(seen.header("authorization"), "Bearer abc");
    let body = seen.json();
    assert_eq!(body["involvedObject"]["kind"], "Kustomization");
    assert_eq!(body["metadata"]["summary"], "prod cluster");
    assert_eq!(body["reportingController"], "kustomize-controller");
}

#[tokio::test]
async fn generic_hmac_signs_the_body_the_receiver_gets() {
    let service = Service::start(|s| {
        let Some(hex_sig) = s.header("x-signature").strip_prefix("sha256=") else {
            return refuse(StatusCode::UNAUTHORIZED, "no signature");
        };
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(b"hmac-key").unwrap();
        mac.update(&s.body);
        match mac.verify_slice(&hex::decode(hex_sig).unwrap_or_default()) {
            Ok(()) => ok(),
            Err(_) => refuse(StatusCode::UNAUTHORIZED, "bad signature"),
        }
    })
    .await;
    let spec = spec("generic-hmac", &service.url("/"));
    deliver(&spec, &secret(&[("token", "hmac-key")]), &event("info")).await.unwrap();
    assert_eq!(service.seen().len(), 1);
    let wrong = deliver(&spec, &secret(&[("token", "other")]), &event("info")).await.unwrap_err();
    assert!(matches!(wrong, notifier::Error::Status { status: 401, .. }), "{wrong}");
    // An HMAC provider without a key is refused before anything is sent.
    assert!(Config::new(&spec, &Secrets::default()).is_err());
}

#[tokio::test]
async fn slack_sends_an_attachment_with_channel_and_bearer_token() {
    let service = Service::start(|s| {
        let body = s.json();
        if s.header("authorization") != "Bearer xoxb-1" {
            return (StatusCode::OK, r#"{"ok":false,"error":"not_authed"}"#.into());
        }
        let attachment = &body["attachments"][0];
        if body["channel"] != "#ops" || attachment["color"] != "danger" || !attachment["text"].is_string() {
            return (StatusCode::OK, r#"{"ok":false,"error":"invalid_attachments"}"#.into());
        }
        (StatusCode::OK, r#"{"ok":true}"#.into())
    })
    .await;
    let mut spec = spec("slack", &service.url("/api/chat.postMessage"));
    spec.channel = Some("#ops".into());
    deliver(&spec, &secret(&[("token", "xoxb-1")]), &event("error")).await.unwrap();
    let body = service.seen()[0].json();
    assert_eq!(body["username"], "kustomize-controller");
    assert_eq!(body["attachments"][0]["author_name"], "kustomization/apps.flux-system");
    assert_eq!(body["attachments"][0]["fields"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn discord_rocket_teams_googlechat_lark_webex() {
    let service = Service::start(|s| {
        let body = s.json();
        let valid = match s.path.as_str() {
            // Discord's Slack-compatible endpoint.
            "/api/webhooks/1/tok/slack" => body["attachments"].is_array(),
            "/rocket" => body["attachments"][0]["color"] == "#0076D7",
            // Teams workflows take an Adaptive Card message.
            "/teams" => {
                body["type"] == "message"
                    && body["attachments"][0]["contentType"] == "application/vnd.microsoft.card.adaptive"
                    && body["attachments"][0]["content"]["type"] == "AdaptiveCard"
            }
            "/chat" => body["cards"][0]["header"]["title"] == "kustomization/apps.flux-system",
            "/lark" => body["msg_type"] == "interactive" && body["card"]["elements"].is_array(),
            "/webex" => {
                s.header("authorization") == "Bearer wx" && body["roomId"] == "room" && body["markdown"].is_string()
            }
            _ => false,
        };
        if is_json(s) && valid { ok() } else { refuse(StatusCode::BAD_REQUEST, "invalid payload") }
    })
    .await;
    let none = Secrets::default();
    deliver(&spec("discord", &service.url("/api/webhooks/1/tok")), &none, &event("info")).await.unwrap();
    deliver(&spec("rocket", &service.url("/rocket")), &none, &event("info")).await.unwrap();
    deliver(&spec("msteams", &service.url("/teams")), &none, &event("info")).await.unwrap();
    deliver(&spec("googlechat", &service.url("/chat")), &none, &event("error")).await.unwrap();
    deliver(&spec("lark", &service.url("/lark")), &none, &event("info")).await.unwrap();
    let mut webex = spec("webex", &service.url("/webex"));
    webex.channel = Some("room".into());
    deliver(&webex, &secret(&[("token", "wx")]), &event("info")).await.unwrap();
    assert_eq!(service.seen().len(), 6);
}

#[tokio::test]
async fn telegram_and_matrix_use_their_apis() {
    let service = Service::start(|s| {
        let body = s.json();
        if s.path == "/botT0K/sendMessage" && s.method == Method::POST {
            if body["chat_id"] == "-100" && body["message_thread_id"] == "7" && body["parse_mode"] == "MarkdownV2" {
                return (StatusCode::OK, r#"{"ok":true,"result":{}}"#.into());
            }
            return refuse(StatusCode::BAD_REQUEST, "Bad Request: chat not found");
        }
        if s.path.starts_with("/_matrix/client/r0/rooms/!room:example.org/send/m.room.message/")
            && s.method == Method::PUT
            && s.header("authorization") == "Bearer mx"
            && body["msgtype"] == "m.text"
        {
            return (StatusCode::OK, r#"{"event_id":"$1"}"#.into());
        }
        refuse(StatusCode::NOT_FOUND, "unrecognised")
    })
    .await;
    let mut telegram = spec("telegram", &service.url(""));
    telegram.channel = Some("-100:7".into());
    deliver(&telegram, &secret(&[("token", "T0K")]), &event("info")).await.unwrap();
    let text = service.seen()[0].json()["text"].as_str().unwrap().to_string();
    assert!(text.contains("kustomization/apps/flux\\-system"), "{text}");
    let mut matrix = spec("matrix", &service.url(""));
    matrix.channel = Some("!room:example.org".into());
    deliver(&matrix, &secret(&[("token", "mx")]), &event("info")).await.unwrap();
    assert_eq!(service.seen().len(), 2);
}

#[tokio::test]
async fn alertmanager_and_grafana() {
    let service = Service::start(|s| {
        let body = s.json();
        match s.path.as_str() {
            "/api/v2/alerts" => {
                let alert = &body[0];
                if alert["labels"]["alertname"] == "FluxKustomizationReconciliationsucceeded"
                    && alert["annotations"]["summary"] == "prod cluster"
                    && alert["status"] == "firing"
                    && alert["startsAt"] == "2026-12-02T10:00:00Z"
                {
                    ok()
                } else {
                    refuse(StatusCode::BAD_REQUEST, "invalid alerts")
                }
            }
            "/api/annotations/graphite" => {
                if s.header("authorization") == "Bearer gr"
                    && body["when"] == 1_796_205_600
                    && body["tags"][0] == "flux"
                {
                    ok()
                } else {
                    refuse(StatusCode::UNAUTHORIZED, "Unauthorized")
                }
            }
            _ => refuse(StatusCode::NOT_FOUND, "not found"),
        }
    })
    .await;
    deliver(&spec("alertmanager", &service.url("/api/v2/alerts")), &Secrets::default(), &event("info")).await.unwrap();
    let grafana = spec("grafana", &service.url("/api/annotations/graphite"));
    deliver(&grafana, &secret(&[("token", "gr")]), &event("info")).await.unwrap();
}

#[tokio::test]
async fn github_sets_a_commit_status_once() {
    let service = Service::start(|s| {
        if s.header("authorization") != "Bearer ghp" {
            return refuse(StatusCode::UNAUTHORIZED, "Bad credentials");
        }
        match (s.method.clone(), s.path.as_str()) {
            (Method::GET, p) if p == format!("/api/v3/repos/org/app/commits/{SHA}/statuses") => {
                (StatusCode::OK, "[]".into())
            }
            (Method::POST, p) if p == format!("/api/v3/repos/org/app/statuses/{SHA}") => {
                let body = s.json();
                let states = ["error", "failure", "pending", "success"];
                if states.contains(&body["state"].as_str().unwrap_or_default()) && body["context"].is_string() {
                    (StatusCode::CREATED, "{}".into())
                } else {
                    refuse(StatusCode::UNPROCESSABLE_ENTITY, "Validation Failed")
                }
            }
            _ => refuse(StatusCode::NOT_FOUND, "Not Found"),
        }
    })
    .await;
    let spec = spec("github", &service.url("/org/app.git"));
    deliver(&spec, &secret(&[("token", "ghp")]), &event("error")).await.unwrap();
    let seen = service.seen();
    assert_eq!(seen.len(), 2);
    let status = seen[1].json();
    assert_eq!(status["state"], "failure");
    assert_eq!(status["context"], "kustomization/apps/6f1c1b7e");
    assert_eq!(status["description"], "reconciliation succeeded");
    // Progressing events set no status.
    let mut progressing = event("info");
    progressing.reason = "Progressing".into();
    deliver(&spec, &secret(&[("token", "ghp")]), &progressing).await.unwrap();
    assert_eq!(service.seen().len(), 2);
}

#[tokio::test]
async fn gitlab_gitea_and_github_dispatch() {
    let service = Service::start(|s| {
        let body = s.json();
        let project = format!("/api/v4/projects/group%2Fapp/statuses/{SHA}");
        let gitea = format!("/api/v1/repos/org/app/statuses/{SHA}");
        match (s.method.clone(), s.path.as_str()) {
            (Method::GET, _) => (StatusCode::OK, "[]".into()),
            (Method::POST, p) if p == project => {
                if s.header("private-token") == "glpat" && body["state"] == "success" && body["name"].is_string() {
                    (StatusCode::CREATED, "{}".into())
                } else {
                    refuse(StatusCode::BAD_REQUEST, "state is invalid")
                }
            }
            (Method::POST, p) if p == gitea => {
                if s.header("authorization") == "token gt" && body["state"] == "success" && body["context"].is_string()
                {
                    (StatusCode::CREATED, "{}".into())
                } else {
                    refuse(StatusCode::UNAUTHORIZED, "token is required")
                }
            }
            (Method::POST, "/api/v3/repos/org/app/dispatches") => {
                if s.header("authorization") == "Bearer ghp"
                    && body["event_type"] == "Kustomization/apps.flux-system"
                    && body["client_payload"]["involvedObject"]["name"] == "apps"
                {
                    (StatusCode::NO_CONTENT, String::new())
                } else {
                    refuse(StatusCode::UNPROCESSABLE_ENTITY, "Invalid request")
                }
            }
            _ => refuse(StatusCode::NOT_FOUND, "Not Found"),
        }
    })
    .await;
    let (info, token) = (event("info"), |t: &str| secret(&[("token", t)]));
    deliver(&spec("gitlab", &service.url("/group/app")), &token("glpat"), &info).await.unwrap();
    deliver(&spec("gitea", &service.url("/org/app")), &token("gt"), &info).await.unwrap();
    deliver(&spec("githubdispatch", &service.url("/org/app")), &token("ghp"), &info).await.unwrap();
    assert!(service.seen().iter().filter(|s| s.method == Method::POST).count() == 3);
}

/// PagerDuty Events API v2 (developer.pagerduty.com, "Send an Alert Event" and
/// "Send a Change Event"): JSON POSTs authenticated by the 32-character
/// `routing_key` in the body; an alert needs `event_action` and, to trigger,
/// `payload.summary`, `payload.source` and a known `payload.severity`; a change
/// event needs `payload.summary`. Both answer 202.
#[tokio::test]
async fn pagerduty_triggers_on_errors_and_resolves_with_a_change_event() {
    const KEY: &str = "R0UT1NGKEY0123456789abcdefabcdef";
    let service = Service::start(|s| {
        let body = s.json();
        if s.method != Method::POST || !is_json(s) {
            return refuse(StatusCode::BAD_REQUEST, "invalid event");
        }
        if body["routing_key"] != KEY {
            return refuse(StatusCode::BAD_REQUEST, "invalid event");
        }
        let payload = &body["payload"];
        let valid = match s.path.as_str() {
            "/v2/enqueue" => match body["event_action"].as_str() {
                Some("trigger") => {
                    payload["summary"].is_string()
                        && payload["source"].is_string()
                        && ["critical", "error", "warning", "info"]
                            .contains(&payload["severity"].as_str().unwrap_or(""))
                }
                Some("resolve" | "acknowledge") => body["dedup_key"].is_string(),
                _ => false,
            },
            "/v2/change/enqueue" => payload["summary"].is_string(),
            _ => return refuse(StatusCode::NOT_FOUND, "not found"),
        };
        if valid {
            (StatusCode::ACCEPTED, r#"{"status":"success","message":"Event processed"}"#.into())
        } else {
            refuse(StatusCode::BAD_REQUEST, "invalid event")
        }
    })
    .await;
    // The path of the address is dropped, as Flux: only scheme and host count.
    let mut spec = spec("pagerduty", &service.url("/ignored"));
    spec.channel = Some(KEY.into());
    deliver(&spec, &Secrets::default(), &event("error")).await.unwrap();
    let seen = service.seen();
    assert_eq!(seen.len(), 1, "errors send one alert event");
    let alert = seen[0].json();
    assert_eq!(alert["event_action"], "trigger");
    assert_eq!(alert["dedup_key"], "1234");
    assert_eq!(alert["payload"]["summary"], "reconciliation succeeded: kustomization/apps");
    assert_eq!(alert["payload"]["source"], "Flux kustomize-controller");
    assert_eq!(alert["payload"]["severity"], "error");
    assert_eq!(alert["payload"]["component"], "apps");
    assert_eq!(alert["payload"]["group"], "Kustomization");
    assert_eq!(alert["payload"]["timestamp"], "2026-12-02T10:00:00Z");
    assert_eq!(alert["payload"]["custom_details"]["metadata"]["summary"], "prod cluster");

    deliver(&spec, &Secrets::default(), &event("info")).await.unwrap();
    let seen = service.seen();
    assert_eq!(seen.len(), 3, "info sends a resolve and a change event");
    let resolve = seen[1].json();
    assert_eq!((seen[1].path.as_str(), resolve["event_action"].as_str()), ("/v2/enqueue", Some("resolve")));
    assert!(resolve.get("payload").is_none());
    assert_eq!(seen[2].path, "/v2/change/enqueue");
    assert_eq!(seen[2].json()["payload"]["custom_details"]["message"], "Applied revision: main@sha1:0123");

    // Progressing events are not sent.
    let mut progressing = event("info");
    progressing.reason = "Progressing".into();
    deliver(&spec, &Secrets::default(), &progressing).await.unwrap();
    assert_eq!(service.seen().len(), 3);
    // A wrong routing key is the service's 400, not retried.
    spec.channel = Some("wrong".into());
    let error = deliver(&spec, &Secrets::default(), &event("error")).await.unwrap_err();
    assert!(matches!(error, notifier::Error::Status { status: 400, .. }), "{error}");
}

/// Opsgenie Alert API (docs.opsgenie.com, "Create Alert"): `POST /v2/alerts`
/// with `Authorization: GenieKey <apiKey>`, JSON with a required `message`
/// (at most 130 characters), optional `alias` (at most 512), `description`
/// and `details` as string pairs; answers 202.
#[tokio::test]
async fn opsgenie_creates_an_alert_with_a_stable_alias() {
    let service = Service::start(|s| {
        if s.method != Method::POST || s.path != "/v2/alerts" {
            return refuse(StatusCode::NOT_FOUND, "not found");
        }
        if s.header("authorization") != "GenieKey og-key" {
            return refuse(StatusCode::UNPROCESSABLE_ENTITY, "Key format is not valid!");
        }
        let body = s.json();
        let message = body["message"].as_str().unwrap_or_default();
        let details_are_strings = body["details"].as_object().is_some_and(|d| d.values().all(Value::is_string));
        if !is_json(s)
            || message.is_empty()
            || message.len() > 130
            || body["alias"].as_str().is_some_and(|a| a.len() > 512)
            || !details_are_strings
        {
            return refuse(StatusCode::UNPROCESSABLE_ENTITY, "Request body is not processable");
        }
        (StatusCode::ACCEPTED, r#"{"result":"Request will be processed","requestId":"1"}"#.into())
    })
    .await;
    let spec = spec("opsgenie", &service.url("/v2/alerts"));
    let key = secret(&[("token", "og-key")]);
    deliver(&spec, &key, &event("error")).await.unwrap();
    deliver(&spec, &key, &event("error")).await.unwrap();
    let seen = service.seen();
    let (first, second) = (seen[0].json(), seen[1].json());
    assert_eq!(first["message"], "Kustomization/apps");
    assert_eq!(first["description"], "Applied revision: main@sha1:0123");
    assert_eq!(first["details"]["severity"], "error");
    assert_eq!(first["details"]["summary"], "prod cluster");
    // The alias: sha256("<provider uid>/Kustomization/flux-system/apps/ReconciliationSucceeded"),
    // the same for repeats (the test's provider UID is empty).
    use sha2::Digest;
    let expected = hex::encode(sha2::Sha256::digest(b"/Kustomization/flux-system/apps/ReconciliationSucceeded"));
    assert_eq!(first["alias"], expected);
    assert_eq!(first["alias"], second["alias"]);
    let wrong = deliver(&spec, &secret(&[("token", "other")]), &event("error")).await.unwrap_err();
    assert!(matches!(wrong, notifier::Error::Status { status: 422, .. }), "{wrong}");
    // No API key, no provider.
    assert!(Config::new(&spec, &Secrets::default()).is_err());
}

/// Datadog Events API v1 (docs.datadoghq.com, "Post an event"): `POST
/// /api/v1/events` with the API key in `DD-API-KEY`, JSON with required
/// `title` and `text`, `tags`, `alert_type` (error, warning, info, success, …),
/// `date_happened` in Unix seconds; answers 202 with `status: ok`.
#[tokio::test]
async fn datadog_posts_an_event_with_the_api_key() {
    let service = Service::start(|s| {
        if s.method != Method::POST || s.path != "/api/v1/events" {
            return refuse(StatusCode::NOT_FOUND, "Not found");
        }
        if s.header("dd-api-key") != "dd-key" {
            return refuse(StatusCode::FORBIDDEN, "Forbidden");
        }
        let body = s.json();
        let alert_types = ["error", "warning", "info", "success", "user_update", "recommendation", "snapshot"];
        if !is_json(s)
            || !body["title"].is_string()
            || !body["text"].is_string()
            || !body["tags"].as_array().is_some_and(|t| t.iter().all(Value::is_string))
            || !alert_types.contains(&body["alert_type"].as_str().unwrap_or_default())
            || !body["date_happened"].is_i64()
        {
            return refuse(StatusCode::BAD_REQUEST, "Invalid event");
        }
        (StatusCode::ACCEPTED, r#"{"status":"ok","event":{}}"#.into())
    })
    .await;
    let spec = spec("datadog", &service.url(""));
    deliver(&spec, &secret(&[("token", "dd-key")]), &event("error")).await.unwrap();
    let body = service.seen()[0].json();
    assert_eq!(body["title"], "Events from the Kustomization apps/flux-system");
    assert_eq!(body["alert_type"], "error");
    assert_eq!(body["source_type_name"], "fluxcd");
    assert_eq!(body["date_happened"], 1_796_205_600);
    let tags: Vec<&str> = body["tags"].as_array().unwrap().iter().map(|t| t.as_str().unwrap()).collect();
    assert!(tags.contains(&"kube_kind:kustomization"), "{tags:?}");
    assert!(tags.contains(&"flux_reason:reconciliationsucceeded"), "{tags:?}");
    assert!(tags.contains(&"summary:prod cluster"), "{tags:?}");
    let wrong = deliver(&spec, &secret(&[("token", "nope")]), &event("info")).await.unwrap_err();
    assert!(matches!(wrong, notifier::Error::Status { status: 403, .. }), "{wrong}");
    assert!(Config::new(&spec, &Secrets::default()).is_err());
}

/// Sentry's envelope endpoint (develop.sentry.dev, "Envelopes" and "SDK
/// authentication"): `POST <dsn path>/api/<project>/envelope/` with
/// `Content-Type: application/x-sentry-envelope` and `X-Sentry-Auth: Sentry
/// sentry_version=7, sentry_client=…, sentry_key=<public key>`; the body is
/// newline-separated JSON: an envelope header, then per item a header whose
/// `length` is the payload's byte length, then the payload. Answers 200 `{id}`.
#[tokio::test]
async fn sentry_sends_an_envelope_authenticated_by_the_dsn() {
    fn check(s: &Seen) -> Result<String, &'static str> {
        if s.method != Method::POST || s.path != "/sentry/api/42/envelope/" {
            return Err("not found");
        }
        if s.header("content-type") != "application/x-sentry-envelope" {
            return Err("unsupported content type");
        }
        let auth = s.header("x-sentry-auth");
        let fields: Vec<&str> = auth.strip_prefix("Sentry ").ok_or("missing authorization")?.split(", ").collect();
        if !fields.contains(&"sentry_version=7")
            || !fields.contains(&"sentry_key=pubkey")
            || !fields.iter().any(|f| f.starts_with("sentry_client=sentry.go/"))
        {
            return Err("invalid authorization");
        }
        let body = std::str::from_utf8(&s.body).map_err(|_| "not utf-8")?;
        let mut lines = body.split('\n');
        let header: Value =
            serde_json::from_str(lines.next().unwrap_or_default()).map_err(|_| "bad envelope header")?;
        let item: Value = serde_json::from_str(lines.next().unwrap_or_default()).map_err(|_| "bad item header")?;
        let payload = lines.next().unwrap_or_default();
        if item["length"].as_u64() != Some(payload.len() as u64) {
            return Err("item length mismatch");
        }
        let event: Value = serde_json::from_str(payload).map_err(|_| "bad item payload")?;
        let id = header["event_id"].as_str().ok_or("missing event_id")?;
        if id.len() != 32 || event["event_id"] != id || !matches!(item["type"].as_str(), Some("event" | "transaction"))
        {
            return Err("invalid event");
        }
        Ok(format!("{{\"id\":\"{id}\"}}"))
    }
    let service = Service::start(|s| match check(s) {
        Ok(answer) => (StatusCode::OK, answer),
        Err(why) => refuse(StatusCode::BAD_REQUEST, why),
    })
    .await;
    let dsn = format!("http://pubkey@{}/sentry/42", service.addr);
    let mut spec = spec("sentry", &dsn);
    spec.channel = Some("production".into());
    deliver(&spec, &Secrets::default(), &event("error")).await.unwrap();
    deliver(&spec, &Secrets::default(), &event("info")).await.unwrap();
    let seen = service.seen();
    assert_eq!(seen.len(), 2);
    let parts = |s: &Seen| -> Vec<Value> {
        std::str::from_utf8(&s.body).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
    };
    let error = parts(&seen[0]);
    assert_eq!(error[0]["dsn"], dsn.as_str());
    assert_eq!(error[1]["type"], "event");
    assert_eq!(error[2]["level"], "error");
    assert_eq!(error[2]["transaction"], "Kustomization: flux-system/apps");
    assert_eq!(error[2]["server_name"], "kustomize-controller");
    assert_eq!(error[2]["environment"], "production");
    assert_eq!(error[2]["contexts"]["metadata"]["summary"], "prod cluster");
    let info = parts(&seen[1]);
    assert_eq!(info[1]["type"], "transaction");
    assert_eq!(info[2]["tags"]["flux_reason"], "ReconciliationSucceeded");
    assert_eq!(info[2]["contexts"]["trace"]["op"], "event");
    assert_eq!(info[2]["spans"][0]["trace_id"], info[2]["contexts"]["trace"]["trace_id"]);
    assert_ne!(error[0]["event_id"], info[0]["event_id"]);

    // A key the project does not know is the service's refusal.
    let wrong = spec_with_address(&spec, &format!("http://other@{}/sentry/42", service.addr));
    let error = deliver(&wrong, &Secrets::default(), &event("error")).await.unwrap_err();
    assert!(matches!(error, notifier::Error::Status { status: 400, .. }), "{error}");
    // A DSN without key or project is refused before anything is sent.
    for bad in ["http://host/42", "http://key@host/"] {
        assert!(Config::new(&spec_with_address(&spec, bad), &Secrets::default()).is_err(), "{bad}");
    }
}

fn spec_with_address(spec: &ProviderSpec, address: &str) -> ProviderSpec {
    ProviderSpec { address: Some(address.into()), ..spec.clone() }
}

/// Bitbucket Cloud commit build statuses (developer.atlassian.com, "Commit
/// statuses"): basic auth (user and app password); `GET
/// /2.0/repositories/<workspace>/<repo>/commit/<sha>/statuses/build/<key>`
/// answers the status or 404; `POST …/statuses/build` needs `key`, `url` and a
/// `state` of SUCCESSFUL, FAILED, INPROGRESS or STOPPED, and answers 201. The
/// service here keeps what was posted, so a repeat is seen as a duplicate.
#[tokio::test]
async fn bitbucket_sets_a_build_status_once() {
    let stored = std::sync::Arc::new(std::sync::Mutex::new(std::collections::BTreeMap::<String, Value>::new()));
    let store = stored.clone();
    let service = Service::start(move |s| {
        use base64::Engine;
        let expected = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode("bot:app-pass"));
        if s.header("authorization") != expected {
            return refuse(StatusCode::UNAUTHORIZED, "Unauthorized");
        }
        let statuses = format!("/2.0/repositories/team/app/commit/{SHA}/statuses/build");
        match (s.method.clone(), s.path.strip_prefix(statuses.as_str())) {
            (Method::GET, Some(key)) if key.len() > 1 => match store.lock().unwrap().get(&key[1..]) {
                Some(status) => (StatusCode::OK, status.to_string()),
                None => refuse(StatusCode::NOT_FOUND, "Commit status not found"),
            },
            (Method::POST, Some("")) => {
                let body = s.json();
                let key = body["key"].as_str().unwrap_or_default().to_string();
                let states = ["SUCCESSFUL", "FAILED", "INPROGRESS", "STOPPED"];
                if !is_json(s)
                    || key.is_empty()
                    || key.len() > 40
                    || !body["url"].is_string()
                    || !states.contains(&body["state"].as_str().unwrap_or_default())
                {
                    return refuse(StatusCode::BAD_REQUEST, "key, url and state are required");
                }
                store.lock().unwrap().insert(key, body.clone());
                (StatusCode::CREATED, body.to_string())
            }
            _ => refuse(StatusCode::NOT_FOUND, "Resource not found"),
        }
    })
    .await;
    let spec = spec("bitbucket", &service.url("/team/app.git"));
    let token = secret(&[("token", "bot:app-pass")]);
    deliver(&spec, &token, &event("error")).await.unwrap();
    deliver(&spec, &token, &event("error")).await.unwrap();
    let posts: Vec<Value> = service.seen().iter().filter(|s| s.method == Method::POST).map(Seen::json).collect();
    assert_eq!(posts.len(), 1, "the repeat is a duplicate and not posted");
    assert_eq!(posts[0]["state"], "FAILED");
    assert_eq!(posts[0]["name"], "kustomization/apps");
    assert_eq!(posts[0]["description"], "reconciliation succeeded");
    use sha1::Digest;
    assert_eq!(posts[0]["key"], hex::encode(sha1::Sha1::digest(b"kustomization/apps/6f1c1b7e")));
    // A new state is posted again.
    deliver(&spec, &token, &event("info")).await.unwrap();
    assert_eq!(service.seen().iter().filter(|s| s.method == Method::POST).count(), 2);
    assert_eq!(stored.lock().unwrap().values().next().unwrap()["state"], "SUCCESSFUL");
    // Wrong credentials are the service's 401; a token that is not user:password is refused.
    let wrong = deliver(&spec, &secret(&[("token", "bot:other")]), &event("info")).await.unwrap_err();
    assert!(matches!(wrong, notifier::Error::Status { status: 401, .. }), "{wrong}");
    assert!(Config::new(&spec, &secret(&[("token", "no-colon")])).is_err());
}

/// Bitbucket Server/Data Center build statuses (developer.atlassian.com,
/// "Builds and Deployments" REST API): `GET
/// <context>/rest/api/latest/projects/<key>/repos/<slug>/commits/<sha>/builds?key=<key>`
/// answers the status or 404; `POST …/builds` with `key`, `state`
/// (SUCCESSFUL, FAILED, INPROGRESS, UNKNOWN) and `url` answers 204. Bearer
/// (HTTP access token) or basic auth.
#[tokio::test]
async fn bitbucket_server_sets_a_build_status_with_token_or_basic_auth() {
    let stored = std::sync::Arc::new(std::sync::Mutex::new(Option::<Value>::None));
    let store = stored.clone();
    let service = Service::start(move |s| {
        use base64::Engine;
        let basic = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode("admin:secret"));
        if ![basic.as_str(), "Bearer bbs-token"].contains(&s.header("authorization")) {
            return refuse(StatusCode::UNAUTHORIZED, "Authentication failed");
        }
        if s.header("x-atlassian-token") != "no-check" {
            return refuse(StatusCode::FORBIDDEN, "XSRF check failed");
        }
        if s.path != format!("/bitbucket/rest/api/latest/projects/PRJ/repos/app/commits/{SHA}/builds") {
            return refuse(StatusCode::NOT_FOUND, "No such repository");
        }
        match s.method.clone() {
            Method::GET => {
                let current = store.lock().unwrap().clone();
                match current {
                    Some(status) if s.query.as_deref() == Some(&format!("key={}", status["key"].as_str().unwrap())) => {
                        (StatusCode::OK, status.to_string())
                    }
                    _ => refuse(StatusCode::NOT_FOUND, "No build status"),
                }
            }
            Method::POST => {
                let body = s.json();
                let states = ["SUCCESSFUL", "FAILED", "INPROGRESS", "UNKNOWN"];
                if !is_json(s)
                    || !body["key"].is_string()
                    || !body["url"].is_string()
                    || !states.contains(&body["state"].as_str().unwrap_or_default())
                {
                    return refuse(StatusCode::BAD_REQUEST, "key, state and url are required");
                }
                *store.lock().unwrap() = Some(body);
                (StatusCode::NO_CONTENT, String::new())
            }
            _ => refuse(StatusCode::METHOD_NOT_ALLOWED, "method not allowed"),
        }
    })
    .await;
    let address = service.url("/bitbucket/scm/PRJ/app.git");
    let spec = spec("bitbucketserver", &address);
    deliver(&spec, &secret(&[("token", "bbs-token")]), &event("info")).await.unwrap();
    let status = stored.lock().unwrap().clone().unwrap();
    assert_eq!(status["state"], "SUCCESSFUL");
    assert_eq!(status["name"], "kustomization/apps [reconciliation succeeded]");
    assert_eq!(status["url"], address.as_str());
    // The same status with basic auth is a duplicate: looked up, not posted.
    deliver(&spec, &secret(&[("username", "admin"), ("password", "secret")]), &event("info")).await.unwrap();
    assert_eq!(service.seen().iter().filter(|s| s.method == Method::POST).count(), 1);
    assert_eq!(service.seen().len(), 3);
    // No credentials, or an address that is not a clone URL, are refused.
    assert!(Config::new(&spec, &Secrets::default()).is_err());
    let not_clone = spec_with_address(&spec, &service.url("/PRJ/app.git"));
    assert!(Config::new(&not_clone, &secret(&[("token", "t")])).is_err());
}

/// Azure DevOps Git commit statuses (learn.microsoft.com, "Statuses - Create"
/// and "Statuses - List"): `…/<org>/<project>/_apis/git/repositories/<repo>/commits/<sha>/statuses`
/// with an `api-version` (query or `Accept` parameter) and a personal access
/// token as the basic auth password; the list answers `{count, value}`;
/// create needs `context.name` and a state of notSet, pending, succeeded,
/// failed, error or notApplicable, and answers 201.
#[tokio::test]
async fn azure_devops_sets_a_commit_status_once() {
    let stored = std::sync::Arc::new(std::sync::Mutex::new(Vec::<Value>::new()));
    let store = stored.clone();
    let service = Service::start(move |s| {
        use base64::Engine;
        let expected = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(":ado-pat"));
        if s.header("authorization") != expected {
            return refuse(StatusCode::UNAUTHORIZED, "TF400813: The user is not authorized");
        }
        let versioned = s.query.as_deref().is_some_and(|q| q.contains("api-version="))
            || s.header("accept").contains("api-version=");
        if !versioned {
            return refuse(StatusCode::BAD_REQUEST, "VssVersionOutOfRangeException: api-version is required");
        }
        if s.path != format!("/org/proj/_apis/git/repositories/app/commits/{SHA}/statuses") {
            return refuse(StatusCode::NOT_FOUND, "TF401019: repository not found");
        }
        match s.method.clone() {
            Method::GET => {
                let list = store.lock().unwrap().clone();
                (StatusCode::OK, json!({"count": list.len(), "value": list}).to_string())
            }
            Method::POST => {
                let body = s.json();
                let states = ["notSet", "pending", "succeeded", "failed", "error", "notApplicable"];
                if !is_json(s)
                    || !body["context"]["name"].is_string()
                    || !states.contains(&body["state"].as_str().unwrap_or_default())
                {
                    return refuse(StatusCode::BAD_REQUEST, "invalid status");
                }
                store.lock().unwrap().insert(0, body.clone());
                (StatusCode::CREATED, body.to_string())
            }
            _ => refuse(StatusCode::METHOD_NOT_ALLOWED, "method not allowed"),
        }
    })
    .await;
    let spec = spec("azuredevops", &service.url("/org/proj/_git/app"));
    let pat = secret(&[("token", "ado-pat")]);
    deliver(&spec, &pat, &event("error")).await.unwrap();
    deliver(&spec, &pat, &event("error")).await.unwrap();
    let posted = stored.lock().unwrap().clone();
    assert_eq!(posted.len(), 1, "the repeat is a duplicate");
    assert_eq!(posted[0]["state"], "error");
    assert_eq!(posted[0]["description"], "reconciliation succeeded");
    assert_eq!(posted[0]["context"]["name"], "kustomization/apps/6f1c1b7e");
    assert_eq!(posted[0]["context"]["genre"], "fluxcd:prod cluster");
    deliver(&spec, &pat, &event("info")).await.unwrap();
    assert_eq!(stored.lock().unwrap()[0]["state"], "succeeded");
    let wrong = deliver(&spec, &secret(&[("token", "other")]), &event("info")).await.unwrap_err();
    assert!(matches!(wrong, notifier::Error::Status { status: 401, .. }), "{wrong}");
    // No token (Flux would use a managed identity) and addresses that are not `org/project/_git/repo` are refused.
    assert!(Config::new(&spec, &Secrets::default()).is_err());
    assert!(Config::new(&spec_with_address(&spec, &service.url("/org/app")), &pat).is_err());
}

#[tokio::test]
async fn failures_are_retried_as_flux_does_and_client_errors_are_not() {
    let calls = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = calls.clone();
    let service = Service::start(move |s| {
        if s.path == "/bad" {
            return refuse(StatusCode::BAD_REQUEST, "nope");
        }
        match counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst) {
            0 => refuse(StatusCode::SERVICE_UNAVAILABLE, "busy"),
            1 => refuse(StatusCode::TOO_MANY_REQUESTS, "slow down"),
            _ => ok(),
        }
    })
    .await;
    deliver(&spec("generic", &service.url("/flaky")), &Secrets::default(), &event("info")).await.unwrap();
    assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 3);
    let error = deliver(&spec("generic", &service.url("/bad")), &Secrets::default(), &event("info")).await.unwrap_err();
    assert!(matches!(error, notifier::Error::Status { status: 400, .. }), "{error}");
    assert_eq!(service.seen().iter().filter(|s| s.path == "/bad").count(), 1);
}

#[tokio::test]
async fn timeouts_proxies_and_refusals() {
    // A provider slower than its timeout fails with a timeout.
    let slow = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let slow_addr = slow.local_addr().unwrap();
    tokio::spawn(async move {
        let app = axum::Router::new().fallback(|| async {
            tokio::time::sleep(Duration::from_secs(30)).await;
            "late"
        });
        axum::serve(slow, app).await.unwrap()
    });
    let mut spec_slow = spec("generic", &format!("http://{slow_addr}/"));
    spec_slow.timeout = Some("1s".into());
    let error = deliver(&spec_slow, &Secrets::default(), &event("info")).await.unwrap_err();
    assert!(matches!(error, notifier::Error::Timeout(_)), "{error}");

    // A proxy from proxySecretRef carries the request (the proxy is a plain HTTP service here:
    // it sees the absolute-form request line a forward proxy gets).
    let proxy =
        Service::start(|s| if s.path == "/via-proxy" { ok() } else { refuse(StatusCode::BAD_GATEWAY, "?") }).await;
    let mut spec_proxy = spec("generic", "http://notification.invalid/via-proxy");
    spec_proxy.proxy_secret_ref = Some(ferry_api_meta::LocalObjectReference { name: "proxy".into() });
    let secrets =
        Secrets { proxy: Some([("address".to_string(), proxy.url("").into_bytes())].into()), ..Secrets::default() };
    deliver(&spec_proxy, &secrets, &event("info")).await.unwrap();
    assert_eq!(proxy.seen().len(), 1);

    // Types Ferry does not deliver to are refused, never ignored.
    for kind in ["azureeventhub", "googlepubsub", "nats", "zulip"] {
        let error = Config::new(&spec(kind, "https://example.com"), &Secrets::default()).unwrap_err();
        assert!(matches!(error, notifier::Error::Unsupported(_)), "{kind}: {error}");
    }
    // No address, no delivery.
    assert!(
        Config::new(&ProviderSpec { type_: "slack".into(), ..ProviderSpec::default() }, &Secrets::default()).is_err()
    );
}
