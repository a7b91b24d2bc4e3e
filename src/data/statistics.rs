//! Per-channel mean and standard deviation of a dataset's images as a network sees them
//! (resized, converted to its channels, in [0, 1]): what `--normalize auto` normalizes with.

use burn::data::dataset::DatasetError;
use burn::tensor::Device;

use super::batcher::{data_loader, LoaderOptions};
use super::dataset::ImageDataset;
use super::transform::ResizeMode;

/// The mean and (population) standard deviation of every channel over the first `limit`
/// images of `dataset` (all without a limit), prepared for a network input `[c, side, side]`
/// (resized as `mode` says), read by `workers` threads. Sums in float64.
pub fn channel_statistics<D: ImageDataset>(
    dataset: &D,
    input: [usize; 3],
    mode: ResizeMode,
    limit: Option<usize>,
    workers: usize,
) -> Result<(Vec<f32>, Vec<f32>), DatasetError> {
    let channels = input[0];
    let options = LoaderOptions {
        workers,
        ..LoaderOptions::evaluation(input, mode, 256, limit)
    };
    let loader = data_loader(dataset, &options, &Device::flex());
    let (mut sum, mut squares, mut count) = (vec![0f64; channels], vec![0f64; channels], 0usize);
    for batch in loader.iter() {
        let images = batch?.images;
        let [n, c, h, w] = images.dims();
        let values = images
            .into_data()
            .try_to_vec::<f32>()
            .map_err(|e| DatasetError::new(std::io::Error::other(format!("{e:?}"))))?;
        for (k, plane) in values.chunks_exact(h * w).enumerate() {
            let channel = k % c;
            for &v in plane {
                sum[channel] += f64::from(v);
                squares[channel] += f64::from(v) * f64::from(v);
            }
        }
        count += n * h * w;
    }
    let count = count.max(1) as f64;
    let mean: Vec<f64> = sum.iter().map(|s| s / count).collect();
    let std = squares
        .iter()
        .zip(&mean)
        .map(|(q, m)| (q / count - m * m).max(0.0).sqrt() as f32)
        .collect();
    Ok((mean.into_iter().map(|m| m as f32).collect(), std))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::FashionMnist;

    #[test]
    fn mean_and_std_of_known_images() {
        // Two 2x2 images: all 0 and all 255, so mean 0.5 and std 0.5 per channel.
        let images = crate::data::idx::IdxImages {
            count: 2,
            rows: 2,
            cols: 2,
            pixels: vec![0, 0, 0, 0, 255, 255, 255, 255],
        };
        let set = FashionMnist::from_parts(images, vec![0, 1]);
        let (mean, std) = channel_statistics(&set, [3, 2, 2], ResizeMode::Crop, None, 1).unwrap();
        assert_eq!(mean, vec![0.5; 3]);
        assert_eq!(std, vec![0.5; 3]);
    }
}
