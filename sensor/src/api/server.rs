//! The `sensor.v1.SensorService` server.
use std::{future::Future, sync::Arc};

use sensor_proto::v1::{
    GetEventsRequest, GetEventsResponse, GetProfileRequest, GetProfileResponse,
    ListContainersRequest, ListContainersResponse,
    sensor_service_server::{SensorService, SensorServiceServer},
};
use tokio::{net::TcpListener, sync::mpsc};
use tokio_stream::wrappers::{ReceiverStream, TcpListenerStream};
use tonic::{Request, Response, Status};

use super::{Identity, convert};
use crate::{
    enrich::{cri::CriHandle, registry::Registry},
    hub::{Hub, Item},
    profile::{self, SharedStore},
    syscalls::Arch,
};

/// Items buffered between a subscriber's hub queue and its HTTP/2 stream.
const STREAM_BUFFER: usize = 64;

pub struct EventService {
    hub: Hub,
    identity: Arc<Identity>,
    registry: Registry,
    cri: Option<CriHandle>,
    profiles: SharedStore,
}

impl EventService {
    pub fn new(
        hub: Hub,
        identity: Identity,
        registry: Registry,
        cri: Option<CriHandle>,
        profiles: SharedStore,
    ) -> Self {
        Self {
            hub,
            identity: Arc::new(identity),
            registry,
            cri,
            profiles,
        }
    }
}

#[tonic::async_trait]
impl SensorService for EventService {
    type GetEventsStream = ReceiverStream<Result<GetEventsResponse, Status>>;

    async fn get_profile(
        &self,
        request: Request<GetProfileRequest>,
    ) -> Result<Response<GetProfileResponse>, Status> {
        let sel = convert::selector_from_wire(request.get_ref())?;
        let learned = self
            .profiles
            .lock()
            .map_err(|_| Status::internal("the profile store is unavailable"))?
            .select(&sel);
        if learned.is_empty() {
            return Err(Status::not_found(format!(
                "nothing learned for {sel:?} (did it run while the sensor was up?)"
            )));
        }
        let built = profile::build(&learned, &sel, Arch::NATIVE);
        Ok(Response::new(convert::profile_to_wire(&built)))
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

    async fn get_events(
        &self,
        request: Request<GetEventsRequest>,
    ) -> Result<Response<Self::GetEventsStream>, Status> {
        let filter = convert::filter_from_wire(request.get_ref())?;
        // Subscribe before answering: once the client has the response, it misses nothing.
        let mut sub = self.hub.subscribe();
        let identity = self.identity.clone();
        let (tx, rx) = mpsc::channel(STREAM_BUFFER);
        tracing::debug!(
            ?filter,
            subscribers = self.hub.subscribers(),
            "new subscriber"
        );
        tokio::spawn(async move {
            loop {
                let item = tokio::select! {
                    item = sub.next() => item,
                    _ = tx.closed() => break, // the client went away
                };
                let Some(item) = item else { break }; // the sensor is shutting down
                if let Item::Event(ev) = &item
                    && !filter.matches(ev)
                {
                    continue;
                }
                // Waiting here is fine: a slow client only makes its own hub queue overflow.
                if tx
                    .send(Ok(convert::item_to_wire(&item, &identity)))
                    .await
                    .is_err()
                {
                    break;
                }
            }
        });
        Ok(Response::new(ReceiverStream::new(rx)))
    }
}

/// Serves the API on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: TcpListener,
    service: EventService,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), tonic::transport::Error> {
    tonic::transport::Server::builder()
        .add_service(SensorServiceServer::new(service))
        .serve_with_incoming_shutdown(TcpListenerStream::new(listener), shutdown)
        .await
}
