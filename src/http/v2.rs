//! The Open Inference Protocol's REST routes (KServe V2): `GET /v2` (server metadata),
//! `/v2/health/live`, `/v2/health/ready`, `/v2/models/{name}[/versions/{version}]` (model
//! metadata), `…/ready` and `POST …/infer` (JSON, or Triton's binary tensor extension; see
//! `oip::rest`), which runs through the same enforcement, queue and batches as
//! `/invocations`. Errors are `{"error": "…"}`: 404 for a model or version this server does
//! not serve, 503 while the model is loading (or, for readiness, draining), 400 with MLflow's
//! message for a request the model refuses.

use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use serde_json::json;

use super::response::respond;
use super::{answered_by, score, RequestId};
use crate::error::ServeError;
use crate::oip::infer::{InferError, Outputs};
use crate::oip::metadata::{model_metadata, server_metadata};
use crate::oip::rest::{parse_request, write_response, AnswerHead, HEADER_LENGTH};
use crate::served::ServedVersion;
use crate::server::{Scored, Shared};

/// A V2 path, parsed: names and versions as they appear in the path (`&str`, undecoded,
/// enough for the metrics label) or percent-decoded (`String`, for routing).
#[derive(Debug, PartialEq, Eq)]
enum Route<S = String> {
    Server,
    Live,
    Ready,
    Model { name: S, version: Option<S> },
    ModelReady { name: S, version: Option<S> },
    Infer { name: S, version: Option<S> },
}

impl<S> Route<S> {
    /// The metrics label of the route (a fixed set: names never become labels).
    fn label(&self) -> &'static str {
        match self {
            Route::Server => "/v2",
            Route::Live => "/v2/health/live",
            Route::Ready => "/v2/health/ready",
            Route::Model { .. } => "/v2/models/{name}",
            Route::ModelReady { .. } => "/v2/models/{name}/ready",
            Route::Infer { .. } => "/v2/models/{name}/infer",
        }
    }
}

/// Splits a V2 path into its route without allocating (names stay percent-encoded).
fn parse_raw(path: &str) -> Option<Route<&str>> {
    let rest = path.strip_prefix("/v2")?;
    if rest.is_empty() {
        return Some(Route::Server);
    }
    let mut segs = [""; 6];
    let mut n = 0;
    for seg in rest.strip_prefix('/')?.split('/') {
        *segs.get_mut(n)? = seg;
        n += 1;
    }
    match &segs[..n] {
        ["health", "live"] => Some(Route::Live),
        ["health", "ready"] => Some(Route::Ready),
        ["models", name] if !name.is_empty() => Some(Route::Model {
            name,
            version: None,
        }),
        ["models", name, "versions", v] if !name.is_empty() && !v.is_empty() => {
            Some(Route::Model {
                name,
                version: Some(v),
            })
        }
        ["models", name, "ready"] if !name.is_empty() => Some(Route::ModelReady {
            name,
            version: None,
        }),
        ["models", name, "versions", v, "ready"] if !name.is_empty() && !v.is_empty() => {
            Some(Route::ModelReady {
                name,
                version: Some(v),
            })
        }
        ["models", name, "infer"] if !name.is_empty() => Some(Route::Infer {
            name,
            version: None,
        }),
        ["models", name, "versions", v, "infer"] if !name.is_empty() && !v.is_empty() => {
            Some(Route::Infer {
                name,
                version: Some(v),
            })
        }
        _ => None,
    }
}

/// A V2 path with its model name and version percent-decoded.
fn parse(path: &str) -> Option<Route> {
    let decode = |s: &str| {
        percent_encoding::percent_decode_str(s)
            .decode_utf8_lossy()
            .into_owned()
    };
    Some(match parse_raw(path)? {
        Route::Server => Route::Server,
        Route::Live => Route::Live,
        Route::Ready => Route::Ready,
        Route::Model { name, version } => Route::Model {
            name: decode(name),
            version: version.map(decode),
        },
        Route::ModelReady { name, version } => Route::ModelReady {
            name: decode(name),
            version: version.map(decode),
        },
        Route::Infer { name, version } => Route::Infer {
            name: decode(name),
            version: version.map(decode),
        },
    })
}

/// The metrics label of a V2 path, if it is one.
pub(super) fn label(path: &str) -> Option<&'static str> {
    parse_raw(path).map(|r| r.label())
}

fn error(status: StatusCode, message: &str) -> Response<Full<Bytes>> {
    respond(
        status,
        "application/json",
        json!({ "error": message }).to_string(),
    )
}

fn ok(body: serde_json::Value) -> Response<Full<Bytes>> {
    respond(StatusCode::OK, "application/json", body.to_string())
}

/// Answers a V2 request, or gives it back when the path is not a V2 route.
pub(super) async fn answer(
    state: &Shared,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Request<Incoming>> {
    let Some(route) = parse(req.uri().path()) else {
        return Err(req);
    };
    let (allowed, allow) = if matches!(route, Route::Infer { .. }) {
        (Method::POST, "POST")
    } else {
        (Method::GET, "GET")
    };
    if *req.method() != allowed {
        let mut r = error(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed");
        r.headers_mut().insert(
            hyper::header::ALLOW,
            hyper::header::HeaderValue::from_static(allow),
        );
        return Ok(r);
    }
    let app = &*state.app;
    Ok(match route {
        Route::Server => ok(server_metadata()),
        Route::Live => {
            if app.alive() {
                ok(json!({"live": true}))
            } else {
                error(StatusCode::SERVICE_UNAVAILABLE, "no inference worker left")
            }
        }
        Route::Ready => {
            if app.ready() {
                ok(json!({"ready": true}))
            } else {
                error(StatusCode::SERVICE_UNAVAILABLE, "Server is not ready")
            }
        }
        Route::Model { name, version } => match app.addressed(&name, version.as_deref()) {
            Err((status, message)) => error(status, &message),
            Ok(v) => ok(model_metadata(
                &v.model.mlmodel,
                &v.model.inputs,
                &v.model.outputs,
                &v.identity,
            )),
        },
        Route::ModelReady { name, version } => match app.addressed(&name, version.as_deref()) {
            Err((status, message)) => error(status, &message),
            Ok(_) if app.ready() => ok(json!({"name": name, "ready": true})),
            Ok(_) => error(
                StatusCode::SERVICE_UNAVAILABLE,
                &format!("Model {name} is not ready"),
            ),
        },
        Route::Infer { name, version } => match app.addressed(&name, version.as_deref()) {
            Err((status, message)) => error(status, &message),
            Ok(v) => match tokio::time::timeout(state.config.timeout, infer(state, v, req)).await {
                Ok(Ok(r)) => r,
                Ok(Err(e)) => {
                    tracing::debug!(error = e.label(), "V2 infer failed");
                    e.into_oip_response()
                }
                Err(_) => ServeError::Timeout.into_oip_response(),
            },
        },
    })
}

/// `POST …/infer`: decodes the request (JSON, or JSON then binary tensors), runs it through
/// MLflow's enforcement and the shared queue, and answers with the outputs asked for.
/// The request runs on `version`, the one its path addressed.
async fn infer(
    state: &Shared,
    version: Arc<ServedVersion>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, ServeError> {
    let header_len = match req.headers().get(HEADER_LENGTH) {
        None => None,
        Some(v) => Some(
            v.to_str()
                .ok()
                .and_then(|s| s.trim().parse::<usize>().ok())
                .ok_or_else(|| {
                    InferError::Invalid(
                        "Inference-Header-Content-Length must be a byte count".into(),
                    )
                })?,
        ),
    };
    let request_id = req.extensions().get::<RequestId>().map(|r| r.0.clone());
    let scored = score(state, version, req, move |model, body| {
        let declared = model
            .mlmodel
            .signature
            .params
            .as_deref()
            .unwrap_or_default();
        let mut request = parse_request(body, header_len, model.limits(), declared)?;
        let spec = request.take_answer_spec();
        Ok((crate::oip::infer::prepare(model, request)?, spec))
    })
    .await?;
    let Scored {
        version,
        predictions,
        kept,
        held,
        ..
    } = scored;
    let outputs = Outputs::from_predictions(predictions);
    let content_type = outputs.content_type;
    let (model, id) = (&version.model, &version.identity);
    let selected = outputs.select(kept.outputs.as_deref(), &id.name)?;
    let request_id = kept.id.or(request_id).unwrap_or_default();
    let head = AnswerHead {
        model_name: &id.name,
        model_version: id.version.as_deref(),
        id: &request_id,
        content_type,
    };
    let (body, json_len) = model.serialize(|| write_response(&head, &selected, kept.binary_output));
    drop(held);
    let response = match json_len {
        None => respond(StatusCode::OK, "application/json", body),
        Some(n) => {
            let mut r = respond(StatusCode::OK, "application/octet-stream", body);
            r.headers_mut()
                .insert(HEADER_LENGTH, hyper::header::HeaderValue::from(n));
            r
        }
    };
    Ok(answered_by(response, &version))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        assert_eq!(parse("/v2"), Some(Route::Server));
        assert_eq!(parse("/v2/health/ready"), Some(Route::Ready));
        assert_eq!(
            parse("/v2/models/Wine%20Quality/versions/3/ready"),
            Some(Route::ModelReady {
                name: "Wine Quality".into(),
                version: Some("3".into())
            })
        );
        assert_eq!(
            parse("/v2/models/m"),
            Some(Route::Model {
                name: "m".into(),
                version: None
            })
        );
        assert_eq!(
            parse("/v2/models/m/versions/2/infer"),
            Some(Route::Infer {
                name: "m".into(),
                version: Some("2".into())
            })
        );
        for bad in [
            "/v2/",
            "/v2/models",
            "/v2/models/",
            "/v2/models//ready",
            "/v2x",
            "/v2/health",
            "/v1/models/m",
            "/v2/models/m/versions/2/infer/x",
            "/v2/models/m/versions/2/infer/x/y/z",
        ] {
            assert_eq!(parse(bad), None, "{bad}");
            assert_eq!(label(bad), None, "{bad}");
        }
        assert_eq!(
            label("/v2/models/a%2Fb/versions/1/infer"),
            Some("/v2/models/{name}/infer")
        );
    }
}
