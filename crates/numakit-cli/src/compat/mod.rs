//! The compatibility interfaces chosen by argv[0] (or `numakit numactl`,
//! `numakit migratepages`), side by side: each reads the original tool's
//! arguments the way it does, translates them into library calls, and
//! words its answers and errors as the original does.

pub mod migratepages;
pub mod numactl;
pub mod numastat;
