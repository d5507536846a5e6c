//! Wire types of the sensor's gRPC API. Domain <-> wire conversion lives in the sensor crate
//! (`sensor::api::convert`), not here.
#[expect(
    clippy::large_enum_variant,
    reason = "generated code: GetEventsResponse.item"
)]
pub mod v1 {
    tonic::include_proto!("sensor.v1");

    /// The encoded `FileDescriptorSet` of `sensor.v1`, for gRPC server reflection.
    pub const FILE_DESCRIPTOR_SET: &[u8] =
        include_bytes!(concat!(env!("OUT_DIR"), "/sensor_v1_descriptor.bin"));
}

/// The subset of the Kubernetes CRI (`runtime.v1`) that the sensor reads pod metadata from.
pub mod cri {
    tonic::include_proto!("runtime.v1");
}
