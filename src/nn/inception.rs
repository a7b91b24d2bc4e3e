//! The Inception block of GoogLeNet (Szegedy et al., "Going deeper with convolutions", 2015),
//! in the form of article 000 / d2l: four parallel paths concatenated on channels.
//!
//! ```text
//!        ┌─ 1x1 conv (c1) ─────────────────────┐
//! input ─┼─ 1x1 conv (c2.0) ─ 3x3 conv (c2.1) ──┼─ concat on channels
//!        ├─ 1x1 conv (c3.0) ─ 5x5 conv (c3.1) ──┤   (c1 + c2.1 + c3.1 + c4)
//!        └─ 3x3 max pool ─── 1x1 conv (c4) ─────┘
//! ```
//! Every convolution is followed by ReLU. torchvision's `Inception` is the same block with
//! `BasicConv2d` convolutions and a 3x3 kernel on the third path. Shapes: `[N, C, H, W]` to
//! `[N, c1 + c2.1 + c3.1 + c4, H, W]`.

use burn::module::Module;
use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

use super::conv::{Conv, ConvConfig, ConvStyle};
use super::features::{expect_maps, Features, Shape};
use super::forward::Forward;
use super::layer::{Build, Layer, LayerConfig, TorchName};
use super::max_pool::MaxPool;
use crate::onnx::{Attr, OnnxGraph, OnnxValue};

fn five() -> usize {
    5
}

/// Channel counts of the four paths, as in `Inception(c1, c2, c3, c4)`. In a network file
/// `{ type = "inception", c1 = 64, c2 = [96, 128], c3 = [16, 32], c4 = 32 }`, optionally with
/// `conv = "conv_block"` or `"basic_conv2d"` and `c3_kernel = 3`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InceptionConfig {
    pub c1: usize,
    pub c2: (usize, usize),
    pub c3: (usize, usize),
    pub c4: usize,
    /// How every convolution is made: plain (article 000), `conv_block` (article 001) or
    /// torchvision's `BasicConv2d`.
    #[serde(default)]
    pub conv: ConvStyle,
    /// Kernel of the third path's second convolution: 5 in the paper, 3 in torchvision.
    #[serde(default = "five")]
    pub c3_kernel: usize,
}

impl InceptionConfig {
    pub fn new(c1: usize, c2: (usize, usize), c3: (usize, usize), c4: usize) -> Self {
        Self {
            c1,
            c2,
            c3,
            c4,
            conv: ConvStyle::Plain,
            c3_kernel: 5,
        }
    }

    /// Batch-norm conv blocks on every path.
    pub fn batch_norm(mut self) -> Self {
        self.conv = ConvStyle::ConvBlock;
        self
    }

    /// torchvision's `Inception`: `BasicConv2d` on every path and a 3x3 kernel on the third
    /// (a known difference from the paper's 5x5, kept for its pretrained weights).
    pub fn torchvision(mut self) -> Self {
        self.conv = ConvStyle::BasicConv2d;
        self.c3_kernel = 3;
        self
    }

    /// Output channels: the four paths concatenated.
    pub fn out_channels(&self) -> usize {
        self.c1 + self.c2.1 + self.c3.1 + self.c4
    }
}

impl LayerConfig for InceptionConfig {
    type Layer = Inception;

    fn build(&self, input: &Shape, ctx: &mut Build) -> Result<Inception, String> {
        let [c, _, _] = expect_maps(input, "an Inception block")?;
        let channels = [self.c1, self.c2.0, self.c2.1, self.c3.0, self.c3.1, self.c4];
        if channels.contains(&0) {
            return Err("every path needs at least one channel (c1, c2, c3, c4 > 0)".into());
        }
        if self.c3_kernel.is_multiple_of(2) {
            return Err(format!(
                "c3_kernel must be odd to keep the size, got {}",
                self.c3_kernel
            ));
        }
        let mut conv = |channels, kernel: usize, in_channels| {
            ConvConfig::new(channels, kernel)
                .padding(kernel / 2)
                .style(self.conv)
                .relu()
                .init(in_channels, ctx)
        };
        let block = Inception {
            p1: conv(self.c1, 1, c)?,
            p2_1: conv(self.c2.0, 1, c)?,
            p2_2: conv(self.c2.1, 3, self.c2.0)?,
            p3_1: conv(self.c3.0, 1, c)?,
            p3_2: conv(self.c3.1, self.c3_kernel, self.c3.0)?,
            p4_1: MaxPool::new(3, 1, 1),
            p4_2: conv(self.c4, 1, c)?,
        };
        block.output_shape(input)?;
        Ok(block)
    }

    fn describe(&self) -> String {
        let kind = match self.conv {
            ConvStyle::Plain => "Inception",
            ConvStyle::ConvBlock => "InceptionBN",
            ConvStyle::BasicConv2d => "Inception(BasicConv2d)",
        };
        let p3 = if self.c3_kernel == 5 {
            String::new()
        } else {
            format!(", c3 kernel {k}x{k}", k = self.c3_kernel)
        };
        format!(
            "{kind}(c1={}, c2=({}, {}), c3=({}, {}){p3}, c4={}) -> {} channels",
            self.c1,
            self.c2.0,
            self.c2.1,
            self.c3.0,
            self.c3.1,
            self.c4,
            self.out_channels()
        )
    }
}

/// An Inception block; field names follow article 000 (`p1`, `p2_1`, `p2_2`, ...).
#[derive(Module, Debug)]
pub struct Inception {
    pub p1: Conv,
    pub p2_1: Conv,
    pub p2_2: Conv,
    pub p3_1: Conv,
    pub p3_2: Conv,
    pub p4_1: MaxPool,
    pub p4_2: Conv,
}

impl Inception {
    /// The settings it was built from.
    pub fn config(&self) -> InceptionConfig {
        let style = match (self.p1.bias.is_some(), &self.p1.bn) {
            (_, None) => ConvStyle::Plain,
            (true, Some(_)) => ConvStyle::ConvBlock,
            (false, Some(_)) => ConvStyle::BasicConv2d,
        };
        InceptionConfig {
            c1: self.p1.channels(),
            c2: (self.p2_1.channels(), self.p2_2.channels()),
            c3: (self.p3_1.channels(), self.p3_2.channels()),
            c4: self.p4_2.channels(),
            conv: style,
            c3_kernel: self.p3_2.kernel(),
        }
    }
}

impl Layer for Inception {
    fn forward(&self, x: Features, ctx: &mut Forward) -> Features {
        let [p1, p2, p3] = if ctx.is_traced() {
            // One row per convolution in a trace (`summary`, `bench --profile`).
            [("p1", &self.p1), ("p2_1", &self.p2_1), ("p3_1", &self.p3_1)]
                .map(|(name, conv)| ctx.layer(name, conv, x.clone()))
        } else {
            let pointwise = [&self.p1, &self.p2_1, &self.p3_1];
            Conv::forward_side_by_side(pointwise, x.clone().into_maps()).map(Features::Maps)
        };
        let p4 = ctx.layer("p4_1", &self.p4_1, x);
        if ctx.is_traced() {
            // Each convolution timed on its own, into a tensor of its own; `cat` joins them.
            let p2 = ctx.layer("p2_2", &self.p2_2, p2);
            let p3 = ctx.layer("p3_2", &self.p3_2, p3);
            let p4 = ctx.layer("p4_2", &self.p4_2, p4);
            let paths = [p1, p2, p3, p4].map(Features::into_maps);
            return Features::Maps(Tensor::cat(paths.to_vec(), 1));
        }
        // The last convolution of each path writes straight into its channels of the output.
        let [p2, p3, p4] = [p2, p3, p4].map(Features::into_maps);
        Features::Maps(Conv::forward_cat(
            p1.into_maps(),
            [(&self.p2_2, p2), (&self.p3_2, p3), (&self.p4_2, p4)],
        ))
    }

    fn output_shape(&self, input: &Shape) -> Result<Shape, String> {
        let [_, h, w] = expect_maps(input, "an Inception block")?;
        self.p1.output_shape(input)?;
        self.p2_1.output_shape(input)?;
        self.p3_1.output_shape(input)?;
        self.p4_2.output_shape(input)?;
        Ok(vec![self.config().out_channels(), h, w])
    }

    fn describe(&self) -> String {
        self.config().describe()
    }

    /// torchvision's `branch1`, `branch2.0`, `branch2.1`, `branch3.0`, `branch3.1` and
    /// `branch4.1` (`branch4.0` is the pooling).
    fn torch_name(&self, path: &str) -> TorchName {
        TorchName::child(
            path,
            &[
                ("p1", "branch1", &self.p1),
                ("p2_1", "branch2.0", &self.p2_1),
                ("p2_2", "branch2.1", &self.p2_2),
                ("p3_1", "branch3.0", &self.p3_1),
                ("p3_2", "branch3.1", &self.p3_2),
                ("p4_2", "branch4.1", &self.p4_2),
            ],
        )
    }

    /// The four paths, each convolution with its batch norm folded in, joined by a `Concat`.
    fn to_onnx(&self, x: OnnxValue, graph: &mut OnnxGraph) -> Result<OnnxValue, String> {
        let shape = self.output_shape(&x.shape)?;
        let p1 = graph.layer("p1", &self.p1, x.clone())?;
        let p2 = graph.layer("p2_1", &self.p2_1, x.clone())?;
        let p2 = graph.layer("p2_2", &self.p2_2, p2)?;
        let p3 = graph.layer("p3_1", &self.p3_1, x.clone())?;
        let p3 = graph.layer("p3_2", &self.p3_2, p3)?;
        let p4 = graph.layer("p4_1", &self.p4_1, x.clone())?;
        let p4 = graph.layer("p4_2", &self.p4_2, p4)?;
        let paths = [&p1.name, &p2.name, &p3.name, &p4.name].map(String::as_str);
        let y = graph.node("Concat", &paths, &[("axis", Attr::Int(1))]);
        Ok(x.with(y, shape))
    }
}
