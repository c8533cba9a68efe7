//! numastat's table: cells, column widths, justification, decimal places,
//! hiding of unseen and zero rows and columns, descending sort, and line
//! folding at the screen width, with numastat's rules (a cell is cut to its
//! column's width; a row of dashes is one character narrower than its
//! column; a column that would pass the width starts a new section after a
//! blank line).

use std::fmt::Write;

/// A cell.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    /// Nothing assigned.
    Null,
    /// A number, printed with the column's decimal places.
    Num(f64),
    /// Text.
    Text(String),
    /// A character repeated to one less than the column's width.
    Rep(char),
}

/// How a column is justified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Justify {
    /// Text starts at the left.
    Left,
    /// Text ends at the right.
    Right,
}

#[derive(Debug, Clone)]
struct Col {
    width: usize,
    places: usize,
    justify: Justify,
    seen: bool,
    nonzero: bool,
}

/// A table of `header_rows` header rows and one header column, then data.
#[derive(Debug, Clone)]
pub struct Table {
    header_rows: usize,
    cells: Vec<Vec<Cell>>,
    cols: Vec<Col>,
    /// Display order of the rows.
    order: Vec<usize>,
    always: Vec<bool>,
    /// Rows that held data or non-zero data in any rendering so far (as in
    /// numastat, these flags are set and never cleared).
    row_seen: Vec<bool>,
    row_nonzero: Vec<bool>,
}

impl Table {
    /// A table of `rows` × `cols` cells, all [`Cell::Null`]; columns 16
    /// wide, no decimal places, right-justified.
    pub fn new(header_rows: usize, rows: usize, cols: usize) -> Table {
        let col = Col {
            width: 16,
            places: 0,
            justify: Justify::Right,
            seen: false,
            nonzero: false,
        };
        Table {
            header_rows,
            cells: vec![vec![Cell::Null; cols]; rows],
            cols: vec![col; cols],
            order: (0..rows).collect(),
            always: vec![false; rows],
            row_seen: vec![false; rows],
            row_nonzero: vec![false; rows],
        }
    }
    /// Sets a cell.
    pub fn set(&mut self, row: usize, col: usize, c: Cell) {
        self.cells[row][col] = c;
    }
    /// Adds to a number cell (a non-number cell counts as 0).
    pub fn add(&mut self, row: usize, col: usize, v: f64) {
        let cur = match self.cells[row][col] {
            Cell::Num(x) => x,
            _ => 0.0,
        };
        self.cells[row][col] = Cell::Num(cur + v);
    }
    /// Sets a column's width (numastat caps it at 127).
    pub fn width(&mut self, col: usize, w: usize) {
        self.cols[col].width = w.min(127);
    }
    /// Sets a column's decimal places.
    pub fn places(&mut self, col: usize, p: usize) {
        self.cols[col].places = p;
    }
    /// Sets a column's justification.
    pub fn justify(&mut self, col: usize, j: Justify) {
        self.cols[col].justify = j;
    }
    /// Shows a row even when it is empty or zero.
    pub fn always_show(&mut self, row: usize) {
        self.always[row] = true;
    }
    /// The number of columns.
    pub fn ncols(&self) -> usize {
        self.cols.len()
    }
    /// Sets every data cell (below the header rows, right of the header
    /// column) to the number 0, as numastat does before each process.
    pub fn zero_data(&mut self) {
        let h = self.header_rows;
        for row in self.cells.iter_mut().skip(h) {
            for c in row.iter_mut().skip(1) {
                *c = Cell::Num(0.0);
            }
        }
    }

    fn text(&self, c: &Cell, width: usize, places: usize) -> String {
        let mut s = match c {
            Cell::Null => String::new(),
            Cell::Num(v) => format!("{v:.places$}"),
            Cell::Text(t) => t.clone(),
            Cell::Rep(ch) => ch.to_string().repeat(width.saturating_sub(1)),
        };
        // numastat's buffer is 128 bytes and the text is cut to the width
        if s.len() > width.min(127) {
            let mut end = width.min(127);
            while !s.is_char_boundary(end) {
                end -= 1;
            }
            s.truncate(end);
        }
        s
    }

    /// Sets a column's width to its longest text plus one, between `min`
    /// and `max` (rows of repeated characters do not count).
    pub fn auto_width(&mut self, col: usize, min: usize, max: usize) {
        let mut w = min;
        for row in &self.cells {
            if matches!(row[col], Cell::Rep(_)) {
                continue;
            }
            w = w.max(self.text(&row[col], max, self.cols[col].places).len());
        }
        self.cols[col].width = (w + 1).min(max);
    }

    /// Orders the data rows `first..=last` by column `col`, largest first,
    /// with numastat's selection sort (ties keep no particular order).
    pub fn sort_desc(&mut self, first: usize, last: usize, col: usize) {
        let val = |t: &Table, r: usize| match t.cells[r][col] {
            Cell::Num(v) => v,
            _ => 0.0,
        };
        for ix in first..=last {
            let mut big = ix;
            for iy in ix + 1..=last {
                if val(self, self.order[big]) < val(self, self.order[iy]) {
                    big = iy;
                }
            }
            self.order.swap(ix, big);
        }
    }

    fn cell_nonzero(c: &Cell) -> bool {
        match c {
            Cell::Num(v) => v.to_bits() != 0,
            Cell::Text(_) => true,
            Cell::Null | Cell::Rep(_) => false,
        }
    }

    /// The table as numastat prints it, `screen` columns wide; `zeros`
    /// false hides rows and columns of zeros (`-z`).
    pub fn render(&mut self, screen: usize, zeros: bool) -> String {
        let (rows, ncols) = (self.cells.len(), self.cols.len());
        let (mut any_seen, mut any_nonzero) = (false, false);
        for r in self.header_rows..rows {
            for c in 1..ncols {
                let cell = &self.cells[r][c];
                if matches!(cell, Cell::Null | Cell::Rep(_)) {
                    continue;
                }
                any_seen = true;
                self.row_seen[r] = true;
                self.cols[c].seen = true;
                if Self::cell_nonzero(cell) {
                    any_nonzero = true;
                    self.row_nonzero[r] = true;
                    self.cols[c].nonzero = true;
                }
            }
        }
        if !any_seen {
            return "Table has no data.\n".into();
        }
        if !any_nonzero && !zeros {
            return "Table has no non-zero data.\n".into();
        }
        let show_col = |t: &Table, c: usize| t.cols[c].seen && (zeros || t.cols[c].nonzero);
        let mut out = String::new();
        let mut first_section = true;
        let mut data_col = 1;
        while data_col < ncols {
            if !show_col(self, data_col) {
                data_col += 1;
                continue;
            }
            if !first_section {
                out.push('\n');
            }
            first_section = false;
            let mut next = data_col;
            for &r in &self.order {
                if r >= self.header_rows
                    && !self.always[r]
                    && (!self.row_seen[r] || (!zeros && !self.row_nonzero[r]))
                {
                    continue;
                }
                let mut line_width = self.cols[0].width;
                self.cell(&mut out, r, 0);
                let mut c = data_col;
                loop {
                    if show_col(self, c) {
                        self.cell(&mut out, r, c);
                        line_width += self.cols[c].width;
                    }
                    c += 1;
                    if c >= ncols || line_width + self.cols[c].width > screen {
                        break;
                    }
                }
                out.push('\n');
                next = c;
            }
            data_col = next;
        }
        out
    }

    fn cell(&self, out: &mut String, r: usize, c: usize) {
        let col = &self.cols[c];
        let t = self.text(&self.cells[r][c], col.width, col.places);
        let _ = match col.justify {
            Justify::Left => write!(out, "{t:<w$}", w = col.width),
            Justify::Right => write!(out, "{t:>w$}", w = col.width),
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Table {
        let mut t = Table::new(2, 4, 3);
        t.set(0, 1, Cell::Text("Node 0".into()));
        t.set(0, 2, Cell::Text("Total".into()));
        t.set(1, 1, Cell::Rep('-'));
        t.set(1, 2, Cell::Rep('-'));
        t.set(2, 0, Cell::Text("A".into()));
        t.set(3, 0, Cell::Text("B".into()));
        t.justify(0, Justify::Left);
        for c in 1..3 {
            t.places(c, 2);
        }
        t.set(2, 1, Cell::Num(0.0));
        t.set(2, 2, Cell::Num(0.0));
        t.set(3, 1, Cell::Num(1.5));
        t.set(3, 2, Cell::Num(1.5));
        t
    }

    #[test]
    fn layout() {
        let s = sample().render(10_000_000, true);
        assert_eq!(
            s,
            "                          Node 0           Total\n                 --------------- ---------------\nA                           0.00            0.00\nB                           1.50            1.50\n"
        );
        // -z hides the zero row
        assert!(!sample().render(10_000_000, false).contains("\nA "));
        // folding: only one data column fits in 32
        let f = sample().render(32, true);
        assert_eq!(f.matches('\n').count(), 9, "{f}");
        assert!(f.contains("\n\n"));
    }

    #[test]
    fn sort_and_widths() {
        let mut t = sample();
        t.sort_desc(2, 3, 2);
        let s = t.render(10_000_000, true);
        assert!(s.find("B ").unwrap() < s.find("A ").unwrap());
        let mut t = sample();
        t.set(2, 0, Cell::Text("a-very-long-label-here".into()));
        t.auto_width(0, 4, 16);
        assert!(
            t.render(1000, true)
                .contains("a-very-long-labe            0.00")
        );
        let mut e = Table::new(1, 2, 2);
        assert_eq!(e.render(80, true), "Table has no data.\n");
        e.set(1, 1, Cell::Num(0.0));
        assert_eq!(e.render(80, false), "Table has no non-zero data.\n");
    }
}
