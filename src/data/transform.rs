//! Image transforms: torchvision's `Resize` (bilinear, with `CenterCrop` or to a square)
//! followed by `ToTensor` (scale to [0, 1], channels first), and the conversion to a network's
//! channels.

use burn::data::dataset::transform::Mapper;
use fast_image_resize::images::{Image, ImageRef};
use fast_image_resize::{FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer};
use serde::{Deserialize, Serialize};

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

/// How an image of any size becomes the network's square input. Square images (the built-in
/// sets) come out the same either way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ResizeMode {
    /// torchvision's `Resize(side)` then `CenterCrop(side)`: the shorter side becomes `side`,
    /// keeping the aspect ratio, and the middle square is kept.
    #[default]
    Crop,
    /// torchvision's `Resize((side, side))`: the whole image squeezed into the square.
    Stretch,
}

impl ResizeMode {
    pub fn describe(self) -> &'static str {
        match self {
            Self::Crop => "shorter side, then centre crop",
            Self::Stretch => "stretched to a square",
        }
    }
}

/// Resize an image to `side` x `side` as `mode` says, with Pillow's bilinear filter on 8-bit
/// values (what torchvision's `Resize` does to a PIL image), then scale to [0, 1] planes like
/// `ToTensor`.
pub fn resize_to_unit(image: &RawImage, side: usize, mode: ResizeMode) -> Vec<f32> {
    match mode {
        ResizeMode::Crop => resize_crop_to_unit(image, side, side),
        ResizeMode::Stretch => {
            let whole = [0.0, 0.0, image.cols as f64, image.rows as f64];
            unit_planes(&resize_region(image, whole, side, side), image.channels)
        }
    }
}

/// torchvision's `Resize(short)` then `CenterCrop(side)`, then `ToTensor`: the shorter side
/// becomes `short` (the other truncated, as torchvision computes it), and the middle
/// `side` x `side` square is kept (offsets rounded half to even, as Python's `round`);
/// `short` is at least `side`.
///
/// Computed as one resize of the source region that the crop keeps, with the same scale and
/// pixel centres as resizing the whole image first (Pillow's `resize(box=...)`), so the
/// discarded margins are never computed.
pub fn resize_crop_to_unit(image: &RawImage, short: usize, side: usize) -> Vec<f32> {
    let (w, h) = (image.cols as f64, image.rows as f64);
    let (nw, nh) = if image.cols <= image.rows {
        (short, (short as f64 * h / w) as usize)
    } else {
        ((short as f64 * w / h) as usize, short)
    };
    let offset = |size: usize| ((size.saturating_sub(side)) as f64 / 2.0).round_ties_even();
    let (sx, sy) = (w / nw as f64, h / nh as f64);
    let (left, top) = (offset(nw) * sx, offset(nh) * sy);
    // Kept inside the image where rounding would put the far edge a hair past it.
    let region = [
        left,
        top,
        (side as f64 * sx).min(w - left),
        (side as f64 * sy).min(h - top),
    ];
    unit_planes(&resize_region(image, region, side, side), image.channels)
}

/// The region `[left, top, width, height]` of `image` (source pixels, fractions allowed)
/// resized to `out_w` x `out_h`, Pillow's bilinear convolution on 8-bit values.
pub fn resize_region(image: &RawImage, region: [f64; 4], out_w: usize, out_h: usize) -> Vec<u8> {
    let whole = region == [0.0, 0.0, image.cols as f64, image.rows as f64];
    if whole && (out_w, out_h) == (image.cols, image.rows) {
        return image.pixels.clone();
    }
    let pixel_type = match image.channels {
        1 => PixelType::U8,
        3 => PixelType::U8x3,
        c => panic!("images have 1 or 3 channels, not {c}"),
    };
    let source = ImageRef::new(
        image.cols as u32,
        image.rows as u32,
        &image.pixels,
        pixel_type,
    )
    .expect("pixel buffer matches its dimensions");
    let mut out = Image::new(out_w as u32, out_h as u32, pixel_type);
    let [left, top, width, height] = region;
    let options = ResizeOptions::new()
        .resize_alg(ResizeAlg::Convolution(FilterType::Bilinear))
        .crop(left, top, width, height);
    Resizer::new()
        .resize(&source, &mut out, &options)
        .expect("source and destination have the same pixel type");
    out.into_vec()
}

/// Interleaved 8-bit pixels to planes of floats in [0, 1].
pub fn unit_planes(pixels: &[u8], channels: usize) -> Vec<f32> {
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
pub fn network_input(
    image: &RawImage,
    side: usize,
    mode: ResizeMode,
    channels: usize,
    gray_data: bool,
) -> Vec<f32> {
    let planes = resize_to_unit(image, side, mode);
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
    pub mode: ResizeMode,
}

impl Mapper<RawImage, ImageItem> for ResizeToTensor {
    fn map(&self, item: &RawImage) -> ImageItem {
        ImageItem {
            pixels: resize_to_unit(item, self.side, self.mode),
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
        let planes = resize_to_unit(&image, 1, ResizeMode::Stretch).len();
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
        let small = resize_to_unit(&image, 2, ResizeMode::Stretch);
        assert_eq!(small.len(), 4);
        assert_eq!(small, resize_to_unit(&image, 2, ResizeMode::Crop));
        // Every value is an 8-bit level over 255, as after PIL's resize.
        assert!(small
            .iter()
            .all(|v| (v * 255.0 - (v * 255.0).round()).abs() < 1e-4));
    }

    #[test]
    fn crop_keeps_the_middle_square_of_the_shorter_side() {
        // 5 columns, 2 rows: the shorter side is already 2, so the crop is columns 1..3
        // (offset (5 - 2) / 2 = 1.5, rounded half to even: 2), unchanged.
        let image = RawImage::gray((0..10).map(|v| v * 20).collect(), 2, 5, 0);
        let crop = resize_to_unit(&image, 2, ResizeMode::Crop);
        let expected: Vec<f32> = [40, 60, 140, 160]
            .iter()
            .map(|&v| v as f32 / 255.0)
            .collect();
        assert_eq!(crop, expected);
        // Stretched, every column contributes: the corners are no longer those of the crop.
        let stretched = resize_to_unit(&image, 2, ResizeMode::Stretch);
        assert_ne!(stretched, expected);
    }

    #[test]
    fn every_size_crops_inside_the_image() {
        for (cols, rows) in (200..260).flat_map(|w| (150..158).map(move |h| (w, h))) {
            let image = RawImage::rgb(vec![200; cols * rows * 3], rows, cols, 0);
            for side in [32, 96, 149] {
                let planes = resize_to_unit(&image, side, ResizeMode::Crop);
                assert_eq!(planes.len(), 3 * side * side, "{cols}x{rows} to {side}");
                assert!(planes.iter().all(|&v| (v - 200.0 / 255.0).abs() < 1e-6));
            }
        }
    }
}
