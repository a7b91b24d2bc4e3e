//! Every tensor of a model under the name PyTorch gives it in a `state_dict()`.
//!
//! The rules, one per layer type, follow torchvision:
//! - a convolution without batch norm is an `nn.Conv2d`: `{path}.weight`, `{path}.bias`;
//! - a convolution with batch norm is torchvision's `BasicConv2d`: `{path}.conv.weight`
//!   (`{path}.conv.bias` if it has one) and `{path}.bn.{weight,bias,running_mean,running_var}`;
//! - a dense layer is an `nn.Linear`: `{path}.weight` stored `[out, in]` (burn keeps `[in, out]`,
//!   so it is transposed on the way), `{path}.bias`;
//! - a batch-norm layer is an `nn.BatchNorm{1,2}d`: burn's `gamma`/`beta` are `weight`/`bias`;
//! - an Inception block's paths are torchvision's `branch1`, `branch2.0`, `branch2.1`,
//!   `branch3.0`, `branch3.1` and `branch4.1` (`branch4.0` is the pooling);
//! - children of a `Sequential` keep their names (`b3`, `inception4a`) or indices (`0`, `1`),
//!   and auxiliary classifiers are top-level children (`aux1.fc1.weight`).
//!
//! `scripts/torch_zoo.py` defines the zoo in PyTorch with exactly these names.

use burn::module::{Param, RunningState};
use burn::nn::BatchNorm;
use burn::tensor::Tensor;

use crate::models::Model;
use crate::nn::{Conv, Dense, Inception, Layer, Sequential};

/// One tensor slot of a model, borrowed so it can be read or replaced.
pub enum Slot<'a> {
    /// A vector parameter: bias, batch-norm scale or shift.
    Vector(&'a mut Param<Tensor<1>>),
    /// A convolution kernel `[out, in, k, k]` (the same layout in both frameworks).
    Kernel(&'a mut Param<Tensor<4>>),
    /// A dense weight: `[in, out]` here, `[out, in]` in PyTorch.
    Linear(&'a mut Param<Tensor<2>>),
    /// A batch-norm running statistic (a buffer in PyTorch).
    Running(&'a mut RunningState<Tensor<1>>),
}

impl Slot<'_> {
    /// The tensor's shape in PyTorch's layout.
    pub fn torch_shape(&self) -> Vec<usize> {
        match self {
            Slot::Vector(p) => p.lazy_shape().to_vec(),
            Slot::Kernel(p) => p.lazy_shape().to_vec(),
            Slot::Linear(p) => {
                let shape = p.lazy_shape();
                vec![shape[1], shape[0]]
            }
            Slot::Running(r) => r.value().dims().to_vec(),
        }
    }
}

/// Calls `visit` with the PyTorch name and slot of every tensor of `model`, in the order of
/// PyTorch's `state_dict()` (trunk first, then the auxiliary heads).
pub fn visit_model(model: &mut Model, visit: &mut dyn FnMut(&str, Slot<'_>)) {
    visit_sequential(&mut model.body, "", visit);
    for aux in &mut model.aux {
        visit_sequential(&mut aux.head, "", visit);
    }
}

/// The PyTorch names of `model`'s tensors with their shapes in PyTorch's layout.
pub fn torch_names(model: &Model) -> Vec<(String, Vec<usize>)> {
    // Visiting needs `&mut` for the loaders; a clone shares the tensors and costs nothing.
    let mut model = model.clone();
    let mut out = Vec::new();
    visit_model(&mut model, &mut |name, slot| {
        out.push((name.to_string(), slot.torch_shape()))
    });
    out
}

fn join(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_string()
    } else {
        format!("{prefix}.{name}")
    }
}

fn visit_sequential(seq: &mut Sequential, prefix: &str, visit: &mut dyn FnMut(&str, Slot<'_>)) {
    for (name, layer) in seq.names.iter().zip(seq.layers.iter_mut()) {
        visit_layer(layer, &join(prefix, name), visit);
    }
}

fn visit_layer(layer: &mut Layer, path: &str, visit: &mut dyn FnMut(&str, Slot<'_>)) {
    match layer {
        Layer::Conv(conv) => visit_conv(conv, path, visit),
        Layer::Dense(dense) => visit_dense(dense, path, visit),
        Layer::BatchNorm(bn) => visit_batch_norm(bn, path, visit),
        Layer::Inception(block) => visit_inception(block, path, visit),
        Layer::Sequential(seq) => visit_sequential(seq, path, visit),
        Layer::Pool(_)
        | Layer::AdaptiveAvgPool(_)
        | Layer::GlobalAvgPool(_)
        | Layer::Flatten(_)
        | Layer::TransformInput(_)
        | Layer::Relu(_)
        | Layer::Sigmoid(_)
        | Layer::Dropout(_) => {}
    }
}

fn visit_conv(conv: &mut Conv, path: &str, visit: &mut dyn FnMut(&str, Slot<'_>)) {
    let conv_path = if conv.bn.is_some() {
        join(path, "conv")
    } else {
        path.to_string()
    };
    visit(&join(&conv_path, "weight"), Slot::Kernel(&mut conv.weight));
    if let Some(bias) = &mut conv.bias {
        visit(&join(&conv_path, "bias"), Slot::Vector(bias));
    }
    if let Some(bn) = &mut conv.bn {
        visit_batch_norm(bn, &join(path, "bn"), visit);
    }
}

fn visit_dense(dense: &mut Dense, path: &str, visit: &mut dyn FnMut(&str, Slot<'_>)) {
    visit(&join(path, "weight"), Slot::Linear(&mut dense.weight));
    visit(&join(path, "bias"), Slot::Vector(&mut dense.bias));
}

fn visit_batch_norm(bn: &mut BatchNorm, path: &str, visit: &mut dyn FnMut(&str, Slot<'_>)) {
    visit(&join(path, "weight"), Slot::Vector(&mut bn.gamma));
    visit(&join(path, "bias"), Slot::Vector(&mut bn.beta));
    visit(
        &join(path, "running_mean"),
        Slot::Running(&mut bn.running_mean),
    );
    visit(
        &join(path, "running_var"),
        Slot::Running(&mut bn.running_var),
    );
}

fn visit_inception(block: &mut Inception, path: &str, visit: &mut dyn FnMut(&str, Slot<'_>)) {
    visit_conv(&mut block.p1, &join(path, "branch1"), visit);
    visit_conv(&mut block.p2_1, &join(path, "branch2.0"), visit);
    visit_conv(&mut block.p2_2, &join(path, "branch2.1"), visit);
    visit_conv(&mut block.p3_1, &join(path, "branch3.0"), visit);
    visit_conv(&mut block.p3_2, &join(path, "branch3.1"), visit);
    visit_conv(&mut block.p4_2, &join(path, "branch4.1"), visit);
}
