//! The ranks a `train` command runs as: all the processes `mpirun` or `srun` started (with the
//! cargo feature `mpi`), or this process alone.

use crate::distributed::{Collective, Solo};

/// The ranks of this command, and how the command ends on each.
pub struct Ranks {
    #[cfg(feature = "mpi")]
    mpi: Option<crate::distributed::MpiWorld>,
}

impl Ranks {
    /// MPI's world when a launcher started this process and the binary has MPI; else one
    /// process.
    pub fn start() -> Self {
        Self {
            #[cfg(feature = "mpi")]
            mpi: crate::distributed::MpiWorld::from_launcher(),
        }
    }

    pub fn world(&self) -> &dyn Collective {
        #[cfg(feature = "mpi")]
        if let Some(mpi) = &self.mpi {
            return mpi;
        }
        &Solo
    }

    /// How many ranks of this job share this machine (Open MPI's and Slurm's own counts), for
    /// the default number of threads per rank.
    pub fn on_this_machine(&self) -> usize {
        if self.world().size() == 1 {
            return 1;
        }
        [
            "OMPI_COMM_WORLD_LOCAL_SIZE",
            "MPI_LOCALNRANKS",
            "SLURM_NTASKS_PER_NODE",
        ]
        .iter()
        .find_map(|v| std::env::var(v).ok()?.parse::<usize>().ok())
        .unwrap_or(1)
        .max(1)
    }

    /// Ends the command: with several ranks, an error on any of them is printed (naming the
    /// rank) and ends every rank of the job at once, since the others would wait for this one
    /// in their next all-reduce forever.
    pub fn finish(self, result: anyhow::Result<()>) -> anyhow::Result<()> {
        #[cfg(feature = "mpi")]
        if let (Err(error), Some(mpi)) = (&result, &self.mpi) {
            if mpi.size() > 1 {
                let code = super::report_error(error, Some(mpi.rank()));
                mpi.abort(i32::from(code));
            }
        }
        result
    }
}
