//! Data-parallel training on MPI (cargo feature `mpi`, Open MPI's `mpirun`): two ranks train
//! as one process does on the same global batch, rank 0 alone writes, a rank that dies ends
//! the job with a message, and the run resumes on another number of ranks.
//!
//! `cargo test --release --features mpi --test mpi` (`.ci/run` installs Open MPI).
#![cfg(feature = "mpi")]

mod common;

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_inception");

/// `inception train` of LeNet on the first `images` Fashion-MNIST training images (batch 128,
/// SGD 0.1, every step's running loss logged), one thread per rank.
fn train_args(out: &Path, images: usize, epochs: usize) -> Vec<String> {
    let data = common::fashion_mnist_dir();
    [
        "train",
        "--model",
        "lenet",
        "--data",
        data.to_str().unwrap(),
        "--no-download",
        "--limit-train",
        &images.to_string(),
        "--limit-test",
        "500",
        "--epochs",
        &epochs.to_string(),
        "--batch-size",
        "128",
        "--lr",
        "0.1",
        "--seed",
        "3",
        "--log-every",
        "1",
        "--threads",
        "1",
        "--out",
        out.to_str().unwrap(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

fn mpirun(ranks: usize) -> Command {
    let mut command = Command::new("mpirun");
    command.args([
        "--allow-run-as-root",
        "--oversubscribe",
        "-np",
        &ranks.to_string(),
        BIN,
    ]);
    command
}

fn succeeded(output: Output) -> String {
    let stdout = String::from_utf8_lossy(&output.stdout).to_string();
    assert!(
        output.status.success(),
        "failed: {}\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// The running losses of steps.csv, in step order.
fn step_losses(out: &Path) -> Vec<f64> {
    let mut reader = csv::Reader::from_path(out.join("steps.csv")).unwrap();
    reader
        .records()
        .map(|r| r.unwrap()[2].parse::<f64>().unwrap())
        .collect()
}

/// (train loss, train acc, test acc) of each epoch, from metrics.csv.
fn epochs(out: &Path) -> Vec<[f64; 3]> {
    let mut reader = csv::Reader::from_path(out.join("metrics.csv")).unwrap();
    let headers = reader.headers().unwrap().clone();
    let column = |name: &str| headers.iter().position(|h| h == name).unwrap();
    let (loss, train, test) = (column("loss"), column("train_acc"), column("test_acc"));
    reader
        .records()
        .map(|r| {
            let r = r.unwrap();
            [loss, train, test].map(|c| r[c].parse::<f64>().unwrap())
        })
        .collect()
}

/// The per-step losses behind running means `running` (step k's mean over the epoch so far).
fn per_step(running: &[f64]) -> Vec<f64> {
    running
        .iter()
        .enumerate()
        .map(|(k, mean)| {
            let before = if k == 0 {
                0.0
            } else {
                running[k - 1] * k as f64
            };
            mean * (k + 1) as f64 - before
        })
        .collect()
}

#[test]
fn two_ranks_train_as_one_process_on_the_same_global_batch() {
    let dir = tempfile::tempdir().unwrap();
    let (one, two) = (dir.path().join("one"), dir.path().join("two"));
    // 20 steps of 128 images.
    succeeded(
        Command::new(BIN)
            .args(train_args(&one, 2560, 1))
            .output()
            .unwrap(),
    );
    let stdout = succeeded(mpirun(2).args(train_args(&two, 2560, 1)).output().unwrap());
    // Rank 0 alone speaks.
    assert_eq!(stdout.matches("training lenet on").count(), 1, "{stdout}");
    assert!(
        stdout.contains("data-parallel: 2 ranks") && stdout.contains("64 images per rank"),
        "{stdout}"
    );
    let (a, b) = (per_step(&step_losses(&one)), per_step(&step_losses(&two)));
    assert_eq!(a.len(), 20);
    assert_eq!(b.len(), 20);
    for (step, (x, y)) in a.iter().zip(&b).enumerate() {
        assert!(
            (x - y).abs() < 1e-4,
            "step {}: one process {x}, two ranks {y}",
            step + 1
        );
    }
    // The loss went down: the comparison is between two runs that learned.
    assert!(a[19] < a[0] - 0.5, "{a:?}");
    let (a, b) = (epochs(&one)[0], epochs(&two)[0]);
    assert!((a[0] - b[0]).abs() < 1e-4, "{a:?} vs {b:?}");
    assert_eq!(a[1], b[1], "train accuracy");
    // 500 test images: at most one answer may differ.
    assert!((a[2] - b[2]).abs() <= 1.0 / 500.0 + 1e-9, "{a:?} vs {b:?}");
}

/// The process ids of rank `rank` of the `inception` job writing to `out` (from their
/// command lines and environments: the other tests' jobs run at the same time).
fn rank_pids(rank: usize, out: &Path) -> Vec<u32> {
    let mut pids = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(exe) = std::fs::read_link(entry.path().join("exe")) else {
            continue;
        };
        if exe != Path::new(BIN).canonicalize().unwrap() {
            continue;
        }
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        if !cmdline
            .split(|&b| b == 0)
            .any(|arg| arg == out.as_os_str().as_encoded_bytes())
        {
            continue;
        }
        let Ok(environ) = std::fs::read(entry.path().join("environ")) else {
            continue;
        };
        let wanted = format!("OMPI_COMM_WORLD_RANK={rank}");
        if environ.split(|&b| b == 0).any(|v| v == wanted.as_bytes()) {
            pids.push(pid);
        }
    }
    pids
}

#[test]
fn a_dead_rank_ends_the_job_and_the_run_resumes_on_one_rank() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    // 5 epochs of 50 steps: killed during the second.
    let job = mpirun(2)
        .args(train_args(&out, 6400, 5))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while !out.join("model.ckpt").exists() {
        assert!(
            started.elapsed() < Duration::from_secs(300),
            "no checkpoint after 300 s"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let pids = rank_pids(1, &out);
    assert_eq!(pids.len(), 1, "rank 1's process: {pids:?}");
    Command::new("kill")
        .args(["-KILL", &pids[0].to_string()])
        .status()
        .unwrap();
    let killed = Instant::now();
    let output = job.wait_with_output().unwrap();
    let waited = killed.elapsed();
    assert!(
        waited < Duration::from_secs(30),
        "the job took {waited:?} to end"
    );
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    // Open MPI names the rank; ours says what is left and how to go on.
    assert!(stderr.contains("rank 1"), "{stderr}");
    assert!(
        stderr.contains("--resume") && stderr.contains(out.to_str().unwrap()),
        "{stderr}"
    );
    // The checkpoint is whole: the run resumes from it in one process and finishes.
    let stdout = succeeded(
        Command::new(BIN)
            .args([
                "train",
                "--resume",
                out.to_str().unwrap(),
                "--threads",
                "1",
                "--data",
                common::fashion_mnist_dir().to_str().unwrap(),
            ])
            .output()
            .unwrap(),
    );
    assert!(stdout.contains("resuming from"), "{stdout}");
    assert_eq!(epochs(&out).len(), 5);
}

#[test]
fn a_batch_that_does_not_split_into_the_ranks_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut args = train_args(&dir.path().join("run"), 256, 1);
    let batch = args.iter().position(|a| a == "--batch-size").unwrap();
    args[batch + 1] = "125".into();
    let output = mpirun(2).args(&args).output().unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("does not split evenly into 2 ranks"),
        "{stderr}"
    );
}
