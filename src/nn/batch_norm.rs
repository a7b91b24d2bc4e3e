//! `BatchNorm`: normalization over channels (maps `[N, C, H, W]`) or features (vectors
//! `[N, F]`) with batch statistics in training and moving averages in inference (momentum 0.1,
//! eps 1e-5, as PyTorch). Parameters `gamma [C]`, `beta [C]`; buffers `running_mean`,
//! `running_var`. The output has the input's shape.
//!
//! On burn's flex CPU backend, training runs `crate::flex::fused_batch_norm_train` (the
//! statistics, the normalization and a following ReLU fused, with one backward; vectors as
//! maps of one pixel), which also synchronizes the statistics across the ranks of a
//! data-parallel run under `crate::flex::sync_batch_norm` (`--sync-bn`), and a conv
//! block in inference folds the running statistics into the convolution's weights
//! (`fold_into_conv`); elsewhere burn's own `BatchNorm`.

use burn::nn::{BatchNorm, BatchNormConfig as BurnBatchNormConfig};
use burn::tensor::activation::relu as burn_relu;
use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

use crate::flex;

use super::features::{Features, Shape};
use super::forward::Forward;
use super::layer::{Build, Layer, LayerConfig, TorchName};
use crate::onnx::{Attr, OnnxGraph, OnnxValue};

/// Batch norm's default epsilon (PyTorch's and Gluon's).
pub const BN_EPS: f64 = 1e-5;

fn bn_eps() -> f64 {
    BN_EPS
}
fn momentum() -> f64 {
    0.1
}

/// `BatchNorm()`; in a network file `{ type = "batch_norm" }` (optionally `eps`, `momentum`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatchNormConfig {
    #[serde(default = "bn_eps")]
    pub eps: f64,
    #[serde(default = "momentum")]
    pub momentum: f64,
}

impl Default for BatchNormConfig {
    fn default() -> Self {
        Self {
            eps: BN_EPS,
            momentum: 0.1,
        }
    }
}

impl LayerConfig for BatchNormConfig {
    type Layer = BatchNorm;

    fn build(&self, input: &Shape, ctx: &mut Build) -> Result<BatchNorm, String> {
        if !(self.eps > 0.0 && (0.0..=1.0).contains(&self.momentum)) {
            return Err(format!(
                "eps must be positive and momentum in [0, 1], got eps {} and momentum {}",
                self.eps, self.momentum
            ));
        }
        match input.first() {
            Some(&channels) if channels > 0 => Ok(BurnBatchNormConfig::new(channels)
                .with_epsilon(self.eps)
                .with_momentum(self.momentum)
                .init(ctx.device())),
            _ => Err(format!("batch norm needs a non-empty input, got {input:?}")),
        }
    }

    fn describe(&self) -> String {
        describe(self.eps)
    }
}

fn describe(eps: f64) -> String {
    if eps == BN_EPS {
        "BatchNorm()".into()
    } else {
        format!("BatchNorm(eps={eps})")
    }
}

/// Batch normalization is burn's own `BatchNorm` module.
impl Layer for BatchNorm {
    fn forward(&self, x: Features, _ctx: &mut Forward) -> Features {
        x.map(
            |t| normalize_maps(self, t, false),
            |t| normalize_vectors(self, t),
        )
    }

    fn output_shape(&self, input: &Shape) -> Result<Shape, String> {
        let channels = self.gamma.lazy_shape().dims::<1>()[0];
        match input.first() {
            Some(&c) if c == channels => Ok(input.clone()),
            _ => Err(format!(
                "it normalizes {channels} channels, the input is {input:?}"
            )),
        }
    }

    fn describe(&self) -> String {
        describe(self.epsilon)
    }

    fn torch_name(&self, path: &str) -> TorchName {
        torch_name(path)
    }

    /// Inference form: ONNX's `BatchNormalization` with the running statistics.
    fn to_onnx(&self, x: OnnxValue, graph: &mut OnnxGraph) -> Result<OnnxValue, String> {
        let shape = self.output_shape(&x.shape)?;
        let key = |what: &str| Some(format!("{}:{what}", self.gamma.id));
        let gamma = graph.weight("gamma", self.gamma.val(), key("gamma"));
        let beta = graph.weight("beta", self.beta.val(), key("beta"));
        let mean = graph.weight("running_mean", self.running_mean.value(), key("mean"));
        let var = graph.weight("running_var", self.running_var.value(), key("var"));
        let epsilon = [("epsilon", Attr::Float(self.epsilon as f32))];
        let y = graph.node("BatchNormalization", &[&x.name, &gamma, &beta, &mean, &var], &epsilon);
        Ok(x.with(y, shape))
    }
}

/// Whether `bn` normalizes `x` with the batch's statistics (and updates its running averages),
/// as burn's `BatchNorm::forward` decides: on an autodiff device, unless the layer is frozen.
pub fn uses_batch_statistics<const D: usize>(bn: &BatchNorm, x: &Tensor<D>) -> bool {
    x.device().is_autodiff() && bn.training.is_enabled()
}

/// `bn` on maps `[N, C, H, W]`, then ReLU when `relu`: what `BatchNorm::forward` and `relu`
/// compute, with the training step on the flex fast path.
pub fn normalize_maps(bn: &BatchNorm, x: Tensor<4>, relu: bool) -> Tensor<4> {
    if uses_batch_statistics(bn, &x) && flex::takes_fast_path(&x) {
        let (y, mean, variance) =
            flex::fused_batch_norm_train(x, bn.gamma.val(), bn.beta.val(), bn.epsilon, relu);
        update_running_averages(bn, mean, variance);
        return y;
    }
    let y = bn.forward(x);
    if relu {
        burn_relu(y)
    } else {
        y
    }
}

/// `bn` on vectors `[N, F]`: in training on the flex fast path, as maps `[N, F, 1, 1]` (the
/// same statistics, and batch norm synchronized across ranks reaches it too); elsewhere burn's
/// own `BatchNorm`.
pub fn normalize_vectors(bn: &BatchNorm, x: Tensor<2>) -> Tensor<2> {
    if uses_batch_statistics(bn, &x) && flex::takes_fast_path(&x) {
        let [n, features] = x.dims();
        return normalize_maps(bn, x.reshape([n, features, 1, 1]), false).reshape([n, features]);
    }
    bn.forward(x)
}

/// Three batch norms of the same epsilon and momentum, each on its own channels of `x`
/// (`[N, a + b + c, H, W]`, in order), in training: one pass of `fused_batch_norm_train` over
/// all the channels (every channel's statistics are its own, so this is each layer run on its
/// channels), each layer's running averages updated with its own channels' statistics. On the
/// flex fast path only (`conv::forward_side_by_side` checks).
pub(crate) fn normalize_maps_side_by_side(
    bns: [&BatchNorm; 3],
    x: Tensor<4>,
    relu: bool,
) -> Tensor<4> {
    let gamma = Tensor::cat(bns.map(|bn| bn.gamma.val()).to_vec(), 0);
    let beta = Tensor::cat(bns.map(|bn| bn.beta.val()).to_vec(), 0);
    let (y, mean, variance) = flex::fused_batch_norm_train(x, gamma, beta, bns[0].epsilon, relu);
    let mut start = 0;
    for bn in bns {
        let channels = bn.gamma.shape().dims::<1>()[0];
        update_running_averages(
            bn,
            mean.clone().narrow(0, start, channels),
            variance.clone().narrow(0, start, channels),
        );
        start += channels;
    }
    y
}

/// `running = (1 - momentum) * running + momentum * batch`, as burn's `BatchNorm` does.
fn update_running_averages(bn: &BatchNorm, mean: Tensor<1>, variance: Tensor<1>) {
    let device = mean.device();
    let momentum = bn.momentum;
    let blend = |running: Tensor<1>, batch: Tensor<1>| {
        running
            .to_device(&device)
            .mul_scalar(1.0 - momentum)
            .add(batch.detach().mul_scalar(momentum))
            .detach()
    };
    bn.running_mean
        .update(blend(bn.running_mean.value_sync(), mean));
    bn.running_var
        .update(blend(bn.running_var.value_sync(), variance));
}

/// A convolution's weight `[C, C_in, k, k]` and bias `[C]` (zero when absent) with inference
/// batch norm folded in: `bn(conv(x, w) + b) = conv(x, w * s) + (b - mean) * s + beta` with
/// `s = gamma / sqrt(running_var + eps)`. One pass over the maps instead of two; the weights
/// are small, so folding at every call costs next to nothing.
pub fn fold_into_conv(
    bn: &BatchNorm,
    weight: Tensor<4>,
    bias: Option<Tensor<1>>,
) -> (Tensor<4>, Tensor<1>) {
    let device = weight.device();
    let [channels, _, _, _] = weight.dims();
    let mean = bn.running_mean.value().to_device(&device);
    let variance = bn.running_var.value().to_device(&device);
    let scale = bn.gamma.val() / variance.add_scalar(bn.epsilon).sqrt();
    let bias = bias.unwrap_or_else(|| Tensor::zeros([channels], &device));
    let weight = weight * scale.clone().reshape([channels, 1, 1, 1]);
    (weight, (bias - mean) * scale + bn.beta.val())
}

/// PyTorch's name of a burn `BatchNorm` tensor: `gamma` and `beta` are `weight` and `bias`.
pub fn torch_name(path: &str) -> TorchName {
    let (prefix, leaf) = path.rsplit_once('.').unwrap_or(("", path));
    let leaf = match leaf {
        "gamma" => "weight",
        "beta" => "bias",
        other => other,
    };
    TorchName::renamed(super::params::join(prefix, leaf))
}
