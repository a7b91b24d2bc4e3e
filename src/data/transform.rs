//! Image transforms: torchvision's `Resize` (bilinear) followed by `ToTensor` (scale to [0, 1]).

use burn::data::dataset::transform::Mapper;
use image::imageops::{self, FilterType};
use image::GrayImage;

use super::dataset::RawImage;

/// A transformed example, ready for batching: `side * side` floats in [0, 1], row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageItem {
    pub pixels: Vec<f32>,
    pub side: usize,
    pub label: u8,
}

/// Resize a grayscale image to `side` x `side` with bilinear interpolation, keeping 8-bit
/// values in between as torchvision does on a PIL image, then scale to [0, 1] like `ToTensor`.
pub fn resize_to_unit(pixels: &[u8], rows: usize, cols: usize, side: usize) -> Vec<f32> {
    let scaled: Vec<u8> = if rows == side && cols == side {
        pixels.to_vec()
    } else {
        let img = GrayImage::from_raw(cols as u32, rows as u32, pixels.to_vec())
            .expect("pixel buffer matches its dimensions");
        imageops::resize(&img, side as u32, side as u32, FilterType::Triangle).into_raw()
    };
    scaled.into_iter().map(|p| f32::from(p) / 255.0).collect()
}

/// The `Resize` + `ToTensor` transform as a burn dataset [`Mapper`].
#[derive(Debug, Clone, Copy)]
pub struct ResizeToTensor {
    pub side: usize,
}

impl Mapper<RawImage, ImageItem> for ResizeToTensor {
    fn map(&self, item: &RawImage) -> ImageItem {
        ImageItem {
            pixels: resize_to_unit(&item.pixels, item.rows, item.cols, self.side),
            side: self.side,
            label: item.label,
        }
    }
}
