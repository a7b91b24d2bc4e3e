//! Parameter initializers, named as in Gluon's `mx.init`.

use burn::module::Param;
use burn::nn::Initializer;
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

/// How weights are initialized; biases always start at zero, as in Gluon.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum Init {
    /// Glorot uniform: U(-a, a), a = sqrt(6 / (fan_in + fan_out)). Gluon's `init.Xavier()`,
    /// the seed's choice for GoogLeNet.
    XavierUniform,
    /// Glorot normal: N(0, 2 / (fan_in + fan_out)).
    XavierNormal,
    /// PyTorch's default for conv and linear layers: U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
    TorchDefault,
}

impl Init {
    fn initializer(self) -> Initializer {
        match self {
            Init::XavierUniform => Initializer::XavierUniform { gain: 1.0 },
            Init::XavierNormal => Initializer::XavierNormal { gain: 1.0 },
            Init::TorchDefault => Initializer::KaimingUniform {
                gain: 1.0 / 3.0f64.sqrt(),
                fan_out_only: false,
            },
        }
    }

    /// A weight tensor of `shape` with the given fans.
    pub fn weight<const D: usize>(
        self,
        shape: [usize; D],
        fan_in: usize,
        fan_out: usize,
        device: &Device,
    ) -> Param<Tensor<D>> {
        self.initializer()
            .init_with(shape, Some(fan_in), Some(fan_out), device)
    }

    /// A zero bias of `len` elements.
    pub fn bias(self, len: usize, device: &Device) -> Param<Tensor<1>> {
        Initializer::Zeros.init([len], device)
    }
}
