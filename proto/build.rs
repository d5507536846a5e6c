//! Compiles the sensor's API and the CRI subset it uses, with protox (pure Rust, no system
//! protoc).
fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protos = [
        "proto/sensor/v1/sensor.proto",
        "proto/cri/runtime/v1/api.proto",
    ];
    for p in protos {
        println!("cargo:rerun-if-changed={p}");
    }
    let fds = protox::compile(protos, ["proto"])?;
    // For gRPC server reflection: the sensor's own API only (the CRI subset is a client).
    let api = protox::compile([protos[0]], ["proto"])?;
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(
        out.join("sensor_v1_descriptor.bin"),
        prost::Message::encode_to_vec(&api),
    )?;
    // Messages and the client, for collectors (and the sensor's own client commands).
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(false)
        .compile_fds(fds)?;
    // The server the sensor runs: the same service and routes, but GetEvents streams responses
    // that are already encoded, so that an event is encoded once however many subscribers get
    // it. Every other message is the one generated above.
    let encoded = out.join("encoded");
    std::fs::create_dir_all(&encoded)?;
    tonic_prost_build::configure()
        .build_client(false)
        .build_server(true)
        .out_dir(&encoded)
        .codec_path("crate::encoded::Codec")
        .extern_path(
            ".sensor.v1.GetEventsResponse",
            "crate::encoded::EncodedEventsResponse",
        )
        .extern_path(".sensor.v1", "crate::v1")
        .compile_fds(api)?;
    Ok(())
}
