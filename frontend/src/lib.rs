//! dockopt-frontend's pure part: what BuildKit passes in the environment (`opts`) and what a
//! build decides from it before any gRPC (the targets, the network mode, the caches to import).
//! The binary (`main.rs`) is the gRPC glue around it; this library lets the fuzzer (`bench`)
//! drive the same decoding. It must not know gRPC or the terminal.

pub mod opts;
