//! Issue 5's reproducibility: the same seed on the same machine and thread count gives the same
//! run, bit for bit, with every random part on (augmentation, dropout, shuffling, a warm-up and
//! cosine schedule, momentum); a run stopped and resumed matches one that was not.

mod common;

use burn::tensor::Device;
use inception::data::{Augmentation, FashionMnist, Split};
use inception::models::{ModelConfig, ModelKind, OptimizerKind};
use inception::train::{
    resume, train_model, EpochReport, OptimSettings, Progress, Schedule, Silent, TrainConfig,
    TrainObserver,
};

fn config(seed: u64, out: Option<std::path::PathBuf>) -> TrainConfig {
    // Every random choice in play: shuffling, augmentation, the warm-up and schedule.
    TrainConfig {
        optimizer: OptimizerKind::Sgd,
        lr: 0.1,
        optim: OptimSettings {
            momentum: 0.9,
            nesterov: true,
            weight_decay: 5e-4,
            clip_grad_norm: Some(5.0),
            schedule: Schedule::Cosine { min_lr: 0.001 },
            warmup_epochs: 0.5,
        },
        augment: Augmentation {
            hflip: true,
            crop_padding: 2,
            resized_crop: None,
            brightness: 0.2,
            contrast: 0.2,
        },
        batch_size: 32,
        epochs: 3,
        seed,
        limit_train: Some(256),
        limit_test: Some(128),
        out_dir: out,
        keep_checkpoints: 1,
        log_every: 2,
        ..TrainConfig::new(ModelConfig::new(ModelKind::Lenet))
    }
}

/// burn's random generator is one per device and process: two runs in parallel threads would
/// draw from it in turn. The tests of this file take turns.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn data() -> FashionMnist {
    FashionMnist::load(&common::fashion_mnist_dir(), Split::Test).unwrap()
}

/// Every figure of every epoch but the timings, as bits.
fn losses(epochs: &[EpochReport]) -> Vec<[u64; 5]> {
    epochs
        .iter()
        .map(|e| [e.loss, e.train_acc, e.test_acc, e.test_loss, e.lr].map(f64::to_bits))
        .collect()
}

/// Any number of loader threads gives the same run: the same batches in the same order, each
/// example augmented with its own seed (0 makes the batches on the training thread).
#[test]
fn any_number_of_loader_workers_gives_the_same_run() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let data = data();
    let run = |workers| {
        let config = TrainConfig {
            workers,
            epochs: 2,
            ..config(7, None)
        };
        let outcome = train_model(&config, &data, &data, &Device::flex(), &mut Silent).unwrap();
        (
            losses(&outcome.epochs),
            inception::interop::state_dict(&outcome.model),
        )
    };
    let (one, weights_one) = run(1);
    for workers in [0, 3] {
        let (other, weights) = run(workers);
        assert_eq!(one, other, "{workers} workers: another history");
        assert_eq!(weights_one, weights, "{workers} workers: other weights");
    }
}

#[test]
fn same_seed_same_history_bit_for_bit() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let data = data();
    let run = |seed| {
        train_model(
            &config(seed, None),
            &data,
            &data,
            &Device::flex(),
            &mut Silent,
        )
        .unwrap()
    };
    let (a, b, c) = (run(7), run(7), run(8));
    assert_eq!(losses(&a.epochs), losses(&b.epochs));
    assert_ne!(
        losses(&a.epochs),
        losses(&c.epochs),
        "another seed, another run"
    );
    // The schedule warmed up, then decayed: the last epoch ends near min_lr.
    let last_lr = a.epochs.last().unwrap().lr;
    assert!((0.001..0.01).contains(&last_lr), "{last_lr}");
    assert!(a.epochs[0].loss.is_finite());
}

/// Stops the run after `after` steps, as Ctrl-C does.
struct StopAfter {
    steps: usize,
    after: usize,
}

impl TrainObserver for StopAfter {
    fn batch_done(&mut self, _images: usize) {
        self.steps += 1;
    }
    fn stop_requested(&mut self) -> bool {
        self.steps == self.after
    }
}

#[test]
fn stopped_and_resumed_equals_uninterrupted() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let data = data();
    let device = Device::flex();
    let whole_dir = tempfile::tempdir().unwrap();
    let whole = train_model(
        &config(3, Some(whole_dir.path().into())),
        &data,
        &data,
        &device,
        &mut Silent,
    )
    .unwrap();

    // Stopped in the warm-up of epoch 1 (step 3 of 8), then in epoch 2 after 5 more steps.
    let dir = tempfile::tempdir().unwrap();
    let stopped = train_model(
        &config(3, Some(dir.path().into())),
        &data,
        &data,
        &device,
        &mut StopAfter { steps: 0, after: 3 },
    );
    assert!(stopped.is_err());
    let again = resume(
        dir.path(),
        &data,
        &data,
        &device,
        &mut StopAfter { steps: 0, after: 7 },
    );
    assert!(again.is_err());
    let resumed = resume(dir.path(), &data, &data, &device, &mut Silent).unwrap();
    assert_eq!(losses(&whole.epochs), losses(&resumed.epochs));

    // The saved histories (every step's running loss and learning rate) agree too.
    let history = |d: &std::path::Path| -> Progress {
        let ckpt = d.join("model.ckpt");
        let meta = inception::train::checkpoint::read_meta(&ckpt).unwrap();
        meta.training.unwrap().progress
    };
    let (a, b) = (history(whole_dir.path()), history(dir.path()));
    assert_eq!(a.steps, b.steps);
    assert_eq!(a.global_step, 24);
    assert_eq!(
        std::fs::read(whole_dir.path().join("steps.csv")).unwrap(),
        std::fs::read(dir.path().join("steps.csv")).unwrap()
    );
}
