//! dockopt-manifest: the user's contract.
//!
//! Owns the manifest format (YAML, version 1): parsing with a span on every value, argument
//! substitution, validation with diagnostics that name file, line, column and field, the model
//! the rest of dockopt reads ([`Manifest`]), and its lowering into a planner
//! [`dockopt_planner::Problem`].
//!
//! Takes text, returns values: it never reads files, talks to Docker or prints. It knows the
//! planner's input types and nothing above them (no LLB, no CLI, no gRPC).

mod duration;
pub mod image_ref;
mod lower;
mod model;
mod parse;
mod squash;
mod subst;

pub use dockopt_diagnostics::{Diagnostic, Diagnostics, Span, did_you_mean};
pub use model::{
    Action, Arg, CacheSharing, Copy, Healthcheck, ImageConfig, Manifest, Mount, RunCommand, Step,
    StepContext, Target,
};
pub use parse::{DEFAULT_LAYER_LIMIT, DOCKER_LAYER_LIMIT, parse, parse_size};
