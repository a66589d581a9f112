//! dockopt-llb: manifest + plan → BuildKit LLB.
//!
//! Every node of the plan's trie becomes exactly one op whose input is its trie parent, so a
//! shared prefix is literally the same op (same bytes, same digest) in every target's graph.
//! Also builds each target's final image config.
//!
//! Pure: takes values, returns bytes. No IO, no clocks, no randomness; every map is a BTreeMap,
//! so the same inputs give byte-identical Definitions. It knows the manifest model, the plan and
//! the wire types; it does not know gRPC, files or the CLI.

mod graph;
mod image;
mod ops;

pub use graph::{Graph, Output, digest_of};
pub use image::{BaseConfig, final_config, target_layers};
pub use ops::{BuildOptions, Built, LlbError, all_of, build, merge_of, step_name};
