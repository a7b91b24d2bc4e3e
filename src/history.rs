//! What a training run measures, shared by the loop that records it and the figures that
//! draw it: each epoch's figures ([`EpochReport`]), the running loss every few steps
//! ([`StepLoss`]), and an evaluation with its confusion matrix ([`EvalReport`]).

use serde::{Deserialize, Serialize};

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
    /// Seconds inside the optimizer steps (forward, loss, backward, update); the rest of
    /// `seconds` went to waiting for batches and to the test pass.
    #[serde(default)]
    pub step_seconds: f64,
    /// Training images per second.
    pub images_per_sec: f64,
    /// Learning rate of the epoch.
    #[serde(default)]
    pub lr: f64,
}

/// The running training loss of an epoch, recorded every `log_every` steps.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepLoss {
    /// Optimizer steps since the start of the run.
    pub step: u64,
    pub epoch: usize,
    /// Mean training loss over the epoch so far.
    pub loss: f64,
    pub lr: f64,
}

impl EpochReport {
    /// The article's line: `epoch 1, loss 2.1157, train acc 0.210, test acc 0.511, time 154.6 sec`.
    pub fn line(&self) -> String {
        format!(
            "epoch {}, loss {:.4}, train acc {:.3}, test acc {:.3}, time {:.1} sec",
            self.epoch, self.loss, self.train_acc, self.test_acc, self.seconds
        )
    }
}

/// Loss and accuracy over a whole split, with every prediction.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalReport {
    /// Mean cross-entropy per example.
    pub loss: f64,
    pub accuracy: f64,
    pub images: usize,
    /// The predicted class of every example, in the loader's order.
    #[serde(default)]
    pub predictions: Vec<u32>,
    /// True class against predicted class.
    #[serde(default)]
    pub confusion: Confusion,
}

/// A confusion matrix: `count(t, p)` examples of class `t` were predicted as `p`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Confusion {
    pub classes: usize,
    /// Row-major, `classes * classes`.
    pub counts: Vec<u64>,
}

impl Confusion {
    /// Models with more classes than this (ImageNet's 1000 fit) keep no matrix.
    pub const MAX_CLASSES: usize = 1000;

    pub fn new(classes: usize) -> Self {
        let classes = if classes <= Self::MAX_CLASSES {
            classes
        } else {
            0
        };
        Self {
            classes,
            counts: vec![0; classes * classes],
        }
    }

    pub fn add(&mut self, truth: usize, predicted: usize) {
        if truth < self.classes && predicted < self.classes {
            self.counts[truth * self.classes + predicted] += 1;
        }
    }

    pub fn count(&self, truth: usize, predicted: usize) -> u64 {
        self.counts[truth * self.classes + predicted]
    }

    /// Examples of class `truth`.
    pub fn support(&self, truth: usize) -> u64 {
        (0..self.classes).map(|p| self.count(truth, p)).sum()
    }

    /// The fraction of class `truth` predicted right (recall), `None` without examples.
    pub fn class_accuracy(&self, truth: usize) -> Option<f64> {
        let support = self.support(truth);
        (support > 0).then(|| self.count(truth, truth) as f64 / support as f64)
    }

    /// Above this many classes, [`Self::table`] lists the classes instead of the matrix (a
    /// terminal has no room for its columns; the figure has).
    pub const TABLE_CLASSES: usize = 20;

    /// The matrix as text: a row per true class with its counts and accuracy, `names` giving
    /// the class names (numbers where missing). Classes that neither occur nor are predicted
    /// are left out. Above [`Self::TABLE_CLASSES`] classes, a row per class with its images,
    /// accuracy and the class it is most often taken for, instead.
    pub fn table(&self, names: &[&str]) -> String {
        let name = |c: usize| {
            names
                .get(c)
                .map_or_else(|| c.to_string(), |n| n.to_string())
        };
        let predicted = |c: usize| (0..self.classes).any(|t| self.count(t, c) > 0);
        let shown: Vec<usize> = (0..self.classes)
            .filter(|&c| self.support(c) > 0 || predicted(c))
            .collect();
        if shown.len() > Self::TABLE_CLASSES {
            return self.class_list(&shown, &name);
        }
        let width = shown
            .iter()
            .map(|&c| name(c).len())
            .max()
            .unwrap_or(4)
            .max(10);
        let cell = self
            .counts
            .iter()
            .max()
            .map_or(1, |m| m.to_string().len())
            .max(4);
        let mut out = format!("{:>width$}  predicted as\n{:>width$}", "true class", "");
        for &p in &shown {
            out += &format!(" {:>cell$}", short(&name(p), cell));
        }
        out += "  accuracy\n";
        for &t in &shown {
            out += &format!("{:>width$}", name(t));
            for &p in &shown {
                out += &format!(" {:>cell$}", self.count(t, p));
            }
            match self.class_accuracy(t) {
                Some(acc) => out += &format!("  {acc:>8.3}\n"),
                None => out += &format!("  {:>8}\n", "-"),
            }
        }
        out
    }
}

impl Confusion {
    /// One line per class: images, right answers, accuracy, the most frequent mistake.
    fn class_list(&self, shown: &[usize], name: &dyn Fn(usize) -> String) -> String {
        let width = shown
            .iter()
            .map(|&c| name(c).len())
            .max()
            .unwrap_or(5)
            .max(5);
        let mut out = format!(
            "{:>width$}  {:>7}  {:>7}  {:>8}  most often taken for\n",
            "class", "images", "right", "accuracy"
        );
        for &t in shown {
            let accuracy = self
                .class_accuracy(t)
                .map_or_else(|| "-".to_string(), |a| format!("{a:.3}"));
            let mistake = shown
                .iter()
                .filter(|&&p| p != t && self.count(t, p) > 0)
                .max_by_key(|&&p| (self.count(t, p), std::cmp::Reverse(p)))
                .map_or_else(String::new, |&p| {
                    format!("{} ({})", name(p), self.count(t, p))
                });
            out += &format!(
                "{:>width$}  {:>7}  {:>7}  {accuracy:>8}  {mistake}\n",
                name(t),
                self.support(t),
                self.count(t, t)
            );
        }
        out
    }
}

/// The first `width` characters of a class name, for a column heading.
pub fn short(name: &str, width: usize) -> String {
    name.chars().take(width).collect()
}
