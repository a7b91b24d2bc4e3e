//! Training and evaluation: the `train_ch5` loop, test accuracy, checkpoints.

pub mod checkpoint;
pub mod evaluate;
pub mod fit;

pub use checkpoint::{CheckpointError, CheckpointMeta, TrainingState};
pub use evaluate::{evaluate, evaluate_with, EvalReport};
pub use fit::{train, EpochReport, Silent, TrainConfig, TrainObserver, TrainOutcome};
