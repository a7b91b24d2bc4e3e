//! Parameter initializers, named as in Gluon's `mx.init`, and re-initialization of a built
//! network (Gluon's `initialize(init, force_reinit=True)`).

use burn::module::{Module, ModuleMapper, Param};
use burn::nn::Initializer;
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

/// How weights are initialized; biases start at zero, as in Gluon.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Init {
    /// Glorot uniform: U(-a, a), a = sqrt(6 / (fan_in + fan_out)). Gluon's `init.Xavier()`,
    /// the article's choice for GoogLeNet.
    XavierUniform,
    /// Glorot normal: N(0, 2 / (fan_in + fan_out)).
    XavierNormal,
    /// PyTorch's default for conv and linear layers: U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
    TorchDefault,
    /// N(0, sigma^2) (Gluon's `init.Normal(sigma)`).
    Normal { sigma: f64 },
    /// U(low, high) (Gluon's `init.Uniform`, which is symmetric; here any range).
    Uniform { low: f64, high: f64 },
    /// Every weight `value` (Gluon's `init.Constant`).
    Constant { value: f64 },
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
            Init::Normal { sigma } => Initializer::Normal {
                mean: 0.0,
                std: sigma,
            },
            Init::Uniform { low, high } => Initializer::Uniform {
                min: low,
                max: high,
            },
            Init::Constant { value } => Initializer::Constant { value },
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

/// What a parameter is, for an initializer to decide its values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamRole {
    /// A convolution or dense weight with its fans.
    Weight {
        fan_in: usize,
        fan_out: usize,
    },
    Bias,
}

/// A user-defined initializer, as Gluon's `init.Initializer` subclasses with `_init_weight` and
/// `_init_bias` (article 002's `MyInit`; `examples/custom_layers.rs` writes it).
/// Batch norm's gamma and beta and its running statistics are left as they are.
pub trait ParamInit {
    /// Values for a parameter of `shape`.
    fn init<const D: usize>(
        &self,
        role: ParamRole,
        shape: [usize; D],
        device: &Device,
    ) -> Tensor<D>;
}

impl ParamInit for Init {
    fn init<const D: usize>(
        &self,
        role: ParamRole,
        shape: [usize; D],
        device: &Device,
    ) -> Tensor<D> {
        match role {
            ParamRole::Bias => Tensor::zeros(shape, device),
            ParamRole::Weight { fan_in, fan_out } => {
                self.weight(shape, fan_in, fan_out, device).val()
            }
        }
    }
}

/// Re-initializes every convolution and dense weight and bias of `module` with `init`
/// (Gluon's `force_reinit=True`), keeping parameter ids, devices and gradient tracking.
pub fn reinitialize<M: Module, I: ParamInit>(module: M, init: &I) -> M {
    let mut mapper = Reinit {
        init,
        path: Vec::new(),
    };
    module.map(&mut mapper)
}

struct Reinit<'a, I> {
    init: &'a I,
    path: Vec<String>,
}

impl<I: ParamInit> ModuleMapper for Reinit<'_, I> {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.path.push(name.to_string());
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.pop();
    }

    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let in_batch_norm = self.path.iter().rev().nth(1).is_some_and(|p| p == "bn");
        let role = match (self.path.last().map(String::as_str), D) {
            (Some("weight"), 4) => {
                let [out, input, kh, kw]: [usize; 4] = param.lazy_shape().dims();
                ParamRole::Weight {
                    fan_in: input * kh * kw,
                    fan_out: out * kh * kw,
                }
            }
            // burn stores dense weights as [in, out].
            (Some("weight"), 2) => {
                let [input, out]: [usize; 2] = param.lazy_shape().dims();
                ParamRole::Weight {
                    fan_in: input,
                    fan_out: out,
                }
            }
            (Some("bias"), 1) if !in_batch_norm => ParamRole::Bias,
            _ => return param,
        };
        let init = self.init;
        param.map(|old| {
            let shape: [usize; D] = old.dims();
            let fresh = init.init(role, shape, &old.device());
            if old.is_require_grad() {
                fresh.require_grad()
            } else {
                fresh
            }
        })
    }
}
