//! The training loop of d2l's `train_ch5`, for any [`Classifier`] on any [`ImageDataset`]:
//! mini-batch SGD (or Adam) on the mean cross-entropy (plus any auxiliary classifiers'), the
//! training loss and accuracy accumulated over the epoch, the test accuracy after it, and the
//! article's per-epoch line `epoch 1, loss 2.1157, train acc 0.210, test acc 0.511, time 154.6 sec`.
//!
//! ```no_run
//! use inception::data::{locate, FashionMnist, Split};
//! use inception::models::{ModelConfig, ModelKind};
//! use inception::train::{train_model, Silent, TrainConfig};
//! use burn::tensor::Device;
//!
//! let dir = locate(None, true).unwrap();
//! let (train_set, test_set) = (
//!     FashionMnist::load(&dir, Split::Train).unwrap(),
//!     FashionMnist::load(&dir, Split::Test).unwrap(),
//! );
//! let config = TrainConfig::new(ModelConfig::new(ModelKind::Lenet));
//! let outcome = train_model(&config, &train_set, &test_set, &Device::flex(), &mut Silent).unwrap();
//! println!("{}", outcome.epochs[0].line());
//! ```

use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::data::dataloader::DataLoader;
use burn::lr_scheduler::module_lr_scheduler::ModuleLrScheduler;
use burn::module::ParamGroup;
use burn::nn::loss::{CrossEntropyLoss, CrossEntropyLossConfig};
use burn::optim::{GradientsAccumulator, GradientsParams, ModuleOptimizer};
use burn::tensor::{Bytes, Device, Tensor};

use super::checkpoint::{self, CheckpointError, TrainingState};
use super::error::TrainError;
use super::evaluate::{evaluate, gather_across, EvalReport};
use super::optim;
use super::param_groups;
use super::run_dir::RunDir;
use super::state::{EpochReport, Progress, StepLoss, TrainConfig, TrainObserver, TrainOutcome};
use super::unread::UnreadSteps;
use crate::data::{check_channels, data_loader, ImageBatch, ImageDataset, LoaderOptions};
use crate::device::is_flex;
use crate::distributed::{average_gradients, with_gradients_averaged_on_device, Collective, Solo};
use crate::flex;
use crate::models::Model;
use crate::nn::params::initialize_now;
use crate::nn::{all_finite, Classifier};

/// Held while a thread seeds its device and draws a network's first weights.
static FIRST_WEIGHTS: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Trains `network` as `config` says, on the autodiff version of `device`, and returns it
/// trained. `config.model` says what the checkpoints record of the network: a network file
/// (rebuilt by [`resume`], `eval` and `predict`) or the name of a network written in Rust
/// (resumed with [`resume_with`]).
///
/// The same configuration on the same machine and thread count gives the same run, bit for
/// bit, when the network's parameters are drawn lazily (burn's initializers do): the loop
/// seeds the device with `config.seed` and then draws them. burn keeps one random generator
/// per device for the whole process, so that holds for one run at a time in a process.
pub fn train<N: Classifier, D: ImageDataset>(
    network: N,
    config: &TrainConfig,
    train_set: &D,
    test_set: &D,
    device: &Device,
    observer: &mut dyn TrainObserver,
) -> Result<TrainOutcome<N>, TrainError> {
    train_across(
        network, config, train_set, test_set, device, observer, &Solo,
    )
}

/// As [`train`], as one of the ranks of `world` that train the network together
/// (data-parallel, [`crate::distributed`]): `config.batch_size` is the global batch, each rank
/// computes on its `1 / world.size()` of it, and the gradients are averaged across ranks
/// every step. Only rank 0 writes the run directory; every rank returns the same network.
pub fn train_across<N: Classifier, D: ImageDataset>(
    network: N,
    config: &TrainConfig,
    train_set: &D,
    test_set: &D,
    device: &Device,
    observer: &mut dyn TrainObserver,
    world: &dyn Collective,
) -> Result<TrainOutcome<N>, TrainError> {
    config.validate().map_err(TrainError::Invalid)?;
    let train_device = device.clone().autodiff();
    let model = {
        // One thread at a time: the threads of one process training on several devices may
        // share a device and its generator (`cpu,cpu`), and each must draw the same weights.
        let _turn = FIRST_WEIGHTS
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        train_device.seed(config.seed);
        let model = network.train().fork(&train_device);
        // Drawn now, so that the random numbers of later steps depend on the step alone.
        initialize_now(&model);
        model
    };
    observer.run_started(config, None);
    let model = match &config.init_from {
        Some(source) => {
            let (model, report) = super::init_from::initial_weights(model, source)?;
            observer.weights_loaded(source, &report);
            model
        }
        None => model,
    };
    let start = Start {
        model,
        optimizer: Vec::new(),
        progress: Progress::default(),
    };
    run(
        config,
        start,
        train_set,
        test_set,
        &train_device,
        observer,
        world,
    )
}

/// Builds `config.model` (a zoo model or a network file) and trains it: [`train`] for the
/// networks `inception train` knows.
pub fn train_model<D: ImageDataset>(
    config: &TrainConfig,
    train_set: &D,
    test_set: &D,
    device: &Device,
    observer: &mut dyn TrainObserver,
) -> Result<TrainOutcome<Model>, TrainError> {
    train_model_across(config, train_set, test_set, device, observer, &Solo)
}

/// As [`train_model`], as one of the ranks of `world` ([`train_across`]).
pub fn train_model_across<D: ImageDataset>(
    config: &TrainConfig,
    train_set: &D,
    test_set: &D,
    device: &Device,
    observer: &mut dyn TrainObserver,
    world: &dyn Collective,
) -> Result<TrainOutcome<Model>, TrainError> {
    config.validate().map_err(TrainError::Invalid)?;
    // Built lazily: `train` seeds the device and then draws the weights.
    let model = config
        .model
        .build(&device.clone().autodiff())
        .map_err(|e| TrainError::Invalid(e.to_string()))?;
    train_across(model, config, train_set, test_set, device, observer, world)
}

/// Continues the run saved in the run directory `run_dir` (by [`train`] or [`train_model`] on
/// a network file or zoo model) from its furthest complete checkpoint to the end of its
/// epochs, exactly as if it had never stopped: the same batches, dropout masks and optimizer
/// state, so the same weights and losses, bit for bit. Checkpoints keep going to `run_dir`,
/// wherever the run was started.
pub fn resume<D: ImageDataset>(
    run_dir: &Path,
    train_set: &D,
    test_set: &D,
    device: &Device,
    observer: &mut dyn TrainObserver,
) -> Result<TrainOutcome<Model>, TrainError> {
    resume_across(run_dir, train_set, test_set, device, observer, &Solo)
}

/// As [`resume`], as one of the ranks of `world` ([`train_across`]): every rank reads the
/// checkpoint rank 0 wrote, with any number of ranks (the shards follow the global batch,
/// which the checkpoint records).
pub fn resume_across<D: ImageDataset>(
    run_dir: &Path,
    train_set: &D,
    test_set: &D,
    device: &Device,
    observer: &mut dyn TrainObserver,
    world: &dyn Collective,
) -> Result<TrainOutcome<Model>, TrainError> {
    let train_device = device.clone().autodiff();
    let (path, saved) = resume_point(run_dir, world)?;
    let loaded = checkpoint::load_all(&path, &train_device)?;
    let start = (path, loaded.model, saved);
    continue_run(run_dir, start, train_set, test_set, observer, world)
}

/// As [`resume`], for a network written in Rust: `network` (built as the run built it) gets
/// the checkpoint's weights.
pub fn resume_with<N: Classifier, D: ImageDataset>(
    run_dir: &Path,
    network: N,
    train_set: &D,
    test_set: &D,
    device: &Device,
    observer: &mut dyn TrainObserver,
) -> Result<TrainOutcome<N>, TrainError> {
    let train_device = device.clone().autodiff();
    let (path, saved) = resume_point(run_dir, &Solo)?;
    let network = network.train().fork(&train_device);
    let (network, _) = checkpoint::load_into(&path, network)?;
    let start = (path, network, saved);
    continue_run(run_dir, start, train_set, test_set, observer, &Solo)
}

/// The checkpoint a run resumes from, with its training state and optimizer.
fn resume_point(run_dir: &Path, world: &dyn Collective) -> Result<(PathBuf, Saved), TrainError> {
    let dir = RunDir::new(run_dir, 0);
    let path = dir.resume_point().map_err(TrainError::Invalid)?;
    if world.is_root() {
        dir.remove_stale_temporaries();
    }
    let parts = checkpoint::read_parts(&path)?;
    let Some(state) = parts.meta.training else {
        return Err(TrainError::Invalid(format!(
            "{} holds a model but no training run to resume",
            path.display()
        )));
    };
    Ok((
        path,
        Saved {
            state,
            optimizer: parts.optimizer,
        },
    ))
}

/// What a checkpoint holds of a run besides the weights.
struct Saved {
    state: TrainingState,
    optimizer: Vec<u8>,
}

fn continue_run<N: Classifier, D: ImageDataset>(
    run_dir: &Path,
    (path, model, saved): (PathBuf, N, Saved),
    train_set: &D,
    test_set: &D,
    observer: &mut dyn TrainObserver,
    world: &dyn Collective,
) -> Result<TrainOutcome<N>, TrainError> {
    let Saved { state, optimizer } = saved;
    let mut config = state.config;
    config.out_dir = Some(run_dir.to_path_buf());
    config.validate().map_err(TrainError::Invalid)?;
    let train_device = model
        .devices()
        .into_iter()
        .next()
        .ok_or_else(|| TrainError::Invalid("the network has no parameters".into()))?;
    observer.run_started(&config, Some((&path, &state.progress)));
    let start = Start {
        model,
        optimizer,
        progress: state.progress,
    };
    run(
        &config,
        start,
        train_set,
        test_set,
        &train_device,
        observer,
        world,
    )
}

/// The state a run starts from.
struct Start<N> {
    model: N,
    /// burnpack bytes of the optimizer's state; empty for a fresh one.
    optimizer: Vec<u8>,
    progress: Progress,
}

/// The run's latest checkpoint (`model.ckpt` in its run directory), if it saves any.
fn latest(config: &TrainConfig) -> Option<PathBuf> {
    RunDir::of(config).map(|dir| dir.latest())
}

/// `model` with the parameters `config.freeze` names frozen, and burn's groups of the
/// parameters of `config.lr_groups` with their multipliers (said to `observer`). Done at the
/// start of every run, fresh or resumed: neither is part of a checkpoint.
fn parameter_groups<N: Classifier>(
    config: &TrainConfig,
    model: N,
    observer: &mut dyn TrainObserver,
) -> Result<(N, Vec<(ParamGroup, f64)>), TrainError> {
    let model = if config.freeze.is_empty() {
        model
    } else {
        let (model, frozen) =
            param_groups::freeze(model, &config.freeze).map_err(TrainError::Invalid)?;
        observer.params_grouped("frozen", 0.0, &frozen);
        model
    };
    let mut groups = Vec::new();
    for group in &config.lr_groups {
        let selected = group
            .params
            .select(&model, "lr_groups")
            .map_err(TrainError::Invalid)?;
        observer.params_grouped(&group.params.describe(), group.lr_mult, &selected);
        groups.push((selected.group(), group.lr_mult));
    }
    Ok((model, groups))
}

/// A seed for step `step` of a run seeded `seed` (splitmix64's finalizer, so neighbouring steps
/// get unrelated streams).
fn mix(seed: u64, salt: u64, step: u64) -> u64 {
    let mut z = seed ^ salt.wrapping_add(step.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The shuffle seed of epoch `epoch` (1-based).
fn epoch_seed(seed: u64, epoch: usize) -> u64 {
    mix(seed, 0x5348_5546_464c_4521, epoch as u64)
}

/// The seed of the random numbers (dropout) of optimizer step `step`.
fn step_seed(seed: u64, step: u64) -> u64 {
    mix(seed, 0x4452_4f50_4f55_5421, step)
}

/// With `sync_bn` on several ranks, batch norm's statistics summed across them for the whole
/// run (the guard ends it); nothing otherwise.
fn sync_batch_norm(
    config: &TrainConfig,
    device: &Device,
    world: &dyn Collective,
) -> Result<Option<flex::SyncBatchNorm>, TrainError> {
    if !config.sync_bn || world.size() == 1 {
        return Ok(None);
    }
    if !is_flex(device) || !flex::fast_path() {
        return Err(TrainError::Invalid(
            "`sync_bn` synchronizes batch norm inside the CPU backend's fused batch-norm \
             kernel: train on the CPU device with the fast path on, or leave `sync_bn` off \
             (each rank's own statistics)"
                .to_string(),
        ));
    }
    let sum = world.shared_sum_f64().ok_or_else(|| {
        TrainError::Invalid(format!(
            "`sync_bn` needs sums across ranks during the backward pass, which {} cannot give",
            world.describe()
        ))
    })?;
    Ok(Some(flex::sync_batch_norm(sum)))
}

/// One run from its start to its last epoch: what stays the same from step to step.
struct Run<'a, D> {
    config: &'a TrainConfig,
    train_set: &'a D,
    test_set: &'a D,
    train_device: &'a Device,
    /// The run directory, on rank 0 of a data-parallel run (the one rank that writes).
    run_dir: Option<RunDir>,
    /// The ranks training together (one for a single process).
    world: &'a dyn Collective,
    loss_fn: CrossEntropyLoss,
    steps_per_epoch: usize,
    /// Read the loss and accuracy from the device every this many steps.
    read_every: usize,
}

/// What changes from step to step: the network, the optimizer and its schedule, where the run
/// stands.
struct Trainer<N> {
    model: N,
    optim: ModuleOptimizer,
    schedule: ModuleLrScheduler,
    /// The learning rate of the last step.
    lr: f64,
    progress: Progress,
    /// Steps whose loss and accuracy are still on the device.
    unread: UnreadSteps,
    /// This epoch's steps on this process, their seconds, and the seconds of those spent
    /// averaging gradients across ranks.
    timing: StepTiming,
}

/// How long this epoch's steps took, and how much of it went to the all-reduce.
#[derive(Debug, Default, Clone, Copy)]
struct StepTiming {
    steps: usize,
    seconds: f64,
    averaging: f64,
}

/// The clock of an epoch; seconds spent in it before a resume count too.
struct EpochClock {
    start: Instant,
    before: f64,
}

impl EpochClock {
    fn start(progress: &Progress) -> Self {
        Self {
            start: Instant::now(),
            before: progress.train_seconds,
        }
    }

    fn seconds(&self) -> f64 {
        self.before + self.start.elapsed().as_secs_f64()
    }
}

fn run<N: Classifier, D: ImageDataset>(
    config: &TrainConfig,
    start: Start<N>,
    train_set: &D,
    test_set: &D,
    train_device: &Device,
    observer: &mut dyn TrainObserver,
    world: &dyn Collective,
) -> Result<TrainOutcome<N>, TrainError> {
    if !config.batch_size.is_multiple_of(world.size()) {
        return Err(TrainError::Invalid(format!(
            "the batch size {} (the global batch of all ranks) does not split evenly into {} ranks: \
             choose a multiple of {}",
            config.batch_size,
            world.size(),
            world.size()
        )));
    }
    for set in [train_set, test_set] {
        check_channels(set.channels(), config.model.input[0])
            .map_err(|e| TrainError::Invalid(format!("{}: {e}", set.name())))?;
    }
    let _synced = sync_batch_norm(config, train_device, world)?;
    let run = Run {
        config,
        train_set,
        test_set,
        train_device,
        run_dir: RunDir::of(config).filter(|_| world.is_root()),
        world,
        loss_fn: CrossEntropyLossConfig::new().init(train_device),
        steps_per_epoch: config.steps_per_epoch(train_set.len()),
        read_every: config
            .read_every
            .unwrap_or(if is_flex(train_device) { 1 } else { 10 }),
    };
    let mut trainer = run.trainer(start, observer)?;
    if world.averages_on_device() {
        trainer.model = with_gradients_averaged_on_device(trainer.model);
    }
    // In file order (one worker), so that predictions line up with the test images; each
    // rank of a data-parallel run evaluates its own share, every image once.
    let test_loader = data_loader(
        test_set,
        &LoaderOptions {
            shard: world.shard().unpadded(),
            ..LoaderOptions::evaluation(
                config.model.input,
                config.model.resize_mode,
                config.batch_size,
                config.limit_test,
            )
        },
        &train_device.clone().inner(),
    );
    let selection = config.selection();
    let mut stopped_early = false;
    for epoch in trainer.progress.epochs_done + 1..=config.epochs {
        // Checked before each epoch, so that a resumed run stops where the first one did.
        if let (Some(metric), Some(patience)) = (selection, config.early_stop) {
            if let Some((best, _)) =
                super::selection::stops_early(metric, patience, &trainer.progress.history)
            {
                observer.stopped_early(metric, patience, best);
                stopped_early = true;
                break;
            }
        }
        let clock = EpochClock::start(&trainer.progress);
        trainer = run.train_epoch(trainer, epoch, &clock, observer)?;
        let train_seconds = clock.seconds();
        observer.evaluating(test_loader.num_items());
        let eval = run.evaluate(&trainer, test_loader.as_ref(), epoch)?;
        let progress = &trainer.progress;
        let seen = progress.seen.max(1) as f64;
        let report = EpochReport {
            epoch,
            loss: progress.loss_sum / seen,
            train_acc: progress.correct as f64 / seen,
            test_acc: eval.accuracy,
            test_loss: eval.loss,
            seconds: clock.seconds(),
            images_per_sec: progress.seen as f64 / train_seconds,
            lr: trainer.lr,
            step_seconds: progress.step_seconds,
        };
        trainer.progress = trainer.progress.next_epoch(report.clone());
        let best = selection.and_then(|metric| {
            let (epoch_best, value) = metric.best(&trainer.progress.history)?;
            (epoch_best == epoch).then_some((metric, value))
        });
        run.save(&trainer, best.is_some(), observer)?;
        run.draw_figures(&trainer.progress, &eval, observer);
        observer.epoch_done(&report);
        if let Some((metric, value)) = best {
            let path = run.run_dir.as_ref().map(RunDir::best);
            observer.new_best(metric, value, path.as_deref());
        }
    }
    Ok(TrainOutcome {
        best: selection.and_then(|metric| metric.best(&trainer.progress.history)),
        model: trainer.model.valid(),
        epochs: trainer.progress.history,
        stopped_early,
    })
}

impl<D: ImageDataset> Run<'_, D> {
    /// The trainer a run starts with: a fresh optimizer or the saved one, the schedule caught
    /// up with the steps already done.
    fn trainer<N: Classifier>(
        &self,
        start: Start<N>,
        observer: &mut dyn TrainObserver,
    ) -> Result<Trainer<N>, TrainError> {
        let config = self.config;
        let (model, groups) = parameter_groups(config, start.model, observer)?;
        let mut optim = optim::optimizer(config.optimizer, &config.optim);
        if !start.optimizer.is_empty() {
            optim = optim
                .from_bytes(Bytes::from_bytes_vec(start.optimizer))
                .map_err(|e| TrainError::Invalid(format!("unreadable optimizer state: {e}")))?;
        }
        let mut schedule = optim::grouped_scheduler(
            config.lr,
            &config.optim,
            config.epochs,
            self.steps_per_epoch,
            &groups,
        )
        .map_err(TrainError::Invalid)?;
        // The schedule depends on the step alone.
        let mut lr = config.lr;
        for _ in 0..start.progress.global_step {
            lr = schedule.step().base();
        }
        Ok(Trainer {
            model,
            optim,
            schedule,
            lr,
            progress: start.progress,
            unread: UnreadSteps::default(),
            timing: StepTiming::default(),
        })
    }

    /// One epoch of optimizer steps, from where the run stands, with the checkpoints due in it;
    /// a stop request (Ctrl-C) saves and stops.
    fn train_epoch<N: Classifier>(
        &self,
        mut trainer: Trainer<N>,
        epoch: usize,
        clock: &EpochClock,
        observer: &mut dyn TrainObserver,
    ) -> Result<Trainer<N>, TrainError> {
        let config = self.config;
        trainer.timing = StepTiming::default();
        for batch in self.train_loader(epoch, &trainer.progress, observer).iter() {
            let batch = batch
                .map_err(|e| TrainError::Data(format!("reading a training batch failed: {e}")))?;
            let started = Instant::now();
            let images = batch.targets.dims()[0];
            trainer = self.step(trainer, batch)?;
            let seconds = started.elapsed().as_secs_f64();
            trainer.timing.steps += 1;
            trainer.timing.seconds += seconds;
            let progress = &mut trainer.progress;
            progress.step_seconds += seconds;
            // All ranks' images (each rank's local batches are the same size).
            observer.batch_done(images * self.world.size());
            // The epoch's end writes its own checkpoint a moment later.
            let epoch_ends = progress.step_in_epoch == self.steps_per_epoch;
            let due = !epoch_ends
                && config
                    .checkpoint_every
                    .is_some_and(|every| progress.global_step.is_multiple_of(every as u64));
            let logged = progress.global_step.is_multiple_of(config.log_every as u64);
            // A stop asked of any rank stops them all at the same step.
            let stop = self.world.any(observer.stop_requested());
            if trainer.unread.len() >= self.read_every || epoch_ends || due || logged || stop {
                self.read_steps(&mut trainer, epoch, observer)?;
            }
            if logged {
                let progress = &mut trainer.progress;
                progress.steps.push(StepLoss {
                    step: progress.global_step,
                    epoch,
                    loss: progress.loss_sum / progress.seen as f64,
                    lr: trainer.lr,
                });
            }
            if due || stop {
                let progress = &mut trainer.progress;
                progress.train_seconds = clock.seconds();
                self.save(&trainer, false, observer)?;
            }
            if stop {
                return Err(TrainError::Interrupted {
                    epoch,
                    step: trainer.progress.step_in_epoch,
                    checkpoint: latest(config),
                });
            }
        }
        if !trainer.unread.is_empty() {
            self.read_steps(&mut trainer, epoch, observer)?;
        }
        if self.world.size() > 1 {
            let StepTiming {
                steps,
                seconds,
                averaging,
            } = trainer.timing;
            observer.gradients_averaged(steps, averaging, seconds);
        }
        Ok(trainer)
    }

    /// The training batches of `epoch`, from where `progress` stands.
    fn train_loader(
        &self,
        epoch: usize,
        progress: &Progress,
        observer: &mut dyn TrainObserver,
    ) -> std::sync::Arc<dyn DataLoader<ImageBatch>> {
        let config = self.config;
        let local_batch = config.batch_size / self.world.size();
        let skip = progress.step_in_epoch * local_batch;
        let train_len = config
            .limit_train
            .map_or(self.train_set.len(), |l| l.min(self.train_set.len()));
        let done = progress.step_in_epoch * config.batch_size;
        observer.epoch_started(epoch, config.epochs, train_len, done.min(train_len));
        data_loader(
            self.train_set,
            &LoaderOptions {
                resize: config.model.input[1],
                resize_mode: config.model.resize_mode,
                channels: config.model.input[0],
                batch_size: local_batch,
                shuffle: Some(epoch_seed(config.seed, epoch)),
                skip,
                limit: config.limit_train,
                workers: config.workers,
                augmentation: config.augment.clone(),
                shard: self.world.shard(),
            },
            self.train_device,
        )
    }

    /// One optimizer step on `batch`: forward, loss, backward, update. Its loss and accuracy
    /// join the trainer's unread steps; nothing waits for the device.
    fn step<N: Classifier>(
        &self,
        trainer: Trainer<N>,
        batch: ImageBatch,
    ) -> Result<Trainer<N>, TrainError> {
        let Trainer {
            model,
            mut optim,
            mut schedule,
            mut progress,
            mut unread,
            mut timing,
            ..
        } = trainer;
        // Each rank draws its own dropout masks; rank 0 those of a single process.
        let rank = self.world.rank() as u64;
        let seed = step_seed(self.config.seed, progress.global_step)
            ^ rank.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        if self.world.shares_this_process() {
            // Threads of one process on several devices: each draws from a generator of its
            // own; seeding a device's, which they may share, would reach into another
            // thread's draws (its first weights, on `cpu,cpu`).
            crate::nn::seed_thread_masks(Some(seed));
        } else {
            self.train_device.seed(seed);
            if !is_flex(self.train_device) {
                // Dropout draws its masks on the CPU (`crate::nn::dropout`): the same ones as
                // a run on the CPU.
                Device::flex().seed(seed);
            }
        }
        let grads = match self.config.accumulate {
            1 => {
                let (logits, loss) = model
                    .forward_train(batch.images)
                    .loss(&self.loss_fn, &batch.targets);
                unread.push(logits, batch.targets, loss.clone());
                GradientsParams::from_grads(loss.backward(), &model)
            }
            slices => self.accumulated_grads(&model, batch, slices, &mut unread),
        };
        let averaging = Instant::now();
        // (With burn's collectives the backward pass has averaged them already.)
        let grads = if self.world.averages_on_device() {
            grads
        } else {
            average_gradients(&model, grads, self.world)
        };
        timing.averaging += averaging.elapsed().as_secs_f64();
        let rates = schedule.step();
        let lr = rates.base();
        let model = optim.step(rates, model, grads);
        progress.add_step();
        Ok(Trainer {
            model,
            optim,
            schedule,
            lr,
            progress,
            unread,
            timing,
        })
    }

    /// The gradients of the batch's mean loss, computed in `slices` slices one after another
    /// (`TrainConfig::accumulate`): each slice's mean loss is weighted by its share of the
    /// batch, so the sum of the slices' gradients is the whole batch's. Only one slice's
    /// activations are alive at a time.
    fn accumulated_grads<N: Classifier>(
        &self,
        model: &N,
        batch: ImageBatch,
        slices: usize,
        unread: &mut UnreadSteps,
    ) -> GradientsParams {
        let n = batch.targets.dims()[0];
        let size = n.div_ceil(slices);
        let mut accumulator = GradientsAccumulator::<N>::new();
        let (mut all_logits, mut loss_sum) = (Vec::new(), None);
        for start in (0..n).step_by(size) {
            let len = size.min(n - start);
            let images = batch.images.clone().narrow(0, start, len);
            let targets = batch.targets.clone().narrow(0, start, len);
            let (logits, loss) = model.forward_train(images).loss(&self.loss_fn, &targets);
            let loss = loss.mul_scalar(len as f64 / n as f64);
            all_logits.push(logits.detach());
            let part = loss.clone().detach();
            loss_sum = Some(match loss_sum {
                Some(sum) => part + sum,
                None => part,
            });
            accumulator.accumulate(model, GradientsParams::from_grads(loss.backward(), model));
        }
        let loss = loss_sum.expect("a batch has at least one image");
        unread.push(Tensor::cat(all_logits, 0), batch.targets, loss);
        accumulator.grads()
    }

    /// Reads the unread steps' loss and accuracy from the device into the epoch's sums; a loss
    /// that is not a finite number stops the run (before any checkpoint holds its weights).
    fn read_steps<N: Classifier>(
        &self,
        trainer: &mut Trainer<N>,
        epoch: usize,
        observer: &mut dyn TrainObserver,
    ) -> Result<(), TrainError> {
        let steps = trainer.unread.len();
        let read = trainer.unread.read().map_err(TrainError::Invalid)?;
        let progress = &mut trainer.progress;
        let diverged = read.first_non_finite();
        // The sums of all ranks (of this one alone in a single process), and whether any rank
        // diverged, so that every rank stops at the same step.
        let mut sums = [
            read.images.iter().sum::<usize>() as f64,
            read.correct as f64,
            read.loss_sum(),
            f64::from(u8::from(diverged.is_some())),
        ];
        self.world.sum_f64(&mut sums);
        let [images, correct, loss_sum, diverged_ranks] = sums;
        if diverged_ranks > 0.0 {
            let (k, loss) = diverged.unwrap_or((steps - 1, f64::NAN));
            return Err(TrainError::Diverged {
                loss,
                epoch,
                step: progress.step_in_epoch + 1 + k - steps,
                checkpoint: latest(self.config),
            });
        }
        progress.add_read(images as usize, correct as usize, loss_sum);
        if progress.seen > 0 {
            observer.loss_read(progress.loss_sum / progress.seen as f64);
        }
        Ok(())
    }

    /// The test loss and accuracy after `epoch`.
    fn evaluate<N: Classifier>(
        &self,
        trainer: &Trainer<N>,
        loader: &dyn DataLoader<ImageBatch>,
        epoch: usize,
    ) -> Result<EvalReport, TrainError> {
        let progress = &trainer.progress;
        let mut eval = evaluate(&trainer.model.valid(), loader).map_err(TrainError::Data)?;
        if self.world.size() > 1 {
            let (shard, classes) = (self.world.shard().unpadded(), self.config.model.num_classes);
            eval = gather_across(eval, shard, classes, self.world);
        }
        if !eval.loss.is_finite() {
            return Err(TrainError::Diverged {
                loss: eval.loss,
                epoch,
                step: progress.step_in_epoch,
                checkpoint: latest(self.config),
            });
        }
        Ok(eval)
    }

    /// Writes a checkpoint and the run's history, if the run saves any.
    /// `best`: the weights are also the run's best so far (`best.ckpt`).
    fn save<N: Classifier>(
        &self,
        trainer: &Trainer<N>,
        best: bool,
        observer: &mut dyn TrainObserver,
    ) -> Result<(), TrainError> {
        let Trainer {
            model,
            optim,
            progress,
            ..
        } = trainer;
        let Some(dir) = &self.run_dir else {
            return Ok(());
        };
        // A step on a finite loss can still overflow the weights: never save those.
        if !all_finite(model) {
            return Err(TrainError::Diverged {
                loss: f64::NAN,
                epoch: progress.epochs_done + 1,
                step: progress.step_in_epoch,
                checkpoint: latest(self.config),
            });
        }
        let optimizer = optim
            .into_bytes()
            .map_err(|e| TrainError::Invalid(format!("cannot serialize the optimizer: {e}")))?;
        let state = TrainingState {
            config: self.config.clone(),
            progress: progress.clone(),
        };
        let latest = dir.save(&model.valid(), &self.config.model, state, &optimizer, best)?;
        let root = dir.root();
        super::metrics::write(root, progress).map_err(|error| CheckpointError::Write {
            path: root.join("metrics.csv"),
            error,
        })?;
        observer.checkpoint_saved(&latest, progress);
        Ok(())
    }

    /// The run's figures and the test evaluation's report (`eval.json`, `per_class.csv`)
    /// after an epoch (a failure is a warning: training goes on).
    fn draw_figures(
        &self,
        progress: &Progress,
        eval: &EvalReport,
        observer: &mut dyn TrainObserver,
    ) {
        let Some(dir) = &self.run_dir else {
            return;
        };
        let figures = crate::plot::RunFigures {
            history: &progress.history,
            steps: &progress.steps,
            eval,
            test_set: self.test_set,
            steps_per_epoch: self.steps_per_epoch,
            class_names: self.test_set.class_names(),
        };
        if let Err(e) = figures.draw(dir.root()) {
            observer.warning(&format!("cannot draw the plots: {e}"));
        }
        let names = self.config.model.class_names();
        let summary = super::report::EvalSummary::new(&self.config.model.name, eval, &names);
        if let Err(e) = summary.write(dir.root()) {
            observer.warning(&format!("cannot write eval.json and per_class.csv: {e}"));
        }
    }
}
