//! Batch norm with its statistics synchronized across the ranks of a data-parallel run
//! (PyTorch's `SyncBatchNorm`, `inception train --sync-bn`): while a [`SyncBatchNorm`] guard
//! lives, every batch norm in training on this thread adds its per-channel sums to the other
//! ranks' (two all-reduces of `C + 1` numbers in the forward pass, one of `2C + 1` in the
//! backward pass), so each rank normalizes with the statistics of the global batch and its
//! input gradient is the global batch's.
//!
//! Why a thread-local and not an argument: the sums run inside autodiff's backward pass, which
//! burn calls with no way to hand it anything, and only the training thread may call MPI (it
//! is started with funneled threading). The training loop installs the sum for the duration
//! of a run (`train::fit`).

use std::cell::RefCell;
use std::rc::Rc;

use super::norm_kernels::{this_rank_only, AcrossRanks};

/// Replaces per-channel sums with their sums over all ranks (an all-reduce).
pub type RankSum = Rc<dyn Fn(&mut [f64])>;

thread_local! {
    static RANK_SUM: RefCell<Option<RankSum>> = const { RefCell::new(None) };
}

/// While this lives, batch norm in training on this thread uses all ranks' statistics.
#[must_use = "batch norm is synchronized only while the guard lives"]
pub struct SyncBatchNorm {
    previous: Option<RankSum>,
}

/// Synchronizes batch norm's statistics with `sum` until the returned guard is dropped.
pub fn sync_batch_norm(sum: RankSum) -> SyncBatchNorm {
    let previous = RANK_SUM.with(|s| s.borrow_mut().replace(sum));
    SyncBatchNorm { previous }
}

impl Drop for SyncBatchNorm {
    fn drop(&mut self) {
        let previous = self.previous.take();
        RANK_SUM.with(|s| *s.borrow_mut() = previous);
    }
}

/// Whether batch norm on this thread is synchronized across ranks now.
pub fn batch_norm_synced() -> bool {
    RANK_SUM.with(|s| s.borrow().is_some())
}

/// Runs `f` with the installed sum across ranks when `across_ranks`, else with this rank's
/// statistics alone.
pub(super) fn with_ranks<R>(across_ranks: bool, f: impl FnOnce(AcrossRanks) -> R) -> R {
    if !across_ranks {
        return f(&this_rank_only);
    }
    let sum = RANK_SUM.with(|s| s.borrow().clone()).expect(
        "batch norm synchronized across ranks runs on the thread and during the run that \
         installed the sum (sync_batch_norm)",
    );
    f(&*sum)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_guard_installs_and_restores() {
        assert!(!batch_norm_synced());
        {
            let doubled: RankSum = Rc::new(|v: &mut [f64]| v.iter_mut().for_each(|x| *x *= 2.0));
            let _guard = sync_batch_norm(doubled);
            assert!(batch_norm_synced());
            let mut values = [1.0, 2.0];
            with_ranks(true, |across| across(&mut values));
            assert_eq!(values, [2.0, 4.0]);
            with_ranks(false, |across| across(&mut values));
            assert_eq!(values, [2.0, 4.0]);
            // Another thread has its own (none).
            std::thread::spawn(|| assert!(!batch_norm_synced()))
                .join()
                .unwrap();
        }
        assert!(!batch_norm_synced());
    }
}
