//! Counting and naming parameters as PyTorch and the reference do, and the dotted paths that
//! name them: batch norm's running
//! statistics are buffers, not parameters (burn's `Module::num_params` counts them too), and a
//! parameter shared by several layers counts once.

use std::collections::HashSet;

use burn::module::{Flag, Module, ModuleVisitor, Param, ParamId};
use burn::tensor::Tensor;

/// Whether the tensor at `path` is a buffer (batch norm's running statistics).
pub fn is_buffer(path: &str) -> bool {
    path.ends_with("running_mean") || path.ends_with("running_var")
}

/// Counts the trainable parameters of `module` without initializing lazy ones.
pub fn count_params<M: Module>(module: &M) -> usize {
    named_params(module).iter().map(NamedParam::count).sum()
}

/// A trainable parameter with its hierarchical name, e.g. `b3.0.p2_2.weight`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamedParam {
    pub name: String,
    pub shape: Vec<usize>,
    pub id: ParamId,
}

impl NamedParam {
    pub fn count(&self) -> usize {
        self.shape.iter().product()
    }
}

/// The trainable parameters of `module` in order, named by burn's module paths (for a network
/// of `Sequential`s, the children's names: Gluon's `collect_params`). A shared parameter is
/// listed once, where it is first found.
pub fn named_params<M: Module>(module: &M) -> Vec<NamedParam> {
    let mut seen = HashSet::new();
    tensor_paths(module)
        .into_iter()
        .filter(|(path, id, _)| !is_buffer(path) && seen.insert(*id))
        .map(|(name, id, shape)| NamedParam { name, shape, id })
        .collect()
}

/// Every float tensor of `module` (parameters and buffers) with its path, in order.
pub fn tensor_paths<M: Module>(module: &M) -> Vec<(String, ParamId, Vec<usize>)> {
    walk(module).tensors
}

/// Every training flag of `module` (batch norm's `training`: whether it normalizes with the
/// batch's statistics) with its path, in order.
pub fn flag_paths<M: Module>(module: &M) -> Vec<(String, ParamId)> {
    walk(module).flags
}

/// The float tensors and flags of a module with their paths.
#[derive(Default)]
struct Paths {
    path: Vec<String>,
    tensors: Vec<(String, ParamId, Vec<usize>)>,
    flags: Vec<(String, ParamId)>,
}

impl ModuleVisitor for Paths {
    fn enter_module(&mut self, name: &str, _: &str) {
        self.path.push(name.to_string());
    }
    fn exit_module(&mut self, _: &str, _: &str) {
        self.path.pop();
    }
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        self.tensors
            .push((self.path.join("."), param.id, param.lazy_shape().to_vec()));
    }
    fn visit_flag(&mut self, flag: &Param<Flag>) {
        self.flags.push((self.path.join("."), flag.id));
    }
}

fn walk<M: Module>(module: &M) -> Paths {
    let mut paths = Paths::default();
    module.visit(&mut paths);
    paths
}

/// The ids of every float tensor of `module`.
pub fn param_ids<M: Module>(module: &M) -> Vec<ParamId> {
    tensor_paths(module)
        .into_iter()
        .map(|(_, id, _)| id)
        .collect()
}

/// Whether every parameter and buffer of `module` is finite (no NaN, no infinity).
pub fn all_finite<M: Module>(module: &M) -> bool {
    let mut check = FiniteCheck { finite: true };
    module.visit(&mut check);
    check.finite
}

struct FiniteCheck {
    finite: bool,
}

impl ModuleVisitor for FiniteCheck {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if self.finite && param.is_initialized() {
            // x - x is 0 for finite x and NaN for NaN and the infinities.
            let value = param.val();
            let sum = (value.clone() - value).sum().into_scalar::<f32>();
            self.finite = sum == 0.0;
        }
    }
}

/// Initializes every lazy parameter of `module` now, in order, so that the random numbers
/// drawn later (dropout) do not depend on when a parameter is first used.
pub fn initialize_now<M: Module>(module: &M) {
    struct Touch;
    impl ModuleVisitor for Touch {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            let _ = param.val();
        }
    }
    module.visit(&mut Touch);
}

/// `a.b.c` into `a` and `b.c` (`rest` empty when there is no dot).
pub fn split_path(path: &str) -> (&str, &str) {
    path.split_once('.').unwrap_or((path, ""))
}

/// `prefix.name`, or `name` alone when the prefix is empty.
pub fn join(prefix: &str, name: &str) -> String {
    match (prefix.is_empty(), name.is_empty()) {
        (true, _) => name.to_string(),
        (_, true) => prefix.to_string(),
        _ => format!("{prefix}.{name}"),
    }
}
