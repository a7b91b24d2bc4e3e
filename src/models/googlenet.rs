//! GoogLeNet (Inception v1), Szegedy et al., "Going deeper with convolutions", CVPR 2015.
//!
//! Three forms:
//! - [`googlenet`]: the d2l variant of seeds 000 and 003: convolutions with ReLU and no batch
//!   norm, no auxiliary classifiers, every pooling `MaxPool2D(3, 2, padding=1)`, one dense layer
//!   after global average pooling. For 1x96x96 the five blocks give 64x24x24, 192x12x12,
//!   480x6x6, 832x3x3 and 1024x1x1; 5,977,530 parameters with 10 classes.
//! - [`googlenet_bn`]: the same layout with seed 001's `conv_block` (conv, batch norm, ReLU)
//!   everywhere.
//! - [`googlenet_paper`]: the paper's network as seed 001 writes it (3x224x224, batch-norm conv
//!   blocks, dropout 0.4, 1000 classes) with the two auxiliary classifiers after 4a and 4d,
//!   whose losses count 0.3 each in training (seed 004). 13,389,064 parameters with the
//!   auxiliary heads, 7,008,824 without.
//! - [`googlenet_torchvision`]: torchvision's `googlenet.py` exactly, so that its ImageNet
//!   weights load by name: `BasicConv2d` (convolution without bias, batch norm eps 0.001, ReLU),
//!   a 1x1 `conv2` and 3x3 `conv3` stem, a 3x3 kernel on the third Inception path,
//!   `ceil_mode=True` pooling (a 2x2 `maxpool4`), dropout 0.2, optional `transform_input`, and
//!   auxiliary heads with adaptive 4x4 average pooling. 13,004,888 parameters with 1000
//!   classes and the auxiliary heads (6,624,904 without), as torchvision reports.

use std::ops::Range;

use super::{AuxSpec, ModelSpec};
use crate::nn::{ConvSpec, ConvStyle, DenseSpec, InceptionSpec, LayerSpec, Pool, SequentialSpec};

/// The nine Inception blocks of the paper's Table 1, shared by every form: name, c1, c2, c3,
/// c4.
type Block = (&'static str, usize, (usize, usize), (usize, usize), usize);
const BLOCKS: [Block; 9] = [
    ("inception3a", 64, (96, 128), (16, 32), 32),
    ("inception3b", 128, (128, 192), (32, 96), 64),
    ("inception4a", 192, (96, 208), (16, 48), 64),
    ("inception4b", 160, (112, 224), (24, 64), 64),
    ("inception4c", 128, (128, 256), (24, 64), 64),
    ("inception4d", 112, (144, 288), (32, 64), 64),
    ("inception4e", 256, (160, 320), (32, 128), 128),
    ("inception5a", 256, (160, 320), (32, 128), 128),
    ("inception5b", 384, (192, 384), (48, 128), 128),
];

/// The blocks `range` of [`BLOCKS`], each made into a layer by `form` (plain, batch norm,
/// torchvision), with their names.
fn inceptions(
    range: Range<usize>,
    form: fn(InceptionSpec) -> InceptionSpec,
) -> impl Iterator<Item = (&'static str, LayerSpec)> {
    BLOCKS[range].iter().map(move |&(name, c1, c2, c3, c4)| {
        (
            name,
            LayerSpec::Inception(form(InceptionSpec::new(c1, c2, c3, c4))),
        )
    })
}

/// A convolution of `style` followed by ReLU.
fn conv(channels: usize, kernel: usize, style: ConvStyle) -> ConvSpec {
    ConvSpec::new(channels, kernel).style(style).relu()
}

/// The two auxiliary classifiers after 4a and 4d (weight 0.3 each), as `InceptionAux`:
/// `pool`, a 1x1 convolution of 128 made by `conv`, dense 1024 with ReLU, dropout 0.7, dense to
/// the classes.
fn aux_heads(pool: LayerSpec, conv: ConvSpec, num_classes: usize) -> Vec<AuxSpec> {
    let head = SequentialSpec::new()
        .add_named("pool", pool)
        .add_named("conv", LayerSpec::Conv(conv))
        .add_named("flatten", LayerSpec::Flatten)
        .add_named("fc1", LayerSpec::Dense(DenseSpec::new(1024).relu()))
        .add_named("dropout", LayerSpec::Dropout(0.7))
        .add_named("fc2", LayerSpec::Dense(DenseSpec::new(num_classes)));
    vec![
        AuxSpec::new("aux1", "inception4a", head.clone(), 0.3),
        AuxSpec::new("aux2", "inception4d", head, 0.3),
    ]
}

/// The paper's layout after its `stem`: the nine blocks named as in torchvision with
/// `maxpool3` after 3b and `maxpool4` after 4e, global average pooling, dropout and `fc`.
fn paper_trunk(
    stem: SequentialSpec,
    form: fn(InceptionSpec) -> InceptionSpec,
    maxpool3: LayerSpec,
    maxpool4: LayerSpec,
    dropout: f64,
    num_classes: usize,
) -> SequentialSpec {
    let mut trunk = stem;
    for (name, block) in inceptions(0..BLOCKS.len(), form) {
        trunk = trunk.add_named(name, block);
        match name {
            "inception3b" => trunk = trunk.add_named("maxpool3", maxpool3.clone()),
            "inception4e" => trunk = trunk.add_named("maxpool4", maxpool4.clone()),
            _ => {}
        }
    }
    trunk
        .add_named("avgpool", LayerSpec::GlobalAvgPool)
        .add_named("flatten", LayerSpec::Flatten)
        .add_named("dropout", LayerSpec::Dropout(dropout))
        .add_named("fc", LayerSpec::Dense(DenseSpec::new(num_classes)))
}

/// torchvision's `GoogLeNet` (`torchvision/models/googlenet.py`) with its module names, so a
/// state dict of `torchvision.models.googlenet` maps one to one. `transform_input` is what
/// torchvision turns on with its pretrained weights.
pub fn googlenet_torchvision(num_classes: usize, transform_input: bool) -> ModelSpec {
    let pool = |kernel| LayerSpec::Pool(Pool::max(kernel, 2, 0).ceil());
    let basic = |channels, kernel| ConvSpec::basic_conv2d(channels, kernel);
    let mut stem = SequentialSpec::new();
    if transform_input {
        stem = stem.add_named("transform_input", LayerSpec::TransformInput);
    }
    let stem = stem
        .add_named("conv1", LayerSpec::Conv(basic(64, 7).stride(2).padding(3)))
        .add_named("maxpool1", pool(3))
        .add_named("conv2", LayerSpec::Conv(basic(64, 1)))
        .add_named("conv3", LayerSpec::Conv(basic(192, 3).padding(1)))
        .add_named("maxpool2", pool(3));
    ModelSpec {
        trunk: paper_trunk(
            stem,
            InceptionSpec::torchvision,
            pool(3),
            pool(2),
            0.2,
            num_classes,
        ),
        aux: aux_heads(LayerSpec::AdaptiveAvgPool(4), basic(128, 1), num_classes),
    }
}

/// How GoogLeNet's stride-2 max pools keep the border: padding 1 (seeds 000, 001, 003) or
/// PyTorch's `ceil_mode=True` without padding (seed 004, torchvision).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Default,
    serde::Serialize,
    serde::Deserialize,
    clap::ValueEnum,
)]
#[serde(rename_all = "kebab-case")]
pub enum PoolMode {
    #[default]
    Padding,
    Ceil,
}

impl PoolMode {
    fn pool(self) -> LayerSpec {
        LayerSpec::Pool(match self {
            PoolMode::Padding => Pool::max(3, 2, 1),
            PoolMode::Ceil => Pool::max(3, 2, 0).ceil(),
        })
    }
}

/// The d2l layout, blocks `b1`..`b5` and a `dense` classifier; `bn` makes every convolution a
/// batch-norm conv block.
fn d2l_layout(num_classes: usize, bn: bool) -> SequentialSpec {
    let pool = || PoolMode::Padding.pool();
    let (style, form): (_, fn(InceptionSpec) -> InceptionSpec) = if bn {
        (ConvStyle::CONV_BLOCK, InceptionSpec::batch_norm)
    } else {
        (ConvStyle::PLAIN, |spec| spec)
    };
    let stage = |range, end| {
        inceptions(range, form)
            .fold(SequentialSpec::new(), |stage, (_, block)| stage.add(block))
            .add(end)
    };
    let b1 = SequentialSpec::new()
        .add(LayerSpec::Conv(conv(64, 7, style).stride(2).padding(3)))
        .add(pool());
    let b2 = SequentialSpec::new()
        .add(LayerSpec::Conv(conv(64, 1, style)))
        .add(LayerSpec::Conv(conv(192, 3, style).padding(1)))
        .add(pool());
    SequentialSpec::new()
        .add_named("b1", LayerSpec::Sequential(b1))
        .add_named("b2", LayerSpec::Sequential(b2))
        .add_named("b3", LayerSpec::Sequential(stage(0..2, pool())))
        .add_named("b4", LayerSpec::Sequential(stage(2..7, pool())))
        .add_named(
            "b5",
            LayerSpec::Sequential(stage(7..9, LayerSpec::GlobalAvgPool)),
        )
        .add_named("dense", LayerSpec::Dense(DenseSpec::new(num_classes)))
}

/// The network of seed 000.
pub fn googlenet(num_classes: usize) -> SequentialSpec {
    d2l_layout(num_classes, false)
}

/// The network of seed 000 with batch-norm conv blocks.
pub fn googlenet_bn(num_classes: usize) -> SequentialSpec {
    d2l_layout(num_classes, true)
}

/// The paper's GoogLeNet with its two auxiliary classifiers (names as in torchvision); seed
/// 001's `InceptionAux` pools 5x5 with stride 3.
pub fn googlenet_paper(num_classes: usize, pool_mode: PoolMode) -> ModelSpec {
    let block_conv = |channels, kernel| conv(channels, kernel, ConvStyle::CONV_BLOCK);
    let stem = SequentialSpec::new()
        .add_named(
            "conv1",
            LayerSpec::Conv(block_conv(64, 7).stride(2).padding(3)),
        )
        .add_named("maxpool1", pool_mode.pool())
        .add_named("conv2", LayerSpec::Conv(block_conv(192, 3).padding(1)))
        .add_named("maxpool2", pool_mode.pool());
    ModelSpec {
        trunk: paper_trunk(
            stem,
            InceptionSpec::batch_norm,
            pool_mode.pool(),
            pool_mode.pool(),
            0.4,
            num_classes,
        ),
        aux: aux_heads(
            LayerSpec::Pool(Pool::avg(5, 3, 0)),
            block_conv(128, 1),
            num_classes,
        ),
    }
}
