//! The training loop of d2l's `train_ch5`: mini-batch SGD (or Adam) on the mean cross-entropy,
//! the training loss and accuracy accumulated over the epoch, the test accuracy after it, and the
//! seed's per-epoch line `epoch 1, loss 2.1157, train acc 0.210, test acc 0.511, time 154.6 sec`.

use std::path::PathBuf;
use std::time::Instant;

use burn::module::Module;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::{AdamConfig, GradientsParams, SgdConfig};
use burn::tensor::Device;
use serde::{Deserialize, Serialize};

use super::checkpoint::{self, TrainingState};
use super::evaluate::{batch_stats, evaluate, EvalReport};
use crate::data::{data_loader, FashionMnist, LoaderOptions};
use crate::models::{Model, ModelConfig, OptimizerKind};

/// The largest image side accepted (larger ones would only exhaust memory).
pub const MAX_SIDE: usize = 1024;

/// Everything that defines a training run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    pub model: ModelConfig,
    pub optimizer: OptimizerKind,
    pub lr: f64,
    pub batch_size: usize,
    pub epochs: usize,
    /// Seeds weight initialization and shuffling.
    pub seed: u64,
    /// Train on the first N training images only.
    pub limit_train: Option<usize>,
    /// Evaluate on the first N test images only.
    pub limit_test: Option<usize>,
    /// Data-loading worker threads.
    pub workers: usize,
    /// Where checkpoints go (`model.ckpt`); `None` saves nothing.
    pub out_dir: Option<PathBuf>,
}

impl TrainConfig {
    /// Checks the numbers a person may get wrong, with a message saying which.
    pub fn validate(&self) -> Result<(), String> {
        if self.batch_size == 0 {
            return Err("--batch-size must be at least 1".into());
        }
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return Err(format!("--lr must be a positive number, got {}", self.lr));
        }
        if self.epochs == 0 {
            return Err("--epochs must be at least 1".into());
        }
        let [channels, height, width] = self.model.input;
        if channels == 0 || !(1..=MAX_SIDE).contains(&height) || !(1..=MAX_SIDE).contains(&width) {
            return Err(format!(
                "input {channels}x{height}x{width} is not possible: sides (--resize) must be 1..={MAX_SIDE}"
            ));
        }
        if self.limit_train == Some(0) || self.limit_test == Some(0) {
            return Err("--limit-train / --limit-test must be at least 1".into());
        }
        Ok(())
    }

    /// Path of the checkpoint written after every epoch.
    pub fn checkpoint_path(&self) -> Option<PathBuf> {
        self.out_dir.as_ref().map(|d| d.join("model.ckpt"))
    }
}

/// One epoch's figures, as `train_ch5` prints them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochReport {
    pub epoch: usize,
    /// Mean training loss over the epoch's examples.
    pub loss: f64,
    pub train_acc: f64,
    pub test_acc: f64,
    pub test_loss: f64,
    /// Seconds for the epoch, training and testing.
    pub seconds: f64,
    /// Training images per second.
    pub images_per_sec: f64,
}

impl EpochReport {
    /// The seed's line: `epoch 1, loss 2.1157, train acc 0.210, test acc 0.511, time 154.6 sec`.
    pub fn line(&self) -> String {
        format!(
            "epoch {}, loss {:.4}, train acc {:.3}, test acc {:.3}, time {:.1} sec",
            self.epoch, self.loss, self.train_acc, self.test_acc, self.seconds
        )
    }
}

/// Where training progress goes (the CLI prints; tests collect).
pub trait TrainObserver {
    /// A new epoch of `images` images begins.
    fn epoch_started(&mut self, _epoch: usize, _epochs: usize, _images: usize) {}
    /// A batch of `images` images was trained on, with this mean loss.
    fn batch_done(&mut self, _images: usize, _loss: f64) {}
    /// The test set is being evaluated.
    fn evaluating(&mut self, _images: usize) {}
    /// The epoch is complete.
    fn epoch_done(&mut self, _report: &EpochReport) {}
}

/// An observer that ignores everything.
pub struct Silent;
impl TrainObserver for Silent {}

/// The outcome of a run.
#[derive(Debug)]
pub struct TrainOutcome {
    /// The trained model, on the inference device.
    pub model: Model,
    pub epochs: Vec<EpochReport>,
}

/// Trains a fresh model as `config` says, on the autodiff version of `device`.
pub fn train(
    config: &TrainConfig,
    train_set: &FashionMnist,
    test_set: &FashionMnist,
    device: &Device,
    observer: &mut dyn TrainObserver,
) -> Result<TrainOutcome, String> {
    config.validate()?;
    let train_device = device.clone().autodiff();
    train_device.seed(config.seed);
    let mut model = config
        .model
        .init(&train_device)
        .map_err(|e| e.to_string())?;
    let mut optim = match config.optimizer {
        OptimizerKind::Sgd => SgdConfig::new().init(),
        OptimizerKind::Adam => AdamConfig::new().with_epsilon(1e-8).init(),
    };
    let [channels, side, _] = config.model.input;
    let loader_options = |limit, shuffle| LoaderOptions {
        resize: side,
        channels,
        batch_size: config.batch_size,
        shuffle,
        limit,
        workers: config.workers,
    };
    let train_loader = data_loader(
        train_set,
        &loader_options(config.limit_train, Some(config.seed)),
        &train_device,
    );
    let test_loader = data_loader(test_set, &loader_options(config.limit_test, None), device);
    let loss_fn = CrossEntropyLossConfig::new().init(&train_device);

    let mut epochs = Vec::new();
    for epoch in 1..=config.epochs {
        let start = Instant::now();
        observer.epoch_started(epoch, config.epochs, train_loader.num_items());
        let (mut loss_sum, mut correct, mut seen) = (0.0f64, 0usize, 0usize);
        for batch in train_loader.iter() {
            let batch = batch.map_err(|e| format!("reading a training batch failed: {e}"))?;
            let n = batch.targets.dims()[0];
            // The main loss plus each auxiliary classifier's, weighted (0.3 for GoogLeNet-paper).
            let output = model.forward_train(batch.images);
            let logits = output.logits;
            let loss = output.aux.into_iter().fold(
                loss_fn.forward(logits.clone(), batch.targets.clone()),
                |loss, (weight, aux)| loss + loss_fn.forward(aux, batch.targets.clone()) * weight,
            );
            let (batch_correct, batch_loss) = batch_stats(&logits, &batch.targets, &loss);
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            model = crate::nn::tie_shared(optim.step(config.lr, model, grads));
            loss_sum += batch_loss * n as f64;
            correct += batch_correct;
            seen += n;
            observer.batch_done(n, batch_loss);
        }
        let train_seconds = start.elapsed().as_secs_f64();
        if !loss_sum.is_finite() {
            return Err(format!(
                "the training loss became {loss_sum} in epoch {epoch}: training diverged; try a lower --lr"
            ));
        }
        observer.evaluating(test_loader.num_items());
        let EvalReport {
            loss: test_loss,
            accuracy: test_acc,
            ..
        } = evaluate(&model.valid(), test_loader.as_ref())?;
        let report = EpochReport {
            epoch,
            loss: loss_sum / seen.max(1) as f64,
            train_acc: correct as f64 / seen.max(1) as f64,
            test_acc,
            test_loss,
            seconds: start.elapsed().as_secs_f64(),
            images_per_sec: seen as f64 / train_seconds,
        };
        if let Some(path) = config.checkpoint_path() {
            let state = TrainingState {
                epoch,
                optimizer: config.optimizer,
                lr: config.lr,
                batch_size: config.batch_size,
                seed: config.seed,
                test_acc: Some(test_acc),
            };
            checkpoint::save(&model.valid(), Some(state), &path).map_err(|e| e.to_string())?;
        }
        observer.epoch_done(&report);
        epochs.push(report);
    }
    Ok(TrainOutcome {
        model: model.valid(),
        epochs,
    })
}
