//! Counting parameters as PyTorch and the reference do: batch norm's running statistics are
//! buffers, not parameters (burn's `Module::num_params` counts them too).

use burn::module::{Module, ModuleVisitor, Param};
use burn::tensor::Tensor;

/// Counts the trainable parameters of `module` without initializing lazy ones.
pub fn count_params<M: Module>(module: &M) -> usize {
    let mut counter = Counter::default();
    module.visit(&mut counter);
    counter.total
}

#[derive(Default)]
struct Counter {
    path: Vec<String>,
    total: usize,
}

impl ModuleVisitor for Counter {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.path.push(name.to_string());
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.pop();
    }

    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let buffer = matches!(
            self.path.last().map(String::as_str),
            Some("running_mean" | "running_var")
        );
        if !buffer {
            self.total += param.lazy_shape().num_elements();
        }
    }
}
