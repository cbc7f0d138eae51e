//! KServe's V1 protocol, which KServe gives an InferenceService unless told otherwise:
//! `GET /v1/models` (the served model's name), `GET /v1/models/{name}` (readiness) and
//! `POST /v1/models/{name}:predict`. A V1 body (`{"instances": …}` or `{"inputs": …}`,
//! optional `params`) is an MLflow JSON body, and MLflow's answer (`{"predictions": …}`) is a
//! V1 answer: predict runs the `/invocations` pipeline on it (JSON whatever the
//! Content-Type), the same enforcement, queue and batches. Errors are `{"error": "…"}` with
//! MLflow's message and status; another model's name is 404.

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use serde_json::json;

use super::invocations;
use super::response::respond;
use crate::error::ServeError;
use crate::server::Shared;

/// A V1 path, parsed.
#[derive(Debug, PartialEq, Eq)]
enum Route {
    List,
    Model(String),
    Predict(String),
}

fn parse(path: &str) -> Option<Route> {
    let rest = path.strip_prefix("/v1/models")?;
    if rest.is_empty() {
        return Some(Route::List);
    }
    let name = rest.strip_prefix('/')?;
    if name.is_empty() || name.contains('/') {
        return None;
    }
    let decode = |s: &str| {
        percent_encoding::percent_decode_str(s)
            .decode_utf8_lossy()
            .into_owned()
    };
    Some(match name.strip_suffix(":predict") {
        Some(n) if !n.is_empty() => Route::Predict(decode(n)),
        Some(_) => return None,
        None => Route::Model(decode(name)),
    })
}

/// The metrics label of a V1 path, if it is one.
pub(super) fn label(path: &str) -> Option<&'static str> {
    parse(path).map(|r| match r {
        Route::List => "/v1/models",
        Route::Model(_) => "/v1/models/{name}",
        Route::Predict(_) => "/v1/models/{name}:predict",
    })
}

fn error(status: StatusCode, message: &str) -> Response<Full<Bytes>> {
    respond(
        status,
        "application/json",
        json!({ "error": message }).to_string(),
    )
}

/// Answers a V1 request, or gives it back when the path is not a V1 route.
pub(super) async fn answer(
    state: &Shared,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Request<Incoming>> {
    let Some(route) = parse(req.uri().path()) else {
        return Err(req);
    };
    let (allowed, allow) = match route {
        Route::Predict(_) => (Method::POST, "POST"),
        _ => (Method::GET, "GET"),
    };
    if *req.method() != allowed {
        let mut r = error(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed");
        r.headers_mut().insert(
            hyper::header::ALLOW,
            hyper::header::HeaderValue::from_static(allow),
        );
        return Ok(r);
    }
    let app = &state.app;
    let Some(id) = app.identity() else {
        return Ok(error(
            StatusCode::SERVICE_UNAVAILABLE,
            "the model is still loading",
        ));
    };
    Ok(match route {
        Route::List => respond(
            StatusCode::OK,
            "application/json",
            json!({"models": [id.name]}).to_string(),
        ),
        Route::Model(name) | Route::Predict(name) if name != id.name => error(
            StatusCode::NOT_FOUND,
            &format!(
                "Model with name {} does not exist.",
                crate::pyjson::bounded(&name)
            ),
        ),
        Route::Model(name) => {
            let ready = app.ready();
            let status = if ready {
                StatusCode::OK
            } else {
                StatusCode::SERVICE_UNAVAILABLE
            };
            respond(
                status,
                "application/json",
                json!({"name": name, "ready": ready}).to_string(),
            )
        }
        Route::Predict(_) => {
            match tokio::time::timeout(
                state.config.timeout,
                invocations(state, req, Some("application/json")),
            )
            .await
            {
                Ok(Ok((body, version))) => {
                    super::answered_by(respond(StatusCode::OK, "application/json", body), &version)
                }
                Ok(Err(e)) => {
                    tracing::debug!(error = e.label(), "V1 predict failed");
                    e.into_oip_response()
                }
                Err(_) => ServeError::Timeout.into_oip_response(),
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        assert_eq!(parse("/v1/models"), Some(Route::List));
        assert_eq!(parse("/v1/models/wine"), Some(Route::Model("wine".into())));
        assert_eq!(
            parse("/v1/models/Wine%20Q:predict"),
            Some(Route::Predict("Wine Q".into()))
        );
        for bad in [
            "/v1/models/",
            "/v1/models/:predict",
            "/v1/models/a/b",
            "/v1/modelsx",
            "/v1",
        ] {
            assert_eq!(parse(bad), None, "{bad}");
        }
    }
}
