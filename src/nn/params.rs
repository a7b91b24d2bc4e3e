//! Counting parameters as PyTorch and the reference do: batch norm's running statistics are
//! buffers, not parameters (burn's `Module::num_params` counts them too).

use burn::module::{Module, ModuleVisitor, Param};
use burn::tensor::Tensor;

/// Counts the trainable parameters of `module` without initializing lazy ones.
pub fn count_params<M: Module>(module: &M) -> usize {
    let mut counter = Counter::default();
    module.visit(&mut counter);
    counter.total
}

#[derive(Default)]
struct Counter {
    path: Vec<String>,
    total: usize,
}

impl ModuleVisitor for Counter {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.path.push(name.to_string());
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.pop();
    }

    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let buffer = matches!(
            self.path.last().map(String::as_str),
            Some("running_mean" | "running_var")
        );
        if !buffer {
            self.total += param.lazy_shape().num_elements();
        }
    }
}

/// A trainable parameter with its hierarchical name, e.g. `b3.0.p2_2.weight`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamedParam {
    pub name: String,
    pub shape: Vec<usize>,
}

impl NamedParam {
    pub fn count(&self) -> usize {
        self.shape.iter().product()
    }
}

/// The trainable parameters of a `Sequential`, named by its children's names.
pub fn named_params(seq: &super::Sequential, prefix: &str) -> Vec<NamedParam> {
    let mut out = Vec::new();
    for (name, layer) in seq.children() {
        let path = if prefix.is_empty() {
            name.to_string()
        } else {
            format!("{prefix}.{name}")
        };
        match layer {
            super::Layer::Sequential(inner) => out.extend(named_params(inner, &path)),
            leaf => {
                let mut namer = Namer {
                    path: vec![path],
                    out: Vec::new(),
                };
                leaf.visit(&mut namer);
                out.extend(namer.out);
            }
        }
    }
    out
}

/// Names the parameters below one layer, leaving out burn's enum-variant level and buffers.
struct Namer {
    path: Vec<String>,
    out: Vec<NamedParam>,
}

impl ModuleVisitor for Namer {
    fn enter_module(&mut self, name: &str, container_type: &str) {
        // Enum variants (`Conv`, `Inception`, ...) are a Rust detail, not a level of the network.
        let segment = if container_type.starts_with("Enum:") {
            ""
        } else {
            name
        };
        self.path.push(segment.to_string());
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.pop();
    }

    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if matches!(
            self.path.last().map(String::as_str),
            Some("running_mean" | "running_var")
        ) {
            return;
        }
        let name = self
            .path
            .iter()
            .filter(|s| !s.is_empty())
            .cloned()
            .collect::<Vec<_>>()
            .join(".");
        self.out.push(NamedParam {
            name,
            shape: param.lazy_shape().to_vec(),
        });
    }
}
