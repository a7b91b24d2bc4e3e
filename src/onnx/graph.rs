//! [`OnnxGraph`]: the inference graph a network writes of itself, node by node.
//!
//! Every layer describes its inference computation with `nn::Layer::to_onnx`:
//! it receives the [`OnnxValue`] its input is (a name in the graph and the shape of one example)
//! and adds nodes ([`OnnxGraph::node`]) and weights ([`OnnxGraph::weight`]) to the graph. Names
//! follow the layers' paths (`b3.0.p1.weight`), so the graph reads like the network.

use std::collections::{HashMap, HashSet};

use burn::tensor::Tensor;
use onnx_protobuf::attribute_proto::AttributeType;
use onnx_protobuf::tensor_proto::DataType;
use onnx_protobuf::{AttributeProto, NodeProto, TensorProto};

use super::OnnxError;

/// A value flowing through the graph: its name and the shape of one example (no batch
/// dimension: the graph's batch size is left open).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OnnxValue {
    pub name: String,
    pub shape: Vec<usize>,
}

impl OnnxValue {
    pub fn new(name: impl Into<String>, shape: Vec<usize>) -> Self {
        Self {
            name: name.into(),
            shape,
        }
    }

    /// The same value under a new name with a new shape (what a node that keeps the batch
    /// dimension gives).
    pub fn with(&self, name: String, shape: Vec<usize>) -> Self {
        Self { name, shape }
    }
}

/// An attribute of a node, as ONNX types it.
#[derive(Debug, Clone, PartialEq)]
pub enum Attr {
    Int(i64),
    Ints(Vec<i64>),
    Float(f32),
}

impl Attr {
    /// `[v, v]`: a square kernel, a stride in both directions.
    pub fn pair(v: usize) -> Self {
        Attr::Ints(vec![v as i64; 2])
    }

    /// ONNX's `pads` for `p` on every side of a 2-d map: `[top, left, bottom, right]`.
    pub fn pads(p: usize) -> Self {
        Attr::Ints(vec![p as i64; 4])
    }

    fn proto(&self, name: &str) -> AttributeProto {
        let mut a = AttributeProto {
            name: name.to_string(),
            ..Default::default()
        };
        match self {
            Attr::Int(i) => {
                a.type_ = AttributeType::INT.into();
                a.i = *i;
            }
            Attr::Ints(v) => {
                a.type_ = AttributeType::INTS.into();
                a.ints = v.clone();
            }
            Attr::Float(f) => {
                a.type_ = AttributeType::FLOAT.into();
                a.f = *f;
            }
        }
        a
    }
}

/// The graph being written: its nodes, its weights (initializers) and where in the network the
/// writing is (the path of the layer writing now).
#[derive(Debug, Default)]
pub struct OnnxGraph {
    pub(crate) nodes: Vec<NodeProto>,
    pub(crate) initializers: Vec<TensorProto>,
    names: HashSet<String>,
    /// Initializers by the key a layer gave them (a shared layer's weights are written once).
    keyed: HashMap<String, String>,
    /// The path of the layer writing now, one name per level.
    pub(crate) path: Vec<String>,
    /// The error of a layer nested in the one writing now, with its full path.
    pub(crate) error: Option<OnnxError>,
}

impl OnnxGraph {
    pub fn new() -> Self {
        Self::default()
    }

    /// The dotted path of the layer writing now (`b3.0.p1`).
    pub fn path(&self) -> String {
        self.path.join(".")
    }

    /// A name not used yet in the graph, made of the current path and `what`.
    pub fn fresh_name(&mut self, what: &str) -> String {
        let base = match (self.path(), what) {
            (path, "") if !path.is_empty() => path,
            (path, what) if path.is_empty() => what.to_string(),
            (path, what) => format!("{path}.{what}"),
        };
        let mut name = base.clone();
        let mut n = 1;
        while !self.names.insert(name.clone()) {
            n += 1;
            name = format!("{base}_{n}");
        }
        name
    }

    /// Adds a node `op` reading `inputs` with `attrs`; returns the name of its output.
    pub fn node(&mut self, op: &str, inputs: &[&str], attrs: &[(&str, Attr)]) -> String {
        let output = self.fresh_name(op);
        self.nodes.push(NodeProto {
            op_type: op.to_string(),
            name: output.clone(),
            input: inputs.iter().map(|s| s.to_string()).collect(),
            output: vec![output.clone()],
            attribute: attrs.iter().map(|(n, a)| a.proto(n)).collect(),
            ..Default::default()
        });
        output
    }

    /// A float tensor stored in the graph under `what` (below the current path), read from the
    /// device. `key`, when given, identifies the tensor: writing the same key again (a shared
    /// layer at its second place) returns the first one's name.
    pub fn weight<const D: usize>(
        &mut self,
        what: &str,
        tensor: Tensor<D>,
        key: Option<String>,
    ) -> String {
        if let Some(name) = key.as_ref().and_then(|k| self.keyed.get(k)) {
            return name.clone();
        }
        let dims = tensor.dims().to_vec();
        let values = tensor
            .into_data()
            .convert::<f32>()
            .try_to_vec::<f32>()
            .expect("a float tensor converts to f32");
        let name = self.constant(what, &dims, &values);
        if let Some(key) = key {
            self.keyed.insert(key, name.clone());
        }
        name
    }

    /// A float constant of shape `dims` stored in the graph under `what`.
    pub fn constant(&mut self, what: &str, dims: &[usize], values: &[f32]) -> String {
        let name = self.fresh_name(what);
        self.initializers.push(TensorProto {
            name: name.clone(),
            dims: dims.iter().map(|&d| d as i64).collect(),
            data_type: DataType::FLOAT as i32,
            raw_data: values.iter().flat_map(|v| v.to_le_bytes()).collect(),
            ..Default::default()
        });
        name
    }

    /// An int64 constant (shapes, axes) stored in the graph under `what`.
    pub fn constant_i64(&mut self, what: &str, values: &[i64]) -> String {
        let name = self.fresh_name(what);
        self.initializers.push(TensorProto {
            name: name.clone(),
            dims: vec![values.len() as i64],
            data_type: DataType::INT64 as i32,
            raw_data: values.iter().flat_map(|v| v.to_le_bytes()).collect(),
            ..Default::default()
        });
        name
    }

    /// Gives the value `value` the name `name` (the graph's output): the node that computes it
    /// is renamed, or an `Identity` added when no node does (a network that changes nothing).
    pub fn name_output(&mut self, value: &str, name: &str) {
        self.names.insert(name.to_string());
        match self
            .nodes
            .iter()
            .position(|n| n.output.iter().any(|o| o == value))
        {
            Some(_) => {
                for node in &mut self.nodes {
                    for slot in node.output.iter_mut().chain(node.input.iter_mut()) {
                        if slot == value {
                            *slot = name.to_string();
                        }
                    }
                }
            }
            None => self.nodes.push(NodeProto {
                op_type: "Identity".into(),
                name: name.to_string(),
                input: vec![value.to_string()],
                output: vec![name.to_string()],
                ..Default::default()
            }),
        }
    }

    /// Records the error of the layer at the current path (kept when a block above fails too).
    pub(crate) fn fail(&mut self, error: OnnxError) {
        self.error.get_or_insert(error);
    }
}
