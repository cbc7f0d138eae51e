//! The `inference.GRPCInferenceService` RPCs, over the same model, queue, limits and
//! metrics as the HTTP routes: liveness and readiness as `/v2/health/*`, metadata as
//! `/v2/models/{name}`, and `ModelInfer` as `POST …/infer` (through `http::score_decoded`,
//! so gRPC and HTTP requests batch together).

use std::sync::Arc;
use std::time::Instant;

use hyper::StatusCode;
use prost::Message;
use tonic::{Request, Response, Status};

use super::convert;
use super::proto::grpc_inference_service_server::GrpcInferenceService;
use super::proto::model_metadata_response::TensorMetadata;
use super::proto::*;
use crate::error::ServeError;
use crate::oip::infer::Outputs;
use crate::oip::metadata::{self, MetadataTensor};
use crate::served::ServedVersion;
use crate::server::admission::GaugeGuard;
use crate::server::{score_decoded, Scored, Shared, MODEL_VERSION_HEADER};

/// The service, over the server's shared state.
pub struct Inference {
    shared: Arc<Shared>,
}

impl Inference {
    /// The service of a server.
    pub fn new(shared: Arc<Shared>) -> Inference {
        Inference { shared }
    }

    fn observe(&self, method: &'static str, status: StatusCode, started: Instant) {
        self.shared.app.metrics.observe_request(
            "grpc-v2",
            method,
            status.as_u16(),
            started.elapsed(),
        );
    }

    /// Runs `f`, recording its method, outcome and time in the request metrics.
    async fn recorded<T>(
        &self,
        method: &'static str,
        f: impl std::future::Future<Output = Result<T, (StatusCode, Status)>>,
    ) -> Result<Response<T>, Status> {
        let started = Instant::now();
        match f.await {
            Ok(v) => {
                self.observe(method, StatusCode::OK, started);
                Ok(Response::new(v))
            }
            Err((http, status)) => {
                self.observe(method, http, started);
                Err(status)
            }
        }
    }

    /// The served model and its identity, or NOT_FOUND / UNAVAILABLE as the REST routes answer
    /// 404 / 503.
    fn addressed(
        &self,
        name: &str,
        version: &str,
    ) -> Result<Arc<ServedVersion>, (StatusCode, Status)> {
        let version = (!version.is_empty()).then_some(version);
        self.shared
            .app
            .addressed(name, version)
            .map_err(|(http, message)| (http, code_of(http, message)))
    }
}

/// The gRPC code of an HTTP status: the mapping of failures to HTTP (`http::response`) is the
/// one source; gRPC follows it.
fn code_of(http: StatusCode, mut message: String) -> Status {
    // The message travels in the `grpc-message` trailer: kept to a few KiB (the request data
    // it echoes was already bounded by --max-error-data-bytes while it was written).
    const MAX_TRAILER: usize = 4096;
    if message.len() > MAX_TRAILER {
        let mut cut = MAX_TRAILER;
        while !message.is_char_boundary(cut) {
            cut -= 1;
        }
        message.truncate(cut);
        message.push_str("...");
    }
    match http.as_u16() {
        400 | 413 | 415 => Status::invalid_argument(message),
        404 => Status::not_found(message),
        429 | 503 => Status::unavailable(message),
        504 => Status::deadline_exceeded(message),
        _ => Status::internal(message),
    }
}

/// A failure as gRPC reports it, with the HTTP status REST would have answered.
fn failure(e: ServeError) -> (StatusCode, Status) {
    let message = e.to_string();
    let http = e.into_response().status();
    (http, code_of(http, message))
}

fn tensors(t: Vec<MetadataTensor>) -> Vec<TensorMetadata> {
    t.into_iter()
        .map(|t| TensorMetadata {
            name: t.name,
            datatype: t.datatype.to_string(),
            shape: t.shape,
        })
        .collect()
}

const INFER: &str = "/inference.GRPCInferenceService/ModelInfer";

#[tonic::async_trait]
impl GrpcInferenceService for Inference {
    async fn server_live(
        &self,
        _: Request<ServerLiveRequest>,
    ) -> Result<Response<ServerLiveResponse>, Status> {
        let live = self.shared.app.alive();
        self.recorded("/inference.GRPCInferenceService/ServerLive", async move {
            Ok(ServerLiveResponse { live })
        })
        .await
    }

    async fn server_ready(
        &self,
        _: Request<ServerReadyRequest>,
    ) -> Result<Response<ServerReadyResponse>, Status> {
        let ready = self.shared.app.ready();
        self.recorded("/inference.GRPCInferenceService/ServerReady", async move {
            Ok(ServerReadyResponse { ready })
        })
        .await
    }

    async fn model_ready(
        &self,
        request: Request<ModelReadyRequest>,
    ) -> Result<Response<ModelReadyResponse>, Status> {
        let r = request.into_inner();
        let found = self.addressed(&r.name, &r.version).map(|_| ());
        let ready = self.shared.app.ready();
        self.recorded("/inference.GRPCInferenceService/ModelReady", async move {
            match found {
                Ok(()) => Ok(ModelReadyResponse { ready }),
                // Loading: not ready rather than an error, as the REST route's 503.
                Err((StatusCode::SERVICE_UNAVAILABLE, _)) => {
                    Ok(ModelReadyResponse { ready: false })
                }
                Err(e) => Err(e),
            }
        })
        .await
    }

    async fn server_metadata(
        &self,
        _: Request<ServerMetadataRequest>,
    ) -> Result<Response<ServerMetadataResponse>, Status> {
        self.recorded("/inference.GRPCInferenceService/ServerMetadata", async {
            Ok(ServerMetadataResponse {
                name: metadata::SERVER_NAME.to_string(),
                version: env!("CARGO_PKG_VERSION").to_string(),
                extensions: Vec::new(),
            })
        })
        .await
    }

    async fn model_metadata(
        &self,
        request: Request<ModelMetadataRequest>,
    ) -> Result<Response<ModelMetadataResponse>, Status> {
        let r = request.into_inner();
        let found = self.addressed(&r.name, &r.version).map(|v| {
            let (model, id) = (&v.model, &v.identity);
            let (inputs, outputs) =
                metadata::model_tensors(&model.mlmodel, &model.inputs, &model.outputs);
            ModelMetadataResponse {
                name: id.name.clone(),
                versions: id.version.iter().cloned().collect(),
                platform: metadata::platform(&model.mlmodel).to_string(),
                inputs: tensors(inputs),
                outputs: tensors(outputs),
            }
        });
        self.recorded(
            "/inference.GRPCInferenceService/ModelMetadata",
            async move { found },
        )
        .await
    }

    async fn model_infer(
        &self,
        request: Request<ModelInferRequest>,
    ) -> Result<Response<ModelInferResponse>, Status> {
        let metrics = self.shared.app.metrics.clone();
        let _in_flight = GaugeGuard::inc(&metrics.in_flight);
        let timeout = self.shared.config.timeout;
        let held = request
            .extensions()
            .get::<super::HeldSlot>()
            .and_then(super::HeldSlot::take);
        let work = async {
            let message = request.into_inner();
            let version = self.addressed(&message.model_name, &message.model_version)?;
            match tokio::time::timeout(timeout, self.infer(version, message, held)).await {
                Ok(r) => r.map_err(failure),
                Err(_) => Err(failure(ServeError::Timeout)),
            }
        };
        let answered = self.recorded(INFER, work).await?;
        let (response, version) = answered.into_inner();
        let mut response = Response::new(response);
        if let Some(v) = version
            .version()
            .and_then(|v| tonic::metadata::MetadataValue::try_from(v).ok())
        {
            response.metadata_mut().insert(MODEL_VERSION_HEADER, v);
        }
        Ok(response)
    }
}

impl Inference {
    /// `ModelInfer`: the message is held against the in-flight budget (`held`, what
    /// reception reserved: its bytes and the bound of its decoded size; else its encoded
    /// size now) while it is enforced, queued, run and answered.
    /// Answers with the version that ran it (the one the request addressed).
    async fn infer(
        &self,
        version: Arc<ServedVersion>,
        message: ModelInferRequest,
        held: Option<crate::server::admission::Reservation>,
    ) -> Result<(ModelInferResponse, Arc<ServedVersion>), ServeError> {
        let shared = &self.shared;
        let size = message.encoded_len();
        let held = match held {
            Some(h) => h,
            None => {
                let mut h = shared.bodies.reservation();
                shared.bodies.grow(&mut h, size)?;
                h
            }
        };
        let Scored {
            version,
            predictions,
            kept,
            held,
            ..
        } = score_decoded(shared, version, size, held, move |model| {
            let mut request = convert::request(message, model.limits())?;
            let spec = request.take_answer_spec();
            Ok((crate::oip::infer::prepare(model, request)?, spec))
        })
        .await?;
        let (model, identity) = (&version.model, &version.identity);
        let outputs = Outputs::from_predictions(predictions);
        let content_type = outputs.content_type;
        let selected = outputs
            .select(kept.outputs.as_deref(), &identity.name)?
            .into_iter()
            .map(|(o, _)| o)
            .collect();
        let response = model.serialize(|| {
            convert::response(
                &identity.name,
                identity.version.as_deref(),
                kept.id.unwrap_or_default(),
                content_type,
                selected,
            )
        });
        drop(held);
        Ok((response, version))
    }
}
