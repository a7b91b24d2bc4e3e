//! [`Forward`]: what a forward pass carries besides the tensors. Whether it trains, the logits
//! of auxiliary classifiers, and, when asked, a trace of every layer's output shape,
//! parameters, FLOPs and time (the articles' "Shape of the output", `inception bench --profile`).

use std::time::Instant;

use burn::tensor::{Device, Tensor};

use super::features::Features;
use super::params::join;

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
    /// Trainable parameters of this layer, including its children (0 where the layer is a
    /// second place of a shared one: its parameters are counted where it was first placed).
    pub params: usize,
    /// Floating-point operations of its forward pass for the traced batch (a multiply-add
    /// counts 2), children included.
    pub flops: u64,
    /// Wall-clock nanoseconds of its forward pass, when timed (children included).
    pub nanos: u64,
    /// The layer runs in training only (an auxiliary classifier and what it holds).
    pub training_only: bool,
}

/// The context of one forward pass.
#[derive(Debug, Default)]
pub struct Forward {
    training: bool,
    /// Auxiliary logits with their loss weights, in the order their classifiers ran.
    aux: Vec<(f64, Tensor<2>)>,
    trace: Option<Trace>,
    /// Names of the layers being run, outermost first.
    path: Vec<String>,
    /// How many training-only scopes are open.
    training_only: usize,
}

#[derive(Debug, Default)]
struct Trace {
    rows: Vec<TraceRow>,
    /// Input dims of each row.
    inputs: Vec<Vec<usize>>,
    /// Timing: the device to wait for before reading the clock, and each row's start.
    clock: Option<Device>,
    starts: Vec<Option<Instant>>,
    /// The rows of the layers running now, outermost first.
    open: Vec<usize>,
    /// Run training-only layers too, to show them.
    show_training_only: bool,
}

impl Forward {
    /// An inference pass: dropout off, batch norm on its running statistics.
    pub fn inference() -> Self {
        Self::default()
    }

    /// A training pass.
    pub fn training() -> Self {
        Self {
            training: true,
            ..Self::default()
        }
    }

    /// Training on an autodiff device, inference elsewhere: the rule burn's own dropout and
    /// batch norm follow, so every layer agrees.
    pub fn for_device(device: &Device) -> Self {
        if device.is_autodiff() {
            Self::training()
        } else {
            Self::inference()
        }
    }

    /// Also records a [`TraceRow`] for every layer run through [`layer`](Self::layer).
    /// `show_training_only` runs training-only layers (auxiliary classifiers) in inference too,
    /// so that they are listed.
    pub fn traced(mut self, show_training_only: bool) -> Self {
        self.trace = Some(Trace {
            show_training_only,
            ..Trace::default()
        });
        self
    }

    /// Also times every layer: the device finishes its work before every reading of the clock,
    /// so each layer's time is its own (and the whole pass gets slower by the waits).
    pub fn timed(mut self, device: &Device) -> Self {
        self.trace.get_or_insert_with(Trace::default).clock = Some(device.clone());
        self
    }

    /// Whether this pass records a trace (then every layer runs on its own, to have its row).
    pub fn is_traced(&self) -> bool {
        self.trace.is_some()
    }

    /// Whether this pass trains (PyTorch's `self.training`, Gluon's `autograd.is_training()`).
    pub fn is_training(&self) -> bool {
        self.training
    }

    /// Whether layers that only matter in training should run: in training, and in a trace
    /// that lists them.
    pub fn runs_training_only(&self) -> bool {
        self.training || self.trace.as_ref().is_some_and(|t| t.show_training_only)
    }

    /// Runs `f` marking the layers it traces as training-only.
    pub fn training_only<R>(&mut self, f: impl FnOnce(&mut Self) -> R) -> R {
        self.training_only += 1;
        let result = f(self);
        self.training_only -= 1;
        result
    }

    /// Marks the layer running now as training-only in the trace (an auxiliary classifier:
    /// its FLOPs are not part of inference).
    pub fn mark_training_only(&mut self) {
        if let Some(trace) = self.trace.as_mut() {
            if let Some(&row) = trace.open.last() {
                trace.rows[row].training_only = true;
            }
        }
    }

    /// Hands the loss an auxiliary classifier's logits, counted `weight` times (in training).
    pub fn add_aux_logits(&mut self, weight: f64, logits: Tensor<2>) {
        if self.training {
            self.aux.push((weight, logits));
        }
    }

    /// The auxiliary logits collected so far.
    pub fn take_aux_logits(&mut self) -> Vec<(f64, Tensor<2>)> {
        std::mem::take(&mut self.aux)
    }

    /// The full name of a child `name` of the layer running now.
    pub fn path_of(&self, name: &str) -> String {
        join(&self.path.join("."), name)
    }

    /// Enters the child `name` of the layer running now; returns its trace slot. `describe`
    /// and `params` are only asked for when tracing. ([`Forward::layer`] is the way in.)
    pub(crate) fn enter(
        &mut self,
        name: &str,
        input: &Features,
        describe: impl FnOnce() -> (String, usize),
    ) -> Option<usize> {
        self.path.push(name.to_string());
        let path = self.path.join(".");
        let training_only = self.training_only > 0;
        let trace = self.trace.as_mut()?;
        let (description, params) = describe();
        trace.rows.push(TraceRow {
            depth: self.path.len() - 1,
            path,
            description,
            shape: Vec::new(),
            params,
            flops: 0,
            nanos: 0,
            training_only,
        });
        trace.inputs.push(input.dims());
        let start = trace.clock.as_ref().map(|device| {
            // A failed wait only makes the time less exact.
            let _ = device.sync();
            Instant::now()
        });
        trace.starts.push(start);
        trace.open.push(trace.rows.len() - 1);
        Some(trace.rows.len() - 1)
    }

    /// Leaves the child entered with `slot`, recording its output and its own FLOPs
    /// (`flops(input dims, output dims)`; its children's are added).
    pub(crate) fn leave(
        &mut self,
        slot: Option<usize>,
        output: &Features,
        flops: impl FnOnce(&[usize], &[usize]) -> u64,
    ) {
        self.path.pop();
        let (Some(i), Some(trace)) = (slot, self.trace.as_mut()) else {
            return;
        };
        trace.open.pop();
        if let (Some(device), Some(start)) = (&trace.clock, trace.starts[i]) {
            let _ = device.sync();
            trace.rows[i].nanos = start.elapsed().as_nanos() as u64;
        }
        let shape = output.dims();
        let depth = trace.rows[i].depth;
        let children: u64 = trace.rows[i + 1..]
            .iter()
            .filter(|r| r.depth == depth + 1)
            .map(|r| r.flops)
            .sum();
        trace.rows[i].flops = flops(&trace.inputs[i], &shape) + children;
        trace.rows[i].shape = shape;
    }

    /// The rows of layers nested at most `max_depth` deep (0: the top level only).
    pub fn into_rows(self, max_depth: usize) -> Vec<TraceRow> {
        self.trace
            .map(|t| t.rows)
            .unwrap_or_default()
            .into_iter()
            .filter(|r| r.depth <= max_depth)
            .collect()
    }
}
