//! Training recipes: the optimizer, learning rate, batch, epochs and image size a network
//! trains with by default (a network file's `[recipe]`).

use serde::{Deserialize, Serialize};

/// Optimizers offered on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OptimizerKind {
    /// Plain mini-batch SGD, as Gluon's `'sgd'` trainer.
    Sgd,
    /// Adam (betas 0.9, 0.999; eps 1e-8 as in PyTorch).
    Adam,
    /// AdamW: Adam with decoupled weight decay (`--weight-decay`, e.g. 0.01).
    #[serde(rename = "adamw")]
    AdamW,
}

impl OptimizerKind {
    /// Every optimizer.
    pub const ALL: [OptimizerKind; 3] = [
        OptimizerKind::Sgd,
        OptimizerKind::Adam,
        OptimizerKind::AdamW,
    ];

    pub fn name(self) -> &'static str {
        match self {
            OptimizerKind::Sgd => "sgd",
            OptimizerKind::Adam => "adam",
            OptimizerKind::AdamW => "adamw",
        }
    }
}

/// A training recipe: the defaults of `inception train` for a network (a network file's
/// `[recipe]`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Recipe {
    pub optimizer: OptimizerKind,
    pub lr: f64,
    pub batch_size: usize,
    pub epochs: usize,
    /// The side images are resized to.
    pub resize: usize,
}
