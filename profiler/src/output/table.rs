//! Aligned text tables, the one way every command prints columns: two spaces between columns,
//! each column as wide as its widest cell (counted in characters), no padding after the last
//! one and no trailing white space. Cells are shown as given: escape what came from outside
//! ([`super::escape`]) before it becomes a cell.
use std::fmt::Write as _;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Align {
    Left,
    /// Numbers.
    Right,
}

/// A cell, optionally painted with an ANSI style once padded (so colour never skews widths).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Cell {
    text: String,
    style: Option<&'static str>,
}

/// Ends a painted cell.
pub const RESET: &str = "\x1b[0m";

impl Cell {
    /// `text` in `style` (an ANSI escape sequence), or plain when `None`.
    pub fn painted(text: impl Into<String>, style: Option<&'static str>) -> Cell {
        Cell {
            text: text.into(),
            style,
        }
    }
}

impl<T: Into<String>> From<T> for Cell {
    fn from(text: T) -> Cell {
        Cell {
            text: text.into(),
            style: None,
        }
    }
}

#[derive(Clone, Debug, Default)]
pub struct Table {
    aligns: Vec<Align>,
    indent: usize,
    rows: Vec<Vec<Cell>>,
}

impl Table {
    /// A table whose columns are aligned as `aligns` says.
    pub fn new(aligns: &[Align]) -> Table {
        Table {
            aligns: aligns.to_vec(),
            ..Table::default()
        }
    }

    /// Every line starts with `spaces` spaces.
    pub fn indented(mut self, spaces: usize) -> Table {
        self.indent = spaces;
        self
    }

    /// Adds a row of at most as many cells as there are columns.
    pub fn row<C: Into<Cell>>(&mut self, cells: impl IntoIterator<Item = C>) -> &mut Table {
        let row: Vec<Cell> = cells.into_iter().map(Into::into).collect();
        debug_assert!(row.len() <= self.aligns.len(), "more cells than columns");
        self.rows.push(row);
        self
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The lines, each ending with a newline.
    pub fn render(&self) -> String {
        let mut widths = vec![0; self.aligns.len()];
        for row in &self.rows {
            for (width, cell) in widths.iter_mut().zip(row) {
                *width = (*width).max(cell.text.chars().count());
            }
        }
        let mut out = String::new();
        for row in &self.rows {
            let mut line = " ".repeat(self.indent);
            for (i, cell) in row.iter().enumerate() {
                if i > 0 {
                    line.push_str("  ");
                }
                let pad = widths[i].saturating_sub(cell.text.chars().count());
                let last = i + 1 == row.len();
                let padded = match self.aligns[i] {
                    Align::Right => format!("{}{}", " ".repeat(pad), cell.text),
                    Align::Left if last && cell.style.is_none() => cell.text.clone(),
                    Align::Left => format!("{}{}", cell.text, " ".repeat(pad)),
                };
                match cell.style {
                    Some(style) => {
                        let _ = write!(line, "{style}{padded}{RESET}");
                    }
                    None => line.push_str(&padded),
                }
            }
            let _ = writeln!(out, "{}", line.trim_end());
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_are_as_wide_as_their_widest_cell() {
        let mut table = Table::new(&[Align::Left, Align::Right, Align::Left]);
        table.row(["NAME", "N", "NOTE"]);
        table.row(["read", "12345", ""]);
        table.row(["execve", "1", "once"]);
        assert_eq!(
            table.render(),
            "NAME        N  NOTE\nread    12345\nexecve      1  once\n"
        );
    }

    #[test]
    fn widths_count_characters_and_styles_come_after_padding() {
        let mut table = Table::new(&[Align::Left, Align::Left]).indented(2);
        table.row([Cell::from("é"), Cell::painted("x", Some("\x1b[1m"))]);
        table.row([Cell::from("abc"), Cell::from("y")]);
        assert_eq!(table.render(), "  é    \x1b[1mx\x1b[0m\n  abc  y\n");
    }
}
