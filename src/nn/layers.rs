//! The basic layers, each a spec (hyper-parameters only, input size deferred as in Gluon) and
//! the burn module it builds against a known input shape.
//!
//! Specs mirror Gluon: `Conv2D(channels, kernel_size, strides, padding, activation='relu')`,
//! `Dense(units)`, `MaxPool2D(pool_size, strides, padding, ceil_mode)`, `GlobalAvgPool2D()`, ...

use burn::module::{Module, Param};
use burn::nn::{BatchNorm, BatchNormConfig, Dropout, DropoutConfig};
use burn::tensor::activation::relu;
use burn::tensor::module::{adaptive_avg_pool2d, avg_pool2d};
use burn::tensor::ops::AvgPoolOptions;
use burn::tensor::{Device, Tensor};

use super::features::{Features, Shape};
use super::init::Init;
use crate::flex;

/// Output length of a sliding window (convolution or pooling) along one axis, with PyTorch's
/// rules: floor by default; in ceil mode the last window must start inside the input or the left
/// padding. `None` if the window does not fit.
pub fn window_output(
    len: usize,
    kernel: usize,
    stride: usize,
    pad: usize,
    ceil: bool,
) -> Option<usize> {
    let span = len + 2 * pad;
    if span < kernel || stride == 0 {
        return None;
    }
    let room = span - kernel;
    let mut out = if ceil {
        room.div_ceil(stride) + 1
    } else {
        room / stride + 1
    };
    if ceil && (out - 1) * stride >= len + pad {
        out -= 1;
    }
    Some(out)
}

fn expect_maps(input: &Shape, what: &str) -> Result<[usize; 3], String> {
    match input.as_slice() {
        [c, h, w] => Ok([*c, *h, *w]),
        other => Err(format!(
            "{what} needs feature maps CxHxW, got a vector of shape {other:?}"
        )),
    }
}

/// Batch norm's default epsilon (PyTorch's and Gluon's).
pub const BN_EPS: f64 = 1e-5;

/// Hyper-parameters of a 2-d convolution (square kernel), optionally followed by batch
/// normalization (seed 001's `conv_block`) and ReLU.
#[derive(Debug, Clone, PartialEq)]
pub struct ConvSpec {
    pub channels: usize,
    pub kernel: usize,
    pub stride: usize,
    pub padding: usize,
    /// The convolution adds a bias (torchvision's `BasicConv2d` has none: batch norm's shift
    /// does its work).
    pub bias: bool,
    pub batch_norm: bool,
    /// Batch norm's epsilon.
    pub bn_eps: f64,
    pub relu: bool,
}

impl ConvSpec {
    /// `Conv2D(channels, kernel_size=kernel)` with stride 1, no padding, no activation.
    pub fn new(channels: usize, kernel: usize) -> Self {
        Self {
            channels,
            kernel,
            stride: 1,
            padding: 0,
            bias: true,
            batch_norm: false,
            bn_eps: BN_EPS,
            relu: false,
        }
    }

    /// torchvision's `BasicConv2d`: convolution without bias, batch norm with eps 0.001, ReLU.
    pub fn basic_conv2d(channels: usize, kernel: usize) -> Self {
        Self::new(channels, kernel)
            .style(ConvStyle::BASIC_CONV2D)
            .relu()
    }
    /// Its bias, batch norm and epsilon.
    pub fn conv_style(&self) -> ConvStyle {
        ConvStyle {
            bias: self.bias,
            batch_norm: self.batch_norm,
            bn_eps: self.bn_eps,
        }
    }
    /// Applies a convolution style (bias, batch norm, epsilon) shared by a whole network.
    pub fn style(mut self, style: ConvStyle) -> Self {
        self.bias = style.bias;
        self.batch_norm = style.batch_norm;
        self.bn_eps = style.bn_eps;
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
        self.relu = true;
        self
    }

    pub fn describe(&self) -> String {
        let batch_norm = match (self.batch_norm, self.bn_eps == BN_EPS) {
            (false, _) => String::new(),
            (true, true) => ", BatchNorm".to_string(),
            (true, false) => format!(", BatchNorm(eps={})", self.bn_eps),
        };
        format!(
            "Conv2D({}, kernel_size={k}x{k}, stride={}, padding={}{}{}{})",
            self.channels,
            self.stride,
            self.padding,
            if self.bias { "" } else { ", use_bias=False" },
            batch_norm,
            if self.relu { ", Activation(relu)" } else { "" },
            k = self.kernel
        )
    }

    pub fn build(
        &self,
        input: &Shape,
        init: Init,
        device: &Device,
    ) -> Result<(Conv, Shape), String> {
        let [c, h, w] = expect_maps(input, "a convolution")?;
        let out = |len| window_output(len, self.kernel, self.stride, self.padding, false);
        let (Some(oh), Some(ow)) = (out(h), out(w)) else {
            return Err(format!(
                "a {k}x{k} kernel with padding {p} does not fit a {h}x{w} input",
                k = self.kernel,
                p = self.padding
            ));
        };
        let k2 = self.kernel * self.kernel;
        let conv = Conv {
            weight: init.weight(
                [self.channels, c, self.kernel, self.kernel],
                c * k2,
                self.channels * k2,
                device,
            ),
            bias: self.bias.then(|| init.bias(self.channels, device)),
            bn: self.batch_norm.then(|| {
                BatchNormConfig::new(self.channels)
                    .with_epsilon(self.bn_eps)
                    .init(device)
            }),
            stride: self.stride,
            padding: self.padding,
            relu: self.relu,
        };
        Ok((conv, vec![self.channels, oh, ow]))
    }
}

/// A 2-d convolution with optional bias, optional batch norm and optional ReLU. Parameters:
/// `weight [out, in, k, k]`, `bias [out]`, and `bn.gamma`, `bn.beta` (plus running statistics).
#[derive(Module, Debug)]
pub struct Conv {
    pub weight: Param<Tensor<4>>,
    pub bias: Option<Param<Tensor<1>>>,
    pub bn: Option<BatchNorm>,
    pub stride: usize,
    pub padding: usize,
    pub relu: bool,
}

impl Conv {
    /// Convolution, then batch norm and ReLU. Without batch norm the ReLU is fused into the
    /// convolution (`crate::flex::conv2d`: the flex fast path, or burn's ops elsewhere).
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let bias = self.bias.as_ref().map(Param::val);
        let weight = self.weight.val();
        let Some(bn) = &self.bn else {
            return flex::conv2d(x, weight, bias, self.stride, self.padding, self.relu);
        };
        let y = bn.forward(flex::conv2d(
            x,
            weight,
            bias,
            self.stride,
            self.padding,
            false,
        ));
        if self.relu {
            relu(y)
        } else {
            y
        }
    }

    pub fn spec(&self) -> ConvSpec {
        let [out, _, k, _] = self.weight.dims();
        ConvSpec {
            channels: out,
            kernel: k,
            stride: self.stride,
            padding: self.padding,
            bias: self.bias.is_some(),
            batch_norm: self.bn.is_some(),
            bn_eps: self.bn.as_ref().map_or(BN_EPS, |bn| bn.epsilon),
            relu: self.relu,
        }
    }
}

/// How the convolutions of a network are made: Gluon's plain ones, seed 001's `conv_block`,
/// or torchvision's `BasicConv2d`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ConvStyle {
    pub bias: bool,
    pub batch_norm: bool,
    pub bn_eps: f64,
}

impl ConvStyle {
    /// Convolution with bias, no batch norm.
    pub const PLAIN: Self = Self {
        bias: true,
        batch_norm: false,
        bn_eps: BN_EPS,
    };
    /// Seed 001's `conv_block`: convolution with bias, batch norm (eps 1e-5).
    pub const CONV_BLOCK: Self = Self {
        bias: true,
        batch_norm: true,
        bn_eps: BN_EPS,
    };
    /// torchvision's `BasicConv2d`: convolution without bias, batch norm with eps 0.001.
    pub const BASIC_CONV2D: Self = Self {
        bias: false,
        batch_norm: true,
        bn_eps: 1e-3,
    };
}

/// Hyper-parameters of a fully connected layer; its input is flattened first, as in Gluon.
#[derive(Debug, Clone, PartialEq)]
pub struct DenseSpec {
    pub units: usize,
    pub relu: bool,
}

impl DenseSpec {
    pub fn new(units: usize) -> Self {
        Self { units, relu: false }
    }
    pub fn relu(mut self) -> Self {
        self.relu = true;
        self
    }
    pub fn describe(&self) -> String {
        format!(
            "Dense({}{})",
            self.units,
            if self.relu { ", Activation(relu)" } else { "" }
        )
    }
    pub fn build(
        &self,
        input: &Shape,
        init: Init,
        device: &Device,
    ) -> Result<(Dense, Shape), String> {
        let fan_in: usize = input.iter().product();
        if fan_in == 0 {
            return Err(format!(
                "a dense layer cannot take an empty input {input:?}"
            ));
        }
        let dense = Dense {
            weight: init.weight([fan_in, self.units], fan_in, self.units, device),
            bias: init.bias(self.units, device),
            relu: self.relu,
        };
        Ok((dense, vec![self.units]))
    }
}

/// A fully connected layer. Parameters: `weight [in, out]` (burn's layout), `bias [out]`.
#[derive(Module, Debug)]
pub struct Dense {
    pub weight: Param<Tensor<2>>,
    pub bias: Param<Tensor<1>>,
    pub relu: bool,
}

impl Dense {
    pub fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        let y = x.matmul(self.weight.val()) + self.bias.val().unsqueeze::<2>();
        if self.relu {
            relu(y)
        } else {
            y
        }
    }
}

/// Max or average.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PoolKind {
    Max,
    Avg,
}

/// Hyper-parameters of a 2-d pooling layer (square window).
#[derive(Module, Debug, PartialEq)]
pub struct Pool {
    #[module(skip)]
    pub kind: PoolKind,
    pub kernel: usize,
    pub stride: usize,
    pub padding: usize,
    pub ceil_mode: bool,
}

impl Pool {
    /// `MaxPool2D(pool_size=kernel, strides=stride, padding=padding)`.
    pub fn max(kernel: usize, stride: usize, padding: usize) -> Self {
        Self {
            kind: PoolKind::Max,
            kernel,
            stride,
            padding,
            ceil_mode: false,
        }
    }
    /// `AvgPool2D(pool_size=kernel, strides=stride, padding=padding)`; padding is counted, as in
    /// both Gluon and PyTorch by default.
    pub fn avg(kernel: usize, stride: usize, padding: usize) -> Self {
        Self {
            kind: PoolKind::Avg,
            ..Self::max(kernel, stride, padding)
        }
    }
    /// Round the output size up (PyTorch `ceil_mode=True`, seed 004).
    pub fn ceil(mut self) -> Self {
        self.ceil_mode = true;
        self
    }

    pub fn describe(&self) -> String {
        format!(
            "{}Pool2D(pool_size={k}x{k}, stride={}, padding={}{})",
            match self.kind {
                PoolKind::Max => "Max",
                PoolKind::Avg => "Avg",
            },
            self.stride,
            self.padding,
            if self.ceil_mode {
                ", ceil_mode=True"
            } else {
                ""
            },
            k = self.kernel
        )
    }

    pub fn output_shape(&self, input: &Shape) -> Result<Shape, String> {
        let [c, h, w] = expect_maps(input, "pooling")?;
        let out = |len| window_output(len, self.kernel, self.stride, self.padding, self.ceil_mode);
        match (out(h), out(w)) {
            (Some(oh), Some(ow)) => Ok(vec![c, oh, ow]),
            _ => Err(format!(
                "a {k}x{k} window with padding {p} does not fit a {h}x{w} input",
                k = self.kernel,
                p = self.padding
            )),
        }
    }

    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let (k, s, p) = (self.kernel, self.stride, self.padding);
        match self.kind {
            PoolKind::Max => flex::max_pool2d(x, k, s, p, self.ceil_mode),
            PoolKind::Avg => avg_pool2d(
                x,
                AvgPoolOptions {
                    kernel_size: [k, k],
                    stride: [s, s],
                    padding: [(p, p), (p, p)],
                    count_include_pad: true,
                    ceil_mode: self.ceil_mode,
                },
            ),
        }
    }
}

/// Average pooling to a fixed `size`x`size` output whatever the input (PyTorch's
/// `AdaptiveAvgPool2d`, used by torchvision's auxiliary classifiers).
#[derive(Module, Debug, PartialEq)]
pub struct AdaptiveAvgPool {
    pub size: usize,
}

impl AdaptiveAvgPool {
    pub fn describe(&self) -> String {
        format!("AdaptiveAvgPool2D(output_size={s}x{s})", s = self.size)
    }

    pub fn output_shape(&self, input: &Shape) -> Result<Shape, String> {
        let [c, h, w] = expect_maps(input, "adaptive pooling")?;
        if self.size == 0 || h < self.size || w < self.size {
            return Err(format!(
                "cannot pool a {h}x{w} input to {s}x{s}",
                s = self.size
            ));
        }
        Ok(vec![c, self.size, self.size])
    }

    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        adaptive_avg_pool2d(x, [self.size, self.size])
    }
}

/// torchvision GoogLeNet's `transform_input`: turns an image normalized with the ImageNet mean
/// and standard deviation into one scaled to [-1, 1] per channel, which the original Google
/// weights expect: `x[c] * (std[c] / 0.5) + (mean[c] - 0.5) / 0.5`. No parameters.
#[derive(Module, Debug, Default)]
pub struct TransformInput;

impl TransformInput {
    /// ImageNet's per-channel mean (RGB).
    pub const MEAN: [f32; 3] = [0.485, 0.456, 0.406];
    /// ImageNet's per-channel standard deviation (RGB).
    pub const STD: [f32; 3] = [0.229, 0.224, 0.225];

    pub fn describe(&self) -> String {
        "TransformInput(ImageNet normalization to [-1, 1])".to_string()
    }

    pub fn output_shape(&self, input: &Shape) -> Result<Shape, String> {
        match expect_maps(input, "transform_input")? {
            [3, _, _] => Ok(input.clone()),
            [c, _, _] => Err(format!(
                "transform_input works on 3-channel RGB images, not {c} channels"
            )),
        }
    }

    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        // Per channel, in the order torchvision computes it (multiply, then add), so float32
        // rounding matches.
        let channels = (0..3)
            .map(|c| {
                let scale = Self::STD[c] / 0.5;
                let shift = (Self::MEAN[c] - 0.5) / 0.5;
                x.clone()
                    .narrow(1, c, 1)
                    .mul_scalar(scale)
                    .add_scalar(shift)
            })
            .collect();
        Tensor::cat(channels, 1)
    }
}

/// Global average pooling to 1x1 (Gluon `GlobalAvgPool2D`).
pub fn global_avg_pool(x: Tensor<4>) -> Tensor<4> {
    adaptive_avg_pool2d(x, [1, 1])
}

/// Dropout with probability `p` of zeroing, active only on an autodiff device in training mode.
pub fn dropout(p: f64) -> Result<Dropout, String> {
    if !(0.0..1.0).contains(&p) {
        return Err(format!("dropout probability {p} is outside [0, 1)"));
    }
    Ok(DropoutConfig::new(p).init())
}

/// Batch normalization over channels (maps) or features (vectors): batch statistics in training,
/// moving averages (momentum 0.1, eps 1e-5, as PyTorch) in inference.
pub fn batch_norm(input: &Shape, device: &Device) -> Result<BatchNorm, String> {
    match input.first() {
        Some(&channels) if channels > 0 => Ok(BatchNormConfig::new(channels).init(device)),
        _ => Err(format!("batch norm needs a non-empty input, got {input:?}")),
    }
}

/// Applies ReLU to maps or vectors.
pub fn relu_features(x: Features) -> Features {
    x.map(relu, relu)
}
