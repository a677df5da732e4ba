//! Small CSV tables read line by line, so that an error can name its line:
//! the `labels.csv` of evaluation data and the hotlists operators import.
//!
//! What real files carry, and every reader must take: RFC 4180 quoting
//! (`"a, b"`, `""` for a quote; no line breaks inside a field), a UTF-8
//! byte-order mark (spreadsheet exports write one, and it used to hide the
//! first column's name), CRLF or LF line ends, blank lines. Fields are
//! trimmed.
//!
//! Written here rather than taken from the `csv` crate: the files are a few
//! hundred lines, each reader wants the 1-based line of a bad row for its
//! error, and the project's label and hotlist readers used to split on
//! commas each in its own way.

/// The fields of one CSV line.
pub fn fields(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                cur.push('"');
                chars.next();
            }
            '"' => quoted = !quoted,
            ',' if !quoted => out.push(std::mem::take(&mut cur).trim().to_string()),
            c => cur.push(c),
        }
    }
    out.push(cur.trim().to_string());
    out
}

/// One data row.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    /// 1-based line number in the file.
    pub line: usize,
    pub fields: Vec<String>,
}

impl Row {
    /// Field `i`, `None` past the row's end.
    pub fn get(&self, i: usize) -> Option<&str> {
        self.fields.get(i).map(String::as_str)
    }
}

/// A label file: its header (the first non-blank line) and data rows.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Table {
    pub header: Vec<String>,
    pub rows: Vec<Row>,
}

impl Table {
    /// Parses a file's text; an empty text gives an empty header.
    pub fn parse(text: &str) -> Table {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let mut lines = text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty());
        let header = lines.next().map(|(_, l)| fields(l)).unwrap_or_default();
        let rows = lines
            .map(|(i, l)| Row {
                line: i + 1,
                fields: fields(l),
            })
            .collect();
        Table { header, rows }
    }

    /// Index of the column named `name` (ASCII case ignored).
    pub fn column(&self, name: &str) -> Option<usize> {
        self.header
            .iter()
            .position(|h| h.eq_ignore_ascii_case(name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_fields_keep_commas_and_quotes() {
        assert_eq!(
            fields(r#"a/b.jpg, p01 ,src,"x ""q"", y""#),
            vec!["a/b.jpg", "p01", "src", r#"x "q", y"#]
        );
        assert_eq!(fields("a,,"), vec!["a", "", ""]);
    }

    #[test]
    fn a_spreadsheet_export_reads_like_a_plain_file() {
        let plain = Table::parse("path,class\nfire/a.jpg,fire\n\nfire/b.jpg,no_fire\n");
        let excel =
            Table::parse("\u{feff}Path,Class\r\n\r\nfire/a.jpg,fire\r\n\r\nfire/b.jpg,no_fire\r\n");
        assert_eq!(plain.column("path"), Some(0));
        assert_eq!(excel.column("path"), Some(0), "{:?}", excel.header);
        assert_eq!(excel.column("class"), Some(1));
        assert_eq!(plain.rows.len(), 2);
        assert_eq!(
            excel.rows.iter().map(|r| &r.fields).collect::<Vec<_>>(),
            plain.rows.iter().map(|r| &r.fields).collect::<Vec<_>>()
        );
        // line numbers are the file's, blank lines counted
        assert_eq!(plain.rows[1].line, 4);
        assert_eq!(excel.rows[0].line, 3);
        assert_eq!(plain.rows[0].get(1), Some("fire"));
        assert_eq!(plain.rows[0].get(2), None);
        assert_eq!(Table::parse(""), Table::default());
    }
}
