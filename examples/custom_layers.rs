//! Writing your own layers and blocks, as seed 002 does in Gluon:
//! - `CenteredLayer`: no parameters, `x - mean(x)`;
//! - `MyDense`: a layer with its own weight and bias;
//! - `FancyMLP`: one dense layer used twice, a constant (untrained) weight, and control flow;
//! - `RecMLP`: a custom block holding a run-time `Sequential`, itself nested in a `Sequential`.
//!
//! ```sh
//! cargo run --release --example custom_layers
//! ```

use burn::module::{Module, Param};
use burn::nn::Initializer;
use burn::tensor::activation::relu;
use burn::tensor::{Device, Distribution, Tensor};
use inception::nn::{DenseSpec, Features, Init, LayerSpec, Sequential, SequentialSpec};

/// Subtracts the mean: a layer without parameters.
#[derive(Module, Debug, Default)]
pub struct CenteredLayer;

impl CenteredLayer {
    pub fn forward<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        let mean = x.clone().mean().into_scalar::<f32>();
        x.sub_scalar(mean)
    }
}

/// A dense layer written by hand: `relu(x W + b)`.
#[derive(Module, Debug)]
pub struct MyDense {
    pub weight: Param<Tensor<2>>,
    pub bias: Param<Tensor<1>>,
}

impl MyDense {
    pub fn new(in_units: usize, units: usize, device: &Device) -> Self {
        Self {
            weight: Initializer::Normal {
                mean: 0.0,
                std: 0.01,
            }
            .init([in_units, units], device),
            bias: Initializer::Zeros.init([units], device),
        }
    }

    pub fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        relu(x.matmul(self.weight.val()) + self.bias.val().unsqueeze())
    }
}

/// Seed 002's `FancyMLP`: the same dense layer twice, with a constant random weight between.
#[derive(Module, Debug)]
pub struct FancyMlp {
    pub dense: MyDense,
    /// Not a parameter: never trained (Gluon's `nd.random_uniform` attribute).
    pub constant: Tensor<2>,
}

impl FancyMlp {
    pub fn new(device: &Device) -> Self {
        Self {
            dense: MyDense::new(20, 20, device),
            constant: Tensor::random([20, 20], Distribution::Uniform(0.0, 1.0), device),
        }
    }

    pub fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        let x = self.dense.forward(x);
        let x = relu(x.matmul(self.constant.clone()).add_scalar(1.0));
        let mut x = self.dense.forward(x);
        // Control flow on values, as the seed's `while x.norm() > 1: x /= 2`.
        while x.clone().abs().sum().into_scalar::<f32>() > 1.0 {
            x = x.div_scalar(2.0);
        }
        x
    }
}

/// A custom block around a run-time `Sequential` (seed 002's `RecMLP`).
#[derive(Module, Debug)]
pub struct RecMlp {
    pub net: Sequential,
    pub dense: MyDense,
}

impl RecMlp {
    pub fn new(in_units: usize, device: &Device) -> Self {
        let spec = SequentialSpec::new()
            .add(LayerSpec::Dense(DenseSpec::new(256).relu()))
            .add(LayerSpec::Dense(DenseSpec::new(128).relu()))
            .add(LayerSpec::Dense(DenseSpec::new(64).relu()));
        let (net, _) = spec
            .build(&vec![in_units], Init::XavierUniform, device)
            .expect("dense layers fit any input");
        Self {
            net,
            dense: MyDense::new(64, 32, device),
        }
    }

    pub fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        self.dense
            .forward(self.net.forward(Features::Flat(x)).into_flat())
    }
}

fn main() {
    let device = Device::flex();
    let layer = CenteredLayer;
    let x = Tensor::<1>::from_floats([1.0, 2.0, 3.0, 4.0, 5.0], &device);
    println!("CenteredLayer([1, 2, 3, 4, 5]) = {}", layer.forward(x));

    let x = Tensor::<2>::random([2, 20], Distribution::Uniform(0.0, 1.0), &device);
    let fancy = FancyMlp::new(&device);
    println!(
        "FancyMLP output shape: {:?}",
        fancy.forward(x.clone()).dims()
    );
    println!(
        "FancyMLP trainable parameters: {}",
        inception::nn::count_params(&fancy)
    );

    let rec = RecMlp::new(20, &device);
    println!("RecMLP output shape: {:?}", rec.forward(x).dims());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn centered_layer_has_zero_mean() {
        let device = Device::flex();
        let x = Tensor::<2>::random([4, 8], Distribution::Uniform(3.0, 9.0), &device);
        let y = CenteredLayer.forward(x).mean().into_scalar::<f32>();
        assert!(y.abs() < 1e-5, "{y}");
    }

    #[test]
    fn fancy_mlp_reuses_one_dense_layer() {
        let device = Device::flex();
        let fancy = FancyMlp::new(&device);
        // One 20x20 dense layer: 420 parameters, though it runs twice.
        assert_eq!(inception::nn::count_params(&fancy.dense), 420);
        let y = fancy.forward(Tensor::random([3, 20], Distribution::Default, &device));
        assert_eq!(y.dims(), [3, 20]);
        assert!(y.abs().sum().into_scalar::<f32>() <= 1.0);
    }

    #[test]
    fn rec_mlp_nests_a_sequential() {
        let device = Device::flex();
        let rec = RecMlp::new(20, &device);
        assert_eq!(rec.forward(Tensor::zeros([5, 20], &device)).dims(), [5, 32]);
        assert_eq!(
            inception::nn::count_params(&rec.net),
            20 * 256 + 256 + 256 * 128 + 128 + 128 * 64 + 64
        );
    }
}
