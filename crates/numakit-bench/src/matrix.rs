//! Figures by initiator node (rows) and target node (columns).

use numakit_types::NodeId;
use serde::Serialize;

/// One cell: the initiator, the target and what was measured there.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Cell<T> {
    /// The node whose CPUs ran the measurement.
    pub initiator: u32,
    /// The node the buffers were on.
    pub target: u32,
    /// The figure.
    #[serde(flatten)]
    pub value: T,
}

/// A matrix of cells: every initiator with every target, in node order.
/// Cells are kept in a list (JSON objects name their nodes); [`get`]
/// finds one.
///
/// [`get`]: Matrix::get
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Matrix<T> {
    /// Row nodes.
    pub initiators: Vec<u32>,
    /// Column nodes.
    pub targets: Vec<u32>,
    /// The cells measured, row by row.
    pub cells: Vec<Cell<T>>,
}

impl<T> Matrix<T> {
    /// An empty matrix for these rows and columns.
    pub fn new(initiators: &[NodeId], targets: &[NodeId]) -> Matrix<T> {
        Matrix {
            initiators: initiators.iter().map(|n| n.get()).collect(),
            targets: targets.iter().map(|n| n.get()).collect(),
            cells: Vec::new(),
        }
    }

    /// Records a cell, keeping row-major order (rows, then columns, in
    /// node order) whatever order the cells were measured in; a second
    /// value for the same pair replaces the first. Pairs outside the rows
    /// and columns are ignored.
    pub fn insert(&mut self, initiator: NodeId, target: NodeId, value: T) {
        let (i, t) = (initiator.get(), target.get());
        let (Some(r), Some(c)) = (
            self.initiators.iter().position(|x| *x == i),
            self.targets.iter().position(|x| *x == t),
        ) else {
            return;
        };
        let key = |cell: &Cell<T>| {
            (
                self.initiators.iter().position(|x| *x == cell.initiator),
                self.targets.iter().position(|x| *x == cell.target),
            )
        };
        match self
            .cells
            .binary_search_by(|cell| key(cell).cmp(&(Some(r), Some(c))))
        {
            Ok(at) => self.cells[at].value = value,
            Err(at) => self.cells.insert(
                at,
                Cell {
                    initiator: i,
                    target: t,
                    value,
                },
            ),
        }
    }

    /// The cell of a pair.
    pub fn get(&self, initiator: u32, target: u32) -> Option<&T> {
        self.cells
            .iter()
            .find(|c| c.initiator == initiator && c.target == target)
            .map(|c| &c.value)
    }

    /// The same matrix with each value mapped.
    pub fn map<U>(&self, mut f: impl FnMut(&T) -> U) -> Matrix<U> {
        Matrix {
            initiators: self.initiators.clone(),
            targets: self.targets.clone(),
            cells: self
                .cells
                .iter()
                .map(|c| Cell {
                    initiator: c.initiator,
                    target: c.target,
                    value: f(&c.value),
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assembly_is_row_major_whatever_the_order() {
        let nodes = [NodeId(0), NodeId(1)];
        let targets = [NodeId(0), NodeId(1), NodeId(2)];
        let mut m = Matrix::new(&nodes, &targets);
        // measured target by target, as the benchmarks do
        for t in [2, 0, 1] {
            for i in [1, 0] {
                m.insert(NodeId(i), NodeId(t), i * 10 + t);
            }
        }
        let order: Vec<(u32, u32)> = m.cells.iter().map(|c| (c.initiator, c.target)).collect();
        assert_eq!(order, [(0, 0), (0, 1), (0, 2), (1, 0), (1, 1), (1, 2)]);
        assert_eq!(m.get(1, 2), Some(&12));
        assert_eq!(m.get(2, 0), None);
        m.insert(NodeId(1), NodeId(2), 99);
        assert_eq!(m.get(1, 2), Some(&99));
        assert_eq!(m.cells.len(), 6);
        // outside the rows: ignored
        m.insert(NodeId(5), NodeId(0), 1);
        assert_eq!(m.cells.len(), 6);
        let doubled = m.map(|v| v * 2);
        assert_eq!(doubled.get(0, 1), Some(&2));
    }

    #[test]
    fn json_names_each_cell() {
        let mut m = Matrix::new(&[NodeId(0)], &[NodeId(2)]);
        m.insert(NodeId(0), NodeId(2), Value { ns: 1.5 });
        let j = serde_json::to_value(&m).unwrap();
        assert_eq!(
            j,
            serde_json::json!({"initiators": [0], "targets": [2],
                "cells": [{"initiator": 0, "target": 2, "ns": 1.5}]})
        );
    }

    #[derive(Debug, Clone, PartialEq, Serialize)]
    struct Value {
        ns: f64,
    }
}
