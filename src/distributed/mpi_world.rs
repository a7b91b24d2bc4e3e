//! The collective operations on MPI (cargo feature `mpi`): rsmpi over the system's MPI
//! library (Open MPI on Debian), the engine `mpirun` and Slurm's `srun` start ranks with.

use std::rc::Rc;

use mpi::collective::SystemOperation;
use mpi::environment::Universe;
use mpi::topology::SimpleCommunicator;
use mpi::traits::{Communicator, CommunicatorCollectives, Equivalence};
use mpi::Threading;

use super::Collective;
use crate::flex::RankSum;

/// All the ranks `mpirun` (or `srun`) started: MPI's world communicator. MPI is finalized
/// when this is dropped.
pub struct MpiWorld {
    world: SimpleCommunicator,
    // Dropped last: finalizes MPI.
    _universe: Universe,
}

impl MpiWorld {
    /// Starts MPI when this process was started by an MPI launcher (`mpirun`, `mpiexec`,
    /// `srun` with PMI or PMIx); `None` for a process started on its own, which then trains
    /// alone without touching MPI.
    pub fn from_launcher() -> Option<Self> {
        const LAUNCHER_VARIABLES: [&str; 4] = [
            "OMPI_COMM_WORLD_SIZE",
            "PMI_SIZE",
            "PMIX_RANK",
            "MPI_LOCALNRANKS",
        ];
        if !LAUNCHER_VARIABLES
            .iter()
            .any(|v| std::env::var_os(v).is_some())
        {
            return None;
        }
        // Only the main thread calls MPI (burn's and rayon's threads never do).
        let (universe, _) = mpi::initialize_with_threading(Threading::Funneled)?;
        Some(Self {
            world: universe.world(),
            _universe: universe,
        })
    }

    /// Ends every rank of the job with `code` (MPI_Abort): one rank's error would otherwise
    /// leave the others waiting in their next all-reduce.
    pub fn abort(&self, code: i32) -> ! {
        self.world.abort(code)
    }
}

/// Replaces `values` on every rank of `world` with their elementwise sum over the ranks.
fn sum_in_place<T: Equivalence + Clone>(world: &SimpleCommunicator, values: &mut [T]) {
    // rsmpi's all-reduce takes separate send and receive buffers.
    let send = values.to_vec();
    world.all_reduce_into(&send[..], values, SystemOperation::sum());
}

impl Collective for MpiWorld {
    fn rank(&self) -> usize {
        self.world.rank() as usize
    }

    fn size(&self) -> usize {
        self.world.size() as usize
    }

    fn sum_f32(&self, values: &mut [f32]) {
        sum_in_place(&self.world, values);
    }

    fn sum_f64(&self, values: &mut [f64]) {
        sum_in_place(&self.world, values);
    }

    fn shared_sum_f64(&self) -> Option<RankSum> {
        // MPI's world communicator is a predefined handle: a copy needs no ownership, and it
        // stays valid while MPI is initialized (as long as `self`, which the run outlives).
        Some(Rc::new(|values: &mut [f64]| {
            sum_in_place(&SimpleCommunicator::world(), values)
        }))
    }

    fn describe(&self) -> String {
        let library = mpi::environment::library_version()
            .ok()
            .and_then(|v| v.split([',', '\n']).next().map(|l| l.trim().to_string()))
            .unwrap_or_else(|| "MPI".to_string());
        format!("{} ranks on {library}", self.size())
    }
}
