//! Turning a list of [`ImageItem`]s into tensors: [`ImageBatch`] and its batcher.

use burn::data::dataloader::batcher::Batcher;
use burn::tensor::{Device, Int, Tensor, TensorData};

use super::transform::{convert_channels, ImageItem};

/// A batch of images `[batch, channels, side, side]` and their labels `[batch]`.
#[derive(Debug, Clone)]
pub struct ImageBatch {
    pub images: Tensor<4>,
    pub targets: Tensor<1, Int>,
}

/// Stacks items into an [`ImageBatch`] of `channels` channels: gray images repeated, RGB ones
/// made gray for a one-channel network (`transform::convert_channels`).
#[derive(Debug, Clone, Copy)]
pub struct ImageBatcher {
    pub channels: usize,
}

impl Batcher<ImageItem, ImageBatch> for ImageBatcher {
    fn batch(&self, items: Vec<ImageItem>, device: &Device) -> ImageBatch {
        let side = items.first().map_or(0, |i| i.side);
        let plane = side * side;
        let mut pixels = Vec::with_capacity(items.len() * self.channels * plane);
        for item in &items {
            convert_channels(&item.pixels, item.channels, self.channels, &mut pixels);
        }
        let labels: Vec<i64> = items.iter().map(|i| i64::from(i.label)).collect();
        let n = items.len();
        ImageBatch {
            images: Tensor::from_data(
                TensorData::new(pixels, [n, self.channels, side, side]),
                device,
            ),
            targets: Tensor::from_data(TensorData::new(labels, [n]), device),
        }
    }
}
