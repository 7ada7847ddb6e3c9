//! The gateway spec shared by the `gatectl` CLI and the runtime: the model, loading from YAML or
//! JSON with source locations, the JSON Schema, validation rules, normalisation and bundles.
//!
//! # Choice of YAML library
//!
//! Specs are read with [`saphyr-parser`](https://crates.io/crates/saphyr-parser), the event
//! parser of the saphyr project, which continues the yaml-rust line with YAML 1.2 support and
//! active maintenance (`serde_yaml` is archived). Its events carry the position of every node,
//! and building our own tree from them ([`yaml`]) lets us reject duplicate keys, bound alias
//! expansion and nesting depth, and keep a span on every value for diagnostics.

pub mod api_key;
pub mod bundle;
pub mod diagnostic;
pub mod document;
pub mod duration;
pub mod header_template;
pub mod load;
pub mod model;
pub mod normalize;
pub mod path_template;
pub mod request_path;
pub mod rules;
pub mod schema;
pub mod secret;
pub mod source;
pub mod url_text;
pub mod yaml;

pub use diagnostic::{Diagnostic, Severity};
pub use duration::Duration;
pub use model::Spec;
pub use secret::SecretRef;
pub use source::{Location, SourceFile, SourceId, SourceMap, Span};
