//! Compiles the Open Inference Protocol's gRPC service (schemas/grpc_predict_v2.proto) into
//! Rust with protox (a protobuf compiler in Rust: no system `protoc` needed) and
//! tonic-prost-build (server side only).

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let proto = "schemas/grpc_predict_v2.proto";
    println!("cargo:rerun-if-changed={proto}");
    let descriptors = protox::compile([proto], ["schemas"])?;
    tonic_prost_build::configure()
        .build_client(false)
        .compile_fds(descriptors)?;
    Ok(())
}
