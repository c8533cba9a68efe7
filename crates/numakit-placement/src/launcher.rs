//! The environment a worker was started in: the launcher's local rank and
//! how many ranks share the machine, and the variables GPU frameworks read.
//!
//! Launchers set the local rank under different names; the first one set
//! wins, in this order, each with the variable that holds the local size:
//!
//! | rank | local size | launcher |
//! |---|---|---|
//! | `LOCAL_RANK` | `LOCAL_WORLD_SIZE` | torchrun, DeepSpeed, Accelerate |
//! | `SLURM_LOCALID` | `SLURM_STEP_TASKS_PER_NODE` (else `SLURM_TASKS_PER_NODE`) at `SLURM_NODEID` | Slurm `srun` |
//! | `OMPI_COMM_WORLD_LOCAL_RANK` | `OMPI_COMM_WORLD_LOCAL_SIZE` | Open MPI |
//! | `MPI_LOCALRANKID` | `MPI_LOCALNRANKS` | MPICH Hydra, Intel MPI |
//! | `PMI_LOCAL_RANK` | `PMI_LOCAL_SIZE` | Cray PALS, PMIx |
//!
//! Slurm writes tasks per node as a list with repeats (`2(x3),1`: three
//! nodes with 2 tasks, then one with 1); `SLURM_NODEID` picks this node's.
//! A value that is set but not a number is an error, never skipped.

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;

use crate::{Error, Result};

/// Every variable [`EnvVars::from_process`] keeps.
pub const VARIABLES: [&str; 16] = [
    "LOCAL_RANK",
    "LOCAL_WORLD_SIZE",
    "SLURM_LOCALID",
    "SLURM_STEP_TASKS_PER_NODE",
    "SLURM_TASKS_PER_NODE",
    "SLURM_NODEID",
    "OMPI_COMM_WORLD_LOCAL_RANK",
    "OMPI_COMM_WORLD_LOCAL_SIZE",
    "MPI_LOCALRANKID",
    "MPI_LOCALNRANKS",
    "PMI_LOCAL_RANK",
    "PMI_LOCAL_SIZE",
    "CUDA_VISIBLE_DEVICES",
    "CUDA_DEVICE_ORDER",
    "HIP_VISIBLE_DEVICES",
    "ROCR_VISIBLE_DEVICES",
];

/// The launcher and GPU variables of a process, as values (tests build them
/// from pairs; commands read their own process).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EnvVars(BTreeMap<String, String>);

impl EnvVars {
    /// This process's values of [`VARIABLES`] (lossily, when not UTF-8).
    pub fn from_process() -> EnvVars {
        EnvVars(
            VARIABLES
                .iter()
                .filter_map(|k| {
                    let v = std::env::var_os(k)?;
                    Some((k.to_string(), v.to_string_lossy().into_owned()))
                })
                .collect(),
        )
    }

    /// From `NAME`/value pairs.
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> EnvVars {
        EnvVars(
            pairs
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    /// One variable's value.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    /// The GPU frameworks' variables.
    pub fn gpu(&self) -> numakit_topo::gpu::GpuEnv {
        numakit_topo::gpu::GpuEnv::from_lookup(|k| self.get(k).map(str::to_string))
    }
}

/// This worker's place among the ranks a launcher started on this machine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LocalRank {
    /// The local rank, from 0.
    pub rank: u32,
    /// How many ranks the launcher started on this machine, when it says.
    pub size: Option<u32>,
    /// The variable the rank came from.
    pub from: &'static str,
    /// The variable the size came from.
    pub size_from: Option<&'static str>,
}

impl fmt::Display for LocalRank {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "local rank {} ({})", self.rank, self.from)?;
        if let (Some(n), Some(src)) = (self.size, self.size_from) {
            write!(f, " of {n} ({src})")?;
        }
        Ok(())
    }
}

/// The rank variables, in the order they are tried, with their size's.
const RANKS: [(&str, &str); 5] = [
    ("LOCAL_RANK", "LOCAL_WORLD_SIZE"),
    ("SLURM_LOCALID", "SLURM_STEP_TASKS_PER_NODE"),
    ("OMPI_COMM_WORLD_LOCAL_RANK", "OMPI_COMM_WORLD_LOCAL_SIZE"),
    ("MPI_LOCALRANKID", "MPI_LOCALNRANKS"),
    ("PMI_LOCAL_RANK", "PMI_LOCAL_SIZE"),
];

fn number(env: &EnvVars, name: &'static str) -> Result<Option<u32>> {
    match env.get(name) {
        None => Ok(None),
        Some(v) => v
            .trim()
            .parse::<u32>()
            .map(Some)
            .map_err(|_| Error::BadLauncherVariable {
                name,
                value: v.to_string(),
                why: "it is not a whole number",
            }),
    }
}

/// Slurm's tasks on this node: `SLURM_STEP_TASKS_PER_NODE` (else
/// `SLURM_TASKS_PER_NODE`) expanded, at `SLURM_NODEID` (0 when unset).
fn slurm_tasks(env: &EnvVars) -> Result<Option<(u32, &'static str)>> {
    let Some((name, list)) = ["SLURM_STEP_TASKS_PER_NODE", "SLURM_TASKS_PER_NODE"]
        .into_iter()
        .find_map(|n| Some((n, env.get(n)?)))
    else {
        return Ok(None);
    };
    let node = number(env, "SLURM_NODEID")?.unwrap_or(0);
    let bad = |why| Error::BadLauncherVariable {
        name,
        value: list.to_string(),
        why,
    };
    let counts = expand_slurm_list(list)
        .ok_or_else(|| bad("it is not a Slurm task count list such as 2(x3),1"))?;
    let n = counts
        .get(node as usize)
        .copied()
        .ok_or_else(|| bad("it has no entry for SLURM_NODEID"))?;
    Ok(Some((n, name)))
}

/// `2(x3),1` → `[2, 2, 2, 1]`; `None` for anything else.
pub fn expand_slurm_list(s: &str) -> Option<Vec<u32>> {
    let mut out = Vec::new();
    for part in s.split(',') {
        let (n, times) = match part.split_once('(') {
            Some((n, rest)) => (
                n,
                rest.strip_prefix('x')?
                    .strip_suffix(')')?
                    .parse::<u32>()
                    .ok()?,
            ),
            None => (part, 1),
        };
        let n: u32 = n.trim().parse().ok()?;
        if times == 0 || times > 100_000 {
            return None;
        }
        out.extend(std::iter::repeat_n(n, times as usize));
    }
    Some(out)
}

/// The local rank the launcher set, if any (see the module documentation).
///
/// # Example
/// ```
/// use numakit_placement::launcher::{EnvVars, local_rank};
/// let env = EnvVars::from_pairs([("SLURM_LOCALID", "1"), ("SLURM_TASKS_PER_NODE", "4(x2)")]);
/// let r = local_rank(&env).unwrap().unwrap();
/// assert_eq!((r.rank, r.size, r.from), (1, Some(4), "SLURM_LOCALID"));
/// ```
pub fn local_rank(env: &EnvVars) -> Result<Option<LocalRank>> {
    for (rank_var, size_var) in RANKS {
        let Some(rank) = number(env, rank_var)? else {
            continue;
        };
        let size = if rank_var == "SLURM_LOCALID" {
            slurm_tasks(env)?
        } else {
            number(env, size_var)?.map(|n| (n, size_var))
        };
        if size.is_some_and(|(n, _)| rank >= n) {
            return Err(Error::BadLauncherVariable {
                name: rank_var,
                value: rank.to_string(),
                why: "it is not below the local size",
            });
        }
        return Ok(Some(LocalRank {
            rank,
            size: size.map(|(n, _)| n),
            from: rank_var,
            size_from: size.map(|(_, s)| s),
        }));
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rank(pairs: &[(&str, &str)]) -> Result<Option<LocalRank>> {
        local_rank(&EnvVars::from_pairs(pairs.iter().copied()))
    }

    #[test]
    fn first_variable_set_wins() {
        assert_eq!(rank(&[]).unwrap(), None);
        let r = rank(&[
            ("PMI_LOCAL_RANK", "3"),
            ("LOCAL_RANK", "1"),
            ("LOCAL_WORLD_SIZE", "2"),
        ])
        .unwrap()
        .unwrap();
        assert_eq!(
            (r.rank, r.size, r.from, r.size_from),
            (1, Some(2), "LOCAL_RANK", Some("LOCAL_WORLD_SIZE"))
        );
        let r = rank(&[
            ("OMPI_COMM_WORLD_LOCAL_RANK", "2"),
            ("MPI_LOCALRANKID", "0"),
        ])
        .unwrap()
        .unwrap();
        assert_eq!(
            (r.rank, r.size, r.from),
            (2, None, "OMPI_COMM_WORLD_LOCAL_RANK")
        );
        let r = rank(&[("MPI_LOCALRANKID", "1"), ("MPI_LOCALNRANKS", "8")])
            .unwrap()
            .unwrap();
        assert_eq!(
            r.to_string(),
            "local rank 1 (MPI_LOCALRANKID) of 8 (MPI_LOCALNRANKS)"
        );
        let r = rank(&[("PMI_LOCAL_RANK", "0"), ("PMI_LOCAL_SIZE", "4")])
            .unwrap()
            .unwrap();
        assert_eq!((r.rank, r.size), (0, Some(4)));
    }

    #[test]
    fn slurm_lists() {
        assert_eq!(expand_slurm_list("2(x3),1"), Some(vec![2, 2, 2, 1]));
        assert_eq!(expand_slurm_list("8"), Some(vec![8]));
        for bad in ["", "2(3)", "x", "2(x0)", "2(x3", "-1"] {
            assert_eq!(expand_slurm_list(bad), None, "{bad}");
        }
        let r = rank(&[
            ("SLURM_LOCALID", "1"),
            ("SLURM_STEP_TASKS_PER_NODE", "4,2"),
            ("SLURM_TASKS_PER_NODE", "8(x2)"),
            ("SLURM_NODEID", "1"),
        ])
        .unwrap()
        .unwrap();
        assert_eq!(
            (r.size, r.size_from),
            (Some(2), Some("SLURM_STEP_TASKS_PER_NODE"))
        );
        assert!(
            rank(&[
                ("SLURM_LOCALID", "0"),
                ("SLURM_TASKS_PER_NODE", "4"),
                ("SLURM_NODEID", "3")
            ])
            .is_err()
        );
        assert_eq!(rank(&[("SLURM_LOCALID", "0")]).unwrap().unwrap().size, None);
    }

    #[test]
    fn garbage_is_an_error() {
        let e = rank(&[("LOCAL_RANK", "one")]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "LOCAL_RANK='one' cannot be used: it is not a whole number"
        );
        let e = rank(&[("LOCAL_RANK", "4"), ("LOCAL_WORLD_SIZE", "4")]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "LOCAL_RANK='4' cannot be used: it is not below the local size"
        );
        assert!(rank(&[("LOCAL_RANK", "0"), ("LOCAL_WORLD_SIZE", "-2")]).is_err());
    }
}
