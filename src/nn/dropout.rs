//! `Dropout(p)`: in training, zeroes each element with probability `p` and scales the rest by
//! `1 / (1 - p)`; in inference, nothing. The output has the input's shape. No parameters (burn's
//! `Dropout` module; the masks are drawn by [`dropout`] here).
//!
//! The masks come from the CPU's random generator whatever the device computes on: each
//! backend has its own generator (a GPU's draws on the GPU), so drawing there would give a
//! run on a GPU other masks than the same run on the CPU. The training loop seeds the CPU's
//! generator for every step, and the masks travel to the device (a few megabytes a step at
//! most for the zoo: dropout sits on small maps and on the classifier's vectors).

use std::cell::RefCell;

use burn::nn::{Dropout, DropoutConfig as BurnDropoutConfig};
use burn::tensor::{Device, Distribution, Tensor, TensorData};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use super::features::{Features, Shape};
use super::forward::Forward;
use super::layer::{Build, Layer, LayerConfig};
use crate::onnx::{OnnxGraph, OnnxValue};

/// In a network file `{ type = "dropout", p = 0.5 }`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DropoutConfig {
    pub p: f64,
}

impl DropoutConfig {
    pub fn new(p: f64) -> Self {
        Self { p }
    }
}

impl LayerConfig for DropoutConfig {
    type Layer = Dropout;

    fn build(&self, _input: &Shape, _ctx: &mut Build) -> Result<Dropout, String> {
        if !(0.0..1.0).contains(&self.p) {
            return Err(format!("dropout probability {} is outside [0, 1)", self.p));
        }
        Ok(BurnDropoutConfig::new(self.p).init())
    }

    fn describe(&self) -> String {
        format!("Dropout(p={})", self.p)
    }
}

/// Dropout is burn's own `Dropout` module.
impl Layer for Dropout {
    fn forward(&self, x: Features, _ctx: &mut Forward) -> Features {
        x.map(|t| dropout(self, t), |t| dropout(self, t))
    }

    fn output_shape(&self, input: &Shape) -> Result<Shape, String> {
        Ok(input.clone())
    }

    fn describe(&self) -> String {
        format!("Dropout(p={})", self.prob)
    }

    /// Inference: dropout does nothing, so it leaves no node.
    fn to_onnx(&self, x: OnnxValue, _graph: &mut OnnxGraph) -> Result<OnnxValue, String> {
        Ok(x)
    }
}

thread_local! {
    /// This thread's own mask generator, where one is seeded ([`seed_thread_masks`]).
    static THREAD_MASKS: RefCell<Option<StdRng>> = const { RefCell::new(None) };
}

/// From now on, the dropout masks of this thread's forward passes come from a generator of its
/// own seeded with `seed`, instead of the CPU device's generator, which every thread of the
/// process shares: the threads of one process training on several devices
/// (`distributed::DeviceGroup`) would otherwise draw from it in turns that change
/// from run to run. `None` goes back to the device's generator.
pub fn seed_thread_masks(seed: Option<u64>) {
    THREAD_MASKS.with(|masks| *masks.borrow_mut() = seed.map(StdRng::seed_from_u64));
}

/// A mask of `dims` from this thread's generator, if it has one: 1 with probability `keep`.
fn thread_mask(dims: &[usize], keep: f64) -> Option<TensorData> {
    THREAD_MASKS.with(|masks| {
        let mut masks = masks.borrow_mut();
        let rng = masks.as_mut()?;
        let len = dims.iter().product();
        let values: Vec<f32> = (0..len)
            .map(|_| f32::from(u8::from(rng.random_bool(keep))))
            .collect();
        Some(TensorData::new(values, dims.to_vec()))
    })
}

/// `input` with dropout applied as burn's `Dropout::forward` does (only in training, on an
/// autodiff device), the mask drawn by the CPU's generator (see the module's documentation).
pub fn dropout<const D: usize>(layer: &Dropout, input: Tensor<D>) -> Tensor<D> {
    let device = input.device();
    if !layer.training.is_enabled() || !device.is_autodiff() || layer.prob == 0.0 {
        return input;
    }
    let keep = 1.0 - layer.prob;
    let mask = if let Some(mask) = thread_mask(&input.dims(), keep) {
        Tensor::<D>::from_data(mask, &device)
    } else if crate::device::is_flex(&device) {
        input.random_like(Distribution::Bernoulli(keep))
    } else {
        Tensor::<D>::random(input.shape(), Distribution::Bernoulli(keep), &Device::flex())
            .to_device(&device)
    };
    input * mask * (1.0 / keep)
}

#[cfg(test)]
mod tests {
    use burn::nn::DropoutConfig;
    use burn::tensor::{Device, Tensor};

    use super::{dropout, seed_thread_masks};

    /// The masks of a thread with its own generator depend on its seed alone, whatever other
    /// threads draw meanwhile.
    #[test]
    fn seeded_thread_masks_repeat_and_keep_the_right_share() {
        let device = Device::flex().autodiff();
        let layer = DropoutConfig::new(0.25).init();
        let ones = || Tensor::<2>::ones([64, 64], &device);
        let draw = |seed| {
            seed_thread_masks(Some(seed));
            let out = dropout(&layer, ones()).into_data().try_to_vec::<f32>().unwrap();
            seed_thread_masks(None);
            out
        };
        let first = draw(7);
        // Another thread drawing from the device's generator in between changes nothing.
        std::thread::spawn(move || {
            let device = Device::flex().autodiff();
            let _ = dropout(&layer_again(), Tensor::<2>::ones([64, 64], &device));
        })
        .join()
        .unwrap();
        assert_eq!(first, draw(7));
        assert_ne!(first, draw(8));
        let kept = first.iter().filter(|&&v| v != 0.0).count() as f64 / first.len() as f64;
        assert!((kept - 0.75).abs() < 0.03, "kept {kept}");
        // The kept values are scaled by 1 / (1 - p).
        assert!(first.iter().all(|&v| v == 0.0 || (v - 1.0 / 0.75).abs() < 1e-6));
    }

    fn layer_again() -> burn::nn::Dropout {
        DropoutConfig::new(0.25).init()
    }
}
