//! What an ImageNet classifier needs besides its weights: the 1000 class names in torchvision's
//! order (`torchvision.models._meta._IMAGENET_CATEGORIES`) and torchvision's evaluation
//! preprocessing (resize, center crop, normalize with the ImageNet mean and deviation).

use crate::data::transform::{convert_channels, resize_crop_to_unit};
use crate::data::RawImage;
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
pub fn preprocess(image: &RawImage, side: usize) -> Vec<f32> {
    let mut rgb = Vec::with_capacity(3 * side * side);
    let planes = resize_crop_to_unit(image, side * 256 / 224, side);
    convert_channels(&planes, image.channels, 3, &mut rgb);
    for (c, plane) in rgb.chunks_exact_mut(side * side).enumerate() {
        for value in plane {
            *value = (*value - TransformInput::MEAN[c]) / TransformInput::STD[c];
        }
    }
    rgb
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
        let pixels = (0..200 * 300)
            .flat_map(|i| {
                [if (100..200).contains(&(i % 300)) {
                    255
                } else {
                    0
                }; 3]
            })
            .collect();
        let planes = preprocess(&RawImage::rgb(pixels, 200, 300, 0), 224);
        assert_eq!(planes.len(), 3 * 224 * 224);
        // The center is white, normalized: (1 - mean) / std.
        let center = planes[112 * 224 + 112];
        assert!((center - (1.0 - 0.485) / 0.229).abs() < 1e-5, "{center}");
        // The left edge is black: -mean / std.
        let edge = planes[112 * 224];
        assert!((edge - (-0.485 / 0.229)).abs() < 1e-5, "{edge}");
    }
}
