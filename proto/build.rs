//! Compiles the .proto files with protox (pure Rust, no system protoc). Every map becomes a
//! BTreeMap so that encoding, and therefore every op digest, is deterministic.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let files = [
        "pb/ops.proto",
        "apicaps/caps.proto",
        "rpc/status.proto",
        "frontend/gateway.proto",
    ];
    for f in &files {
        println!("cargo:rerun-if-changed={f}");
    }
    let fds = protox::compile(files, ["."])?;
    let grpc = std::env::var_os("CARGO_FEATURE_GRPC").is_some();
    let server = std::env::var_os("CARGO_FEATURE_SERVER").is_some();
    tonic_prost_build::configure()
        .build_server(server)
        .build_client(grpc)
        .build_transport(grpc)
        .btree_map(".")
        .compile_fds(fds)?;
    Ok(())
}
