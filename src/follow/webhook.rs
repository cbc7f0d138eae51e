//! MLflow's registry webhooks, received: a delivery is a signed hint to look at the registry
//! now, never a source of truth (the version is always resolved through the store).
//!
//! MLflow 3 signs a delivery with `X-MLflow-Signature: v1,<base64 HMAC-SHA256 of
//! "<delivery id>.<timestamp>.<body>">`, sends `X-MLflow-Timestamp` (Unix seconds) and
//! `X-MLflow-Delivery-Id` (a UUID). A delivery is accepted when its signature verifies with
//! the shared secret (compared in constant time), its timestamp is within `max_age` of our
//! clock, and its id has not been seen within that window. Ids are remembered only for the
//! window (older deliveries are refused as stale anyway), at most `replay_capacity` of them:
//! past that, deliveries get 503 and MLflow retries them later, so a replay can never slip
//! through an evicted entry.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::Duration;

use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use super::{Hints, Trigger};

/// `X-MLflow-Signature`.
pub const SIGNATURE_HEADER: &str = "x-mlflow-signature";
/// `X-MLflow-Timestamp`.
pub const TIMESTAMP_HEADER: &str = "x-mlflow-timestamp";
/// `X-MLflow-Delivery-Id`.
pub const DELIVERY_ID_HEADER: &str = "x-mlflow-delivery-id";

/// Signature tokens a delivery may carry (MLflow sends one; two allow a secret rotation).
/// More is refused from the headers: each one costs a hash of the body.
pub const MAX_SIGNATURES: usize = 2;

/// Default for [`Receiver::max_body`]: MLflow's payloads are a few KiB.
pub const DEFAULT_MAX_BODY: usize = 64 * 1024;

/// Why a delivery was refused.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    /// No signature, timestamp or delivery id.
    #[error("missing {0} header: webhook deliveries must be signed (create the webhook with the secret given to --webhook-secret)")]
    Unsigned(&'static str),
    /// The signature does not verify with our secret.
    #[error("invalid webhook signature")]
    BadSignature,
    /// The timestamp is too far from our clock.
    #[error("webhook timestamp is {age_s} s away from this server's clock (limit: {max_s} s, --webhook-max-age)")]
    Stale {
        /// How far, in seconds.
        age_s: u64,
        /// The limit.
        max_s: u64,
    },
    /// This delivery id was already accepted.
    #[error("webhook delivery {0} was already received")]
    Replayed(String),
    /// The replay guard is full of recent deliveries.
    #[error("too many recent webhook deliveries ({0}, --webhook-replay-capacity); retry later")]
    Busy(usize),
    /// A signed body that is not an MLflow webhook payload.
    #[error("not an MLflow webhook payload: {0}")]
    Malformed(String),
}

impl WebhookError {
    /// A stable label for metrics and logs.
    pub fn label(&self) -> &'static str {
        match self {
            WebhookError::Unsigned(_) => "unsigned",
            WebhookError::BadSignature => "bad_signature",
            WebhookError::Stale { .. } => "stale",
            WebhookError::Replayed(_) => "replayed",
            WebhookError::Busy(_) => "busy",
            WebhookError::Malformed(_) => "malformed",
        }
    }
}

/// The headers of one delivery.
#[derive(Debug, Clone, Copy, Default)]
pub struct Delivery<'a> {
    /// `X-MLflow-Signature`.
    pub signature: Option<&'a str>,
    /// `X-MLflow-Timestamp`.
    pub timestamp: Option<&'a str>,
    /// `X-MLflow-Delivery-Id`.
    pub delivery_id: Option<&'a str>,
}

/// What a verified delivery was about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// `entity.action`, e.g. `model_version_alias.created`.
    pub kind: String,
    /// The registered model it concerns, when the payload names one.
    pub model_name: Option<String>,
}

/// Verifies deliveries and remembers recent ids.
pub struct Verifier {
    secret: Vec<u8>,
    max_age: Duration,
    replay_capacity: usize,
    seen: Mutex<Seen>,
}

#[derive(Default)]
struct Seen {
    ids: HashMap<String, u64>,
    order: VecDeque<(u64, String)>,
}

impl Verifier {
    /// A verifier for deliveries signed with `secret`, at most `max_age` from our clock,
    /// remembering up to `replay_capacity` recent ids.
    pub fn new(secret: &str, max_age: Duration, replay_capacity: usize) -> Verifier {
        Verifier {
            secret: secret.as_bytes().to_vec(),
            max_age,
            replay_capacity: replay_capacity.max(1),
            seen: Mutex::new(Seen::default()),
        }
    }

    /// What can be checked from the headers alone, before the body is read: the three
    /// headers are there, the signature header holds at most [`MAX_SIGNATURES`] tokens (each
    /// costs a hash of the body), and the timestamp is Unix seconds within `max_age` of
    /// `now`. Answers the timestamp.
    pub fn precheck(&self, d: Delivery<'_>, now: u64) -> Result<u64, WebhookError> {
        let signature = d
            .signature
            .ok_or(WebhookError::Unsigned("X-MLflow-Signature"))?;
        let timestamp = d
            .timestamp
            .ok_or(WebhookError::Unsigned("X-MLflow-Timestamp"))?;
        d.delivery_id
            .ok_or(WebhookError::Unsigned("X-MLflow-Delivery-Id"))?;
        if signature.split_whitespace().nth(MAX_SIGNATURES).is_some() {
            return Err(WebhookError::BadSignature);
        }
        let sent: u64 = timestamp.trim().parse().map_err(|_| {
            WebhookError::Malformed("X-MLflow-Timestamp is not Unix seconds".into())
        })?;
        let age = now.abs_diff(sent);
        if age > self.max_age.as_secs() {
            return Err(WebhookError::Stale {
                age_s: age,
                max_s: self.max_age.as_secs(),
            });
        }
        Ok(sent)
    }

    /// Checks one delivery received at `now` (Unix seconds) and remembers its id.
    pub fn verify(&self, d: Delivery<'_>, body: &[u8], now: u64) -> Result<Event, WebhookError> {
        let sent = self.precheck(d, now)?;
        let (Some(signature), Some(timestamp), Some(id)) =
            (d.signature, d.timestamp, d.delivery_id)
        else {
            return Err(WebhookError::Unsigned("X-MLflow-Signature"));
        };
        // Authenticate before the body is parsed.
        if !self.signed(signature, id, timestamp, body) {
            return Err(WebhookError::BadSignature);
        }
        let event = parse_event(body)?;
        self.remember(id, sent, now)?;
        Ok(event)
    }

    /// Whether one of the space-separated `v1,<base64>` signatures (at most
    /// [`MAX_SIGNATURES`] are looked at) verifies.
    fn signed(&self, header: &str, id: &str, timestamp: &str, body: &[u8]) -> bool {
        header.split_whitespace().take(MAX_SIGNATURES).any(|sig| {
            let Some(b64) = sig.strip_prefix("v1,") else {
                return false;
            };
            let Ok(given) = base64::engine::general_purpose::STANDARD.decode(b64) else {
                return false;
            };
            let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(&self.secret) else {
                return false;
            };
            mac.update(id.as_bytes());
            mac.update(b".");
            mac.update(timestamp.as_bytes());
            mac.update(b".");
            mac.update(body);
            mac.verify_slice(&given).is_ok()
        })
    }

    fn remember(&self, id: &str, sent: u64, now: u64) -> Result<(), WebhookError> {
        let mut seen = match self.seen.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        // Forget ids whose deliveries would now be refused as stale anyway.
        let horizon = now.saturating_sub(self.max_age.as_secs());
        while seen.order.front().is_some_and(|(t, _)| *t < horizon) {
            if let Some((t, old)) = seen.order.pop_front() {
                if seen.ids.get(&old) == Some(&t) {
                    seen.ids.remove(&old);
                }
            }
        }
        if seen.ids.contains_key(id) {
            return Err(WebhookError::Replayed(id.chars().take(64).collect()));
        }
        if seen.ids.len() >= self.replay_capacity {
            return Err(WebhookError::Busy(self.replay_capacity));
        }
        seen.ids.insert(id.to_string(), sent);
        // Kept in arrival order; `sent` may be out of order by up to max_age, which only
        // delays forgetting an id.
        seen.order.push_back((sent, id.to_string()));
        Ok(())
    }
}

/// `{"entity": …, "action": …, "data": {"name": …}}`.
fn parse_event(body: &[u8]) -> Result<Event, WebhookError> {
    #[derive(serde::Deserialize)]
    struct Payload {
        entity: String,
        action: String,
        #[serde(default)]
        data: Option<Data>,
    }
    #[derive(serde::Deserialize)]
    struct Data {
        #[serde(default)]
        name: Option<String>,
    }
    let p: Payload =
        serde_json::from_slice(body).map_err(|e| WebhookError::Malformed(e.to_string()))?;
    Ok(Event {
        kind: format!("{}.{}", p.entity, p.action),
        model_name: p.data.and_then(|d| d.name),
    })
}

/// What became of an accepted delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// About the followed model (or about no model in particular): the registry is checked.
    Checking,
    /// About another registered model: nothing to do.
    Ignored,
}

/// The receiving end the HTTP route hands deliveries to.
pub struct Receiver {
    verifier: Verifier,
    model_name: String,
    hints: Hints,
    max_body: usize,
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl Receiver {
    /// Deliveries for `model_name`, verified by `verifier`, become hints to `hints`; bodies
    /// of more than `max_body` bytes are refused (`--webhook-max-body-bytes`).
    pub fn new(verifier: Verifier, model_name: &str, hints: Hints, max_body: usize) -> Receiver {
        Receiver {
            verifier,
            model_name: model_name.to_string(),
            hints,
            max_body,
        }
    }

    /// The largest body a delivery may have.
    pub fn max_body(&self) -> usize {
        self.max_body
    }

    /// [`Verifier::precheck`] now: what the headers alone can refuse.
    pub fn precheck(&self, d: Delivery<'_>) -> Result<(), WebhookError> {
        self.verifier.precheck(d, unix_now()).map(|_| ())
    }

    /// Verifies a delivery and, when it concerns the followed model, asks for a check now.
    pub fn deliver(&self, d: Delivery<'_>, body: &[u8]) -> Result<Outcome, WebhookError> {
        let event = self.verifier.verify(d, body, unix_now())?;
        if event
            .model_name
            .as_deref()
            .is_some_and(|n| n != self.model_name)
        {
            tracing::debug!(event = %event.kind, "webhook about another registered model ignored");
            return Ok(Outcome::Ignored);
        }
        tracing::info!(event = %event.kind, "registry webhook received: checking the registry");
        self.hints.hint(Trigger::Webhook);
        Ok(Outcome::Checking)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sign(secret: &str, id: &str, ts: &str, body: &str) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(format!("{id}.{ts}.{body}").as_bytes());
        format!(
            "v1,{}",
            base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
        )
    }

    const BODY: &str = r#"{"entity": "model_version_alias", "action": "created", "timestamp": "2026-12-01T00:00:00+00:00", "data": {"name": "fraud", "alias": "champion", "version": "2"}}"#;

    #[test]
    fn accepts_mlflow_signature_once() {
        let v = Verifier::new("s3cret", Duration::from_secs(300), 10);
        let sig = sign("s3cret", "d1", "1000", BODY);
        let d = Delivery {
            signature: Some(&sig),
            timestamp: Some("1000"),
            delivery_id: Some("d1"),
        };
        let e = v.verify(d, BODY.as_bytes(), 1010).unwrap();
        assert_eq!(e.kind, "model_version_alias.created");
        assert_eq!(e.model_name.as_deref(), Some("fraud"));
        assert!(matches!(
            v.verify(d, BODY.as_bytes(), 1011),
            Err(WebhookError::Replayed(_))
        ));
    }

    #[test]
    fn refuses_wrong_secret_tampered_body_stale_and_unsigned() {
        let v = Verifier::new("s3cret", Duration::from_secs(300), 10);
        let sig = sign("other", "d1", "1000", BODY);
        let d = Delivery {
            signature: Some(&sig),
            timestamp: Some("1000"),
            delivery_id: Some("d1"),
        };
        assert!(matches!(
            v.verify(d, BODY.as_bytes(), 1000),
            Err(WebhookError::BadSignature)
        ));
        let sig = sign("s3cret", "d1", "1000", BODY);
        let d = Delivery {
            signature: Some(&sig),
            ..d
        };
        let tampered = BODY.replace("\"2\"", "\"3\"");
        assert!(matches!(
            v.verify(d, tampered.as_bytes(), 1000),
            Err(WebhookError::BadSignature)
        ));
        // The timestamp is signed: changing it breaks the signature; an old one is stale.
        let d2 = Delivery {
            timestamp: Some("1001"),
            ..d
        };
        assert!(matches!(
            v.verify(d2, BODY.as_bytes(), 1000),
            Err(WebhookError::BadSignature)
        ));
        assert!(matches!(
            v.verify(d, BODY.as_bytes(), 1000 + 301),
            Err(WebhookError::Stale { age_s: 301, .. })
        ));
        assert!(matches!(
            v.verify(d, BODY.as_bytes(), 1000 - 301),
            Err(WebhookError::Stale { .. })
        ));
        let unsigned = Delivery {
            signature: None,
            ..d
        };
        assert!(matches!(
            v.verify(unsigned, BODY.as_bytes(), 1000),
            Err(WebhookError::Unsigned(_))
        ));
        assert!(matches!(
            v.verify(
                Delivery {
                    signature: Some("v1,!!notbase64"),
                    ..d
                },
                BODY.as_bytes(),
                1000
            ),
            Err(WebhookError::BadSignature)
        ));
    }

    #[test]
    fn headers_alone_refuse_many_signatures_and_stale_timestamps() {
        let v = Verifier::new("s3cret", Duration::from_secs(300), 10);
        let many = ["v1,AAAA"; 3].join(" ");
        let d = Delivery {
            signature: Some(&many),
            timestamp: Some("1000"),
            delivery_id: Some("d"),
        };
        assert!(matches!(
            v.precheck(d, 1000),
            Err(WebhookError::BadSignature)
        ));
        let two = ["v1,AAAA"; 2].join(" ");
        let d = Delivery {
            signature: Some(&two),
            ..d
        };
        assert_eq!(v.precheck(d, 1000).unwrap(), 1000);
        assert!(matches!(
            v.precheck(d, 2000),
            Err(WebhookError::Stale { .. })
        ));
        let d = Delivery {
            timestamp: Some("soon"),
            ..d
        };
        assert!(matches!(
            v.precheck(d, 1000),
            Err(WebhookError::Malformed(_))
        ));
    }

    #[test]
    fn replay_guard_is_bounded_and_forgets_past_the_window() {
        let v = Verifier::new("k", Duration::from_secs(60), 2);
        let deliver = |id: &str, ts: u64, now: u64| {
            let ts = ts.to_string();
            let sig = sign("k", id, &ts, BODY);
            v.verify(
                Delivery {
                    signature: Some(&sig),
                    timestamp: Some(&ts),
                    delivery_id: Some(id),
                },
                BODY.as_bytes(),
                now,
            )
        };
        assert!(deliver("a", 100, 100).is_ok());
        assert!(deliver("b", 100, 100).is_ok());
        // Full of ids that could still be replayed: refuse (MLflow retries 503s) rather than
        // forget one.
        assert!(matches!(deliver("c", 100, 100), Err(WebhookError::Busy(2))));
        // Once they are past the window they are forgotten (a replay would be stale).
        assert!(deliver("c", 200, 200).is_ok());
        assert!(matches!(
            deliver("a", 100, 200),
            Err(WebhookError::Stale { .. })
        ));
    }

    #[test]
    fn signed_garbage_is_malformed() {
        let v = Verifier::new("k", Duration::from_secs(60), 2);
        let sig = sign("k", "x", "5", "not json");
        assert!(matches!(
            v.verify(
                Delivery {
                    signature: Some(&sig),
                    timestamp: Some("5"),
                    delivery_id: Some("x"),
                },
                b"not json",
                5
            ),
            Err(WebhookError::Malformed(_))
        ));
    }
}
