//! Wire types of the sensor's gRPC API. Domain <-> wire conversion lives in the sensor crate
//! (`sensor::api::convert`), not here.
#[expect(
    clippy::large_enum_variant,
    reason = "generated code: GetEventsResponse.item"
)]
pub mod v1 {
    tonic::include_proto!("sensor.v1");
}

/// The subset of the Kubernetes CRI (`runtime.v1`) that the sensor reads pod metadata from.
pub mod cri {
    tonic::include_proto!("runtime.v1");
}
