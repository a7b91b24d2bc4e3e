//! One SGD step over a parameter's values, in place, in one pass, on every thread.
//!
//! Why hand-written: burn's `Sgd` builds the step from tensor operations (weight decay, the
//! momentum's two products and sum, the rate's product, the subtraction), each a pass of its
//! own over the whole parameter and each on one thread (flex 0.22's element-wise operations
//! have no parallel path). On GoogLeNet at batch 1 the optimizer took twice PyTorch's time.
//! Here each value is read and written once, blocks of values on rayon's threads.
//!
//! The arithmetic is burn's, operation for operation and in float32 (each scalar rounded to
//! float32 first, as flex does), so the result is bit-identical to burn's `Sgd`:
//!
//! ```text
//! g = weight * weight_decay + grad                       (with weight decay)
//! v = g * (1 - dampening) + velocity * momentum          (with momentum; v = g at the first step)
//! d = v * momentum + g  (Nesterov)   or   d = v
//! weight = weight - d * lr
//! ```

use rayon::prelude::*;

use super::simd::vectorized;

/// Values per rayon task: 256 KiB of each array.
const BLOCK: usize = 1 << 16;

/// The settings of one step, each already a float32 as flex's scalar operations round them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SgdStep {
    /// The learning rate of this step.
    pub lr: f32,
    /// The L2 penalty added to the gradient, if any.
    pub weight_decay: Option<f32>,
    /// The momentum factor, if any: then the step keeps a velocity.
    pub momentum: Option<f32>,
    /// `1 - dampening`, the factor of the gradient in the velocity.
    pub undamped: f32,
    /// Nesterov's form of momentum.
    pub nesterov: bool,
}

/// The velocity of momentum SGD, when the step has one.
pub enum Velocity<'a> {
    /// Plain SGD.
    None,
    /// The first step: the velocity is set to the gradient.
    Start(&'a mut [f32]),
    /// Later steps: the velocity is updated from its last value.
    Continue(&'a mut [f32]),
}

/// Updates `weight` (and the velocity) in place with gradient `grad`.
pub fn step(rule: &SgdStep, weight: &mut [f32], grad: &[f32], velocity: Velocity<'_>) {
    assert_eq!(weight.len(), grad.len(), "a gradient for every weight");
    let start = matches!(velocity, Velocity::Start(_));
    match velocity {
        Velocity::None => weight
            .par_chunks_mut(BLOCK)
            .zip(grad.par_chunks(BLOCK))
            .for_each(|(w, g)| {
                vectorized(
                    #[inline(always)]
                    || plain(rule, w, g),
                )
            }),
        Velocity::Start(v) | Velocity::Continue(v) => {
            assert_eq!(v.len(), weight.len(), "a velocity for every weight");
            weight
                .par_chunks_mut(BLOCK)
                .zip(grad.par_chunks(BLOCK))
                .zip(v.par_chunks_mut(BLOCK))
                .for_each(|((w, g), v)| {
                    vectorized(
                        #[inline(always)]
                        || with_momentum(rule, w, g, v, start),
                    )
                })
        }
    }
}

#[inline(always)]
fn decayed(rule: &SgdStep, w: f32, g: f32) -> f32 {
    match rule.weight_decay {
        Some(penalty) => w * penalty + g,
        None => g,
    }
}

#[inline(always)]
fn plain(rule: &SgdStep, weight: &mut [f32], grad: &[f32]) {
    for (w, &g) in weight.iter_mut().zip(grad) {
        *w -= decayed(rule, *w, g) * rule.lr;
    }
}

#[inline(always)]
fn with_momentum(
    rule: &SgdStep,
    weight: &mut [f32],
    grad: &[f32],
    velocity: &mut [f32],
    start: bool,
) {
    let momentum = rule.momentum.unwrap_or(0.0);
    for ((w, &g), v) in weight.iter_mut().zip(grad).zip(velocity) {
        let g = decayed(rule, *w, g);
        *v = if start {
            g
        } else {
            g * rule.undamped + *v * momentum
        };
        let d = if rule.nesterov { *v * momentum + g } else { *v };
        *w -= d * rule.lr;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flex::test_values::{in_pool, values};

    /// burn's formulas, one operation after the other over whole arrays, as its tensor
    /// operations run them.
    fn by_passes(rule: &SgdStep, w: &mut [f32], g: &[f32], v: Option<(&mut [f32], bool)>) {
        let momentum = rule.momentum.unwrap_or(0.0);
        let mut g: Vec<f32> = match rule.weight_decay {
            None => g.to_vec(),
            Some(penalty) => {
                let scaled: Vec<f32> = w.iter().map(|w| w * penalty).collect();
                scaled.iter().zip(g).map(|(a, b)| a + b).collect()
            }
        };
        if let Some((v, start)) = v {
            if start {
                v.copy_from_slice(&g);
            } else {
                let a: Vec<f32> = g.iter().map(|g| g * rule.undamped).collect();
                let b: Vec<f32> = v.iter().map(|v| v * momentum).collect();
                v.iter_mut()
                    .zip(a.iter().zip(&b))
                    .for_each(|(v, (a, b))| *v = a + b);
            }
            g = if rule.nesterov {
                let m: Vec<f32> = v.iter().map(|v| v * momentum).collect();
                m.iter().zip(&g).map(|(a, b)| a + b).collect()
            } else {
                v.to_vec()
            };
        }
        let delta: Vec<f32> = g.iter().map(|g| g * rule.lr).collect();
        w.iter_mut().zip(&delta).for_each(|(w, d)| *w -= d);
    }

    #[test]
    fn one_pass_is_bit_identical_to_the_passes_in_every_form() {
        // Three blocks and a bit, so that the threads split it.
        let len = 3 * BLOCK + 17;
        let grad = values(len, 1);
        for (weight_decay, momentum, nesterov) in [
            (None, None, false),
            (Some(5e-4), None, false),
            (None, Some(0.9), false),
            (Some(1e-4), Some(0.9), true),
        ] {
            let rule = SgdStep {
                lr: 0.05,
                weight_decay,
                momentum,
                undamped: 0.75,
                nesterov,
            };
            let (mut fast, mut slow) = (values(len, 2), values(len, 2));
            let (mut v_fast, mut v_slow) = (vec![0.0; len], vec![0.0; len]);
            for round in 0..3 {
                let velocity = match (momentum, round) {
                    (None, _) => Velocity::None,
                    (Some(_), 0) => Velocity::Start(&mut v_fast),
                    (Some(_), _) => Velocity::Continue(&mut v_fast),
                };
                in_pool(2, || step(&rule, &mut fast, &grad, velocity));
                let v = momentum.map(|_| (&mut v_slow[..], round == 0));
                by_passes(&rule, &mut slow, &grad, v);
                let what = format!("decay {weight_decay:?}, momentum {momentum:?}, round {round}");
                assert!(
                    fast.iter()
                        .zip(&slow)
                        .all(|(a, b)| a.to_bits() == b.to_bits()),
                    "{what}: weights"
                );
                assert!(
                    v_fast
                        .iter()
                        .zip(&v_slow)
                        .all(|(a, b)| a.to_bits() == b.to_bits()),
                    "{what}: velocity"
                );
            }
            assert_ne!(fast, values(len, 2), "the weights moved");
        }
    }
}
