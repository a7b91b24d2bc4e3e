//! Training and evaluation: the `train_ch5` loop over any network and dataset, its state,
//! test accuracy, checkpoints and resume, optimizers and schedules, the run's history.

pub mod checkpoint;
pub mod devices;
pub mod error;
pub mod evaluate;
pub mod fit;
pub mod init_from;
pub mod metrics;
pub mod optim;
pub mod param_groups;
pub mod report;
pub mod run_dir;
pub mod selection;
pub mod state;
pub mod unread;

pub use checkpoint::{CheckpointError, CheckpointMeta, TrainingState};
pub use devices::{resume_on_devices, train_model_on_devices};
pub use error::TrainError;
pub use evaluate::{evaluate, evaluate_with, view_logits, Confusion, EvalReport, TestViews};
pub use fit::{
    resume, resume_across, resume_with, train, train_across, train_model, train_model_across,
};
pub use optim::{OptimSettings, Schedule};
pub use param_groups::{LrGroup, ParamSelection, Selected};
pub use report::{ClassRow, EvalSummary};
pub use run_dir::RunDir;
pub use selection::SelectMetric;
pub use state::{
    EpochReport, Progress, Silent, StepLoss, TrainConfig, TrainObserver, TrainOutcome,
};
