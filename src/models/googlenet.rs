//! GoogLeNet (Inception v1), Szegedy et al., "Going deeper with convolutions", CVPR 2015.
//!
//! This is the d2l variant of seeds 000 and 003: convolutions with ReLU and no batch norm, no
//! auxiliary classifiers, every pooling `MaxPool2D(3, 2, padding=1)`, a single dense layer after
//! global average pooling. For a 1x96x96 input the five blocks give 64x24x24, 192x12x12,
//! 480x6x6, 832x3x3 and 1024x1x1; 5,977,530 parameters with 10 classes. torchvision's
//! `googlenet.py` is the same trunk with batch-norm conv blocks, aux heads and dropout.

use crate::nn::{ConvSpec, DenseSpec, InceptionSpec, LayerSpec, Pool, SequentialSpec};

fn conv(channels: usize, kernel: usize) -> ConvSpec {
    ConvSpec::new(channels, kernel).relu()
}

fn pool() -> LayerSpec {
    LayerSpec::Pool(Pool::max(3, 2, 1))
}

fn inception(c1: usize, c2: (usize, usize), c3: (usize, usize), c4: usize) -> LayerSpec {
    LayerSpec::Inception(InceptionSpec::new(c1, c2, c3, c4))
}

/// The network of seed 000: blocks `b1`..`b5` and a `dense` classifier.
pub fn googlenet(num_classes: usize) -> SequentialSpec {
    let b1 = SequentialSpec::new()
        .add(LayerSpec::Conv(conv(64, 7).stride(2).padding(3)))
        .add(pool());
    let b2 = SequentialSpec::new()
        .add(LayerSpec::Conv(conv(64, 1)))
        .add(LayerSpec::Conv(conv(192, 3).padding(1)))
        .add(pool());
    let b3 = SequentialSpec::new()
        .add(inception(64, (96, 128), (16, 32), 32))
        .add(inception(128, (128, 192), (32, 96), 64))
        .add(pool());
    let b4 = SequentialSpec::new()
        .add(inception(192, (96, 208), (16, 48), 64))
        .add(inception(160, (112, 224), (24, 64), 64))
        .add(inception(128, (128, 256), (24, 64), 64))
        .add(inception(112, (144, 288), (32, 64), 64))
        .add(inception(256, (160, 320), (32, 128), 128))
        .add(pool());
    let b5 = SequentialSpec::new()
        .add(inception(256, (160, 320), (32, 128), 128))
        .add(inception(384, (192, 384), (48, 128), 128))
        .add(LayerSpec::GlobalAvgPool);
    SequentialSpec::new()
        .add_named("b1", LayerSpec::Sequential(b1))
        .add_named("b2", LayerSpec::Sequential(b2))
        .add_named("b3", LayerSpec::Sequential(b3))
        .add_named("b4", LayerSpec::Sequential(b4))
        .add_named("b5", LayerSpec::Sequential(b5))
        .add_named("dense", LayerSpec::Dense(DenseSpec::new(num_classes)))
}
