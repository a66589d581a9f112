//! The gateway client over the frontend's stdin/stdout (HTTP/2 with prior knowledge).

use std::collections::{BTreeMap, BTreeSet};

use dockopt_proto::gateway::llb_bridge_client::LlbBridgeClient;
use dockopt_proto::gateway::{
    CacheOptionsEntry, PingRequest, ReadFileRequest, ResolveImageConfigRequest, Result as GwResult,
    ReturnRequest, SolveRequest, WarnRequest, result::Result as ResultKind,
};
use dockopt_proto::{google::rpc::Status, pb};
use tonic::transport::{Channel, Endpoint, Uri};

/// Messages can be large (manifests, configs); BuildKit v0.14+ allows 16 MiB, older 4 MiB.
const MAX_MESSAGE: usize = 64 << 20;

/// The capabilities the daemon enabled.
#[derive(Debug, Default)]
pub(crate) struct Caps {
    /// LLB capabilities (`file.base`, `mergeop`, …).
    pub(crate) llb: BTreeSet<String>,
    /// Gateway API capabilities (`readfile`, `gateway.warnings`, …).
    pub(crate) api: BTreeSet<String>,
}

/// The `LLBBridge` client.
pub(crate) struct Bridge {
    client: LlbBridgeClient<Channel>,
    /// Caches every solve may import from (`--cache-from`): `(type, attrs)`.
    pub(crate) cache_imports: Vec<crate::opts::CacheImport>,
}

impl Bridge {
    /// Connects over stdin/stdout. The first connection attempt takes the pipe; there is no other.
    pub(crate) async fn connect() -> Result<Self, tonic::transport::Error> {
        let stdio = std::sync::Mutex::new(Some(tokio::io::join(
            tokio::io::stdin(),
            tokio::io::stdout(),
        )));
        let channel = Endpoint::from_static("http://localhost")
            .connect_with_connector(tower::service_fn(move |_: Uri| {
                let io = stdio.lock().ok().and_then(|mut s| s.take());
                async move {
                    io.map(hyper_util::rt::TokioIo::new).ok_or_else(|| {
                        std::io::Error::other("the stdio connection to BuildKit was already used")
                    })
                }
            }))
            .await?;
        let client = LlbBridgeClient::new(channel)
            .max_decoding_message_size(MAX_MESSAGE)
            .max_encoding_message_size(MAX_MESSAGE);
        Ok(Self {
            client,
            cache_imports: Vec::new(),
        })
    }

    /// The daemon's enabled capabilities.
    pub(crate) async fn ping(&mut self) -> Result<Caps, tonic::Status> {
        let pong = self.client.ping(PingRequest {}).await?.into_inner();
        let enabled = |caps: Vec<dockopt_proto::moby::buildkit::v1::apicaps::ApiCap>| {
            caps.into_iter()
                .filter(|c| c.enabled)
                .map(|c| c.id)
                .collect::<BTreeSet<_>>()
        };
        Ok(Caps {
            llb: enabled(pong.llb_caps),
            api: enabled(pong.frontend_api_caps),
        })
    }

    /// Solves a definition (lazily) and returns the id of its single result.
    pub(crate) async fn solve(
        &mut self,
        definition: pb::Definition,
    ) -> Result<String, tonic::Status> {
        self.solve_with(definition, false).await
    }

    /// Solves and builds the result now (`Evaluate`), rather than when it is first read.
    pub(crate) async fn solve_evaluated(
        &mut self,
        definition: pb::Definition,
    ) -> Result<String, tonic::Status> {
        self.solve_with(definition, true).await
    }

    async fn solve_with(
        &mut self,
        definition: pb::Definition,
        evaluate: bool,
    ) -> Result<String, tonic::Status> {
        let req = SolveRequest {
            definition: Some(definition),
            evaluate,
            allow_result_return: true,
            allow_result_array_ref: true,
            cache_imports: self
                .cache_imports
                .iter()
                .map(|(kind, attrs)| CacheOptionsEntry {
                    r#type: kind.clone(),
                    attrs: attrs.clone(),
                })
                .collect(),
            ..Default::default()
        };
        let res = self.client.solve(req).await?.into_inner();
        match res.result.and_then(|r| r.result) {
            Some(ResultKind::Ref(r)) => Ok(r.id),
            Some(ResultKind::RefDeprecated(id)) => Ok(id),
            _ if !res.r#ref.is_empty() => Ok(res.r#ref),
            _ => Err(tonic::Status::internal(
                "BuildKit returned no reference for the solve",
            )),
        }
    }

    /// Reads a whole file from a solved result.
    pub(crate) async fn read_file(
        &mut self,
        reference: &str,
        path: &str,
    ) -> Result<Vec<u8>, tonic::Status> {
        let req = ReadFileRequest {
            r#ref: reference.to_owned(),
            file_path: path.to_owned(),
            range: None,
        };
        Ok(self.client.read_file(req).await?.into_inner().data)
    }

    /// An image's digest (may be empty for local images) and config JSON.
    pub(crate) async fn resolve_image_config(
        &mut self,
        reference: &str,
        mode: &str,
    ) -> Result<(String, Vec<u8>), tonic::Status> {
        let req = ResolveImageConfigRequest {
            r#ref: reference.to_owned(),
            platform: None,
            resolve_mode: mode.to_owned(),
            log_name: format!("[internal] load metadata for {reference}"),
        };
        let res = self.client.resolve_image_config(req).await?.into_inner();
        Ok((res.digest, res.config))
    }

    /// A warning the client shows with the build (cap `gateway.warnings`), attached to the
    /// vertex `digest`.
    pub(crate) async fn warn(&mut self, req: WarnRequest) -> Result<(), tonic::Status> {
        self.client.warn(req).await?;
        Ok(())
    }

    /// Returns the build result: one reference and its metadata.
    pub(crate) async fn return_ok(
        &mut self,
        id: String,
        metadata: BTreeMap<String, Vec<u8>>,
    ) -> Result<(), tonic::Status> {
        let result = GwResult {
            result: Some(ResultKind::Ref(dockopt_proto::gateway::Ref {
                id,
                def: None,
            })),
            metadata,
        };
        self.client
            .r#return(ReturnRequest {
                result: Some(result),
                error: None,
            })
            .await?;
        Ok(())
    }

    /// Returns an error the user will read.
    pub(crate) async fn return_error(
        &mut self,
        code: tonic::Code,
        message: String,
        details: Vec<prost_types::Any>,
    ) -> Result<(), tonic::Status> {
        let error = Status {
            code: code as i32,
            message,
            details,
        };
        self.client
            .r#return(ReturnRequest {
                result: None,
                error: Some(error),
            })
            .await?;
        Ok(())
    }
}
