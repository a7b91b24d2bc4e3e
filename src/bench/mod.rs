//! Training and inference throughput with the protocol of the PyTorch reference
//! (`../shared/bench/torch_googlenet.py`), so the two can be divided: input ~ N(0, 1) of shape
//! `(B, C, S, S)`, labels `i % classes` (`i % 10` for the reference's 10 classes); a training step is forward + mean softmax cross-entropy +
//! backward + SGD(lr 0.05); 2 warm-up steps, then the median of 10 timed steps; inference is the
//! forward pass alone. The device finishes its work before each clock reading.
//!
//! A benchmark may also start from a trained network on real images ([`BenchBatch::from_dataset`])
//! and count the subnormal numbers a step meets ([`Subnormals`]): `benches/late_epoch.sh` times
//! steps from an early and a late checkpoint that way.

pub mod loader;

use std::time::Instant;

use burn::module::{ModuleVisitor, Param};
use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::GradientsParams;
use burn::tensor::{Device, Distribution, Int, Tensor, TensorData};
use serde::Serialize;

use burn::data::dataloader::batcher::Batcher;
use burn::data::dataset::transform::Mapper;

use crate::data::{check_channels, ImageBatcher, ImageDataset, ResizeMode, ResizeToTensor};
use crate::flex::FusedSgd;
use crate::models::{Model, ModelConfig};
use crate::nn::params::initialize_now;
use crate::nn::Classifier;

/// What to measure.
#[derive(Debug, Clone)]
pub struct BenchOptions {
    /// The network (a zoo model or a network file); its input side is replaced by `side`.
    pub model: ModelConfig,
    pub batch: usize,
    /// Input side (square); the reference uses 96 (d2l's GoogLeNet on Fashion-MNIST).
    pub side: usize,
    pub warmup: usize,
    pub timed: usize,
    /// Also time each layer and the phases of a training step.
    pub profile: bool,
    /// How deep the profile's layers go: 1 lists the top-level blocks' layers (an Inception
    /// block as one row), 2 also the layers inside those (each convolution of the block).
    pub profile_depth: usize,
    /// The SGD learning rate of the training steps (the reference's is 0.05).
    pub lr: f64,
    /// Also count the subnormal numbers in the parameters, gradients and class probabilities
    /// after the timed steps.
    pub count_subnormals: bool,
}

impl BenchOptions {
    /// The reference's protocol for `model` at its own input side: batch 128, 2 warm-up and 10
    /// timed steps, SGD at 0.05.
    pub fn new(model: ModelConfig) -> Self {
        Self {
            side: model.input[1],
            model,
            batch: 128,
            warmup: 2,
            timed: 10,
            profile: false,
            profile_depth: 1,
            lr: 0.05,
            count_subnormals: false,
        }
    }
}

/// The images and labels every step of a benchmark computes on.
#[derive(Debug, Clone)]
pub struct BenchBatch {
    pub images: Tensor<4>,
    pub labels: Vec<i64>,
}

impl BenchBatch {
    /// The reference's batch: `batch` images drawn from N(0, 1), labels `i % classes`.
    pub fn random(batch: usize, input: [usize; 3], classes: usize, device: &Device) -> Self {
        let [c, h, w] = input;
        let images = Tensor::<4>::random([batch, c, h, w], Distribution::Normal(0.0, 1.0), device);
        let labels = (0..batch as i64).map(|i| i % classes as i64).collect();
        Self { images, labels }
    }

    /// The first `batch` examples of `dataset` as training sees them: through the loader's own
    /// transform (`ResizeToTensor`: resized to the input's side as `mode` says, scaled to
    /// [0, 1]) and batcher (`ImageBatcher`: the gray channel repeated to the input's channels).
    pub fn from_dataset<D: ImageDataset>(
        dataset: &D,
        batch: usize,
        input: [usize; 3],
        mode: ResizeMode,
        device: &Device,
    ) -> Result<Self, String> {
        let [channels, h, w] = input;
        check_channels(dataset.channels(), channels)
            .map_err(|e| format!("{}: {e}", dataset.name()))?;
        if h != w {
            return Err(format!(
                "the network's input is {h}x{w}; only square inputs are resized"
            ));
        }
        if dataset.len() < batch {
            return Err(format!(
                "`batch_size` is {batch} but {} has only {} examples",
                dataset.name(),
                dataset.len()
            ));
        }
        let transform = ResizeToTensor { side: h, mode };
        let items = (0..batch)
            .map(|i| match dataset.get(i) {
                Ok(raw) => Ok(transform.map(&raw)),
                Err(e) => Err(format!("{}: example {i}: {e}", dataset.name())),
            })
            .collect::<Result<Vec<_>, String>>()?;
        let labels = items.iter().map(|item| i64::from(item.label)).collect();
        let images = ImageBatcher { channels }.batch(items, device).images;
        Ok(Self { images, labels })
    }
}

/// How many of the numbers a training step meets are subnormal (nonzero, smaller in magnitude
/// than `f32::MIN_POSITIVE`): arithmetic on them is up to 100 times slower on some CPUs.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Subnormals {
    /// Parameters and buffers (batch-norm statistics).
    pub params: SubnormalCount,
    /// The parameters' gradients of one step.
    pub grads: SubnormalCount,
    /// The softmax probabilities of the batch (tiny for the wrong classes of a confident model).
    pub probabilities: SubnormalCount,
}

#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct SubnormalCount {
    pub subnormal: usize,
    pub values: usize,
}

impl SubnormalCount {
    fn add(&mut self, values: &[f32]) {
        self.values += values.len();
        self.subnormal += values.iter().filter(|v| v.is_subnormal()).count();
    }

    fn of(values: &[f32]) -> Self {
        let mut count = Self::default();
        count.add(values);
        count
    }
}

/// The result, with the reference's JSON keys (and a few more).
#[derive(Debug, Clone, Serialize)]
pub struct BenchReport {
    pub framework: String,
    pub model: String,
    pub batch: usize,
    pub threads: usize,
    pub train_ms: f64,
    pub train_img_s: f64,
    pub eval_ms: f64,
    pub eval_img_s: f64,
    /// The process's peak resident memory (Linux), MiB.
    pub peak_rss_mb: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profile: Option<Profile>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subnormals: Option<Subnormals>,
}

/// Where the time of a step goes.
#[derive(Debug, Clone, Serialize)]
pub struct Profile {
    /// Median milliseconds of forward (with the loss), backward and optimizer update.
    pub train_phases: Vec<(String, f64)>,
    /// Each layer's share of one inference forward pass, top-level blocks and their children.
    pub layers: Vec<LayerTime>,
}

#[derive(Debug, Clone, Serialize)]
pub struct LayerTime {
    pub path: String,
    pub depth: usize,
    pub description: String,
    pub shape: Vec<usize>,
    pub ms: f64,
    /// Forward GFLOP/s of the layer (convolutions and dense layers).
    pub gflops: f64,
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n == 0 {
        return f64::NAN;
    }
    if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}

fn wait(device: &Device) {
    // A failed wait only makes the time less exact.
    let _ = device.sync();
}

/// The peak resident set size of this process in MiB (`VmHWM`), where the system tells it.
pub fn peak_rss_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// The network of `options.model` at `options.side`, built as every benchmark builds it (seed
/// 0, on the autodiff version of `device`), with its configuration.
pub fn build_network(options: &BenchOptions, device: &Device) -> Result<Model, String> {
    let [channels, _, _] = options.model.input;
    let config = options
        .model
        .clone()
        .with_input([channels, options.side, options.side]);
    config.validate().map_err(|e| e.to_string())?;
    let train_device = device.clone().autodiff();
    train_device.seed(0);
    config.build(&train_device).map_err(|e| e.to_string())
}

/// Runs the benchmark on `device` (training on its autodiff version) with the reference's
/// random batch.
pub fn run(options: &BenchOptions, device: &Device, threads: usize) -> Result<BenchReport, String> {
    let model = build_network(options, device)?;
    let config = model.config.clone();
    let (report, _) = bench_network(
        model,
        &config.name,
        config.input,
        config.num_classes,
        options,
        device,
        threads,
    );
    Ok(report)
}

/// Runs the benchmark on any network taking inputs of `input`, with the reference's random
/// batch (training on the autodiff version of `device`); returns the report and the network
/// after its training steps.
pub fn bench_network<N: Classifier>(
    network: N,
    name: &str,
    input: [usize; 3],
    classes: usize,
    options: &BenchOptions,
    device: &Device,
    threads: usize,
) -> (BenchReport, N) {
    let batch = BenchBatch::random(options.batch, input, classes, device);
    bench_network_on(network, name, &batch, options, device, threads)
}

/// As [`bench_network`], on the given batch (`options.batch` is ignored: the batch's size is).
pub fn bench_network_on<N: Classifier>(
    network: N,
    name: &str,
    data: &BenchBatch,
    options: &BenchOptions,
    device: &Device,
    threads: usize,
) -> (BenchReport, N) {
    let train_device = device.clone().autodiff();
    let batch = data.labels.len();
    let images = data.images.clone();
    let targets =
        Tensor::<1, Int>::from_data(TensorData::new(data.labels.clone(), [batch]), device);

    let mut model = network.train().fork(&train_device);
    initialize_now(&model);
    // The training loop's SGD (`train::optimizer` with its defaults: plain SGD).
    let mut optim = FusedSgd::default().init(None);
    let loss_fn = CrossEntropyLossConfig::new().init(&train_device);
    let (x, y) = (
        images.clone().to_device(&train_device),
        targets.to_device(&train_device),
    );
    let mut phases = [Vec::new(), Vec::new(), Vec::new()];
    let mut steps = Vec::new();
    for i in 0..options.warmup + options.timed {
        wait(&train_device);
        let start = Instant::now();
        let (_, loss) = model.forward_train(x.clone()).loss(&loss_fn, &y);
        if options.profile {
            wait(&train_device);
        }
        let forward = start.elapsed();
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        if options.profile {
            wait(&train_device);
        }
        let backward = start.elapsed();
        model = optim.step(options.lr, model, grads);
        wait(&train_device);
        let total = start.elapsed();
        if i >= options.warmup {
            steps.push(total.as_secs_f64());
            phases[0].push(forward.as_secs_f64());
            phases[1].push((backward - forward).as_secs_f64());
            phases[2].push((total - backward).as_secs_f64());
        }
    }
    let train_s = median(steps);
    let subnormals = options
        .count_subnormals
        .then(|| count_subnormals(&model, x.clone(), &y, &loss_fn));

    let valid = model.valid();
    let mut evals = Vec::new();
    for i in 0..options.warmup + options.timed {
        wait(device);
        let start = Instant::now();
        let logits = valid.predict(images.clone());
        wait(device);
        drop(logits);
        if i >= options.warmup {
            evals.push(start.elapsed().as_secs_f64());
        }
    }
    let eval_s = median(evals);

    let profile = options.profile.then(|| {
        let (_, rows) = valid.profile(images.clone(), options.profile_depth);
        let layers = rows
            .into_iter()
            .map(|r| LayerTime {
                ms: r.nanos as f64 / 1e6,
                gflops: if r.nanos > 0 {
                    r.flops as f64 / r.nanos as f64
                } else {
                    0.0
                },
                path: r.path,
                depth: r.depth,
                description: r.description,
                shape: r.shape,
            })
            .collect();
        let names = ["forward + loss", "backward", "optimizer step"];
        Profile {
            train_phases: names
                .iter()
                .zip(phases)
                .map(|(name, times)| (name.to_string(), median(times) * 1e3))
                .collect(),
            layers,
        }
    });
    let fast = crate::flex::fast_path() && crate::device::is_flex(device);
    let fast_path = format!(
        " + inception fast path ({})",
        crate::flex::instruction_set()
    );
    let report = BenchReport {
        framework: format!(
            "burn 0.22.1 {}{}",
            crate::device::describe(device),
            if fast { fast_path.as_str() } else { "" }
        ),
        model: name.to_string(),
        batch,
        threads,
        train_ms: round1(train_s * 1e3),
        train_img_s: round2(batch as f64 / train_s),
        eval_ms: round1(eval_s * 1e3),
        eval_img_s: round2(batch as f64 / eval_s),
        peak_rss_mb: peak_rss_mb().map(round1),
        profile,
        subnormals,
    };
    (report, model)
}

/// Subnormal numbers in `model`'s parameters, in its gradients on `(x, y)` and in its class
/// probabilities there.
fn count_subnormals<N: Classifier>(
    model: &N,
    x: Tensor<4>,
    y: &Tensor<1, Int>,
    loss_fn: &burn::nn::loss::CrossEntropyLoss,
) -> Subnormals {
    let (logits, loss) = model.forward_train(x).loss(loss_fn, y);
    let probabilities = burn::tensor::activation::softmax(logits.detach(), 1);
    let grads = GradientsParams::from_grads(loss.backward(), model);
    let mut visitor = SubnormalVisitor {
        grads: &grads,
        counts: Subnormals {
            probabilities: SubnormalCount::of(&values(probabilities)),
            ..Subnormals::default()
        },
    };
    model.visit(&mut visitor);
    visitor.counts
}

fn values<const D: usize>(tensor: Tensor<D>) -> Vec<f32> {
    tensor
        .into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .expect("a float tensor converts to f32")
}

struct SubnormalVisitor<'a> {
    grads: &'a GradientsParams,
    counts: Subnormals,
}

impl ModuleVisitor for SubnormalVisitor<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        self.counts.params.add(&values(param.val().detach()));
        if let Some(grad) = self.grads.get::<D>(param.id) {
            self.counts.grads.add(&values(grad));
        }
    }
}

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

impl BenchReport {
    /// The human-readable report.
    pub fn text(&self) -> String {
        let mut out = format!(
            "{} {}, batch {}, {} threads\ntrain: {:.1} ms/step, {:.2} images/s\neval:  {:.1} ms/batch, {:.2} images/s\n",
            self.framework, self.model, self.batch, self.threads, self.train_ms, self.train_img_s,
            self.eval_ms, self.eval_img_s
        );
        if let Some(mb) = self.peak_rss_mb {
            out += &format!("peak resident memory: {mb:.0} MiB\n");
        }
        if let Some(sub) = &self.subnormals {
            out += &format!(
                "subnormal numbers: {} of {} parameters, {} of {} gradients, {} of {} probabilities\n",
                sub.params.subnormal,
                sub.params.values,
                sub.grads.subnormal,
                sub.grads.values,
                sub.probabilities.subnormal,
                sub.probabilities.values
            );
        }
        if let Some(profile) = &self.profile {
            out += "\ntraining step (median, with waits between phases):\n";
            for (name, ms) in &profile.train_phases {
                out += &format!("  {name:<16} {ms:>9.1} ms\n");
            }
            let total: f64 = profile
                .layers
                .iter()
                .filter(|l| l.depth == 0)
                .map(|l| l.ms)
                .sum();
            out += "\ninference forward pass by layer (one pass, a wait after each layer, each layer run\n\
                    on its own: the 1x1 convolutions an Inception block runs as one GEMM are timed one by one):\n";
            let indented = |l: &LayerTime| format!("{}{}", "  ".repeat(l.depth), l.path);
            let width = profile
                .layers
                .iter()
                .map(|l| indented(l).len())
                .fold(10, usize::max);
            out += &format!(
                "  {:<width$} {:<34} {:>18} {:>9} {:>6} {:>8}\n",
                "layer", "what", "output", "ms", "share", "GFLOP/s"
            );
            for l in &profile.layers {
                let mut what = l.description.clone();
                what.truncate(34);
                out += &format!(
                    "  {:<width$} {:<34} {:>18} {:>9.1} {:>5.1}% {:>8.1}\n",
                    indented(l),
                    what,
                    format!("{:?}", &l.shape[1..]),
                    l.ms,
                    100.0 * l.ms / total.max(1e-9),
                    l.gflops
                );
            }
        }
        out
    }
}
