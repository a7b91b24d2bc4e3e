//! The Inception block of GoogLeNet (Szegedy et al., "Going deeper with convolutions", 2015),
//! in the form of seed 000 / d2l: four parallel paths concatenated on channels.
//!
//! ```text
//!        ┌─ 1x1 conv (c1) ─────────────────────┐
//! input ─┼─ 1x1 conv (c2.0) ─ 3x3 conv (c2.1) ──┼─ concat on channels
//!        ├─ 1x1 conv (c3.0) ─ 5x5 conv (c3.1) ──┤   (c1 + c2.1 + c3.1 + c4)
//!        └─ 3x3 max pool ─── 1x1 conv (c4) ─────┘
//! ```
//! Every convolution is followed by ReLU. torchvision's `Inception` is the same block with
//! batch-norm conv blocks and a 3x3 convolution on the third path.

use burn::module::Module;
use burn::tensor::{Device, Tensor};

use super::features::Shape;
use super::init::Init;
use super::layers::{Conv, ConvSpec, ConvStyle, Pool};

/// Channel counts of the four paths, as in `Inception(c1, c2, c3, c4)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct InceptionSpec {
    pub c1: usize,
    pub c2: (usize, usize),
    pub c3: (usize, usize),
    pub c4: usize,
    /// How every convolution is made: plain (seed 000), `conv_block` (seed 001) or
    /// torchvision's `BasicConv2d`.
    pub conv: ConvStyle,
    /// Kernel of the third path's second convolution: 5 in the paper, 3 in torchvision.
    pub p3_kernel: usize,
}

impl InceptionSpec {
    pub fn new(c1: usize, c2: (usize, usize), c3: (usize, usize), c4: usize) -> Self {
        Self {
            c1,
            c2,
            c3,
            c4,
            conv: ConvStyle::PLAIN,
            p3_kernel: 5,
        }
    }

    /// Batch-norm conv blocks on every path.
    pub fn batch_norm(mut self) -> Self {
        self.conv = ConvStyle::CONV_BLOCK;
        self
    }

    /// torchvision's `Inception`: `BasicConv2d` on every path and a 3x3 kernel on the third
    /// (a known difference from the paper's 5x5, kept for its pretrained weights).
    pub fn torchvision(mut self) -> Self {
        self.conv = ConvStyle::BASIC_CONV2D;
        self.p3_kernel = 3;
        self
    }

    /// Output channels: the four paths concatenated.
    pub fn out_channels(&self) -> usize {
        self.c1 + self.c2.1 + self.c3.1 + self.c4
    }

    /// `Inception`, `InceptionBN` (conv blocks) or `Inception(BasicConv2d)` (torchvision).
    pub fn kind_name(&self) -> &'static str {
        if self.conv == ConvStyle::PLAIN {
            "Inception"
        } else if self.conv == ConvStyle::CONV_BLOCK {
            "InceptionBN"
        } else {
            "Inception(BasicConv2d)"
        }
    }

    pub fn describe(&self) -> String {
        let kind = self.kind_name();
        let p3 = if self.p3_kernel == 5 {
            String::new()
        } else {
            format!(", c3 kernel {k}x{k}", k = self.p3_kernel)
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

    pub fn build(
        &self,
        input: &Shape,
        init: Init,
        device: &Device,
    ) -> Result<(Inception, Shape), String> {
        let conv =
            |spec: ConvSpec, shape: &Shape| spec.style(self.conv).relu().build(shape, init, device);
        let (p1, out1) = conv(ConvSpec::new(self.c1, 1), input)?;
        let (p2_1, mid2) = conv(ConvSpec::new(self.c2.0, 1), input)?;
        let (p2_2, _) = conv(ConvSpec::new(self.c2.1, 3).padding(1), &mid2)?;
        let (p3_1, mid3) = conv(ConvSpec::new(self.c3.0, 1), input)?;
        let k3 = self.p3_kernel;
        let (p3_2, _) = conv(ConvSpec::new(self.c3.1, k3).padding(k3 / 2), &mid3)?;
        let p4_1 = Pool::max(3, 1, 1);
        let pooled = p4_1.output_shape(input)?;
        let (p4_2, _) = conv(ConvSpec::new(self.c4, 1), &pooled)?;
        let block = Inception {
            p1,
            p2_1,
            p2_2,
            p3_1,
            p3_2,
            p4_1,
            p4_2,
        };
        Ok((block, vec![self.out_channels(), out1[1], out1[2]]))
    }
}

/// An Inception block; field names follow seed 000 (`p1`, `p2_1`, `p2_2`, ...).
#[derive(Module, Debug)]
pub struct Inception {
    pub p1: Conv,
    pub p2_1: Conv,
    pub p2_2: Conv,
    pub p3_1: Conv,
    pub p3_2: Conv,
    pub p4_1: Pool,
    pub p4_2: Conv,
}

impl Inception {
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let p1 = self.p1.forward(x.clone());
        let p2 = self.p2_2.forward(self.p2_1.forward(x.clone()));
        let p3 = self.p3_2.forward(self.p3_1.forward(x.clone()));
        let p4 = self.p4_2.forward(self.p4_1.forward(x));
        Tensor::cat(vec![p1, p2, p3, p4], 1)
    }

    /// The six convolutions with their field names, in path order.
    pub fn convs(&self) -> [(&'static str, &Conv); 6] {
        [
            ("p1", &self.p1),
            ("p2_1", &self.p2_1),
            ("p2_2", &self.p2_2),
            ("p3_1", &self.p3_1),
            ("p3_2", &self.p3_2),
            ("p4_2", &self.p4_2),
        ]
    }

    pub fn spec(&self) -> InceptionSpec {
        let out = |c: &Conv| c.spec().channels;
        InceptionSpec {
            c1: out(&self.p1),
            c2: (out(&self.p2_1), out(&self.p2_2)),
            c3: (out(&self.p3_1), out(&self.p3_2)),
            c4: out(&self.p4_2),
            conv: self.p1.spec().conv_style(),
            p3_kernel: self.p3_2.spec().kernel,
        }
    }
}
