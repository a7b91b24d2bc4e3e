//! [`OnnxModel`]: a finished graph with its input, output, opset and metadata, written as one
//! `.onnx` file (or with its weights beside it, ONNX's external data, past 2 GiB).

use std::path::{Path, PathBuf};

use onnx_protobuf::tensor_proto::{DataLocation, DataType};
use onnx_protobuf::tensor_shape_proto::{dimension, Dimension};
use onnx_protobuf::type_proto::{Tensor as TensorType, Value as TypeValue};
use onnx_protobuf::{
    GraphProto, Message, ModelProto, OperatorSetIdProto, StringStringEntryProto, TensorShapeProto,
    TypeProto, ValueInfoProto,
};

use super::{OnnxError, OnnxGraph};

/// The operator set written: 17 (ONNX 1.12, 2022), read by every current runtime.
pub const OPSET: i64 = 17;
/// The ONNX IR version that goes with opset 17.
const IR_VERSION: i64 = 8;
/// Weights past this many bytes go to a side file: protobuf cannot hold a message of 2 GiB.
pub const EXTERNAL_DATA_ABOVE: usize = (1 << 31) - (64 << 20);
/// Tensors smaller than this stay in the model file even when the weights go beside it.
const SMALL_TENSOR: usize = 1024;

/// A graph ready to be written: what goes in (one float32 batch of `[C, H, W]` images, the batch
/// size left open as `batch`) and what comes out.
#[derive(Debug)]
pub struct OnnxModel {
    pub graph: OnnxGraph,
    pub name: String,
    pub input: (String, Vec<usize>),
    pub output: (String, Vec<usize>),
    /// Key-value pairs in the model's `metadata_props`.
    pub metadata: Vec<(String, String)>,
    pub doc: String,
}

/// What was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrittenOnnx {
    pub nodes: usize,
    pub weights: usize,
    pub bytes: u64,
    /// The side file holding the weights, when they did not fit in the model file.
    pub external_data: Option<PathBuf>,
}

impl OnnxModel {
    /// Writes the model to `path` atomically (a reader sees the old file or the new one). Weights
    /// of more than `external_above` bytes in all go to `PATH.data` beside it.
    pub fn write(self, path: &Path, external_above: usize) -> Result<WrittenOnnx, OnnxError> {
        let write_error = |path: &Path, detail: String| OnnxError::Write {
            path: path.to_path_buf(),
            detail,
        };
        let (nodes, weights) = (self.graph.nodes.len(), self.graph.initializers.len());
        let mut initializers = self.graph.initializers;
        let total: usize = initializers.iter().map(|t| t.raw_data.len()).sum();
        let mut external_data = None;
        if total > external_above {
            let data_path = side_file(path);
            let location = data_path
                .file_name()
                .expect("a side file has a name")
                .to_string_lossy()
                .into_owned();
            let mut data = Vec::with_capacity(total);
            for tensor in initializers.iter_mut() {
                if tensor.raw_data.len() < SMALL_TENSOR {
                    continue;
                }
                // Aligned to 4 KiB, as onnx's own writer does, so runtimes can map the file.
                data.resize(data.len().next_multiple_of(4096), 0);
                let offset = data.len();
                data.append(&mut tensor.raw_data);
                tensor.data_location = DataLocation::EXTERNAL.into();
                tensor.external_data = [
                    ("location", location.clone()),
                    ("offset", offset.to_string()),
                    ("length", (data.len() - offset).to_string()),
                ]
                .into_iter()
                .map(|(key, value)| entry(key, value))
                .collect();
            }
            crate::fsutil::write_atomic(&data_path, &data)
                .map_err(|e| write_error(&data_path, e.to_string()))?;
            external_data = Some(data_path);
        }
        let graph = GraphProto {
            name: self.name.clone(),
            node: self.graph.nodes,
            initializer: initializers,
            input: vec![value_info(&self.input.0, &self.input.1)],
            output: vec![value_info(&self.output.0, &self.output.1)],
            doc_string: self.doc.clone(),
            ..Default::default()
        };
        let model = ModelProto {
            ir_version: IR_VERSION,
            opset_import: vec![OperatorSetIdProto {
                domain: String::new(),
                version: OPSET,
                ..Default::default()
            }],
            producer_name: "inception".into(),
            producer_version: env!("CARGO_PKG_VERSION").into(),
            doc_string: self.doc,
            graph: Some(graph).into(),
            metadata_props: self
                .metadata
                .into_iter()
                .map(|(k, v)| entry(&k, v))
                .collect(),
            ..Default::default()
        };
        let bytes = model
            .write_to_bytes()
            .map_err(|e| write_error(path, e.to_string()))?;
        if let Err(e) = crate::fsutil::write_atomic(path, &bytes) {
            if let Some(data_path) = &external_data {
                // Not left behind without the model that reads it.
                let _ = std::fs::remove_file(data_path);
            }
            return Err(write_error(path, e.to_string()));
        }
        Ok(WrittenOnnx {
            nodes,
            weights,
            bytes: bytes.len() as u64,
            external_data,
        })
    }
}

/// `model.onnx` -> `model.onnx.data`.
fn side_file(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".data");
    path.with_file_name(name)
}

fn entry(key: &str, value: String) -> StringStringEntryProto {
    StringStringEntryProto {
        key: key.to_string(),
        value,
        ..Default::default()
    }
}

/// A float32 tensor of shape `[batch, dims...]` with the batch size left open.
fn value_info(name: &str, dims: &[usize]) -> ValueInfoProto {
    let batch = Dimension {
        value: Some(dimension::Value::DimParam("batch".into())),
        ..Default::default()
    };
    let fixed = dims.iter().map(|&d| Dimension {
        value: Some(dimension::Value::DimValue(d as i64)),
        ..Default::default()
    });
    let tensor = TensorType {
        elem_type: DataType::FLOAT as i32,
        shape: Some(TensorShapeProto {
            dim: std::iter::once(batch).chain(fixed).collect(),
            ..Default::default()
        })
        .into(),
        ..Default::default()
    };
    ValueInfoProto {
        name: name.to_string(),
        type_: Some(TypeProto {
            value: Some(TypeValue::TensorType(tensor)),
            ..Default::default()
        })
        .into(),
        ..Default::default()
    }
}
