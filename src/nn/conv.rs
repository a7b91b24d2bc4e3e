//! `Conv2D`: a 2-d convolution with a square kernel, optionally followed by batch norm (article
//! 001's `conv_block`, torchvision's `BasicConv2d`) and ReLU.
//!
//! Shapes: input `[N, C_in, H, W]`, output `[N, channels, H', W']` with
//! `H' = (H + 2 * padding - kernel) / stride + 1`. Parameters: `weight [channels, C_in, k, k]`,
//! `bias [channels]`, and with batch norm `bn.gamma`, `bn.beta` (plus running statistics).
//!
//! On burn's flex CPU backend the convolution, bias and ReLU run as one fused operation with
//! its own backward (`crate::flex::conv2d`); elsewhere burn's own `conv2d`.

use burn::module::{Module, Param};
use burn::nn::{BatchNorm, BatchNormConfig};
use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

use super::batch_norm::{self, BN_EPS};
use super::features::{expect_maps, window_maps, Features, Shape};
use super::forward::Forward;
use super::layer::{Build, Layer, LayerConfig, Size, TorchName};
use crate::flex;
use crate::onnx::{Attr, OnnxGraph, OnnxValue};

fn one() -> usize {
    1
}
fn yes() -> bool {
    true
}
fn bn_eps() -> f64 {
    BN_EPS
}

/// What follows a convolution or dense layer: nothing, or Gluon's `activation='relu'`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Activation {
    #[default]
    None,
    Relu,
}

/// Settings of a convolution: `Conv2D(channels, kernel_size, strides, padding,
/// activation='relu')`, with `batch_norm` for a conv block. In a network file:
/// `{ type = "conv", channels = 64, kernel = 7, stride = 2, padding = 3, activation = "relu" }`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConvConfig {
    /// Output channels (a number, or `"classes"`).
    pub channels: Size,
    pub kernel: usize,
    #[serde(default = "one")]
    pub stride: usize,
    #[serde(default)]
    pub padding: usize,
    /// The convolution adds a bias (torchvision's `BasicConv2d` has none: batch norm's shift
    /// does its work).
    #[serde(default = "yes")]
    pub bias: bool,
    /// Batch normalization between the convolution and the activation.
    #[serde(default)]
    pub batch_norm: bool,
    /// Batch norm's epsilon.
    #[serde(default = "bn_eps")]
    pub bn_eps: f64,
    #[serde(default)]
    pub activation: Activation,
}

impl ConvConfig {
    /// `Conv2D(channels, kernel_size=kernel)` with stride 1, no padding, no activation.
    pub fn new(channels: impl Into<Size>, kernel: usize) -> Self {
        Self {
            channels: channels.into(),
            kernel,
            stride: 1,
            padding: 0,
            bias: true,
            batch_norm: false,
            bn_eps: BN_EPS,
            activation: Activation::None,
        }
    }

    /// torchvision's `BasicConv2d`: convolution without bias, batch norm with eps 0.001, ReLU.
    pub fn basic_conv2d(channels: usize, kernel: usize) -> Self {
        Self::new(channels, kernel)
            .style(ConvStyle::BasicConv2d)
            .relu()
    }

    /// Applies a convolution style (bias, batch norm, epsilon).
    pub fn style(mut self, style: ConvStyle) -> Self {
        self.bias = style.bias();
        self.batch_norm = style.batch_norm();
        self.bn_eps = style.bn_eps();
        self
    }
    /// Batch normalization between the convolution and the activation (`BatchNorm2d(channels)`).
    pub fn batch_norm(mut self) -> Self {
        self.batch_norm = true;
        self
    }
    pub fn stride(mut self, stride: usize) -> Self {
        self.stride = stride;
        self
    }
    pub fn padding(mut self, padding: usize) -> Self {
        self.padding = padding;
        self
    }
    /// `activation='relu'`.
    pub fn relu(mut self) -> Self {
        self.activation = Activation::Relu;
        self
    }

    /// Builds the layer for inputs of `in_channels` channels (any height and width).
    pub fn init(&self, in_channels: usize, ctx: &mut Build) -> Result<Conv, String> {
        let channels = self.channels.resolve(ctx);
        if self.kernel == 0 || self.stride == 0 || channels == 0 || in_channels == 0 {
            return Err("channels, kernel and stride must be at least 1".into());
        }
        let k2 = self.kernel * self.kernel;
        let init = ctx.init();
        let device = ctx.device().clone();
        Ok(Conv {
            weight: init.weight(
                [channels, in_channels, self.kernel, self.kernel],
                in_channels * k2,
                channels * k2,
                &device,
            ),
            bias: self.bias.then(|| init.bias(channels, &device)),
            bn: self.batch_norm.then(|| {
                BatchNormConfig::new(channels)
                    .with_epsilon(self.bn_eps)
                    .init(&device)
            }),
            stride: self.stride,
            padding: self.padding,
            relu: self.activation == Activation::Relu,
        })
    }
}

impl LayerConfig for ConvConfig {
    type Layer = Conv;

    fn build(&self, input: &Shape, ctx: &mut Build) -> Result<Conv, String> {
        let [c, _, _] = expect_maps(input, "a convolution")?;
        let conv = self.init(c, ctx)?;
        conv.output_shape(input)?;
        Ok(conv)
    }

    fn describe(&self) -> String {
        describe(
            &self.channels.to_string(),
            self.kernel,
            self.stride,
            self.padding,
            self.bias,
            self.batch_norm.then_some(self.bn_eps),
            self.activation == Activation::Relu,
        )
    }
}

fn describe(
    channels: &str,
    kernel: usize,
    stride: usize,
    padding: usize,
    bias: bool,
    bn_eps: Option<f64>,
    relu: bool,
) -> String {
    let batch_norm = match bn_eps {
        None => String::new(),
        Some(eps) if eps == BN_EPS => ", BatchNorm".to_string(),
        Some(eps) => format!(", BatchNorm(eps={eps})"),
    };
    format!(
        "Conv2D({channels}, kernel_size={kernel}x{kernel}, stride={stride}, padding={padding}{}{batch_norm}{})",
        if bias { "" } else { ", use_bias=False" },
        if relu { ", Activation(relu)" } else { "" },
    )
}

/// How the convolutions of a block are made: Gluon's plain ones, article 001's `conv_block`, or
/// torchvision's `BasicConv2d`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConvStyle {
    /// Convolution with bias, no batch norm.
    #[default]
    Plain,
    /// Article 001's `conv_block`: convolution with bias, batch norm (eps 1e-5).
    ConvBlock,
    /// torchvision's `BasicConv2d`: convolution without bias, batch norm with eps 0.001.
    BasicConv2d,
}

impl ConvStyle {
    pub fn bias(self) -> bool {
        self != ConvStyle::BasicConv2d
    }
    pub fn batch_norm(self) -> bool {
        self != ConvStyle::Plain
    }
    pub fn bn_eps(self) -> f64 {
        match self {
            ConvStyle::BasicConv2d => 1e-3,
            _ => BN_EPS,
        }
    }
}

/// A 2-d convolution with optional bias, optional batch norm and optional ReLU.
#[derive(Module, Debug)]
pub struct Conv {
    pub weight: Param<Tensor<4>>,
    pub bias: Option<Param<Tensor<1>>>,
    pub bn: Option<BatchNorm>,
    pub stride: usize,
    pub padding: usize,
    pub relu: bool,
}

/// Output pixels of the whole batch (the GEMM's width) below which `forward_side_by_side`
/// runs the convolutions one by one in inference: at batch 1, GoogLeNet d2l's blocks (12x12,
/// 6x6 and 3x3 maps) copied up to 2 MB of weights per block for GEMMs of 9 to 144 columns.
/// Measured on a 2-core Intel Xeon with AVX-512 (`bench --model googlenet`, alternating runs):
/// inference at batch 1 1.08-1.14x one by one (three A/B runs of 5-6); in training at batch 1
/// (0.96-0.99x, 5 runs) and at batch 32 (0.97-0.99x, 3 runs) no better, so those stay joined.
/// With batch norm, inference folds it into each weight (a copy anyway): torchvision's
/// GoogLeNet at batch 1 was 0.95x one by one (5 runs out of 5), so those stay joined too.
const SIDE_BY_SIDE_MIN_COLUMNS: usize = 512;

/// The output pixels `conv` gives on `x`, over the whole batch, by the layer's own shape rule
/// (0 where it refuses the input).
fn output_columns(conv: &Conv, x: &Tensor<4>) -> usize {
    let [batch, c, h, w] = x.dims();
    conv.output_shape(&vec![c, h, w])
        .map_or(0, |maps| batch * maps[1..].iter().product::<usize>())
}

impl Conv {
    /// Convolution, then batch norm and ReLU. Without batch norm the ReLU is fused into the
    /// convolution (`crate::flex::conv2d`: the flex fast path, or burn's ops elsewhere). With
    /// it, on the fast path, training fuses the ReLU into batch norm
    /// (`batch_norm::normalize_maps`) and inference folds batch norm into the convolution
    /// (`batch_norm::fold_into_conv`), so the ReLU is fused again.
    pub fn forward_maps(&self, x: Tensor<4>) -> Tensor<4> {
        let (stride, padding) = (self.stride, self.padding);
        if let Some((weight, bias)) = self.single_convolution(&x) {
            return flex::conv2d(x, weight, bias, stride, padding, self.relu);
        }
        let bn = self.bn.as_ref().expect("only batch norm takes more than the convolution");
        let bias = self.bias.as_ref().map(Param::val);
        let y = flex::conv2d(x, self.weight.val(), bias, stride, padding, false);
        batch_norm::normalize_maps(bn, y, self.relu)
    }

    /// The weight and bias of the one convolution (with its ReLU) that this layer computes on
    /// `x`, when it is one: without batch norm, or on the fast path with batch norm folded in
    /// (inference). `None` when batch norm normalizes with the batch's own statistics.
    fn single_convolution(&self, x: &Tensor<4>) -> Option<(Tensor<4>, Option<Tensor<1>>)> {
        let bias = self.bias.as_ref().map(Param::val);
        let weight = self.weight.val();
        match &self.bn {
            None => Some((weight, bias)),
            Some(bn) if flex::takes_fast_path(x) && !batch_norm::uses_batch_statistics(bn, x) => {
                let (weight, bias) = batch_norm::fold_into_conv(bn, weight, bias);
                Some((weight, Some(bias)))
            }
            Some(_) => None,
        }
    }

    /// `leading`, then each convolution's output on its input, joined on channels: what
    /// `Tensor::cat` of them gives (an Inception block's last step). When every convolution is
    /// a single one (see `forward_maps`) with the same ReLU, each writes straight into its
    /// channels of the output (`flex::conv2d_cat`) instead of into a tensor that `cat` copies.
    pub fn forward_cat(leading: Tensor<4>, convs: [(&Conv, Tensor<4>); 3]) -> Tensor<4> {
        let relu = convs[0].0.relu;
        let single = convs.each_ref().map(|(conv, x)| {
            let (weight, bias) = conv.single_convolution(x).filter(|_| conv.relu == relu)?;
            Some(flex::CatConv {
                x: x.clone(),
                weight,
                bias,
                stride: conv.stride,
                padding: conv.padding,
            })
        });
        let single = match single {
            [Some(a), Some(b), Some(c)] => Some([a, b, c]),
            _ => None,
        };
        if let Some(single) = single {
            return flex::conv2d_cat(leading, single, relu);
        }
        let mut parts = vec![leading];
        parts.extend(convs.into_iter().map(|(conv, x)| conv.forward_maps(x)));
        Tensor::cat(parts, 1)
    }

    /// Three convolutions that read the same input, run as one where they can: with the same
    /// kernel, stride, padding, bias, batch norm and ReLU, on the flex fast path, their weights
    /// go side by side into one GEMM (the input is read and packed once instead of three
    /// times, and the GEMM is wider) and the result is cut back into the three outputs
    /// (`flex::split_channels`). What each `forward_maps` gives, in any case. The three 1x1
    /// convolutions that read an Inception block's input run this way, except in inference
    /// without batch norm on small maps (fewer than `SIDE_BY_SIDE_MIN_COLUMNS` output pixels in
    /// the whole batch), where copying the weights side by side costs more than the shared GEMM
    /// saves.
    pub fn forward_side_by_side(convs: [&Conv; 3], x: Tensor<4>) -> [Tensor<4>; 3] {
        let [first, ..] = convs;
        let alike = |c: &&Conv| {
            c.kernel() == first.kernel()
                && (c.stride, c.padding, c.relu) == (first.stride, first.padding, first.relu)
                && c.bias.is_some() == first.bias.is_some()
                && match (&c.bn, &first.bn) {
                    (None, None) => true,
                    (Some(a), Some(b)) => {
                        (a.epsilon, a.momentum) == (b.epsilon, b.momentum)
                            && a.training.is_enabled() == b.training.is_enabled()
                    }
                    _ => false,
                }
        };
        if !flex::takes_fast_path(&x)
            || !convs.iter().all(alike)
            || (first.bn.is_none()
                && !x.device().is_autodiff()
                && output_columns(first, &x) < SIDE_BY_SIDE_MIN_COLUMNS)
        {
            return convs.map(|c| c.forward_maps(x.clone()));
        }
        let sizes = convs.map(Conv::channels);
        let (stride, padding, relu) = (first.stride, first.padding, first.relu);
        let joined = |parts: [Tensor<4>; 3], biases: [Option<Tensor<1>>; 3]| {
            let weight = Tensor::cat(parts.to_vec(), 0);
            let bias = biases.into_iter().collect::<Option<Vec<_>>>();
            (weight, bias.map(|b| Tensor::cat(b, 0)))
        };
        let y = match &first.bn {
            None => {
                let (weight, bias) = joined(
                    convs.map(|c| c.weight.val()),
                    convs.map(|c| c.bias.as_ref().map(Param::val)),
                );
                flex::conv2d(x, weight, bias, stride, padding, relu)
            }
            Some(bn) if !batch_norm::uses_batch_statistics(bn, &x) => {
                let folded = convs.map(|c| {
                    let bn = c.bn.as_ref().expect("alike: every one has batch norm");
                    batch_norm::fold_into_conv(bn, c.weight.val(), c.bias.as_ref().map(Param::val))
                });
                let (weight, bias) = joined(
                    folded.clone().map(|(w, _)| w),
                    folded.map(|(_, b)| Some(b)),
                );
                flex::conv2d(x, weight, bias, stride, padding, relu)
            }
            Some(_) => {
                let (weight, bias) = joined(
                    convs.map(|c| c.weight.val()),
                    convs.map(|c| c.bias.as_ref().map(Param::val)),
                );
                let y = flex::conv2d(x, weight, bias, stride, padding, false);
                let bns = convs.map(|c| c.bn.as_ref().expect("alike: every one has batch norm"));
                batch_norm::normalize_maps_side_by_side(bns, y, relu)
            }
        };
        flex::split_channels(y, sizes)
    }

    /// Output channels.
    pub fn channels(&self) -> usize {
        self.weight.lazy_shape().dims::<4>()[0]
    }

    /// Kernel side.
    pub fn kernel(&self) -> usize {
        self.weight.lazy_shape().dims::<4>()[2]
    }
}

impl Layer for Conv {
    fn forward(&self, x: Features, _ctx: &mut Forward) -> Features {
        Features::Maps(self.forward_maps(x.into_maps()))
    }

    fn output_shape(&self, input: &Shape) -> Result<Shape, String> {
        let [out, cin, k, _] = self.weight.lazy_shape().dims::<4>();
        let [c, _, _] = expect_maps(input, "a convolution")?;
        if c != cin {
            return Err(format!(
                "it takes {cin} input channels, the input has {c}"
            ));
        }
        window_maps(input, out, k, self.stride, self.padding, false, "a convolution")
    }

    fn describe(&self) -> String {
        describe(
            &self.channels().to_string(),
            self.kernel(),
            self.stride,
            self.padding,
            self.bias.is_some(),
            self.bn.as_ref().map(|bn| bn.epsilon),
            self.relu,
        )
    }

    fn flops(&self, _input: &[usize], output: &[usize]) -> u64 {
        let [_, cin, k1, k2] = self.weight.lazy_shape().dims::<4>();
        2 * output.iter().map(|&d| d as u64).product::<u64>() * (cin * k1 * k2) as u64
    }

    /// Without batch norm an `nn.Conv2d` (`weight`, `bias`); with it torchvision's
    /// `BasicConv2d` (`conv.weight`, `conv.bias`, `bn.weight`, `bn.bias`, `bn.running_mean`,
    /// `bn.running_var`).
    fn torch_name(&self, path: &str) -> TorchName {
        match (self.bn.is_some(), path) {
            (false, _) => TorchName::same(path),
            (true, "weight" | "bias") => TorchName::renamed(format!("conv.{path}")),
            (true, _) => super::batch_norm::torch_name(path),
        }
    }

    /// Inference: a `Conv` node with batch norm folded into its weights and bias (as the CPU
    /// path computes it), then `Relu`.
    fn to_onnx(&self, x: OnnxValue, graph: &mut OnnxGraph) -> Result<OnnxValue, String> {
        let shape = self.output_shape(&x.shape)?;
        let key = |what: &str| Some(format!("{}:{what}", self.weight.id));
        let bias = self.bias.as_ref().map(Param::val);
        let (weight, bias) = match &self.bn {
            Some(bn) => {
                let (weight, bias) = batch_norm::fold_into_conv(bn, self.weight.val(), bias);
                (weight, Some(bias))
            }
            None => (self.weight.val(), bias),
        };
        let weight = graph.weight("weight", weight, key("weight"));
        let bias = bias.map(|b| graph.weight("bias", b, key("bias")));
        let mut inputs = vec![x.name.as_str(), &weight];
        inputs.extend(bias.as_deref());
        let attrs = [
            ("kernel_shape", Attr::pair(self.kernel())),
            ("strides", Attr::pair(self.stride)),
            ("pads", Attr::pads(self.padding)),
        ];
        let mut y = graph.node("Conv", &inputs, &attrs);
        if self.relu {
            y = graph.node("Relu", &[&y], &[]);
        }
        Ok(x.with(y, shape))
    }
}
