//! dockopt-diagnostics: the one shared edge for user files (manifests, cluster files).
//!
//! A [`Span`] (line, column), a [`Diagnostic`] (span, field path, message, help), every problem of
//! one file ([`Diagnostics`], with a one-line `Display` and a rendering with the source line and a
//! caret), "did you mean" suggestions by edit distance, and YAML reading that records a
//! diagnostic for every wrong shape ([`yaml::Reader`], [`yaml::load`]).
//!
//! Text in, values out: no files, no terminal, nothing about what the files mean.

mod render;
mod suggest;
pub mod yaml;

pub use render::{Diagnostic, Diagnostics, Span};
pub use suggest::did_you_mean;
