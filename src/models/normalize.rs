//! [`Normalize`]: per-channel normalization of a model's input, `(x - mean) / std` (torchvision's
//! `Normalize`). It is part of the model: stored in its configuration (so in every checkpoint)
//! and applied by the model itself, so training, `eval` and `predict` all see the same input.

use burn::tensor::{Tensor, TensorData};
use serde::{Deserialize, Serialize};

/// The mean and standard deviation of every input channel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Normalize {
    pub mean: Vec<f32>,
    pub std: Vec<f32>,
}

impl Normalize {
    /// `mean` and `std` per channel, or one of each for every channel of `channels`; refused
    /// unless each standard deviation is positive and every number finite.
    pub fn new(mean: Vec<f32>, std: Vec<f32>, channels: usize) -> Result<Self, String> {
        let spread = |values: Vec<f32>| {
            match values.len() {
            1 => Ok(vec![values[0]; channels]),
            n if n == channels => Ok(values),
            n => Err(format!(
                "`normalize` takes one mean and one standard deviation, or one of each per channel ({channels}); got {n}"
            )),
        }
        };
        let (mean, std) = (spread(mean)?, spread(std)?);
        if mean.iter().chain(&std).any(|v| !v.is_finite()) || std.iter().any(|&s| s <= 0.0) {
            return Err(format!(
                "`normalize` needs finite means and positive standard deviations, got mean {mean:?}, std {std:?}"
            ));
        }
        Ok(Self { mean, std })
    }

    /// The channels it is for.
    pub fn channels(&self) -> usize {
        self.mean.len()
    }

    /// `(x - mean) / std` on images `[N, C, H, W]`.
    pub fn apply(&self, images: Tensor<4>) -> Tensor<4> {
        let device = images.device();
        let per_channel = |values: &[f32]| {
            Tensor::<1>::from_data(TensorData::new(values.to_vec(), [values.len()]), &device)
                .reshape([1, values.len(), 1, 1])
        };
        (images - per_channel(&self.mean)) / per_channel(&self.std)
    }

    /// `mean [0.2860], std [0.3530]`.
    pub fn describe(&self) -> String {
        let list = |values: &[f32]| {
            let parts: Vec<String> = values.iter().map(|v| format!("{v:.4}")).collect();
            format!("[{}]", parts.join(", "))
        };
        format!("mean {}, std {}", list(&self.mean), list(&self.std))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Device;

    #[test]
    fn one_value_spreads_to_every_channel_and_bad_ones_are_refused() {
        let n = Normalize::new(vec![0.5], vec![0.25], 3).unwrap();
        assert_eq!((n.mean, n.std), (vec![0.5; 3], vec![0.25; 3]));
        assert!(Normalize::new(vec![0.5, 0.4], vec![0.2, 0.2], 3).is_err());
        assert!(Normalize::new(vec![0.5], vec![0.0], 1).is_err());
        assert!(Normalize::new(vec![f32::NAN], vec![1.0], 1).is_err());
    }

    #[test]
    fn applies_per_channel() {
        let n = Normalize::new(vec![0.5, 0.0], vec![0.5, 2.0], 2).unwrap();
        let x = Tensor::<4>::from_data(
            TensorData::new(vec![1.0f32, 0.0, 4.0, 2.0], [1, 2, 1, 2]),
            &Device::flex(),
        );
        let y = n.apply(x).into_data().try_to_vec::<f32>().unwrap();
        assert_eq!(y, vec![1.0, -1.0, 2.0, 1.0]);
    }
}
