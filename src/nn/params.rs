//! Counting parameters as PyTorch and the reference do: batch norm's running statistics are
//! buffers, not parameters (burn's `Module::num_params` counts them too).

use std::any::Any;
use std::collections::HashMap;

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param, ParamId};
use burn::tensor::Tensor;

/// Counts the trainable parameters of `module` without initializing lazy ones; a parameter
/// shared by several layers counts once, as in PyTorch's `parameters()`.
pub fn count_params<M: Module>(module: &M) -> usize {
    let mut counter = Counter::default();
    module.visit(&mut counter);
    counter.total
}

#[derive(Default)]
struct Counter {
    path: Vec<String>,
    seen: std::collections::HashSet<ParamId>,
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
        if !buffer && self.seen.insert(param.id) {
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

/// Whether every parameter and buffer of `module` is finite (no NaN, no infinity).
pub fn all_finite<M: Module>(module: &M) -> bool {
    let mut check = FiniteCheck { finite: true };
    module.visit(&mut check);
    check.finite
}

struct FiniteCheck {
    finite: bool,
}

impl ModuleVisitor for FiniteCheck {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if self.finite && param.is_initialized() {
            // x - x is 0 for finite x and NaN for NaN and the infinities.
            let value = param.val();
            let sum = (value.clone() - value).sum().into_scalar::<f32>();
            self.finite = sum == 0.0;
        }
    }
}

/// Makes every occurrence of a shared parameter hold the value of its first occurrence.
///
/// A parameter shared by two layers (same [`ParamId`]) collects the sum of both layers'
/// gradients in backward, but burn's optimizers update one occurrence per id; calling this after
/// each optimizer step gives the update to all of them, so they train as one set of weights.
pub fn tie_shared<M: Module>(module: M) -> M {
    module.map(&mut Tier::default())
}

#[derive(Default)]
struct Tier {
    first: HashMap<ParamId, Box<dyn Any>>,
}

impl ModuleMapper for Tier {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let id = param.id;
        match self
            .first
            .get(&id)
            .and_then(|t| t.downcast_ref::<Tensor<D>>())
        {
            Some(first) => {
                let first = first.clone();
                param.map(|_| first)
            }
            None => {
                if param.is_initialized() {
                    self.first.insert(id, Box::new(param.val()));
                }
                param
            }
        }
    }
}
