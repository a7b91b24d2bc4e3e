//! Optimizers and learning-rate schedules, built from burn's own (`burn::optim`,
//! `burn::lr_scheduler`): SGD with momentum / Nesterov / weight decay (PyTorch's `torch.optim.SGD`;
//! burn's computed in one pass on the CPU, `flex::FusedSgd`),
//! Adam with L2 weight decay (`torch.optim.Adam`), AdamW with decoupled weight decay, gradient
//! clipping, and a linear warm-up followed by a constant, step or cosine schedule.
//!
//! The schedule is a pure function of the optimizer step: a resumed run rebuilds it and steps it
//! to where the run stopped, so its learning rates are those of an uninterrupted run.

use burn::grad_clipping::GradientClippingConfig;
use burn::lr_scheduler::cosine::CosineAnnealingLrSchedulerConfig;
use burn::lr_scheduler::linear::LinearLrSchedulerConfig;
use burn::lr_scheduler::module_lr_scheduler::{ModuleLrScheduler, ModuleLrSchedulerConfig};
use burn::lr_scheduler::sequential::SequentialLrSchedulerConfig;
use burn::lr_scheduler::step::StepLrSchedulerConfig;
use burn::lr_scheduler::LrSchedulerConfig;
use burn::module::ParamGroup;
use burn::optim::decay::WeightDecayConfig;
use burn::optim::{AdamConfig, AdamWConfig, ModuleOptimizer};
use serde::{Deserialize, Serialize};

use crate::flex::{FusedSgd, SgdMomentum};
use crate::models::OptimizerKind;

/// How the learning rate changes after the warm-up.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Schedule {
    /// The same learning rate throughout (d2l's recipes).
    #[default]
    Constant,
    /// Multiplied by `gamma` every `every` epochs (PyTorch's `StepLR`).
    Step { every: usize, gamma: f64 },
    /// Down to `min_lr` along half a cosine over the remaining steps (PyTorch's
    /// `CosineAnnealingLR`, stepped every batch).
    Cosine { min_lr: f64 },
}

impl Schedule {
    pub fn describe(&self) -> String {
        match self {
            Schedule::Constant => "constant".to_string(),
            Schedule::Step { every, gamma } => format!("step (x{gamma} every {every} epochs)"),
            Schedule::Cosine { min_lr } => format!("cosine (to {min_lr})"),
        }
    }
}

/// Everything about the optimizer besides its kind and base learning rate. The defaults are
/// plain SGD / Adam at a constant rate, as the articles train.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct OptimSettings {
    /// SGD momentum (0: none).
    pub momentum: f64,
    /// Nesterov momentum (SGD with momentum only).
    pub nesterov: bool,
    /// L2 penalty for SGD and Adam, decoupled decay for AdamW (0: none; AdamW's usual is 0.01).
    pub weight_decay: f64,
    /// Scale each parameter's gradient down to this L2 norm when larger (burn clips every
    /// parameter tensor on its own, unlike PyTorch's `clip_grad_norm_` over all of them).
    pub clip_grad_norm: Option<f64>,
    pub schedule: Schedule,
    /// Epochs over which the learning rate rises linearly to `lr` before the schedule starts.
    pub warmup_epochs: f64,
}

impl Default for OptimSettings {
    fn default() -> Self {
        Self {
            momentum: 0.0,
            nesterov: false,
            weight_decay: 0.0,
            clip_grad_norm: None,
            schedule: Schedule::Constant,
            warmup_epochs: 0.0,
        }
    }
}

impl OptimSettings {
    /// Checks the settings against the optimizer they go with.
    pub fn validate(&self, kind: OptimizerKind, lr: f64, epochs: usize) -> Result<(), String> {
        if !(0.0..1.0).contains(&self.momentum) {
            return Err(format!(
                "`momentum` must be in [0, 1), got {}",
                self.momentum
            ));
        }
        if kind != OptimizerKind::Sgd && (self.momentum > 0.0 || self.nesterov) {
            return Err(format!(
                "`momentum` and `nesterov` are for `optimizer` sgd; {} keeps its own moments",
                kind.name()
            ));
        }
        if self.nesterov && self.momentum == 0.0 {
            return Err("`nesterov` needs a `momentum` above 0 (e.g. 0.9)".into());
        }
        if !(self.weight_decay.is_finite() && self.weight_decay >= 0.0) {
            return Err(format!(
                "`weight_decay` must be 0 or more, got {}",
                self.weight_decay
            ));
        }
        if let Some(norm) = self.clip_grad_norm {
            if !(norm.is_finite() && norm > 0.0) {
                return Err(format!("`clip_grad_norm` must be above 0, got {norm}"));
            }
        }
        if !(self.warmup_epochs.is_finite() && self.warmup_epochs >= 0.0) {
            return Err(format!(
                "`warmup_epochs` must be 0 or more, got {}",
                self.warmup_epochs
            ));
        }
        if self.warmup_epochs >= epochs as f64 {
            return Err(format!(
                "`warmup_epochs` ({}) must be fewer than `epochs` ({epochs})",
                self.warmup_epochs
            ));
        }
        match self.schedule {
            Schedule::Step { every, gamma } => {
                if every == 0 {
                    return Err("`schedule.every` must be at least 1".into());
                }
                if !(gamma.is_finite() && gamma > 0.0) {
                    return Err(format!("`schedule.gamma` must be above 0, got {gamma}"));
                }
            }
            Schedule::Cosine { min_lr } => {
                if !(min_lr.is_finite() && (0.0..=lr).contains(&min_lr)) {
                    return Err(format!(
                        "`schedule.min_lr` must be between 0 and `lr` ({lr}), got {min_lr}"
                    ));
                }
            }
            Schedule::Constant => {}
        }
        // burn's warm-up and cosine schedules take rates in (0, 1].
        let bounded = self.warmup_epochs > 0.0 || matches!(self.schedule, Schedule::Cosine { .. });
        if bounded && lr > 1.0 {
            return Err(format!(
                "`lr` must be at most 1 with a warm-up or a cosine schedule, got {lr}"
            ));
        }
        Ok(())
    }

    /// The settings of a parameter group trained at `mult` times the rate: the cosine
    /// schedule's floor scaled with it (the warm-up and step schedule are relative already).
    pub fn scaled(&self, mult: f64) -> Self {
        let schedule = match self.schedule {
            Schedule::Cosine { min_lr } => Schedule::Cosine {
                min_lr: min_lr * mult,
            },
            other => other,
        };
        Self {
            schedule,
            ..self.clone()
        }
    }

    /// A one-line description for the start of a run.
    pub fn describe(&self, kind: OptimizerKind) -> String {
        let mut parts = Vec::new();
        if self.momentum > 0.0 {
            let nesterov = if self.nesterov { " (Nesterov)" } else { "" };
            parts.push(format!("momentum {}{nesterov}", self.momentum));
        }
        if self.weight_decay > 0.0 {
            let what = match kind {
                OptimizerKind::AdamW => "decoupled weight decay",
                _ => "weight decay",
            };
            parts.push(format!("{what} {}", self.weight_decay));
        }
        if let Some(norm) = self.clip_grad_norm {
            parts.push(format!("gradients clipped to norm {norm}"));
        }
        if self.warmup_epochs > 0.0 {
            parts.push(format!("{} warm-up epochs", self.warmup_epochs));
        }
        parts.push(format!("{} schedule", self.schedule.describe()));
        parts.join(", ")
    }
}

/// burn's optimizer for `kind` with `settings`.
pub fn optimizer(kind: OptimizerKind, settings: &OptimSettings) -> ModuleOptimizer {
    let decay =
        (settings.weight_decay > 0.0).then(|| WeightDecayConfig::new(settings.weight_decay as f32));
    let clipping = settings
        .clip_grad_norm
        .map(|norm| GradientClippingConfig::Norm(norm as f32));
    match kind {
        // burn's SGD computed in one pass on the CPU (`flex::FusedSgd`).
        OptimizerKind::Sgd => FusedSgd {
            weight_decay: (settings.weight_decay > 0.0).then_some(settings.weight_decay as f32),
            momentum: (settings.momentum > 0.0).then_some(SgdMomentum {
                momentum: settings.momentum,
                dampening: 0.0,
                nesterov: settings.nesterov,
            }),
        }
        .init(clipping),
        // PyTorch's eps (burn's default is 1e-5).
        OptimizerKind::Adam => AdamConfig::new()
            .with_epsilon(1e-8)
            .with_weight_decay(decay)
            .with_grad_clipping(clipping)
            .init(),
        OptimizerKind::AdamW => AdamWConfig::new()
            .with_epsilon(1e-8)
            .with_weight_decay(settings.weight_decay as f32)
            .with_grad_clipping(clipping)
            .init(),
    }
}

/// The learning-rate scheduler of a run of `epochs` epochs of `steps_per_epoch` steps at base
/// rate `lr`. Its `step()` gives the rate of each optimizer step, from the first.
pub fn scheduler(
    lr: f64,
    settings: &OptimSettings,
    epochs: usize,
    steps_per_epoch: usize,
) -> Result<ModuleLrScheduler, String> {
    grouped_scheduler(lr, settings, epochs, steps_per_epoch, &[])
}

/// As [`scheduler`], with each of `groups` (parameters, multiplier) at `multiplier` times the
/// rate of every step (the same warm-up and schedule, scaled; burn's `ModuleLrScheduler`
/// groups, the last matching one winning).
pub fn grouped_scheduler(
    lr: f64,
    settings: &OptimSettings,
    epochs: usize,
    steps_per_epoch: usize,
    groups: &[(ParamGroup, f64)],
) -> Result<ModuleLrScheduler, String> {
    let mut config =
        ModuleLrSchedulerConfig::new(schedule_config(lr, settings, epochs, steps_per_epoch));
    for (group, mult) in groups {
        config = config.with_group(
            group.clone(),
            schedule_config(lr * mult, &settings.scaled(*mult), epochs, steps_per_epoch),
        );
    }
    config
        .init()
        .map_err(|e| format!("invalid learning-rate schedule: {e}"))
}

/// The schedule of one rate: a linear warm-up, then constant, step or cosine.
fn schedule_config(
    lr: f64,
    settings: &OptimSettings,
    epochs: usize,
    steps_per_epoch: usize,
) -> LrSchedulerConfig {
    let steps_per_epoch = steps_per_epoch.max(1);
    let total = epochs * steps_per_epoch;
    let warmup =
        ((settings.warmup_epochs * steps_per_epoch as f64).round() as usize).min(total - 1);
    let main = match settings.schedule {
        Schedule::Constant => LrSchedulerConfig::Constant(lr),
        Schedule::Step { every, gamma } => LrSchedulerConfig::Step(
            StepLrSchedulerConfig::new(lr, every * steps_per_epoch).with_gamma(gamma),
        ),
        Schedule::Cosine { min_lr } => LrSchedulerConfig::Cosine(
            CosineAnnealingLrSchedulerConfig::new(lr, (total - warmup).max(1)).with_min_lr(min_lr),
        ),
    };
    let (schedulers, milestones) = if warmup == 0 {
        (vec![main], vec![])
    } else {
        // lr/warmup, 2 lr/warmup, ..., lr over the warm-up's steps.
        let rise = LinearLrSchedulerConfig::new(lr / warmup as f64, lr, (warmup - 1).max(1));
        (vec![LrSchedulerConfig::Linear(rise), main], vec![warmup])
    };
    LrSchedulerConfig::Sequential(SequentialLrSchedulerConfig::new(schedulers, milestones))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rates(lr: f64, settings: &OptimSettings, epochs: usize, spe: usize) -> Vec<f64> {
        let mut s = scheduler(lr, settings, epochs, spe).unwrap();
        (0..epochs * spe).map(|_| s.step().base()).collect()
    }

    #[test]
    fn constant_by_default() {
        let r = rates(0.1, &OptimSettings::default(), 2, 3);
        assert_eq!(r, vec![0.1; 6]);
    }

    #[test]
    fn step_schedule_drops_by_gamma_every_n_epochs() {
        let settings = OptimSettings {
            schedule: Schedule::Step {
                every: 1,
                gamma: 0.5,
            },
            ..OptimSettings::default()
        };
        let r = rates(0.1, &settings, 3, 2);
        let want = [0.1, 0.1, 0.05, 0.05, 0.025, 0.025];
        for (got, want) in r.iter().zip(want) {
            assert!((got - want).abs() < 1e-12, "{r:?}");
        }
    }

    #[test]
    fn warmup_then_cosine_rises_then_falls_to_min() {
        let settings = OptimSettings {
            schedule: Schedule::Cosine { min_lr: 0.001 },
            warmup_epochs: 1.0,
            ..OptimSettings::default()
        };
        let r = rates(0.1, &settings, 3, 4);
        // Warm-up: 0.025, 0.05, 0.075, 0.1 ...
        for (i, want) in [0.025, 0.05, 0.075, 0.1].into_iter().enumerate() {
            assert!((r[i] - want).abs() < 1e-9, "{r:?}");
        }
        // ... then the cosine starts at lr and decreases monotonically towards min_lr.
        assert!((r[4] - 0.1).abs() < 1e-9, "{r:?}");
        assert!(r[4..].windows(2).all(|w| w[1] < w[0]), "{r:?}");
        assert!(r[11] < 0.01 && r[11] > 0.001, "{r:?}");
    }

    #[test]
    fn settings_that_do_not_fit_are_refused() {
        let sgd = OptimizerKind::Sgd;
        let bad = |s: OptimSettings, kind| s.validate(kind, 0.1, 5).unwrap_err();
        let nesterov = OptimSettings {
            nesterov: true,
            ..OptimSettings::default()
        };
        assert!(bad(nesterov, sgd).contains("`nesterov` needs a `momentum`"));
        let momentum = OptimSettings {
            momentum: 0.9,
            ..OptimSettings::default()
        };
        assert!(bad(momentum, OptimizerKind::Adam).contains("for `optimizer` sgd"));
        let warmup = OptimSettings {
            warmup_epochs: 5.0,
            ..OptimSettings::default()
        };
        assert!(bad(warmup, sgd).contains("fewer than `epochs`"));
        let min = OptimSettings {
            schedule: Schedule::Cosine { min_lr: 0.5 },
            ..OptimSettings::default()
        };
        assert!(bad(min, sgd).contains("`schedule.min_lr`"));
    }
}
