//! SGD with weight decay, momentum and Nesterov's form, computed as burn's `Sgd` computes it:
//! on a flex device in float32 one pass over each parameter on every thread
//! (`ops::FastOps::sgd_step`, `sgd_kernels`), bit-identical to burn's; elsewhere, or with the
//! fast path off, burn's own formulas in tensor operations.
//!
//! The state is saved under the names burn's `Sgd` gives it (`momentum.velocity`), so a
//! checkpoint written with either optimizer resumes with the other.

use burn::backend::Dispatch;
use burn::grad_clipping::GradientClippingConfig;
use burn::optim::{
    join_path, LearningRate, ModuleOptimizer, Optimizer, RecordState, StateSink, StateSource,
};
use burn::tensor::{DType, Device, Tensor};

use super::ops::FastOps;
use super::sgd_kernels::SgdStep;
use super::takes_fast_path;

/// burn's `SgdConfig` in one value: weight decay and momentum, each if any.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct FusedSgd {
    /// The L2 penalty added to every gradient (burn's `WeightDecayConfig::penalty`).
    pub weight_decay: Option<f32>,
    /// Momentum, if any.
    pub momentum: Option<SgdMomentum>,
}

/// burn's `MomentumConfig`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SgdMomentum {
    pub momentum: f64,
    /// The part of each gradient left out of the velocity (PyTorch's and burn's `dampening`).
    pub dampening: f64,
    pub nesterov: bool,
}

impl FusedSgd {
    /// The optimizer of a whole module, clipping the gradients first when `clipping` says so.
    pub fn init(self, clipping: Option<GradientClippingConfig>) -> ModuleOptimizer {
        let optim = ModuleOptimizer::from(self);
        match clipping {
            Some(clipping) => optim.with_grad_clipping(clipping.init()),
            None => optim,
        }
    }

    fn rule(&self, lr: LearningRate) -> SgdStep {
        SgdStep {
            lr: lr as f32,
            weight_decay: self.weight_decay,
            momentum: self.momentum.map(|m| m.momentum as f32),
            undamped: self.momentum.map_or(1.0, |m| (1.0 - m.dampening) as f32),
            nesterov: self.momentum.is_some_and(|m| m.nesterov),
        }
    }

    /// burn's `Sgd::step`, operation for operation.
    fn reference_step<const D: usize>(
        &self,
        lr: LearningRate,
        tensor: Tensor<D>,
        mut grad: Tensor<D>,
        velocity: Option<Tensor<D>>,
    ) -> (Tensor<D>, Option<Tensor<D>>) {
        if let Some(penalty) = self.weight_decay {
            grad = tensor.clone().mul_scalar(penalty).add(grad);
        }
        let mut kept = None;
        if let Some(m) = self.momentum {
            let momentum = m.momentum as f32;
            let v = match velocity {
                Some(v) => grad
                    .clone()
                    .mul_scalar(1.0 - m.dampening)
                    .add(v.mul_scalar(momentum)),
                None => grad.clone(),
            };
            grad = if m.nesterov {
                v.clone().mul_scalar(momentum).add(grad)
            } else {
                v.clone()
            };
            kept = Some(v);
        }
        (tensor - grad.mul_scalar(lr), kept)
    }
}

/// The velocity of each parameter, when momentum is on.
#[derive(Clone)]
pub struct SgdVelocity<const D: usize> {
    pub velocity: Option<Tensor<D>>,
}

impl Optimizer for FusedSgd {
    type State<const D: usize> = SgdVelocity<D>;

    fn step<const D: usize>(
        &self,
        lr: LearningRate,
        tensor: Tensor<D>,
        grad: Tensor<D>,
        state: Option<SgdVelocity<D>>,
    ) -> (Tensor<D>, Option<SgdVelocity<D>>) {
        let velocity = state.and_then(|s| s.velocity);
        let fast = takes_fast_path(&tensor)
            && takes_fast_path(&grad)
            && velocity.as_ref().is_none_or(|v| v.dtype() == DType::F32);
        if !fast {
            let (tensor, velocity) = self.reference_step(lr, tensor, grad, velocity);
            return (tensor, Some(SgdVelocity { velocity }));
        }
        let rule = self.rule(lr);
        // No velocity yet: an empty one (`FastOps::sgd_step` takes no optional tensor).
        let velocity = match velocity {
            Some(v) => v.into_dispatch(),
            None => Tensor::<1>::zeros([0], &tensor.device()).into_dispatch(),
        };
        let (tensor, velocity) = <Dispatch as FastOps>::sgd_step(
            tensor.into_dispatch(),
            grad.into_dispatch(),
            velocity,
            rule,
        );
        let velocity = rule.momentum.map(|_| Tensor::from_dispatch(velocity));
        (
            Tensor::from_dispatch(tensor),
            Some(SgdVelocity { velocity }),
        )
    }

    fn to_device<const D: usize>(state: SgdVelocity<D>, device: &Device) -> SgdVelocity<D> {
        SgdVelocity {
            velocity: state.velocity.map(|v| v.to_device(device)),
        }
    }
}

/// Written by hand for burn's names: its derive works only inside burn's crate.
impl<const D: usize> RecordState for SgdVelocity<D> {
    fn state_flatten(&self, prefix: &str, out: &mut StateSink) {
        if let Some(v) = &self.velocity {
            let path = join_path(prefix, "momentum");
            out.push_tensor(&path, "velocity", v.clone().into_data());
        }
    }

    fn state_unflatten(prefix: &str, src: &mut StateSource, device: &Device) -> Option<Self> {
        let path = join_path(prefix, "momentum");
        let velocity = if src.has_under(&path) {
            src.take_tensor(&path, "velocity")
                .map(|data| Tensor::from_data(data, device))
        } else {
            None
        };
        Some(Self { velocity })
    }
}
