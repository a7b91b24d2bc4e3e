//! VGG (Simonyan & Zisserman, "Very deep convolutional networks for large-scale image
//! recognition", 2015) as in seed 003: blocks of 3x3 convolutions with ReLU, each closed by a
//! 2x2 max pool, described by a `conv_arch` list of `(convolutions, channels)`, then the
//! AlexNet-style classifier. VGG-11 has 128,806,154 parameters for 1x224x224; the seed's
//! "small" VGG-11 divides every width by 8 (2,018,346 parameters).

use crate::nn::{ConvSpec, DenseSpec, LayerSpec, Pool, SequentialSpec};

/// VGG-11's `conv_arch`: `((1, 64), (1, 128), (2, 256), (2, 512), (2, 512))`.
pub const VGG11_ARCH: [(usize, usize); 5] = [(1, 64), (1, 128), (2, 256), (2, 512), (2, 512)];

/// `num_convs` 3x3 convolutions of `channels` with ReLU, then a 2x2 max pool.
pub fn vgg_block(num_convs: usize, channels: usize) -> SequentialSpec {
    (0..num_convs)
        .fold(SequentialSpec::new(), |block, _| {
            block.add(LayerSpec::Conv(
                ConvSpec::new(channels, 3).padding(1).relu(),
            ))
        })
        .add(LayerSpec::Pool(Pool::max(2, 2, 0)))
}

/// A VGG network from any `conv_arch` and hidden width of the classifier.
pub fn vgg(conv_arch: &[(usize, usize)], fc_hidden: usize, num_classes: usize) -> SequentialSpec {
    let blocks =
        conv_arch
            .iter()
            .enumerate()
            .fold(SequentialSpec::new(), |net, (i, &(convs, channels))| {
                net.add_named(
                    &format!("vgg_block_{}", i + 1),
                    LayerSpec::Sequential(vgg_block(convs, channels)),
                )
            });
    let fc = SequentialSpec::new()
        .add(LayerSpec::Flatten)
        .add(LayerSpec::Dense(DenseSpec::new(fc_hidden).relu()))
        .add(LayerSpec::Dropout(0.5))
        .add(LayerSpec::Dense(DenseSpec::new(fc_hidden).relu()))
        .add(LayerSpec::Dropout(0.5))
        .add(LayerSpec::Dense(DenseSpec::new(num_classes)));
    blocks.add_named("fc", LayerSpec::Sequential(fc))
}

/// VGG-11 with every width divided by `ratio` (1: the original; 8: the seed's small one).
pub fn vgg11(ratio: usize, num_classes: usize) -> SequentialSpec {
    let arch: Vec<(usize, usize)> = VGG11_ARCH.iter().map(|&(n, c)| (n, c / ratio)).collect();
    vgg(&arch, 4096 / ratio, num_classes)
}
