//! `Sequential`: layers run one after another, as Gluon's `nn.Sequential()` with `add`.
//!
//! A network is first described ([`SequentialSpec`]: configs with input sizes left out, any
//! [`LayerConfig`], the user's own included) and then built against an input shape, which fixes
//! every weight's size and fails with a [`ShapeError`] naming the layer when a shape is
//! impossible. The built [`Sequential`] is a [`Layer`] itself, so blocks nest.
//!
//! Sharing is structural: a layer placed twice (the same [`Shared`](super::Shared) handle, the
//! same built layer, or a network file's `share = "name"`) is held once and run at both places,
//! so it has one tensor per parameter and one gradient (the sum of both places' contributions),
//! and every optimizer updates it once.

use std::collections::HashMap;

use burn::module::{Devices, Module, ModuleMapper, ModuleVisitor, ParamId};
use burn::tensor::Device;

use super::any_layer::{AnyConfig, AnyLayer, Prebuilt};
use super::features::{Features, Shape};
use super::forward::Forward;
use super::init::Init;
use super::layer::{Build, Layer, LayerConfig, ShapeError, TorchName};
use super::params::{join, param_ids, split_path, tensor_paths};
use crate::onnx::{OnnxGraph, OnnxValue};

/// The most values one example may have after a layer (2^27: 512 MiB of float32).
pub const MAX_VALUES: usize = 1 << 27;
/// The most parameters one layer may have (2^30: 4 GiB of float32; VGG-11's largest has 103M).
pub const MAX_PARAMS: usize = 1 << 30;

/// A sequence of named layers before they are built. Unnamed children are named by their
/// position (`0`, `1`, ...), as Gluon and PyTorch do.
#[derive(Debug, Clone, Default)]
pub struct SequentialSpec {
    steps: Vec<(String, StepSpec)>,
}

#[derive(Debug, Clone)]
enum StepSpec {
    Layer(AnyConfig),
    /// The layer of an earlier step again (by its index), with the same parameters.
    Again(usize),
}

impl SequentialSpec {
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a layer named by its position (`0`, `1`, ...), like Gluon's `add`.
    // Named after Gluon's `Sequential.add`, which users of the articles know; it is not `a + b`.
    #[allow(clippy::should_implement_trait)]
    pub fn add(self, config: impl LayerConfig) -> Self {
        let name = self.steps.len().to_string();
        self.add_named(&name, config)
    }

    /// Appends a layer under a name of its own (`b1`, `dense`, ...).
    pub fn add_named(mut self, name: &str, config: impl LayerConfig) -> Self {
        self.steps
            .push((name.to_string(), StepSpec::Layer(AnyConfig::new(config))));
        self
    }

    /// Appends a layer built already, with fixed sizes (its input is checked when the network
    /// is built). Adding clones of one built layer shares it.
    pub fn add_built<L: Layer>(self, layer: L) -> Self {
        self.add(Prebuilt(layer))
    }

    /// Appends the layer of the earlier step named `earlier` again, under `name`: the same
    /// layer at a second place (how network files say `share = "earlier"`).
    pub fn add_again(mut self, name: &str, earlier: &str) -> Result<Self, String> {
        let index = self
            .steps
            .iter()
            .position(|(n, _)| n == earlier)
            .ok_or_else(|| format!("no earlier layer in this block is named `{earlier}`"))?;
        self.steps.push((name.to_string(), StepSpec::Again(index)));
        Ok(self)
    }

    /// The number of steps.
    pub fn len(&self) -> usize {
        self.steps.len()
    }

    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }

    /// The names of the steps, in order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.steps.iter().map(|(n, _)| n.as_str())
    }

    /// Builds the network for inputs of `input` (one example, e.g. `[1, 96, 96]`) with
    /// weights drawn by `init` on `device` and `classes` classes for layers sized `"classes"`.
    /// Returns it with its output shape.
    pub fn build_network(
        &self,
        input: &Shape,
        init: Init,
        device: &Device,
        classes: usize,
    ) -> Result<(Sequential, Shape), ShapeError> {
        let mut ctx = Build::new(init, device, classes);
        let network = match self.build(input, &mut ctx) {
            Ok(network) => network,
            Err(reason) => {
                return Err(ctx.take_error().unwrap_or_else(|| ShapeError {
                    layer: "input".into(),
                    description: "Sequential".into(),
                    input: input.clone(),
                    reason,
                }))
            }
        };
        check_no_parameter_twice(&network)?;
        let output = network.output_shape(input).map_err(|reason| ShapeError {
            layer: "output".into(),
            description: network.describe(),
            input: input.clone(),
            reason,
        })?;
        Ok((network, output))
    }

    fn shape_error(&self, ctx: &mut Build, step: usize, input: &Shape, reason: String) -> String {
        // A nested block's error already names the innermost layer: keep it.
        if ctx.has_error() {
            return reason;
        }
        let (name, spec) = &self.steps[step];
        let description = match spec {
            StepSpec::Layer(config) => config.describe(),
            StepSpec::Again(i) => format!("the layer `{}` again", self.steps[*i].0),
        };
        ctx.fail(ShapeError {
            layer: join(&ctx.block_path(), name),
            description,
            input: input.clone(),
            reason: reason.clone(),
        });
        reason
    }
}

impl LayerConfig for SequentialSpec {
    type Layer = Sequential;

    fn build(&self, input: &Shape, ctx: &mut Build) -> Result<Sequential, String> {
        let mut shape = input.clone();
        let mut children: Vec<AnyLayer> = Vec::new();
        let mut child_ids: Vec<Vec<ParamId>> = Vec::new();
        let mut steps: Vec<Step> = Vec::with_capacity(self.steps.len());
        // The child of each `Shared` handle placed so far.
        let mut shared: HashMap<usize, usize> = HashMap::new();
        for (i, (name, spec)) in self.steps.iter().enumerate() {
            let reused = match spec {
                StepSpec::Again(j) => Some(steps[*j].child),
                StepSpec::Layer(config) => {
                    config.share_id().and_then(|id| shared.get(&id).copied())
                }
            };
            let child = match reused {
                Some(child) => child,
                None => {
                    let StepSpec::Layer(config) = spec else {
                        unreachable!("an Again step always reuses")
                    };
                    if let Some(id) = config.share_id() {
                        let here = ctx.block_path();
                        if let Some(home) = ctx.shared.get(&id).filter(|home| **home != here) {
                            let reason = format!(
                                "this shared layer is already placed in the block `{home}`; a shared layer must be placed twice in one Sequential"
                            );
                            return Err(self.shape_error(ctx, i, &shape, reason));
                        }
                        ctx.shared.insert(id, here);
                    }
                    ctx.path.push(name.clone());
                    let built = config.build(&shape, ctx);
                    ctx.path.pop();
                    let layer = built.map_err(|reason| self.shape_error(ctx, i, &shape, reason))?;
                    let ids = param_ids(&layer);
                    // A built layer added twice holds the same parameters: one child.
                    match child_ids.iter().position(|c| !ids.is_empty() && *c == ids) {
                        Some(existing) => existing,
                        None => {
                            children.push(layer);
                            child_ids.push(ids);
                            children.len() - 1
                        }
                    }
                }
            };
            if let StepSpec::Layer(config) = spec {
                if let Some(id) = config.share_id() {
                    shared.entry(id).or_insert(child);
                }
            }
            let first = steps
                .iter()
                .find(|s| s.child == child)
                .map(|s| s.name.clone());
            let out = children[child].output_shape(&shape).map_err(|reason| {
                // A `Shared` handle's second place is described as its config: say what it is.
                let reason = match (&first, spec) {
                    (Some(first), StepSpec::Layer(_)) => format!("it is `{first}` again: {reason}"),
                    _ => reason,
                };
                self.shape_error(ctx, i, &shape, reason)
            })?;
            let values = out
                .iter()
                .try_fold(1usize, |n, &d| n.checked_mul(d))
                .unwrap_or(usize::MAX);
            if values > MAX_VALUES {
                let reason = format!(
                    "its output {out:?} has more than {MAX_VALUES} values per example: the sizes are surely wrong"
                );
                return Err(self.shape_error(ctx, i, &shape, reason));
            }
            let params = super::params::count_params(&children[child]);
            if params > MAX_PARAMS {
                let reason = format!(
                    "it has {params} parameters, more than {MAX_PARAMS}: the sizes are surely wrong"
                );
                return Err(self.shape_error(ctx, i, &shape, reason));
            }
            steps.push(Step {
                name: name.clone(),
                child,
            });
            shape = out;
        }
        Ok(Sequential { children, steps })
    }

    fn describe(&self) -> String {
        format!("Sequential({} layers)", self.steps.len())
    }
}

/// Refuses a network in which one parameter is held at two places of the module tree (a layer
/// shared between two blocks): burn's optimizers would update only one of them.
fn check_no_parameter_twice(network: &Sequential) -> Result<(), ShapeError> {
    let mut first: HashMap<ParamId, String> = HashMap::new();
    for (path, id, _) in tensor_paths(network) {
        if let Some(earlier) = first.get(&id) {
            let layer = path.rsplit_once('.').map_or(path.as_str(), |(l, _)| l);
            return Err(ShapeError {
                layer: layer.to_string(),
                description: "a layer shared between two blocks".into(),
                input: Vec::new(),
                reason: format!(
                    "`{path}` is the same parameter as `{earlier}`; a shared layer must be placed twice in one Sequential (or used twice in one block's forward), not held by two blocks"
                ),
            });
        }
        first.insert(id, path);
    }
    Ok(())
}

/// One step of a built `Sequential`: its name and the child it runs.
#[derive(Debug, Clone)]
struct Step {
    name: String,
    child: usize,
}

/// A built sequence of named layers. Each distinct layer is held once; a layer placed at
/// several steps runs at each of them.
#[derive(Debug, Clone)]
pub struct Sequential {
    children: Vec<AnyLayer>,
    steps: Vec<Step>,
}

impl Sequential {
    /// The steps in order: name, layer, and for a second place of a shared layer the name of
    /// its first place.
    pub fn steps(&self) -> impl Iterator<Item = (&str, &AnyLayer, Option<&str>)> {
        self.steps.iter().enumerate().map(|(i, step)| {
            let first = &self.steps[self.first_step(step.child)];
            let shares = (self.first_step(step.child) != i).then_some(first.name.as_str());
            (step.name.as_str(), &self.children[step.child], shares)
        })
    }

    /// The layer of the step named `name`.
    pub fn get(&self, name: &str) -> Option<&AnyLayer> {
        let step = self.steps.iter().find(|s| s.name == name)?;
        Some(&self.children[step.child])
    }

    /// The layer of step `index`.
    pub fn layer(&self, index: usize) -> Option<&AnyLayer> {
        self.steps.get(index).map(|s| &self.children[s.child])
    }

    /// The number of steps.
    pub fn len(&self) -> usize {
        self.steps.len()
    }

    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }

    fn first_step(&self, child: usize) -> usize {
        self.steps
            .iter()
            .position(|s| s.child == child)
            .expect("every child has a step")
    }

    /// The name under which child `child` holds its parameters: its first step's.
    fn child_name(&self, child: usize) -> &str {
        &self.steps[self.first_step(child)].name
    }

    fn map_children(self, f: impl Fn(AnyLayer) -> AnyLayer) -> Self {
        Self {
            children: self.children.into_iter().map(f).collect(),
            steps: self.steps,
        }
    }
}

const CONTAINER: &str = "Struct:Sequential";

/// burn's `Module`, written out so that parameters are named by the steps' names (`b3.0.p1.
/// weight`) and a shared layer is visited once.
impl Module for Sequential {
    fn collect_devices(&self, mut devices: Devices) -> Devices {
        for child in &self.children {
            devices = child.collect_devices(devices);
        }
        devices
    }
    fn fork(self, device: &Device) -> Self {
        self.map_children(|c| c.fork(device))
    }
    fn to_device(self, device: &Device) -> Self {
        self.map_children(|c| c.to_device(device))
    }
    fn train(self) -> Self {
        self.map_children(Module::train)
    }
    fn valid(&self) -> Self {
        Self {
            children: self.children.iter().map(Module::valid).collect(),
            steps: self.steps.clone(),
        }
    }
    fn materialize(self) -> Self {
        self.map_children(Module::materialize)
    }
    fn visit<V: ModuleVisitor>(&self, visitor: &mut V) {
        for (i, child) in self.children.iter().enumerate() {
            let name = self.child_name(i);
            visitor.enter_module(name, CONTAINER);
            child.visit(visitor);
            visitor.exit_module(name, CONTAINER);
        }
    }
    fn map<M: ModuleMapper>(self, mapper: &mut M) -> Self {
        let names: Vec<String> = (0..self.children.len())
            .map(|i| self.child_name(i).to_string())
            .collect();
        let children = self
            .children
            .into_iter()
            .zip(&names)
            .map(|(child, name)| {
                mapper.enter_module(name, CONTAINER);
                let child = child.map(mapper);
                mapper.exit_module(name, CONTAINER);
                child
            })
            .collect();
        Self {
            children,
            steps: self.steps,
        }
    }
}

impl burn::module::ModuleDisplayDefault for Sequential {
    fn content(&self, content: burn::module::Content) -> Option<burn::module::Content> {
        self.steps()
            .fold(content, |content, (name, layer, _)| {
                content.add(name, layer)
            })
            .set_top_level_type("Sequential")
            .optional()
    }
}

impl burn::module::ModuleDisplay for Sequential {}

impl Layer for Sequential {
    fn forward(&self, mut x: Features, ctx: &mut Forward) -> Features {
        for (name, layer, shares) in self.steps() {
            x = ctx.layer_as(name, layer, x, shares);
        }
        x
    }

    fn output_shape(&self, input: &Shape) -> Result<Shape, String> {
        let mut shape = input.clone();
        for (name, layer, _) in self.steps() {
            shape = layer
                .output_shape(&shape)
                .map_err(|reason| format!("layer `{name}` cannot take {shape:?}: {reason}"))?;
        }
        Ok(shape)
    }

    fn describe(&self) -> String {
        format!("Sequential({} layers)", self.steps.len())
    }

    fn torch_name(&self, path: &str) -> TorchName {
        let (head, rest) = split_path(path);
        match (0..self.children.len()).find(|&i| self.child_name(i) == head) {
            Some(i) => self.children[i].torch_name(rest).prefixed(head),
            None => TorchName::same(path),
        }
    }

    fn to_onnx(&self, mut x: OnnxValue, graph: &mut OnnxGraph) -> Result<OnnxValue, String> {
        for (name, layer, _) in self.steps() {
            x = graph.layer(name, layer, x)?;
        }
        Ok(x)
    }
}
