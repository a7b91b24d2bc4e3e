//! Recording every layer's output shape during a forward pass (the seeds' "Shape of the output").

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
    /// Parameters of this layer, including its children.
    pub params: usize,
}

/// Collects [`TraceRow`]s; switched off it costs nothing.
#[derive(Debug, Default)]
pub struct Tracer {
    enabled: bool,
    max_depth: usize,
    pub rows: Vec<TraceRow>,
}

impl Tracer {
    /// Records layers nested at most `max_depth` deep (0: the top level only).
    pub fn new(max_depth: usize) -> Self {
        Self {
            enabled: true,
            max_depth,
            rows: Vec::new(),
        }
    }

    pub fn off() -> Self {
        Self::default()
    }

    /// Starts a row for `layer` (so a block comes before its children); returns its slot.
    pub(crate) fn open(&mut self, path: &str, layer: &Layer) -> Option<usize> {
        let depth = path.matches('.').count();
        if !self.enabled || depth > self.max_depth {
            return None;
        }
        self.rows.push(TraceRow {
            path: path.to_string(),
            depth,
            description: layer.describe(),
            shape: Vec::new(),
            params: super::params::count_params(layer),
        });
        Some(self.rows.len() - 1)
    }

    /// Records a row for something that is not a [`Layer`] (an auxiliary head, say).
    pub fn record(&mut self, path: &str, description: String, output: &Features, params: usize) {
        let depth = path.matches('.').count();
        if self.enabled && depth <= self.max_depth {
            self.rows.push(TraceRow {
                path: path.to_string(),
                depth,
                description,
                shape: output.dims(),
                params,
            });
        }
    }

    pub(crate) fn close(&mut self, slot: Option<usize>, output: &Features) {
        if let Some(i) = slot {
            self.rows[i].shape = output.dims();
        }
    }
}
