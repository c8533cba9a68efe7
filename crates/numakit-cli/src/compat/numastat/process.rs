//! numastat's process tables: for one process (or each, with `-v`) its
//! memory per node as Huge, Heap, Stack and Private; for several, one row
//! per process; a row of dashes and a Total row under either.

use numakit_stat::numa_maps;

use super::table::{Cell, Table};
use super::{MB, Session, strerror};

/// The rows of the per-process table: label, and the `numa_maps` word that
/// puts a line in it (Private takes the rest).
const ROWS: [&str; 4] = ["Huge", "Heap", "Stack", "Private"];

impl Session {
    /// The `Name:` of a process, `(null)` when unreadable (as glibc prints
    /// numastat's NULL).
    fn command_name(&self, pid: i32) -> String {
        numakit_stat::process::name(&self.root, pid).unwrap_or_else(|| "(null)".into())
    }

    /// Adds the pages of `pid` to `row` (or to the category rows when
    /// `row` is `None`); on a read failure says so on stderr, as numastat
    /// does, and returns false.
    fn add_process(&self, t: &mut Table, pid: i32, row: Option<usize>, huge: f64) -> bool {
        let path = format!("/proc/{pid}/numa_maps");
        let text = match self.root.read_to_string(&path) {
            Ok(t) => t,
            Err(e) => {
                crate::output::eprint(&format!("Can't read {path}: {}\n", strerror(&e)));
                return false;
            }
        };
        let page = numakit_placement::page_size() as u64;
        let n = self.nodes.len();
        let total_row =
            2 + if row.is_some() {
                self.opts.pids.len()
            } else {
                ROWS.len()
            } + 1;
        for e in numa_maps::parse_lenient(&text).0 {
            let cat = if e.huge {
                0
            } else if e.heap {
                1
            } else if e.stack {
                2
            } else {
                3
            };
            let size = e.page_size(page, huge as u64) as f64;
            let r = row.unwrap_or(2 + cat);
            for &(node, pages) in &e.nodes {
                let Some(i) = self.nodes.iter().position(|x| *x == node) else {
                    continue;
                };
                let v = pages as f64 * size / MB;
                t.add(r, i + 1, v);
                t.add(r, n + 1, v);
                t.add(total_row, i + 1, v);
                t.add(total_row, n + 1, v);
            }
        }
        true
    }

    /// The process tables of numastat's `-p` and bare PIDs.
    pub(super) fn process_tables(&mut self, huge: f64) {
        let pids = self.opts.pids.clone();
        let sub = self.opts.verbose || pids.len() == 1;
        let data_rows = if sub { ROWS.len() } else { pids.len() };
        let n = self.nodes.len();
        let mut t = Table::new(2, 2 + data_rows + 2, n + 2);
        let total_row = 2 + data_rows + 1;
        t.set(total_row, 0, Cell::Text("Total".into()));
        if sub {
            for (i, l) in ROWS.iter().enumerate() {
                t.set(2 + i, 0, Cell::Text(l.to_string()));
            }
        } else {
            t.set(0, 0, Cell::Text("PID".into()));
            t.set(1, 0, Cell::Rep('-'));
            self.out
                .push_str("\nPer-node process memory usage (in MBs)\n");
        }
        self.node_header(&mut t, &|id| format!("Node {id}"), true, true);
        t.zero_data();
        for (ix, &pid) in pids.iter().enumerate() {
            let name = self.command_name(pid);
            if sub {
                self.out.push_str(&format!(
                    "\nPer-node process memory usage (in MBs) for PID {pid} ({name})\n"
                ));
                if ix > 0 {
                    t.zero_data();
                }
            } else {
                let mut label = format!("{pid} ({name})");
                // numastat formats the label into 64 bytes
                while label.len() > 63 {
                    label.pop();
                }
                t.set(2 + ix, 0, Cell::Text(label));
            }
            let ok = self.add_process(&mut t, pid, (!sub).then_some(2 + ix), huge);
            if sub && !ok {
                continue;
            }
            if sub || ix + 1 == pids.len() {
                self.show_process_table(&mut t, data_rows);
            }
        }
    }

    fn show_process_table(&mut self, t: &mut Table, data_rows: usize) {
        if !self.opts.compress {
            t.auto_width(0, 16, 24);
        }
        let dashes = 2 + data_rows;
        t.always_show(dashes);
        for c in 0..t.ncols() {
            t.set(dashes, c, Cell::Rep('-'));
        }
        let s = self.finish(t, 2, data_rows);
        self.out.push_str(&s);
    }
}
