//! Every tensor of a network under the name PyTorch gives it in a `state_dict()`, and its
//! layout there.
//!
//! Each layer says how PyTorch names its own tensors ([`crate::nn::Layer::torch_name`]); the
//! built-in rules follow torchvision:
//! - a convolution without batch norm is an `nn.Conv2d`: `{path}.weight`, `{path}.bias`;
//! - a convolution with batch norm is torchvision's `BasicConv2d`: `{path}.conv.weight`
//!   (`{path}.conv.bias` if it has one) and `{path}.bn.{weight,bias,running_mean,running_var}`;
//! - a dense layer is an `nn.Linear`: `{path}.weight` stored `[out, in]` (burn keeps `[in, out]`,
//!   so it is transposed on the way), `{path}.bias`;
//! - a batch-norm layer is an `nn.BatchNorm{1,2}d`: burn's `gamma`/`beta` are `weight`/`bias`;
//! - an Inception block's paths are torchvision's `branch1`, `branch2.0`, `branch2.1`,
//!   `branch3.0`, `branch3.1` and `branch4.1` (`branch4.0` is the pooling);
//! - children of a `Sequential` keep their names (`b3`, `inception4a`) or indices (`0`, `1`),
//!   and an auxiliary classifier's head is named as its children (`aux1.fc1.weight`).
//!
//! `scripts/torch_zoo.py` defines the zoo in PyTorch with exactly these names.

use crate::nn::params::tensor_paths;
use crate::nn::{Classifier, Layout};

/// One tensor of a network: where it is in burn and in PyTorch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TorchEntry {
    /// burn's path (`b1.0.weight`).
    pub path: String,
    /// PyTorch's name (`b1.0.weight`, `fc.weight`, `conv1.bn.running_mean`).
    pub name: String,
    pub layout: Layout,
    /// The shape in PyTorch's layout.
    pub shape: Vec<usize>,
}

/// Every tensor of `network` (parameters and batch-norm statistics) with PyTorch's name, in the
/// network's order. A shared layer's tensors are listed once, under its first place.
pub fn torch_entries<N: Classifier>(network: &N) -> Vec<TorchEntry> {
    tensor_paths(network)
        .into_iter()
        .map(|(path, _, shape)| {
            let torch = network.torch_name(&path);
            let shape = match torch.layout {
                Layout::Same => shape,
                Layout::Transposed => shape.iter().rev().copied().collect(),
            };
            TorchEntry {
                path,
                name: torch.name,
                layout: torch.layout,
                shape,
            }
        })
        .collect()
}

/// The PyTorch names of `network`'s tensors with their shapes in PyTorch's layout.
pub fn torch_names<N: Classifier>(network: &N) -> Vec<(String, Vec<usize>)> {
    torch_entries(network)
        .into_iter()
        .map(|e| (e.name, e.shape))
        .collect()
}
