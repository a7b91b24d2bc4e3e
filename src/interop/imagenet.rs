//! What an ImageNet classifier needs besides its weights: the 1000 class names in torchvision's
//! order (`torchvision.models._meta._IMAGENET_CATEGORIES`) and torchvision's evaluation
//! preprocessing (resize, center crop, normalize with the ImageNet mean and deviation).

use image::imageops::FilterType;
use image::DynamicImage;

use crate::nn::TransformInput;

/// The 1000 ImageNet classes, one per line, index order.
const CLASSES: &str = include_str!("imagenet_classes.txt");

/// The name of ImageNet class `index` (`None` past 999).
pub fn class_name(index: usize) -> Option<&'static str> {
    CLASSES.lines().nth(index)
}

/// Number of ImageNet classes.
pub fn num_classes() -> usize {
    CLASSES.lines().count()
}

/// torchvision's evaluation transform for a model whose input is `side`x`side` (224 for
/// GoogLeNet): resize the shorter side to `side * 256 / 224` (bilinear with antialiasing), crop
/// the center, scale to [0, 1] and normalize each channel with the ImageNet mean and standard
/// deviation. Returns the planes R, G, B of `side * side` values each.
pub fn preprocess(image: &DynamicImage, side: usize) -> Vec<f32> {
    let rgb = image.to_rgb8();
    let (w, h) = rgb.dimensions();
    let short = (side * 256 / 224) as u32;
    // The shorter side becomes `short`; the other keeps the aspect ratio (truncated, as
    // torchvision's `Resize(int)` does).
    let (nw, nh) = if w <= h {
        (short, ((h as u64 * short as u64) / w as u64) as u32)
    } else {
        (((w as u64 * short as u64) / h as u64) as u32, short)
    };
    let resized = image::imageops::resize(&rgb, nw.max(1), nh.max(1), FilterType::Triangle);
    let side32 = side as u32;
    // torchvision's `CenterCrop` rounds the offsets to the nearest integer.
    let left = ((nw.saturating_sub(side32)) as f64 / 2.0).round() as u32;
    let top = ((nh.saturating_sub(side32)) as f64 / 2.0).round() as u32;
    let mut planes = vec![0.0f32; 3 * side * side];
    for y in 0..side32.min(nh) {
        for x in 0..side32.min(nw) {
            let pixel = resized.get_pixel(left + x, top + y);
            for c in 0..3 {
                let value = pixel[c] as f32 / 255.0;
                planes[c * side * side + (y * side32 + x) as usize] =
                    (value - TransformInput::MEAN[c]) / TransformInput::STD[c];
            }
        }
    }
    planes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_thousand_classes_in_torchvision_order() {
        assert_eq!(num_classes(), 1000);
        assert_eq!(class_name(0), Some("tench"));
        assert_eq!(class_name(207), Some("golden retriever"));
        assert_eq!(class_name(999), Some("toilet tissue"));
        assert_eq!(class_name(1000), None);
    }

    #[test]
    fn preprocessing_crops_the_center_and_normalizes() {
        // A 300x200 image, white on its middle third, black elsewhere.
        let image = image::RgbImage::from_fn(300, 200, |x, _| {
            if (100..200).contains(&x) {
                image::Rgb([255, 255, 255])
            } else {
                image::Rgb([0, 0, 0])
            }
        });
        let planes = preprocess(&DynamicImage::ImageRgb8(image), 224);
        assert_eq!(planes.len(), 3 * 224 * 224);
        // The center is white, normalized: (1 - mean) / std.
        let center = planes[112 * 224 + 112];
        assert!((center - (1.0 - 0.485) / 0.229).abs() < 1e-5, "{center}");
        // The left edge is black: -mean / std.
        let edge = planes[112 * 224];
        assert!((edge - (-0.485 / 0.229)).abs() < 1e-5, "{edge}");
    }
}
