//! LeNet as in seed 002 (Gluon, "ignore the input size"): two convolutions with ReLU and
//! max pooling, then dense 128 and dense 10. 170,988 parameters for a 1x28x28 input.
//! (LeCun et al., "Gradient-based learning applied to document recognition", 1998, used
//! sigmoid activations and average pooling; the seed's modern form is kept here.)

use crate::nn::{ConvSpec, DenseSpec, LayerSpec, Pool, SequentialSpec};

pub fn lenet(num_classes: usize) -> SequentialSpec {
    SequentialSpec::new()
        .add(LayerSpec::Conv(ConvSpec::new(20, 5).relu()))
        .add(LayerSpec::Pool(Pool::max(2, 2, 0)))
        .add(LayerSpec::Conv(ConvSpec::new(50, 3).relu()))
        .add(LayerSpec::Pool(Pool::max(2, 2, 0)))
        .add(LayerSpec::Flatten)
        .add(LayerSpec::Dense(DenseSpec::new(128).relu()))
        .add(LayerSpec::Dense(DenseSpec::new(num_classes)))
}
