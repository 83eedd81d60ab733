//! A blocking gRPC client of the coordinator for tests, with the bearer
//! token interceptor that every test client (blocking or async) uses.

use std::time::Duration;

use rwclip_proto::v1 as pb;
use rwclip_proto::v1::coordinator_client::CoordinatorClient;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::interceptor::InterceptedService;
use tonic::service::Interceptor;
use tonic::transport::{Channel, Endpoint};
use tonic::{Request, Status};

/// Adds `authorization: Bearer <token>` to every call (or nothing).
#[derive(Clone)]
pub struct Bearer(Option<MetadataValue<Ascii>>);

impl Bearer {
    pub fn new(token: Option<&str>) -> Bearer {
        Bearer(token.map(|t| format!("Bearer {t}").parse().expect("token is ASCII")))
    }
}

impl Interceptor for Bearer {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        if let Some(value) = &self.0 {
            request.metadata_mut().insert("authorization", value.clone());
        }
        Ok(request)
    }
}

/// A blocking face over the generated gRPC client, for tests.
pub struct Client {
    rt: tokio::runtime::Runtime,
    inner: CoordinatorClient<InterceptedService<Channel, Bearer>>,
}

/// Every call's deadline: a coordinator that stops answering fails the call
/// instead of hanging the test.
const RPC_TIMEOUT: Duration = Duration::from_secs(10);

impl Client {
    pub fn connect(url: &str, token: Option<&str>) -> Client {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a current-thread runtime");
        let channel = {
            let _guard = rt.enter();
            Endpoint::from_shared(url.to_string())
                .unwrap_or_else(|e| panic!("bad coordinator URL {url}: {e}"))
                .connect_timeout(Duration::from_secs(2))
                .timeout(RPC_TIMEOUT)
                .connect_lazy()
        };
        let bearer = Bearer::new(token);
        Client { rt, inner: CoordinatorClient::with_interceptor(channel, bearer) }
    }

    pub fn get_job(&mut self, job: &str) -> Result<pb::JobStatus, Status> {
        let req = pb::GetJobRequest { job_id: job.to_string() };
        self.rt.block_on(self.inner.get_job(req)).map(|r| r.into_inner())
    }

    pub fn results(&mut self, job: &str) -> Result<pb::GetResultsResponse, Status> {
        let req = pb::GetResultsRequest { job_id: job.to_string() };
        self.rt.block_on(self.inner.get_results(req)).map(|r| r.into_inner())
    }

    pub fn register_worker(&mut self, req: pb::RegisterWorkerRequest) -> Result<pb::RegisterWorkerResponse, Status> {
        self.rt.block_on(self.inner.register_worker(req)).map(|r| r.into_inner())
    }
}
