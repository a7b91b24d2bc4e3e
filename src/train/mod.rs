//! Training and evaluation: the `train_ch5` loop, test accuracy, checkpoints.

pub mod checkpoint;
pub mod evaluate;
pub mod fit;
pub mod metrics;
pub mod optim;
pub mod run_dir;

pub use checkpoint::{CheckpointError, CheckpointMeta, TrainingState};
pub use evaluate::{evaluate, evaluate_with, view_logits, Confusion, EvalReport, TestViews};
pub use fit::{
    resume, train, EpochReport, Progress, Silent, StepLoss, TrainConfig, TrainError, TrainObserver,
    TrainOutcome,
};
pub use optim::{OptimSettings, Schedule};
pub use run_dir::RunDir;
