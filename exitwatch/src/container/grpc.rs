//! A gRPC client on a unix socket, shared by the CRI and containerd sources.

use std::path::{Path, PathBuf};

use http::uri::PathAndQuery;
use hyper_util::rt::TokioIo;
use tokio::net::UnixStream;
use tonic::{
    client::Grpc,
    transport::{Channel, Endpoint, Uri},
    Request,
};
use tonic_prost::ProstCodec;
use tower::service_fn;

use super::source::{find_socket, nobody_listens, SourceError};

/// The largest answer accepted.
const MAX_MESSAGE: usize = 256 << 20;

/// One runtime's gRPC socket: connects on first use, keeps the connection while calls succeed, and
/// starts over after a failure (the runtime may have restarted, or moved to the next candidate path).
pub struct UnixGrpc {
    paths: Vec<PathBuf>,
    channel: Option<Channel>,
}

impl UnixGrpc {
    pub fn new(paths: Vec<PathBuf>) -> Self {
        UnixGrpc {
            paths,
            channel: None,
        }
    }

    /// The socket in use, or the first candidate when none exists: for messages.
    pub fn socket(&self) -> &Path {
        find_socket(&self.paths)
            .unwrap_or_else(|_| self.paths.first().map_or(Path::new(""), PathBuf::as_path))
    }

    /// One unary call of `method` (`/package.Service/Method`).
    pub async fn call<Req, Resp>(
        &mut self,
        method: &'static str,
        request: Request<Req>,
    ) -> Result<Resp, SourceError>
    where
        Req: prost::Message + Send + Sync + 'static,
        Resp: prost::Message + Default + Send + Sync + 'static,
    {
        let result = self.try_call(method, request).await;
        if result.is_err() {
            self.channel = None;
        }
        result
    }

    async fn try_call<Req, Resp>(
        &mut self,
        method: &'static str,
        request: Request<Req>,
    ) -> Result<Resp, SourceError>
    where
        Req: prost::Message + Send + Sync + 'static,
        Resp: prost::Message + Default + Send + Sync + 'static,
    {
        let channel = match &self.channel {
            Some(channel) => channel.clone(),
            None => {
                let channel = self.connect().await?;
                self.channel = Some(channel.clone());
                channel
            }
        };
        // containerd lists each container's OCI spec (some 10 kB): tonic's 4 MiB default would stop
        // at a few hundred containers.
        let mut grpc = Grpc::new(channel).max_decoding_message_size(MAX_MESSAGE);
        grpc.ready().await?;
        let response = grpc
            .unary(
                request,
                PathAndQuery::from_static(method),
                ProstCodec::<Req, Resp>::default(),
            )
            .await
            .map_err(|status| match status.code() {
                tonic::Code::Unavailable if nobody_listens(&status) => self.absent(),
                _ => SourceError::Grpc {
                    call: method,
                    status: Box::new(status),
                },
            })?;
        Ok(response.into_inner())
    }

    async fn connect(&self) -> Result<Channel, SourceError> {
        let socket = find_socket(&self.paths)?.to_owned();
        // The URI is required but unused: the connector below always dials the socket.
        let connector = service_fn(move |_: Uri| {
            let socket = socket.clone();
            async move { UnixStream::connect(socket).await.map(TokioIo::new) }
        });
        Endpoint::from_static("http://localhost")
            .connect_with_connector(connector)
            .await
            .map_err(|err| {
                if nobody_listens(&err) {
                    self.absent()
                } else {
                    SourceError::Connect(err)
                }
            })
    }

    fn absent(&self) -> SourceError {
        SourceError::Absent {
            looked_for: self.paths.clone(),
        }
    }
}
