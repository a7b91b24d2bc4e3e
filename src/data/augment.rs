//! Training-time augmentation, as torchvision's transforms (article 003 trains AlexNet with flips,
//! crops and colour changes): `RandomResizedCrop` or `Resize` + `RandomCrop(padding)`, then
//! `RandomHorizontalFlip`, then `ColorJitter(brightness, contrast)`, then `ToTensor`.
//!
//! Every example's random choices come from its own generator, seeded from the epoch's shuffle
//! seed and the example's position in the epoch: a run is reproducible from `--seed`, whatever
//! the number of loader workers, and a resumed run sees the same augmented images.

use burn::data::dataset::{Dataset, DatasetError};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use super::dataset::RawImage;
use super::transform::{
    convert_channels, resize_region, resize_to_unit, unit_planes, ImageItem, ResizeMode,
};

/// Which augmentations are on (all off by default). Applied to training data only.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct Augmentation {
    /// Mirror left-right with probability 0.5.
    pub hflip: bool,
    /// Pad every side with this many black pixels, then crop back to size at a random place
    /// (0: off).
    pub crop_padding: usize,
    /// Crop a random part holding this fraction of the image or more (aspect ratio 3/4 to
    /// 4/3), resized to the input size.
    pub resized_crop: Option<f64>,
    /// Multiply the pixels by a random factor in [1 - b, 1 + b].
    pub brightness: f64,
    /// Scale the pixels' distance to their mean by a random factor in [1 - c, 1 + c].
    pub contrast: f64,
}

impl Augmentation {
    pub fn is_off(&self) -> bool {
        *self == Self::default()
    }

    pub fn validate(&self) -> Result<(), String> {
        if let Some(scale) = self.resized_crop {
            if !(scale > 0.0 && scale <= 1.0) {
                return Err(format!(
                    "`resized_crop` takes the smallest area kept, in (0, 1], got {scale}"
                ));
            }
            if self.crop_padding > 0 {
                return Err("`crop_padding` and `resized_crop` are alternatives; give one".into());
            }
        }
        for (flag, value) in [
            ("`brightness`", self.brightness),
            ("`contrast`", self.contrast),
        ] {
            if !(value.is_finite() && (0.0..=1.0).contains(&value)) {
                return Err(format!("{flag} must be between 0 and 1, got {value}"));
            }
        }
        Ok(())
    }

    /// A short description for the start of a run.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if self.hflip {
            parts.push("horizontal flip".to_string());
        }
        if self.crop_padding > 0 {
            parts.push(format!("random crop (padding {})", self.crop_padding));
        }
        if let Some(scale) = self.resized_crop {
            parts.push(format!("random resized crop (scale {scale}..1)"));
        }
        if self.brightness > 0.0 {
            parts.push(format!("brightness ±{}", self.brightness));
        }
        if self.contrast > 0.0 {
            parts.push(format!("contrast ±{}", self.contrast));
        }
        if parts.is_empty() {
            "none".to_string()
        } else {
            parts.join(", ")
        }
    }

    /// Transforms one example into `side` x `side` planes in [0, 1] with the random choices
    /// of `rng` (the same choices for every channel).
    pub fn apply(
        &self,
        item: &RawImage,
        side: usize,
        mode: ResizeMode,
        rng: &mut StdRng,
    ) -> ImageItem {
        let mut pixels = match self.resized_crop {
            Some(scale) => resized_crop(item, side, scale, rng),
            None => resize_to_unit(item, side, mode),
        };
        if self.crop_padding > 0 {
            pixels = padded_crop(&pixels, side, self.crop_padding, rng);
        }
        if self.hflip && rng.random_bool(0.5) {
            for row in pixels.chunks_mut(side) {
                row.reverse();
            }
        }
        if self.brightness > 0.0 {
            let factor = jitter(self.brightness, rng);
            pixels.iter_mut().for_each(|p| *p = (*p * factor).min(1.0));
        }
        if self.contrast > 0.0 {
            let factor = jitter(self.contrast, rng);
            // torchvision's `adjust_contrast` blends with the mean of the image made gray.
            let mut gray = Vec::new();
            convert_channels(&pixels, item.channels, 1, &mut gray);
            let mean = gray.iter().sum::<f32>() / gray.len().max(1) as f32;
            pixels
                .iter_mut()
                .for_each(|p| *p = ((*p - mean) * factor + mean).clamp(0.0, 1.0));
        }
        ImageItem {
            pixels,
            channels: item.channels,
            side,
            label: item.label,
        }
    }
}

/// A factor in [max(0, 1 - amount), 1 + amount] (torchvision's `ColorJitter` range).
fn jitter(amount: f64, rng: &mut StdRng) -> f32 {
    rng.random_range((1.0 - amount).max(0.0)..=1.0 + amount) as f32
}

/// torchvision's `RandomResizedCrop(side, scale=(min_scale, 1), ratio=(3/4, 4/3))`: ten tries
/// at a random box, then the whole image.
fn resized_crop(item: &RawImage, side: usize, min_scale: f64, rng: &mut StdRng) -> Vec<f32> {
    let (rows, cols) = (item.rows, item.cols);
    let area = (rows * cols) as f64;
    let (ln_lo, ln_hi) = ((3.0f64 / 4.0).ln(), (4.0f64 / 3.0).ln());
    let mut chosen = None;
    for _ in 0..10 {
        let target = area * rng.random_range(min_scale..=1.0);
        let ratio = rng.random_range(ln_lo..=ln_hi).exp();
        let w = (target * ratio).sqrt().round() as usize;
        let h = (target / ratio).sqrt().round() as usize;
        if (1..=cols).contains(&w) && (1..=rows).contains(&h) {
            let top = rng.random_range(0..=rows - h);
            let left = rng.random_range(0..=cols - w);
            chosen = Some((top, left, h, w));
            break;
        }
    }
    let (top, left, h, w) = chosen.unwrap_or((0, 0, rows, cols));
    let region = [left as f64, top as f64, w as f64, h as f64];
    unit_planes(&resize_region(item, region, side, side), item.channels)
}

/// torchvision's `RandomCrop(side, padding)`: zero padding, then a random `side` x `side` window,
/// the same for every plane.
fn padded_crop(pixels: &[f32], side: usize, padding: usize, rng: &mut StdRng) -> Vec<f32> {
    let top = rng.random_range(0..=2 * padding) as isize - padding as isize;
    let left = rng.random_range(0..=2 * padding) as isize - padding as isize;
    let plane = side * side;
    let mut out = vec![0.0; pixels.len()];
    for (pixels, out) in pixels.chunks_exact(plane).zip(out.chunks_exact_mut(plane)) {
        shifted_window(pixels, out, side, top, left);
    }
    out
}

/// One plane's window at (`top`, `left`), zero outside the plane.
fn shifted_window(pixels: &[f32], out: &mut [f32], side: usize, top: isize, left: isize) {
    for (y, row) in out.chunks_mut(side).enumerate() {
        let sy = y as isize + top;
        if !(0..side as isize).contains(&sy) {
            continue;
        }
        for (x, value) in row.iter_mut().enumerate() {
            let sx = x as isize + left;
            if (0..side as isize).contains(&sx) {
                *value = pixels[sy as usize * side + sx as usize];
            }
        }
    }
}

/// A dataset of augmented examples: example `i` is `inner`'s, transformed with a generator
/// seeded from `seed` and `i`.
pub struct AugmentedDataset<D> {
    pub inner: D,
    pub augmentation: Augmentation,
    pub side: usize,
    pub mode: ResizeMode,
    pub seed: u64,
}

impl<D: Dataset<RawImage>> Dataset<ImageItem> for AugmentedDataset<D> {
    fn get(&self, index: usize) -> Result<ImageItem, DatasetError> {
        let item = self.inner.get(index)?;
        // StdRng::seed_from_u64 scrambles its seed, so neighbouring seeds give unrelated streams.
        let mut rng =
            StdRng::seed_from_u64(self.seed ^ (index as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
        Ok(self
            .augmentation
            .apply(&item, self.side, self.mode, &mut rng))
    }

    fn len(&self) -> usize {
        self.inner.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gradient() -> RawImage {
        // Brighter to the right: pixel (y, x) = 9 * x.
        let pixels = (0..28 * 28).map(|i| (9 * (i % 28)) as u8).collect();
        RawImage::gray(pixels, 28, 28, 3)
    }

    /// The same gradient in red, its mirror in green, a flat blue.
    fn rgb_gradient() -> RawImage {
        let pixels = (0..28 * 28)
            .flat_map(|i| [(9 * (i % 28)) as u8, (9 * (27 - i % 28)) as u8, 100])
            .collect();
        RawImage::rgb(pixels, 28, 28, 4)
    }

    #[test]
    fn rgb_images_get_the_same_choices_on_every_plane() {
        let aug = Augmentation {
            hflip: true,
            crop_padding: 2,
            resized_crop: None,
            brightness: 0.2,
            contrast: 0.2,
        };
        let plane = 28 * 28;
        for seed in 0..10 {
            let out = aug.apply(
                &rgb_gradient(),
                28,
                ResizeMode::Crop,
                &mut StdRng::seed_from_u64(seed),
            );
            assert_eq!(
                (out.pixels.len(), out.channels, out.label),
                (3 * plane, 3, 4)
            );
            let (red, rest) = out.pixels.split_at(plane);
            let green = &rest[..plane];
            // Red rises one way along a row, green the other, whatever flip and shift were
            // drawn: they were drawn once for the image.
            let row = 14 * 28;
            let (r0, r1) = (red[row + 10], red[row + 11]);
            let (g0, g1) = (green[row + 10], green[row + 11]);
            assert!(
                (r1 - r0) * (g1 - g0) < 0.0,
                "seed {seed}: planes moved apart"
            );
        }
        let crop = Augmentation {
            resized_crop: Some(0.3),
            ..Augmentation::default()
        };
        let out = crop.apply(
            &rgb_gradient(),
            16,
            ResizeMode::Crop,
            &mut StdRng::seed_from_u64(3),
        );
        assert_eq!(out.pixels.len(), 3 * 16 * 16);
        // The blue plane stays flat through crop and resize.
        assert!(out.pixels[2 * 256..]
            .iter()
            .all(|&b| (b - 100.0 / 255.0).abs() < 1e-6));
    }

    #[test]
    fn off_is_the_plain_transform() {
        let item = gradient();
        let mut rng = StdRng::seed_from_u64(1);
        let plain = Augmentation::default().apply(&item, 32, ResizeMode::Crop, &mut rng);
        assert_eq!(plain.pixels, resize_to_unit(&item, 32, ResizeMode::Crop));
        assert_eq!(plain.label, 3);
    }

    #[test]
    fn flip_mirrors_rows() {
        let item = gradient();
        let aug = Augmentation {
            hflip: true,
            ..Augmentation::default()
        };
        let plain = resize_to_unit(&item, 28, ResizeMode::Crop);
        let mut flipped = 0;
        for seed in 0..20 {
            let out = aug.apply(
                &item,
                28,
                ResizeMode::Crop,
                &mut StdRng::seed_from_u64(seed),
            );
            if out.pixels != plain {
                flipped += 1;
                assert_eq!(out.pixels[0], plain[27]);
                assert_eq!(out.pixels[27], plain[0]);
            }
        }
        assert!((4..=16).contains(&flipped), "flipped {flipped} of 20");
    }

    #[test]
    fn padded_crop_shifts_and_fills_with_black() {
        let pixels: Vec<f32> = (0..16).map(|v| v as f32 + 1.0).collect();
        let mut saw_shift = false;
        for seed in 0..30 {
            let out = padded_crop(&pixels, 4, 2, &mut StdRng::seed_from_u64(seed));
            assert_eq!(out.len(), 16);
            // Every value is either padding or a pixel of the source.
            assert!(out.iter().all(|v| *v == 0.0 || pixels.contains(v)));
            saw_shift |= out != pixels;
        }
        assert!(saw_shift);
    }

    #[test]
    fn resized_crop_and_jitter_stay_in_range_and_size() {
        let aug = Augmentation {
            resized_crop: Some(0.5),
            brightness: 0.4,
            contrast: 0.4,
            ..Augmentation::default()
        };
        for seed in 0..20 {
            let out = aug.apply(
                &gradient(),
                32,
                ResizeMode::Crop,
                &mut StdRng::seed_from_u64(seed),
            );
            assert_eq!(out.pixels.len(), 32 * 32);
            assert!(out.pixels.iter().all(|p| (0.0..=1.0).contains(p)));
        }
    }

    #[test]
    fn same_seed_same_images() {
        let aug = Augmentation {
            hflip: true,
            crop_padding: 3,
            brightness: 0.3,
            contrast: 0.3,
            resized_crop: None,
        };
        let data = vec![gradient(); 4];
        let dataset = |seed| AugmentedDataset {
            inner: burn::data::dataset::InMemDataset::new(data.clone()),
            augmentation: aug.clone(),
            side: 28,
            mode: ResizeMode::Crop,
            seed,
        };
        let (a, b, c) = (dataset(7), dataset(7), dataset(8));
        let get = |d: &AugmentedDataset<_>, i| d.get(i).unwrap();
        for i in 0..4 {
            assert_eq!(get(&a, i), get(&b, i));
        }
        assert!((0..4).any(|i| get(&a, i) != get(&c, i)));
        assert!(aug.validate().is_ok());
    }
}
