//! AlexNet (Krizhevsky et al., "ImageNet classification with deep convolutional neural
//! networks", 2012) in the single-tower, one-channel form of seeds 002/003: five convolutions,
//! three max pools, two dense layers of 4096 with dropout 0.5. 46,764,746 parameters for
//! 1x224x224 and 10 classes.

use crate::nn::{ConvSpec, DenseSpec, LayerSpec, Pool, SequentialSpec};

pub fn alexnet(num_classes: usize) -> SequentialSpec {
    let padded = |c, k, p| LayerSpec::Conv(ConvSpec::new(c, k).padding(p).relu());
    let pool = || LayerSpec::Pool(Pool::max(3, 2, 0));
    SequentialSpec::new()
        .add(LayerSpec::Conv(ConvSpec::new(96, 11).stride(4).relu()))
        .add(pool())
        .add(padded(256, 5, 2))
        .add(pool())
        .add(padded(384, 3, 1))
        .add(padded(384, 3, 1))
        .add(padded(256, 3, 1))
        .add(pool())
        .add(LayerSpec::Flatten)
        .add(LayerSpec::Dense(DenseSpec::new(4096).relu()))
        .add(LayerSpec::Dropout(0.5))
        .add(LayerSpec::Dense(DenseSpec::new(4096).relu()))
        .add(LayerSpec::Dropout(0.5))
        .add(LayerSpec::Dense(DenseSpec::new(num_classes)))
}
