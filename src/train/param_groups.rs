//! Parameter groups: which of a network's tensors a training setting applies to, chosen by
//! the names `inception summary` shows (`b1`, `b3.0.p2_1`, `fc`) with shell-style globs, for
//! freezing (`TrainConfig::freeze`) and for learning-rate multipliers ([`LrGroup`]): PyTorch's optimizer parameter groups and `requires_grad_(False)`,
//! Gluon's `collect_params('b1.*').setattr('grad_req', 'null')` / `setattr('lr_mult', 10)`.
//!
//! A pattern selects a tensor when it matches the tensor's path (`b1.0.weight`) or the path of
//! a layer holding it (`b1.0`, `b1`), so `b1`, `b1.*` and `b1*` all select the first block;
//! `*.bias` selects every bias. Freezing goes through burn's `Module::freeze_group`: the
//! tensors stop taking gradients (the optimizer leaves them, weight decay included) and a
//! frozen batch norm normalizes with its running statistics and leaves them as they are
//! (Keras's `trainable = False`).

use burn::module::{Module, ParamGroup, ParamId};
use serde::{Deserialize, Serialize};

use crate::nn::params::{flag_paths, is_buffer, tensor_paths};

/// A set of a network's tensors.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ParamSelection {
    /// The classifier: the layer holding the network's last parameter (`fc` in torchvision's
    /// GoogLeNet, the last `Dense` of a network file), the part fine-tuning replaces.
    Head,
    /// Every tensor whose path, or the path of a layer holding it, matches one of these globs
    /// (`*` any characters, `?` one, `[ab]` one of).
    Matching(Vec<String>),
}

/// Parameters trained at `lr_mult` times the run's learning rate (at every step of its
/// schedule): PyTorch's `param_groups` with their own `lr`, Gluon's `lr_mult`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LrGroup {
    pub params: ParamSelection,
    pub lr_mult: f64,
}

/// The tensors a selection found: the paths of the trainable parameters (for messages) and
/// the ids of everything selected (parameters, batch-norm statistics and training flags).
#[derive(Debug, Clone, Default)]
pub struct Selected {
    pub params: Vec<String>,
    pub ids: Vec<ParamId>,
}

impl Selected {
    /// burn's group of these tensors.
    pub fn group(&self) -> ParamGroup {
        ParamGroup::from_ids(self.ids.clone())
    }

    /// `"12 parameter tensors (b1.0.weight, b1.0.bias, ...)"`.
    pub fn describe(&self) -> String {
        const SHOWN: usize = 4;
        let mut names = self.params[..self.params.len().min(SHOWN)].join(", ");
        if self.params.len() > SHOWN {
            names += ", ...";
        }
        format!("{} parameter tensors ({names})", self.params.len())
    }
}

impl ParamSelection {
    /// The globs given as `b1.*,b2.*` (commas separate patterns, spaces around them go).
    pub fn parse_list(text: &str) -> Vec<String> {
        text.split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(String::from)
            .collect()
    }

    /// Says what it selects, for the start of a run.
    pub fn describe(&self) -> String {
        match self {
            Self::Head => "the head".to_string(),
            Self::Matching(patterns) => patterns.join(","),
        }
    }

    /// Checks the patterns are globs (before anything is built). `setting` names the setting
    /// in messages (`freeze`).
    pub fn validate(&self, setting: &str) -> Result<(), String> {
        if let Self::Matching(patterns) = self {
            if patterns.is_empty() {
                return Err(format!("`{setting}` needs at least one layer-name pattern"));
            }
            for pattern in patterns {
                glob::Pattern::new(pattern).map_err(|e| {
                    format!("`{setting}`: `{pattern}` is not a valid pattern ({e})")
                })?;
            }
        }
        Ok(())
    }

    /// The tensors of `module` this selects; a pattern that selects no parameter is an error
    /// naming the pattern and some of the names there are (`setting` names the setting).
    pub fn select<M: Module>(&self, module: &M, setting: &str) -> Result<Selected, String> {
        let tensors = all_tensors(module);
        let head_layer;
        let patterns: Vec<(String, glob::Pattern)> = match self {
            Self::Head => {
                let last = tensors
                    .iter()
                    .rev()
                    .find(|t| t.trainable)
                    .ok_or_else(|| format!("`{setting}`: the network has no parameters"))?;
                head_layer = parent(&last.path).to_string();
                vec![(head_layer.clone(), exact(&head_layer))]
            }
            Self::Matching(patterns) => patterns
                .iter()
                .map(|p| {
                    glob::Pattern::new(p)
                        .map(|g| (p.clone(), g))
                        .map_err(|e| format!("`{setting}`: `{p}` is not a valid pattern ({e})"))
                })
                .collect::<Result<_, _>>()?,
        };
        let mut selected = Selected::default();
        let mut used = vec![false; patterns.len()];
        for tensor in &tensors {
            let mut hit = false;
            for (i, (_, pattern)) in patterns.iter().enumerate() {
                if self_or_ancestor_matches(pattern, &tensor.path) {
                    used[i] |= tensor.trainable;
                    hit = true;
                }
            }
            if hit {
                selected.ids.push(tensor.id);
                if tensor.trainable && !selected.params.contains(&tensor.path) {
                    selected.params.push(tensor.path.clone());
                }
            }
        }
        if let Some(i) = used.iter().position(|u| !u) {
            return Err(format!(
                "`{setting}`: `{}` matches no parameter of the network (its layers are named like {}; `inception summary` lists them all)",
                patterns[i].0,
                layer_examples(&tensors)
            ));
        }
        Ok(selected)
    }
}

/// Freezes the tensors of `module` that `patterns` select (see the module's documentation),
/// and says which; an error names a pattern that selects nothing.
pub fn freeze<M: Module>(module: M, patterns: &[String]) -> Result<(M, Selected), String> {
    let selection = ParamSelection::Matching(patterns.to_vec());
    let selected = selection.select(&module, "freeze")?;
    Ok((module.freeze_group(selected.group()), selected))
}

/// One tensor or flag of a module.
struct Entry {
    path: String,
    id: ParamId,
    /// A parameter trained by the optimizer (not a batch-norm statistic, not a flag).
    trainable: bool,
}

/// Every float tensor and training flag of `module` with its path, in order.
fn all_tensors<M: Module>(module: &M) -> Vec<Entry> {
    let tensors = tensor_paths(module).into_iter().map(|(path, id, _)| Entry {
        trainable: !is_buffer(&path),
        path,
        id,
    });
    let flags = flag_paths(module).into_iter().map(|(path, id)| Entry {
        path,
        id,
        trainable: false,
    });
    tensors.chain(flags).collect()
}

/// A pattern matching `text` exactly.
fn exact(text: &str) -> glob::Pattern {
    glob::Pattern::new(&glob::Pattern::escape(text)).expect("an escaped pattern is valid")
}

/// `b1.0` of `b1.0.weight`.
fn parent(path: &str) -> &str {
    path.rsplit_once('.').map_or("", |(layer, _)| layer)
}

/// Whether `pattern` matches `path` or one of its dotted prefixes.
fn self_or_ancestor_matches(pattern: &glob::Pattern, path: &str) -> bool {
    let mut prefix = path;
    loop {
        if pattern.matches(prefix) {
            return true;
        }
        match prefix.rsplit_once('.') {
            Some((up, _)) => prefix = up,
            None => return false,
        }
    }
}

/// A few of the network's layer names, for a pattern that matched nothing.
fn layer_examples(tensors: &[Entry]) -> String {
    let mut layers: Vec<&str> = Vec::new();
    for tensor in tensors.iter().filter(|t| t.trainable) {
        let layer = parent(&tensor.path);
        if !layers.contains(&layer) {
            layers.push(layer);
        }
    }
    let shown: Vec<&str> = layers.iter().take(6).copied().collect();
    let more = if layers.len() > shown.len() {
        ", ..."
    } else {
        ""
    };
    format!("{}{more}", shown.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pattern_matches_a_path_or_a_layer_above_it() {
        let p = |s: &str| glob::Pattern::new(s).unwrap();
        assert!(self_or_ancestor_matches(&p("b1"), "b1.0.weight"));
        assert!(self_or_ancestor_matches(&p("b1.*"), "b1.0.weight"));
        assert!(self_or_ancestor_matches(&p("*.bias"), "b3.0.p1.bias"));
        assert!(self_or_ancestor_matches(
            &p("b3.?.p2_*"),
            "b3.1.p2_2.weight"
        ));
        assert!(!self_or_ancestor_matches(&p("b1"), "b10.0.weight"));
        assert!(!self_or_ancestor_matches(&p("b2.*"), "b1.0.weight"));
    }

    #[test]
    fn patterns_are_a_comma_separated_list() {
        assert_eq!(
            ParamSelection::parse_list("b1.*, b2.* ,"),
            vec!["b1.*".to_string(), "b2.*".to_string()]
        );
        let bad = ParamSelection::Matching(vec!["b[1".into()]);
        assert!(bad.validate("freeze").unwrap_err().contains("`b[1`"));
    }
}
