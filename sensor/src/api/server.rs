//! The `sensor.v1.SensorService` implementation.
use std::sync::Arc;

use sensor_proto::{
    encoded::sensor_service_server::SensorService,
    v1::{
        BindProfileRequest, BindProfileResponse, DiffProfileRequest, DiffProfileResponse,
        GetEventsRequest, GetProfileRequest, GetProfileResponse, ListContainersRequest,
        ListContainersResponse, StatusRequest, StatusResponse, UnbindProfileRequest,
        UnbindProfileResponse,
    },
};
use tokio::sync::Semaphore;
use tonic::{Request, Response, Status};

use super::{Identity, convert};
use crate::{
    enrich::{cri::CriHandle, registry::Registry},
    hub::Hub,
    metrics::{self, Sources},
    policy::reload::SharedInstaller,
    profile::{self, learner::Profiles},
    syscalls::Arch,
};

/// What the Status RPC reports besides the metrics.
#[derive(Clone, Debug)]
pub struct About {
    /// What is attached, asked at each Status.
    pub programs: crate::probes::AttachedView,
    pub kernel: String,
    /// Event streams served at once; more are refused with RESOURCE_EXHAUSTED.
    pub max_subscribers: usize,
    /// The settings in effect, by long option name.
    pub settings: std::collections::BTreeMap<String, String>,
}

#[derive(Clone)]
pub struct EventService {
    hub: Hub,
    identity: Arc<Identity>,
    registry: Registry,
    cri: Option<CriHandle>,
    profiles: Profiles,
    sources: Sources,
    about: Arc<About>,
    /// One permit per event stream.
    streams: Arc<Semaphore>,
    /// Installs bindings made through the API.
    installer: SharedInstaller,
}

impl EventService {
    pub fn new(
        identity: Identity,
        sources: Sources,
        profiles: Profiles,
        about: About,
        installer: SharedInstaller,
    ) -> Self {
        Self {
            hub: sources.hub.clone(),
            identity: Arc::new(identity),
            registry: sources.registry.clone(),
            cri: sources.cri.clone(),
            profiles,
            sources,
            streams: Arc::new(Semaphore::new(about.max_subscribers)),
            about: Arc::new(about),
            installer,
        }
    }
}

#[tonic::async_trait]
impl SensorService for EventService {
    type GetEventsStream = super::stream::EventStream;

    async fn get_profile(
        &self,
        request: Request<GetProfileRequest>,
    ) -> Result<Response<GetProfileResponse>, Status> {
        let sel = convert::selector_from_wire(request.get_ref())?;
        let opts = convert::build_options_from_wire(request.get_ref())?;
        let learned = self
            .profiles
            .select_complete(&sel)
            .map_err(Status::internal)?;
        if learned.is_empty() {
            return Err(Status::not_found(format!(
                "nothing learned for {sel:?} (did it run while the sensor was up?)"
            )));
        }
        let built = profile::build(&learned, &sel, Arch::NATIVE, &opts);
        Ok(Response::new(convert::profile_to_wire(&built)))
    }

    async fn bind_profile(
        &self,
        request: Request<BindProfileRequest>,
    ) -> Result<Response<BindProfileResponse>, Status> {
        super::bind::bind(&self.installer, &self.profiles, request.get_ref())
            .await
            .map(Response::new)
    }

    async fn unbind_profile(
        &self,
        request: Request<UnbindProfileRequest>,
    ) -> Result<Response<UnbindProfileResponse>, Status> {
        super::bind::unbind(&self.installer, &request.get_ref().name).await?;
        Ok(Response::new(UnbindProfileResponse {}))
    }

    async fn diff_profile(
        &self,
        request: Request<DiffProfileRequest>,
    ) -> Result<Response<DiffProfileResponse>, Status> {
        super::bind::diff(&self.installer, &self.profiles, request.get_ref())
            .await
            .map(Response::new)
    }

    async fn list_containers(
        &self,
        _request: Request<ListContainersRequest>,
    ) -> Result<Response<ListContainersResponse>, Status> {
        let containers = self
            .registry
            .list()
            .iter()
            .map(|s| {
                let meta = self.cri.as_ref().and_then(|c| c.get(&s.container.id));
                convert::seen_container_to_wire(s, meta.as_deref())
            })
            .collect();
        Ok(Response::new(ListContainersResponse { containers }))
    }

    async fn status(
        &self,
        _request: Request<StatusRequest>,
    ) -> Result<Response<StatusResponse>, Status> {
        let families = self.sources.snapshot();
        Ok(Response::new(StatusResponse {
            version: env!("CARGO_PKG_VERSION").to_owned(),
            sensor_instance_id: self.identity.instance_id.clone(),
            node_name: self.identity.node_name.clone(),
            kernel: self.about.kernel.clone(),
            programs: self.about.programs.programs(),
            uptime_seconds: self.sources.started.elapsed().as_secs(),
            subscribers: u32::try_from(self.hub.subscribers()).unwrap_or(u32::MAX),
            last_seq: self.hub.published(),
            counters: metrics::flatten(&families, metrics::Type::Counter)
                .into_iter()
                .collect(),
            gauges: metrics::flatten(&families, metrics::Type::Gauge)
                .into_iter()
                .collect(),
            settings: self.about.settings.clone().into_iter().collect(),
        }))
    }

    async fn get_events(
        &self,
        request: Request<GetEventsRequest>,
    ) -> Result<Response<Self::GetEventsStream>, Status> {
        let req = request.get_ref();
        let filter = convert::filter_from_wire(req)?;
        let start =
            convert::start_from_wire(req, &self.identity.instance_id, self.hub.published())?;
        let Ok(permit) = self.streams.clone().try_acquire_owned() else {
            self.sources
                .api_refused
                .streams
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            return Err(Status::resource_exhausted(format!(
                "this sensor serves at most {} event streams at once (--max-subscribers)",
                self.about.max_subscribers
            )));
        };
        // Subscribe before answering: once the client has the response, it misses nothing.
        let sub = self.hub.subscribe_from(start);
        tracing::debug!(
            ?filter,
            ?start,
            subscribers = self.hub.subscribers(),
            "new subscriber"
        );
        let stream = super::stream::new(sub, filter, self.identity.clone(), permit);
        Ok(Response::new(stream))
    }
}
