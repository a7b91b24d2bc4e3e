//! What a training run measures, shared by the loop that records it and the figures that
//! draw it: each epoch's figures ([`EpochReport`]), the running loss every few steps
//! ([`StepLoss`]), and an evaluation with its confusion matrix ([`EvalReport`]).

use serde::{Deserialize, Serialize};

/// One epoch's figures, as `train_ch5` prints them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
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
    /// The fraction of examples whose true class is among the model's 5 highest scores; only
    /// for models of more than 5 classes.
    #[serde(default)]
    pub top5: Option<f64>,
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

    /// Examples predicted as class `predicted`.
    pub fn predicted(&self, predicted: usize) -> u64 {
        (0..self.classes).map(|t| self.count(t, predicted)).sum()
    }

    /// Precision, recall and F1 of class `c`, as scikit-learn's `classification_report`
    /// computes them (a ratio with nothing to divide by is 0).
    pub fn scores(&self, c: usize) -> ClassScores {
        let right = self.count(c, c) as f64;
        let ratio = |n: f64, d: u64| if d == 0 { 0.0 } else { n / d as f64 };
        let precision = ratio(right, self.predicted(c));
        let recall = ratio(right, self.support(c));
        let f1 = if precision + recall > 0.0 {
            2.0 * precision * recall / (precision + recall)
        } else {
            0.0
        };
        ClassScores {
            precision,
            recall,
            f1,
            support: self.support(c),
        }
    }

    /// The classes that occur or are predicted (scikit-learn's labels of a report).
    pub fn seen_classes(&self) -> Vec<usize> {
        (0..self.classes)
            .filter(|&c| self.support(c) > 0 || self.predicted(c) > 0)
            .collect()
    }

    /// The macro average (each class alike) and the average weighted by support of the
    /// classes' scores, over [`Self::seen_classes`].
    pub fn averages(&self) -> [ClassScores; 2] {
        let classes = self.seen_classes();
        let all: Vec<ClassScores> = classes.iter().map(|&c| self.scores(c)).collect();
        let total: u64 = all.iter().map(|s| s.support).sum();
        let mean = |weight: &dyn Fn(&ClassScores) -> f64| {
            let sum: f64 = all.iter().map(weight).sum();
            let of = |f: fn(&ClassScores) -> f64| {
                let weighted: f64 = all.iter().map(|s| weight(s) * f(s)).sum();
                if sum > 0.0 {
                    weighted / sum
                } else {
                    0.0
                }
            };
            ClassScores {
                precision: of(|s| s.precision),
                recall: of(|s| s.recall),
                f1: of(|s| s.f1),
                support: total,
            }
        };
        [mean(&|_| 1.0), mean(&|s| s.support as f64)]
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

/// How well one class is recognized.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ClassScores {
    /// Of the examples predicted as the class, the fraction that are.
    pub precision: f64,
    /// Of the examples of the class, the fraction predicted as it.
    pub recall: f64,
    /// The harmonic mean of the two.
    pub f1: f64,
    /// Examples of the class.
    pub support: u64,
}

/// The first `width` characters of a class name, for a column heading.
pub fn short(name: &str, width: usize) -> String {
    name.chars().take(width).collect()
}
