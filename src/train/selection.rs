//! Model selection: which epoch's weights to keep (`best.ckpt`) by a metric of the held-out
//! set evaluated after every epoch, and early stopping when it has not improved for a while
//! (Keras's `ModelCheckpoint(save_best_only=True)` and `EarlyStopping(patience=N)`).
//!
//! Everything is a function of the run's history of epochs, which checkpoints keep: a resumed
//! run knows its best epoch and whether to stop exactly as the uninterrupted run did.

use serde::{Deserialize, Serialize};

use crate::history::EpochReport;

/// The metric that chooses the best epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SelectMetric {
    /// Accuracy on the held-out set: higher is better.
    ValAcc,
    /// Mean cross-entropy on the held-out set: lower is better.
    ValLoss,
}

impl SelectMetric {
    /// Its name on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Self::ValAcc => "val_acc",
            Self::ValLoss => "val_loss",
        }
    }

    /// Its value after the epoch of `report`.
    pub fn value(self, report: &EpochReport) -> f64 {
        match self {
            Self::ValAcc => report.test_acc,
            Self::ValLoss => report.test_loss,
        }
    }

    /// Whether `value` improves on `best` (strictly: a tie keeps the earlier epoch).
    fn improves(self, value: f64, best: f64) -> bool {
        match self {
            Self::ValAcc => value > best,
            Self::ValLoss => value < best,
        }
    }

    /// The best epoch of `history` (1-based) with its value: the first to reach the best
    /// value.
    pub fn best(self, history: &[EpochReport]) -> Option<(usize, f64)> {
        let mut best: Option<(usize, f64)> = None;
        for report in history {
            let value = self.value(report);
            if best.is_none_or(|(_, b)| self.improves(value, b)) {
                best = Some((report.epoch, value));
            }
        }
        best
    }
}

/// With early stopping after `patience` epochs without improvement: whether the run of
/// `history` stops now, with the best epoch and its value.
pub fn stops_early(
    metric: SelectMetric,
    patience: usize,
    history: &[EpochReport],
) -> Option<(usize, f64)> {
    let (best_epoch, value) = metric.best(history)?;
    let last = history.last()?.epoch;
    (last - best_epoch >= patience).then_some((best_epoch, value))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn history(accs: &[f64]) -> Vec<EpochReport> {
        accs.iter()
            .enumerate()
            .map(|(i, &acc)| EpochReport {
                epoch: i + 1,
                test_acc: acc,
                test_loss: 1.0 - acc,
                ..EpochReport::default()
            })
            .collect()
    }

    #[test]
    fn the_best_epoch_is_the_first_to_reach_the_best_value() {
        let h = history(&[0.5, 0.7, 0.6, 0.7]);
        assert_eq!(SelectMetric::ValAcc.best(&h), Some((2, 0.7)));
        assert_eq!(SelectMetric::ValLoss.best(&h).map(|b| b.0), Some(2));
        assert_eq!(SelectMetric::ValAcc.best(&[]), None);
    }

    #[test]
    fn early_stopping_waits_patience_epochs_after_the_best() {
        let h = history(&[0.5, 0.7, 0.6, 0.65]);
        assert_eq!(stops_early(SelectMetric::ValAcc, 2, &h), Some((2, 0.7)));
        assert_eq!(stops_early(SelectMetric::ValAcc, 3, &h), None);
        assert_eq!(stops_early(SelectMetric::ValAcc, 2, &h[..3]), None);
    }
}
