//! ONNX: a network's inference graph as an ONNX model file, for ONNX Runtime, TensorRT,
//! OpenVINO and every other runtime that reads ONNX.
//!
//! Layers write themselves into an [`OnnxGraph`] (`nn::Layer::to_onnx`,
//! optional in the layer contract); [`OnnxModel`] wraps the finished graph with its input,
//! output, opset and metadata and writes the file atomically, moving the weights to a
//! side file (ONNX's external data) when they would not fit protobuf's 2 GiB. The protobuf
//! messages are `onnx-protobuf`'s, generated from the official `onnx.proto`.
//! `models::export_onnx` exports a whole model.

mod file;
mod graph;

pub use file::{OnnxModel, WrittenOnnx, EXTERNAL_DATA_ABOVE, OPSET};
pub use graph::{Attr, OnnxGraph, OnnxValue};

use std::path::PathBuf;

/// Why a network could not be written as ONNX.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OnnxError {
    /// A layer that cannot be described as ONNX nodes (the user's own without `to_onnx`).
    #[error("cannot export layer `{layer}` ({description}) to ONNX: {reason}")]
    Layer {
        layer: String,
        description: String,
        reason: String,
    },
    /// The file or its external data could not be written.
    #[error("cannot write {path}: {detail} (check that the directory exists and is writable)")]
    Write { path: PathBuf, detail: String },
}
