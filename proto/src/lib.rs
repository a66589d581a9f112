//! dockopt-proto: the BuildKit wire types dockopt uses, generated from our own `.proto` files.
//!
//! Messages only by default (for building LLB); the `grpc` feature adds the `LLBBridge` client
//! the frontend calls, and `server` the `LLBBridge` server trait (for the frontend's tests, which
//! stand in for BuildKit). Every protobuf map is a `BTreeMap`: encoding is deterministic.
#![allow(missing_docs, unreachable_pub, clippy::all, clippy::pedantic)]

/// LLB ops (`pb`).
pub mod pb {
    include!(concat!(env!("OUT_DIR"), "/pb.rs"));
}

/// Google's RPC status (`google.rpc`).
pub mod google {
    pub mod rpc {
        include!(concat!(env!("OUT_DIR"), "/google.rpc.rs"));
    }
}

/// BuildKit's API packages (`moby.buildkit.v1.*`).
pub mod moby {
    pub mod buildkit {
        pub mod v1 {
            pub mod apicaps {
                include!(concat!(env!("OUT_DIR"), "/moby.buildkit.v1.apicaps.rs"));
            }
            pub mod frontend {
                include!(concat!(env!("OUT_DIR"), "/moby.buildkit.v1.frontend.rs"));
            }
        }
    }
}

pub use moby::buildkit::v1::frontend as gateway;
