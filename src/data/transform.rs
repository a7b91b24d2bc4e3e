//! Image transforms: torchvision's `Resize` (bilinear) followed by `ToTensor` (scale to [0, 1],
//! channels first), and the conversion to a network's channels.

use burn::data::dataset::transform::Mapper;
use image::imageops::FilterType;

use super::dataset::RawImage;

/// A transformed example, ready for batching: `channels` planes of `side * side` floats in
/// [0, 1] (channels first, as `ToTensor` gives them).
#[derive(Debug, Clone, PartialEq)]
pub struct ImageItem {
    pub pixels: Vec<f32>,
    pub channels: usize,
    pub side: usize,
    pub label: u32,
}

/// Resize an image to `side` x `side` with bilinear interpolation, keeping 8-bit values in
/// between as torchvision does on a PIL image, then scale to [0, 1] planes like `ToTensor`.
pub fn resize_to_unit(image: &RawImage, side: usize) -> Vec<f32> {
    if (image.rows, image.cols) == (side, side) {
        return unit_planes(&image.pixels, image.channels);
    }
    let resized = image
        .to_dynamic()
        .resize_exact(side as u32, side as u32, FilterType::Triangle);
    unit_planes(resized.as_bytes(), image.channels)
}

/// Interleaved 8-bit pixels to planes of floats in [0, 1].
fn unit_planes(pixels: &[u8], channels: usize) -> Vec<f32> {
    let plane = pixels.len() / channels;
    let mut out = vec![0.0; pixels.len()];
    for (c, out_plane) in out.chunks_exact_mut(plane).enumerate() {
        for (value, &p) in out_plane
            .iter_mut()
            .zip(pixels.iter().skip(c).step_by(channels))
        {
            *value = f32::from(p) / 255.0;
        }
    }
    out
}

/// One image as a network of `channels` channels and side `side` takes it, converted exactly as
/// training converts its images (resize, scale, channels); `gray_data` when the network was
/// trained on gray images (a colour image is made gray first, then repeated as those were).
/// `predict` prepares its images with it.
pub fn network_input(image: &RawImage, side: usize, channels: usize, gray_data: bool) -> Vec<f32> {
    let planes = resize_to_unit(image, side);
    let mut out = Vec::with_capacity(channels * side * side);
    if gray_data && image.channels == 3 {
        let mut gray = Vec::with_capacity(side * side);
        convert_channels(&planes, 3, 1, &mut gray);
        convert_channels(&gray, 1, channels, &mut out);
    } else {
        convert_channels(&planes, image.channels, channels, &mut out);
    }
    out
}

/// torchvision's `rgb_to_grayscale` weights (ITU-R 601-2 luma).
const LUMA: [f32; 3] = [0.2989, 0.587, 0.114];

/// Planes of `from` channels made `to` channels: the same, a gray plane repeated, or RGB made
/// gray (torchvision's `Grayscale`), appended to `out`. Other conversions are refused by
/// [`check_channels`] before any data is read.
pub fn convert_channels(planes: &[f32], from: usize, to: usize, out: &mut Vec<f32>) {
    let plane = planes.len() / from.max(1);
    match (from, to) {
        (a, b) if a == b => out.extend_from_slice(planes),
        (1, _) => (0..to).for_each(|_| out.extend_from_slice(planes)),
        (3, 1) => {
            let (r, rest) = planes.split_at(plane);
            let (g, b) = rest.split_at(plane);
            out.extend(
                r.iter()
                    .zip(g)
                    .zip(b)
                    .map(|((r, g), b)| LUMA[0] * r + LUMA[1] * g + LUMA[2] * b),
            );
        }
        _ => panic!("no conversion from {from} to {to} channels (see check_channels)"),
    }
}

/// Whether images of `data` channels can feed a network of `model` channels: the same, gray to
/// any number (repeated), or RGB to gray.
pub fn check_channels(data: usize, model: usize) -> Result<(), String> {
    match (data, model) {
        (a, b) if a == b => Ok(()),
        (1, _) | (3, 1) => Ok(()),
        _ => Err(format!(
            "the network takes {model} input channels and the images have {data}; \
             gray images feed any network, RGB ones networks of 3 channels or 1 (made gray)"
        )),
    }
}

/// The `Resize` + `ToTensor` transform as a burn dataset [`Mapper`].
#[derive(Debug, Clone, Copy)]
pub struct ResizeToTensor {
    pub side: usize,
}

impl Mapper<RawImage, ImageItem> for ResizeToTensor {
    fn map(&self, item: &RawImage) -> ImageItem {
        ImageItem {
            pixels: resize_to_unit(item, self.side),
            channels: item.channels,
            side: self.side,
            label: item.label,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rgb_becomes_planes_and_gray_by_luma() {
        // Two pixels: pure red, then white.
        let image = RawImage::rgb(vec![255, 0, 0, 255, 255, 255], 1, 2, 0);
        let planes = resize_to_unit(&image, 1).len();
        assert_eq!(planes, 3);
        let planes = unit_planes(&image.pixels, 3);
        assert_eq!(planes, vec![1.0, 1.0, 0.0, 1.0, 0.0, 1.0]);
        let mut gray = Vec::new();
        convert_channels(&planes, 3, 1, &mut gray);
        assert!((gray[0] - 0.2989).abs() < 1e-6 && (gray[1] - 1.0).abs() < 1e-3);
        let mut three = Vec::new();
        convert_channels(&[0.5, 0.25], 1, 3, &mut three);
        assert_eq!(three, vec![0.5, 0.25, 0.5, 0.25, 0.5, 0.25]);
        assert!(check_channels(3, 2).is_err() && check_channels(1, 4).is_ok());
    }

    #[test]
    fn gray_resize_is_torchvision_bilinear_on_8_bits() {
        let image = RawImage::gray((0..16).map(|v| v * 16).collect(), 4, 4, 0);
        let small = resize_to_unit(&image, 2);
        assert_eq!(small.len(), 4);
        // Every value is an 8-bit level over 255, as after PIL's resize.
        assert!(small
            .iter()
            .all(|v| (v * 255.0 - (v * 255.0).round()).abs() < 1e-4));
    }
}
