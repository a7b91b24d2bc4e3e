//! Throughput of the data pipeline alone: images read, decoded, resized, converted and batched
//! per second by the training loader, with its worker threads, as
//! `benches/torch_loader.py` measures torchvision's `ImageFolder` + `DataLoader`.

use std::time::Instant;

use burn::tensor::Device;
use serde::Serialize;

use super::peak_rss_mb;
use crate::data::{data_loader, ImageDataset, LoaderOptions};

/// What one pass measured.
#[derive(Debug, Clone, Serialize)]
pub struct LoaderReport {
    pub images: usize,
    pub batches: usize,
    pub seconds: f64,
    pub images_per_s: f64,
    pub workers: usize,
    pub side: usize,
    pub batch: usize,
    /// Peak resident memory of the process over its whole life, MiB.
    pub peak_rss_mb: Option<f64>,
}

impl LoaderReport {
    pub fn text(&self) -> String {
        let rss = self
            .peak_rss_mb
            .map_or_else(String::new, |mb| format!(", peak RSS {mb:.0} MiB"));
        format!(
            "{} images ({} batches of {}, {}x{}) in {:.2} s with {} workers: {:.1} images/s{rss}\n",
            self.images,
            self.batches,
            self.batch,
            self.side,
            self.side,
            self.seconds,
            self.workers,
            self.images_per_s,
        )
    }
}

/// One pass of the loader `options` describe over `dataset`, timed from the loader's creation
/// to its last batch (each batch's tensor is built, as training receives it).
pub fn loader_throughput<D: ImageDataset>(
    dataset: &D,
    options: &LoaderOptions,
) -> Result<LoaderReport, String> {
    let start = Instant::now();
    let loader = data_loader(dataset, options, &Device::flex());
    let (mut images, mut batches) = (0, 0);
    for batch in loader.iter() {
        let batch = batch.map_err(|e| e.to_string())?;
        images += batch.images.dims()[0];
        batches += 1;
    }
    let seconds = start.elapsed().as_secs_f64();
    Ok(LoaderReport {
        images,
        batches,
        seconds,
        images_per_s: images as f64 / seconds,
        workers: options.workers,
        side: options.resize,
        batch: options.batch_size,
        peak_rss_mb: peak_rss_mb(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::idx::IdxImages;
    use crate::data::{FashionMnist, ResizeMode};

    #[test]
    fn every_image_is_counted_once() {
        let images = IdxImages {
            count: 7,
            rows: 20,
            cols: 30,
            pixels: vec![128; 7 * 20 * 30],
        };
        let set = FashionMnist::from_parts(images, vec![0; 7]);
        let options = LoaderOptions {
            workers: 2,
            ..LoaderOptions::evaluation([1, 16, 16], ResizeMode::Crop, 3, None)
        };
        let report = loader_throughput(&set, &options).unwrap();
        assert_eq!((report.images, report.batches), (7, 3));
        assert!(report.images_per_s > 0.0);
    }
}
