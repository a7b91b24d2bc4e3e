//! Recording every layer's output shape, parameters and forward FLOPs during a forward pass
//! (the seeds' "Shape of the output"), and optionally its time (`inception bench --profile`).

use std::time::Instant;

use burn::tensor::Device;

use super::features::Features;
use super::sequential::Layer;

/// One traced layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceRow {
    /// Hierarchical name, e.g. `b3.0`.
    pub path: String,
    /// Nesting depth (0 for the network's own children).
    pub depth: usize,
    pub description: String,
    /// Output shape, batch first.
    pub shape: Vec<usize>,
    /// Trainable parameters of this layer, including its children.
    pub params: usize,
    /// Floating-point operations of its forward pass for the traced batch (a multiply-add
    /// counts 2; convolutions and dense layers only, as the usual FLOP counts do).
    pub flops: u64,
    /// Wall-clock nanoseconds of its forward pass, when timed (children included).
    pub nanos: u64,
}

/// Collects [`TraceRow`]s of every depth; switched off it costs nothing.
#[derive(Debug, Default)]
pub struct Tracer {
    enabled: bool,
    rows: Vec<TraceRow>,
    /// Input dims of the open rows, by slot.
    inputs: Vec<Vec<usize>>,
    /// Timing: the device to wait for before reading the clock, and each row's start.
    clock: Option<Device>,
    starts: Vec<Instant>,
}

impl Tracer {
    pub fn new() -> Self {
        Self {
            enabled: true,
            ..Self::default()
        }
    }

    pub fn off() -> Self {
        Self::default()
    }

    /// Records times too: the device finishes its work before every reading of the clock, so
    /// each layer's time is its own (and the whole pass gets slower by the waits).
    pub fn timed(device: &Device) -> Self {
        Self {
            enabled: true,
            clock: Some(device.clone()),
            ..Self::default()
        }
    }

    fn now(&self) -> Instant {
        if let Some(device) = &self.clock {
            // A failed wait only makes the time less exact.
            let _ = device.sync();
        }
        Instant::now()
    }

    /// The rows of layers nested at most `max_depth` deep (0: the top level only).
    pub fn into_rows(self, max_depth: usize) -> Vec<TraceRow> {
        self.rows
            .into_iter()
            .filter(|r| r.depth <= max_depth)
            .collect()
    }

    /// Starts a row for `layer` (so a block comes before its children); returns its slot.
    pub(crate) fn open(&mut self, path: &str, layer: &Layer, input: &Features) -> Option<usize> {
        if !self.enabled {
            return None;
        }
        self.rows.push(TraceRow {
            path: path.to_string(),
            depth: path.matches('.').count(),
            description: layer.describe(),
            shape: Vec::new(),
            params: super::params::count_params(layer),
            flops: 0,
            nanos: 0,
        });
        self.inputs.push(input.dims());
        let start = self.now();
        self.starts.push(start);
        Some(self.rows.len() - 1)
    }

    pub(crate) fn close(&mut self, slot: Option<usize>, layer: &Layer, output: &Features) {
        let Some(i) = slot else { return };
        if self.clock.is_some() {
            self.rows[i].nanos = self.now().duration_since(self.starts[i]).as_nanos() as u64;
        }
        let shape = output.dims();
        self.rows[i].flops = match layer {
            Layer::Sequential(_) => {
                let (path, depth) = (format!("{}.", self.rows[i].path), self.rows[i].depth);
                self.rows[i + 1..]
                    .iter()
                    .filter(|r| r.depth == depth + 1 && r.path.starts_with(&path))
                    .map(|r| r.flops)
                    .sum()
            }
            other => layer_flops(other, &self.inputs[i], &shape),
        };
        self.rows[i].shape = shape;
    }

    /// Renames the description of the row at `path` (auxiliary heads say what they are).
    pub fn describe(&mut self, path: &str, description: String) {
        if let Some(row) = self.rows.iter_mut().find(|r| r.path == path) {
            row.description = description;
        }
    }
}

/// Forward FLOPs of one (non-`Sequential`) layer for `input` -> `output` (dims with batch).
fn layer_flops(layer: &Layer, input: &[usize], output: &[usize]) -> u64 {
    let product = |dims: &[usize]| dims.iter().map(|&d| d as u64).product::<u64>();
    match layer {
        Layer::Conv(conv) => {
            let [_, cin, k1, k2] = conv.weight.dims();
            2 * product(output) * (cin * k1 * k2) as u64
        }
        Layer::Dense(dense) => {
            let [fan_in, _] = dense.weight.dims();
            2 * product(output) * fan_in as u64
        }
        Layer::Inception(block) => {
            // Every path keeps the spatial size, so each convolution costs
            // 2 * N * H * W * in * out * k * k.
            let (n, c, hw) = (input[0] as u64, input[1], product(&input[2..]));
            let conv = |cin: usize, conv: &super::layers::Conv| {
                let [cout, _, k1, k2] = conv.weight.dims();
                2 * n * hw * (cin * cout * k1 * k2) as u64
            };
            let spec = block.spec();
            conv(c, &block.p1)
                + conv(c, &block.p2_1)
                + conv(spec.c2.0, &block.p2_2)
                + conv(c, &block.p3_1)
                + conv(spec.c3.0, &block.p3_2)
                + conv(c, &block.p4_2)
        }
        _ => 0,
    }
}
