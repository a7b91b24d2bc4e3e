//! Dropout and batch normalization written by hand, as article 002 does, and checked against
//! burn's built-in layers on the same inputs (run the checks with `cargo test --examples`).
//!
//! ```sh
//! cargo run --release --example from_scratch
//! ```

use burn::module::{Module, Param};
use burn::tensor::{Device, Distribution, Tensor};

/// Article 002's `dropout(X, drop_prob)`: zero each element with probability `drop_prob` and
/// scale the rest by `1 / (1 - drop_prob)`.
pub fn dropout<const D: usize>(x: Tensor<D>, drop_prob: f64) -> Tensor<D> {
    assert!((0.0..=1.0).contains(&drop_prob));
    let keep_prob = 1.0 - drop_prob;
    if keep_prob == 0.0 {
        return x.zeros_like();
    }
    let mask = x
        .random_like(Distribution::Uniform(0.0, 1.0))
        .lower_elem(keep_prob)
        .float();
    x * mask / keep_prob
}

/// Article 002's `batch_norm` as a block: per-channel statistics of the batch in training
/// (biased variance), moving averages with momentum 0.9 in inference.
#[derive(Module, Debug)]
pub struct MyBatchNorm {
    pub gamma: Param<Tensor<1>>,
    pub beta: Param<Tensor<1>>,
    /// Buffers, not parameters: updated by hand, never by an optimizer.
    pub moving_mean: Tensor<1>,
    pub moving_var: Tensor<1>,
    pub eps: f64,
    pub momentum: f64,
}

impl MyBatchNorm {
    pub fn new(channels: usize, device: &Device) -> Self {
        Self {
            gamma: Param::from_tensor(Tensor::ones([channels], device)),
            beta: Param::from_tensor(Tensor::zeros([channels], device)),
            moving_mean: Tensor::zeros([channels], device),
            moving_var: Tensor::ones([channels], device),
            eps: 1e-5,
            momentum: 0.9,
        }
    }

    /// `x` is `[N, C, H, W]`; `training` selects batch or moving statistics.
    pub fn forward(&mut self, x: Tensor<4>, training: bool) -> Tensor<4> {
        let channels = self.gamma.dims()[0];
        let per_channel = |t: Tensor<1>| t.reshape([1, channels, 1, 1]);
        let (mean, var) = if training {
            let mean = x.clone().mean_dim(0).mean_dim(2).mean_dim(3);
            let var = (x.clone() - mean.clone())
                .powi_scalar(2)
                .mean_dim(0)
                .mean_dim(2)
                .mean_dim(3);
            let (m, v) = (
                mean.clone().reshape([channels]),
                var.clone().reshape([channels]),
            );
            self.moving_mean =
                self.moving_mean.clone() * self.momentum + m.detach() * (1.0 - self.momentum);
            self.moving_var =
                self.moving_var.clone() * self.momentum + v.detach() * (1.0 - self.momentum);
            (mean, var)
        } else {
            (
                per_channel(self.moving_mean.clone()),
                per_channel(self.moving_var.clone()),
            )
        };
        let x_hat = (x - mean) / (var + self.eps).sqrt();
        x_hat * per_channel(self.gamma.val()) + per_channel(self.beta.val())
    }
}

fn main() {
    let device = Device::flex();
    let x = Tensor::<2>::ones([2, 8], &device);
    println!("dropout(p=0.5) of ones:\n{}", dropout(x, 0.5));
    let mut bn = MyBatchNorm::new(3, &device);
    let x = Tensor::<4>::random([4, 3, 2, 2], Distribution::Normal(2.0, 3.0), &device);
    let y = bn.forward(x, true);
    println!("batch-normalized mean {:.4}", y.mean().into_scalar::<f32>());
    println!("moving mean after one batch: {}", bn.moving_mean);
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::nn::{BatchNormConfig, DropoutConfig};
    use burn::tensor::Tolerance;

    /// Every output is 0 or the input scaled by 1/(1-p), and about a fraction p are 0.
    fn check_dropout(y: Tensor<2>, p: f64) {
        let values = y.into_data().convert::<f32>().try_to_vec::<f32>().unwrap();
        let scaled = (1.0 / (1.0 - p)) as f32;
        assert!(values
            .iter()
            .all(|&v| v == 0.0 || (v - scaled).abs() < 1e-6));
        let dropped = values.iter().filter(|&&v| v == 0.0).count() as f64 / values.len() as f64;
        assert!((dropped - p).abs() < 0.02, "dropped {dropped}, p {p}");
    }

    #[test]
    fn hand_written_dropout_behaves_as_burns() {
        let device = Device::flex().autodiff();
        let x = Tensor::<2>::ones([100, 100], &device);
        check_dropout(dropout(x.clone(), 0.3), 0.3);
        // burn's layer, on a training (autodiff) device.
        check_dropout(DropoutConfig::new(0.3).init().forward(x.clone()), 0.3);
        assert_eq!(dropout(x.clone(), 1.0).sum().into_scalar::<f32>(), 0.0);
        assert_eq!(dropout(x.clone(), 0.0).into_data(), x.into_data());
    }

    #[test]
    fn hand_written_batch_norm_matches_burns_in_training_and_inference() {
        let device = Device::flex().autodiff();
        device.seed(2);
        let mut mine = MyBatchNorm::new(3, &device);
        let builtin = BatchNormConfig::new(3).init(&device);
        let tolerance = Tolerance::<f32>::absolute(1e-4);
        for _ in 0..3 {
            let x = Tensor::<4>::random([8, 3, 4, 4], Distribution::Normal(1.0, 2.0), &device);
            let expected = builtin.forward(x.clone()).into_data();
            mine.forward(x, true)
                .into_data()
                .assert_approx_eq(&expected, tolerance);
        }
        // Gluon's momentum 0.9 keeps 90% of the old average, as burn's momentum 0.1 does.
        mine.moving_mean
            .clone()
            .into_data()
            .assert_approx_eq(&builtin.running_mean.value_sync().into_data(), tolerance);
        // burn's moving variance is the biased one, as the article's (PyTorch keeps the unbiased).
        mine.moving_var
            .clone()
            .into_data()
            .assert_approx_eq(&builtin.running_var.value_sync().into_data(), tolerance);

        // Inference: both use their moving statistics. Give burn's the article's values first.
        let plain = Device::flex();
        let x = Tensor::<4>::random([2, 3, 4, 4], Distribution::Default, &plain);
        let mut inference = builtin.valid();
        inference.running_var =
            burn::module::RunningState::new(mine.moving_var.clone().without_autodiff());
        let expected = inference.forward(x.clone()).into_data();
        let mut mine = MyBatchNorm {
            moving_mean: mine.moving_mean.clone().without_autodiff(),
            moving_var: mine.moving_var.clone().without_autodiff(),
            ..mine.valid()
        };
        mine.forward(x, false)
            .into_data()
            .assert_approx_eq(&expected, tolerance);
    }
}
