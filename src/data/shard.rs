//! One rank's share of an epoch in data-parallel training: PyTorch's `DistributedSampler`.
//!
//! Every rank shuffles the whole split with the epoch's seed (the same permutation
//! everywhere), pads it to a multiple of the number of ranks by repeating its start, and takes
//! every `ranks`-th example from position `rank` on. So each rank reads `ceil(len / ranks)`
//! examples, the shards are disjoint but for the padding, and step `s` of every rank with a
//! local batch of `b` reads, across all ranks, exactly the positions `s * b * ranks ..
//! (s + 1) * b * ranks` of the permutation: the global batch a single process would read.
//!
//! Written here rather than taken from burn: burn 0.22's data loaders have no sharding by
//! rank (its `split` hands out contiguous parts, which would give each step other examples
//! than a single process's).

use burn::data::dataset::{Dataset, DatasetError};

/// Which share of each epoch a process reads: rank `rank` of `ranks`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub rank: usize,
    pub ranks: usize,
    /// Pad the epoch to a multiple of `ranks` (training: every rank takes as many steps);
    /// without, each example is read exactly once and the shards differ in length by one at
    /// most (evaluation, whose figures are summed across ranks).
    pub padded: bool,
}

impl Default for Shard {
    /// The whole epoch: a single process.
    fn default() -> Self {
        Self {
            rank: 0,
            ranks: 1,
            padded: true,
        }
    }
}

impl Shard {
    /// The same rank's share without padding: every example once (evaluation).
    pub fn unpadded(self) -> Self {
        Self {
            padded: false,
            ..self
        }
    }

    /// How many examples this rank reads of an epoch of `len` (with the padding, if any).
    pub fn len(&self, len: usize) -> usize {
        if self.padded {
            len.div_ceil(self.ranks)
        } else {
            len.saturating_sub(self.rank).div_ceil(self.ranks)
        }
    }

    /// The epoch position of this rank's `index`-th example (the padding wraps around to the
    /// start of the epoch, as `DistributedSampler` pads with its first examples).
    pub fn position(&self, index: usize, len: usize) -> usize {
        (self.rank + self.ranks * index) % len
    }

    /// Whether this is the whole epoch.
    pub fn is_whole(&self) -> bool {
        self.ranks == 1
    }
}

/// The examples of `inner` (in epoch order) that `shard` reads.
pub struct ShardedDataset<D> {
    pub inner: D,
    pub shard: Shard,
}

impl<I, D: Dataset<I>> Dataset<I> for ShardedDataset<D> {
    fn get(&self, index: usize) -> Result<I, DatasetError> {
        if index >= self.len() {
            return Err(DatasetError::new(std::io::Error::other(format!(
                "example {index} of a shard of {}",
                self.len()
            ))));
        }
        self.inner.get(self.shard.position(index, self.inner.len()))
    }

    fn len(&self) -> usize {
        match self.inner.len() {
            0 => 0,
            len => self.shard.len(len),
        }
    }
}

#[cfg(test)]
mod tests {
    use burn::data::dataset::{Dataset, InMemDataset};

    use super::{Shard, ShardedDataset};

    fn shard(len: usize, rank: usize, ranks: usize) -> Vec<usize> {
        read(
            len,
            Shard {
                rank,
                ranks,
                padded: true,
            },
        )
    }

    fn read(len: usize, shard: Shard) -> Vec<usize> {
        let inner = InMemDataset::new((0..len).collect::<Vec<_>>());
        let sharded = ShardedDataset { inner, shard };
        sharded.iter().map(Result::unwrap).collect()
    }

    #[test]
    fn unpadded_shards_read_every_example_once() {
        let unpadded = |len, rank| {
            read(
                len,
                Shard {
                    rank,
                    ranks: 3,
                    padded: true,
                }
                .unpadded(),
            )
        };
        assert_eq!(unpadded(10, 0), [0, 3, 6, 9]);
        assert_eq!(unpadded(10, 1), [1, 4, 7]);
        assert_eq!(unpadded(10, 2), [2, 5, 8]);
        assert_eq!(unpadded(2, 2), Vec::<usize>::new());
    }

    #[test]
    fn shards_interleave_as_distributed_sampler_does() {
        // torch.utils.data.DistributedSampler(range(10), num_replicas=3, rank=r, shuffle=False)
        // gives [0, 3, 6, 9], [1, 4, 7, 0], [2, 5, 8, 1].
        assert_eq!(shard(10, 0, 3), [0, 3, 6, 9]);
        assert_eq!(shard(10, 1, 3), [1, 4, 7, 0]);
        assert_eq!(shard(10, 2, 3), [2, 5, 8, 1]);
        assert_eq!(shard(10, 0, 1), (0..10).collect::<Vec<_>>());
        assert_eq!(shard(0, 1, 2), Vec::<usize>::new());
    }

    #[test]
    fn each_step_of_all_ranks_reads_the_single_process_batch() {
        let (len, ranks, local_batch) = (100, 4, 8);
        let shards: Vec<Vec<usize>> = (0..ranks).map(|r| shard(len, r, ranks)).collect();
        for step in 0..len / (local_batch * ranks) {
            let mut read: Vec<usize> = shards
                .iter()
                .flat_map(|s| s[step * local_batch..(step + 1) * local_batch].to_vec())
                .collect();
            read.sort();
            let global = step * local_batch * ranks..(step + 1) * local_batch * ranks;
            assert_eq!(read, global.collect::<Vec<_>>(), "step {step}");
        }
    }
}
