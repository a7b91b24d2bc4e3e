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

use super::{AuxSpec, ModelSpec};
use crate::nn::{ConvSpec, DenseSpec, InceptionSpec, LayerSpec, Pool, SequentialSpec};

/// torchvision's `InceptionAux`: adaptive average pool to 4x4, `BasicConv2d` 1x1 of 128,
/// dense 1024 with ReLU, dropout 0.7, dense to the classes.
fn torchvision_aux_head(num_classes: usize) -> SequentialSpec {
    SequentialSpec::new()
        .add_named("pool", LayerSpec::AdaptiveAvgPool(4))
        .add_named("conv", LayerSpec::Conv(ConvSpec::basic_conv2d(128, 1)))
        .add_named("flatten", LayerSpec::Flatten)
        .add_named("fc1", LayerSpec::Dense(DenseSpec::new(1024).relu()))
        .add_named("dropout", LayerSpec::Dropout(0.7))
        .add_named("fc2", LayerSpec::Dense(DenseSpec::new(num_classes)))
}

/// torchvision's `GoogLeNet` (`torchvision/models/googlenet.py`) with its module names, so a
/// state dict of `torchvision.models.googlenet` maps one to one. `transform_input` is what
/// torchvision turns on with its pretrained weights.
pub fn googlenet_torchvision(num_classes: usize, transform_input: bool) -> ModelSpec {
    let pool = |kernel| LayerSpec::Pool(Pool::max(kernel, 2, 0).ceil());
    let block =
        |c1, c2, c3, c4| LayerSpec::Inception(InceptionSpec::new(c1, c2, c3, c4).torchvision());
    let basic = |channels, kernel| ConvSpec::basic_conv2d(channels, kernel);
    let mut trunk = SequentialSpec::new();
    if transform_input {
        trunk = trunk.add_named("transform_input", LayerSpec::TransformInput);
    }
    let trunk = trunk
        .add_named("conv1", LayerSpec::Conv(basic(64, 7).stride(2).padding(3)))
        .add_named("maxpool1", pool(3))
        .add_named("conv2", LayerSpec::Conv(basic(64, 1)))
        .add_named("conv3", LayerSpec::Conv(basic(192, 3).padding(1)))
        .add_named("maxpool2", pool(3))
        .add_named("inception3a", block(64, (96, 128), (16, 32), 32))
        .add_named("inception3b", block(128, (128, 192), (32, 96), 64))
        .add_named("maxpool3", pool(3))
        .add_named("inception4a", block(192, (96, 208), (16, 48), 64))
        .add_named("inception4b", block(160, (112, 224), (24, 64), 64))
        .add_named("inception4c", block(128, (128, 256), (24, 64), 64))
        .add_named("inception4d", block(112, (144, 288), (32, 64), 64))
        .add_named("inception4e", block(256, (160, 320), (32, 128), 128))
        .add_named("maxpool4", pool(2))
        .add_named("inception5a", block(256, (160, 320), (32, 128), 128))
        .add_named("inception5b", block(384, (192, 384), (48, 128), 128))
        .add_named("avgpool", LayerSpec::GlobalAvgPool)
        .add_named("flatten", LayerSpec::Flatten)
        .add_named("dropout", LayerSpec::Dropout(0.2))
        .add_named("fc", LayerSpec::Dense(DenseSpec::new(num_classes)));
    ModelSpec {
        trunk,
        aux: vec![
            AuxSpec::new(
                "aux1",
                "inception4a",
                torchvision_aux_head(num_classes),
                0.3,
            ),
            AuxSpec::new(
                "aux2",
                "inception4d",
                torchvision_aux_head(num_classes),
                0.3,
            ),
        ],
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

/// A convolution with ReLU, and batch norm in between when `bn`.
fn conv(channels: usize, kernel: usize, bn: bool) -> ConvSpec {
    let spec = ConvSpec::new(channels, kernel).relu();
    if bn {
        spec.batch_norm()
    } else {
        spec
    }
}

fn inception(c1: usize, c2: (usize, usize), c3: (usize, usize), c4: usize, bn: bool) -> LayerSpec {
    let spec = InceptionSpec::new(c1, c2, c3, c4);
    LayerSpec::Inception(if bn { spec.batch_norm() } else { spec })
}

/// The d2l layout, blocks `b1`..`b5` and a `dense` classifier; `bn` makes every convolution a
/// batch-norm conv block.
fn d2l_layout(num_classes: usize, bn: bool) -> SequentialSpec {
    let pool = || PoolMode::Padding.pool();
    let b1 = SequentialSpec::new()
        .add(LayerSpec::Conv(conv(64, 7, bn).stride(2).padding(3)))
        .add(pool());
    let b2 = SequentialSpec::new()
        .add(LayerSpec::Conv(conv(64, 1, bn)))
        .add(LayerSpec::Conv(conv(192, 3, bn).padding(1)))
        .add(pool());
    let b3 = SequentialSpec::new()
        .add(inception(64, (96, 128), (16, 32), 32, bn))
        .add(inception(128, (128, 192), (32, 96), 64, bn))
        .add(pool());
    let b4 = SequentialSpec::new()
        .add(inception(192, (96, 208), (16, 48), 64, bn))
        .add(inception(160, (112, 224), (24, 64), 64, bn))
        .add(inception(128, (128, 256), (24, 64), 64, bn))
        .add(inception(112, (144, 288), (32, 64), 64, bn))
        .add(inception(256, (160, 320), (32, 128), 128, bn))
        .add(pool());
    let b5 = SequentialSpec::new()
        .add(inception(256, (160, 320), (32, 128), 128, bn))
        .add(inception(384, (192, 384), (48, 128), 128, bn))
        .add(LayerSpec::GlobalAvgPool);
    SequentialSpec::new()
        .add_named("b1", LayerSpec::Sequential(b1))
        .add_named("b2", LayerSpec::Sequential(b2))
        .add_named("b3", LayerSpec::Sequential(b3))
        .add_named("b4", LayerSpec::Sequential(b4))
        .add_named("b5", LayerSpec::Sequential(b5))
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

/// Seed 001's `InceptionAux`: average pool 5/3, 1x1 conv block of 128, dense 1024 with ReLU,
/// dropout 0.7, dense to the classes.
fn aux_head(num_classes: usize) -> SequentialSpec {
    SequentialSpec::new()
        .add_named("pool", LayerSpec::Pool(Pool::avg(5, 3, 0)))
        .add_named("conv", LayerSpec::Conv(conv(128, 1, true)))
        .add_named("flatten", LayerSpec::Flatten)
        .add_named("fc1", LayerSpec::Dense(DenseSpec::new(1024).relu()))
        .add_named("dropout", LayerSpec::Dropout(0.7))
        .add_named("fc2", LayerSpec::Dense(DenseSpec::new(num_classes)))
}

/// The paper's GoogLeNet with its two auxiliary classifiers (names as in torchvision).
pub fn googlenet_paper(num_classes: usize, pool_mode: PoolMode) -> ModelSpec {
    let pool = || pool_mode.pool();
    let block = |c1, c2, c3, c4| inception(c1, c2, c3, c4, true);
    let trunk = SequentialSpec::new()
        .add_named(
            "conv1",
            LayerSpec::Conv(conv(64, 7, true).stride(2).padding(3)),
        )
        .add_named("maxpool1", pool())
        .add_named("conv2", LayerSpec::Conv(conv(192, 3, true).padding(1)))
        .add_named("maxpool2", pool())
        .add_named("inception3a", block(64, (96, 128), (16, 32), 32))
        .add_named("inception3b", block(128, (128, 192), (32, 96), 64))
        .add_named("maxpool3", pool())
        .add_named("inception4a", block(192, (96, 208), (16, 48), 64))
        .add_named("inception4b", block(160, (112, 224), (24, 64), 64))
        .add_named("inception4c", block(128, (128, 256), (24, 64), 64))
        .add_named("inception4d", block(112, (144, 288), (32, 64), 64))
        .add_named("inception4e", block(256, (160, 320), (32, 128), 128))
        .add_named("maxpool4", pool())
        .add_named("inception5a", block(256, (160, 320), (32, 128), 128))
        .add_named("inception5b", block(384, (192, 384), (48, 128), 128))
        .add_named("avgpool", LayerSpec::GlobalAvgPool)
        .add_named("flatten", LayerSpec::Flatten)
        .add_named("dropout", LayerSpec::Dropout(0.4))
        .add_named("fc", LayerSpec::Dense(DenseSpec::new(num_classes)));
    ModelSpec {
        trunk,
        aux: vec![
            AuxSpec::new("aux1", "inception4a", aux_head(num_classes), 0.3),
            AuxSpec::new("aux2", "inception4d", aux_head(num_classes), 0.3),
        ],
    }
}
