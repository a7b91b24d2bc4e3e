//! Network in Network (Lin, Chen & Yan, 2014) as in seed 003: `nin_block`s of one convolution
//! and two 1x1 convolutions (all with ReLU), max pools, dropout 0.5, and a last block with one
//! channel per class closed by global average pooling instead of dense layers.
//! 1,992,166 parameters for 1x224x224 and 10 classes.

use crate::nn::{ConvSpec, LayerSpec, Pool, SequentialSpec};

/// A convolution (`kernel`, `stride`, `padding`) and two 1x1 convolutions, all with ReLU.
pub fn nin_block(channels: usize, kernel: usize, stride: usize, padding: usize) -> SequentialSpec {
    SequentialSpec::new()
        .add(LayerSpec::Conv(
            ConvSpec::new(channels, kernel)
                .stride(stride)
                .padding(padding)
                .relu(),
        ))
        .add(LayerSpec::Conv(ConvSpec::new(channels, 1).relu()))
        .add(LayerSpec::Conv(ConvSpec::new(channels, 1).relu()))
}

pub fn nin(num_classes: usize) -> SequentialSpec {
    let pool = || LayerSpec::Pool(Pool::max(3, 2, 0));
    SequentialSpec::new()
        .add(LayerSpec::Sequential(nin_block(96, 11, 4, 0)))
        .add(pool())
        .add(LayerSpec::Sequential(nin_block(256, 5, 1, 2)))
        .add(pool())
        .add(LayerSpec::Sequential(nin_block(384, 3, 1, 1)))
        .add(pool())
        .add(LayerSpec::Dropout(0.5))
        .add(LayerSpec::Sequential(nin_block(num_classes, 3, 1, 1)))
        .add(LayerSpec::GlobalAvgPool)
        .add(LayerSpec::Flatten)
}
