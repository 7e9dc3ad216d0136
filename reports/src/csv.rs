//! The CSV files ioschain writes (`timeline.csv`, `sweep.csv`), read by column name: a
//! header line, then rows of as many comma-separated fields; blank lines are skipped.
//! Each file's reader ([`crate::timeline`], the sweep report) names its columns and its
//! errors; this holds what they share.

/// A CSV text split into its header and rows.
pub(crate) struct Table<'a> {
    /// The header line as written.
    pub header: &'a str,
    /// The column names, trimmed.
    pub columns: Vec<&'a str>,
    /// The other non-blank lines, with their 1-based line numbers.
    rows: Vec<(usize, &'a str)>,
}

/// A row whose field count is not the header's: `(line, found, expected)`.
pub(crate) type FieldCount = (usize, usize, usize);

impl<'a> Table<'a> {
    /// Splits `text`; `None` when it has no header line.
    pub fn parse(text: &'a str) -> Option<Table<'a>> {
        let mut lines = text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
            .map(|(i, l)| (i + 1, l));
        let (_, header) = lines.next()?;
        Some(Table {
            header,
            columns: header.split(',').map(str::trim).collect(),
            rows: lines.collect(),
        })
    }

    /// The index of column `name`.
    pub fn find(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| *c == name)
    }

    /// Each row's line number and trimmed fields, in order; a row with another field
    /// count than the header is an error.
    pub fn rows(&self) -> impl Iterator<Item = Result<(usize, Vec<&'a str>), FieldCount>> + '_ {
        self.rows.iter().map(|&(line, text)| {
            let fields: Vec<&str> = text.split(',').map(str::trim).collect();
            if fields.len() == self.columns.len() {
                Ok((line, fields))
            } else {
                Err((line, fields.len(), self.columns.len()))
            }
        })
    }
}
