//! The model zoo and networks as descriptions: every zoo model is a network file (the format a
//! user writes, `zoo/*.toml`, built into the binary) with its article's training recipe. A
//! [`ModelConfig`] says which network (its file's text, or a network written in Rust), for what
//! input and classes; a [`Model`] is one built from it.

mod config;
mod labels;
mod model;
pub mod network_file;
mod normalize;
mod onnx_export;
mod recipe;
mod zoo;

pub use config::{ModelConfig, ModelError, PoolMode, MAX_CHANNELS, MAX_CLASSES, MAX_SIDE};
pub use labels::Labels;
pub use model::Model;
pub use network_file::{Header, NetworkFile, NetworkFileError};
pub use normalize::Normalize;
pub use onnx_export::{ONNX_INPUT, ONNX_OUTPUT};
pub use recipe::{OptimizerKind, Recipe};
pub use zoo::ModelKind;
