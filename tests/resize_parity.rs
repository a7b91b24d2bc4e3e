//! Our resize against torchvision's: `Resize(side)` + `CenterCrop(side)` (`--resize-mode
//! crop`), `Resize((side, side))` (`stretch`) and the ImageNet evaluation transform, on a wide
//! RGB image, a tall gray one and a 28x28 one (Fashion-MNIST's size, enlarged), down and up.
//! Pillow and our resize compute in 8-bit fixed point and round differently: up to one level
//! (1/255) apart, on 0-18% of the values (measured); any error of geometry (a crop offset, a
//! pixel centre) would show as many levels.
//! The fixtures were written by `scripts/torchvision_resize.py` (torchvision 0.29.2, Pillow 13.0.0).

use std::path::{Path, PathBuf};

use inception::data::transform::unit_planes;
use inception::data::{read_image, resize_to_unit, RawImage, ResizeMode};
use inception::interop::imagenet;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/resize")
        .join(name)
}

/// torchvision's output as `ToTensor` gives it: planes in [0, 1].
fn torchvision(name: &str) -> Vec<f32> {
    let image = read_image(&fixture(name), 0).unwrap();
    unit_planes(&image.pixels, image.channels)
}

/// The largest difference in 8-bit levels, and the fraction of values that differ.
fn max_levels(ours: &[f32], theirs: &[f32]) -> (f32, f64) {
    assert_eq!(ours.len(), theirs.len());
    let levels: Vec<f32> = ours
        .iter()
        .zip(theirs)
        .map(|(a, b)| ((a - b) * 255.0).abs().round())
        .collect();
    let differ = levels.iter().filter(|&&l| l > 0.0).count();
    let max = levels.iter().copied().fold(0.0, f32::max);
    (max, differ as f64 / levels.len() as f64)
}

#[test]
fn resize_and_centre_crop_give_torchvisions_pixels() {
    for source in ["wide_rgb", "tall_gray", "square_gray"] {
        let image: RawImage = read_image(&fixture(&format!("{source}.png")), 0).unwrap();
        for (mode, how) in [(ResizeMode::Crop, "crop"), (ResizeMode::Stretch, "stretch")] {
            for side in [24, 40, 96, 224] {
                let ours = resize_to_unit(&image, side, mode);
                let theirs = torchvision(&format!("{source}_{how}_{side}.png"));
                let (levels, differ) = max_levels(&ours, &theirs);
                assert!(
                    levels <= 1.0 && differ < 0.2,
                    "{source} {how} {side}: up to {levels} levels from torchvision's, \
                     {differ} of the values differ"
                );
            }
        }
    }
}

#[test]
fn imagenet_preprocessing_is_torchvisions() {
    let image = read_image(&fixture("wide_rgb.png"), 0).unwrap();
    let theirs = torchvision("wide_rgb_imagenet_224.png");
    let ours = imagenet::preprocess(&image, 224);
    // Undo the normalization to compare 8-bit levels.
    let plane = 224 * 224;
    let ours: Vec<f32> = ours
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let c = i / plane;
            v * inception::nn::TransformInput::STD[c] + inception::nn::TransformInput::MEAN[c]
        })
        .collect();
    let (levels, differ) = max_levels(&ours, &theirs);
    assert!(
        levels <= 1.0 && differ < 0.2,
        "up to {levels} levels from torchvision's, {differ} of the values differ"
    );
}
