//! The CSV files datasets ship (VisA's `split_csv/1cls.csv`, Sewer-ML's
//! `SewerML_*.csv`), read strictly: RFC 4180 quoting (commas, quotes and
//! line breaks inside quoted fields), a UTF-8 byte-order mark and CRLF line
//! ends accepted, and every problem reported with the file, the line and,
//! where there is one, the column.

use super::DatasetError;

/// A parsed CSV file: its header and its rows, each with the line it starts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsvTable {
    /// The file, for messages.
    pub file: String,
    pub header: Vec<String>,
    pub rows: Vec<CsvRow>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsvRow {
    /// 1-based line number of the row's first character.
    pub line: usize,
    pub fields: Vec<String>,
}

impl CsvTable {
    /// Parses `bytes` (the contents of `file`). Blank lines are skipped; a
    /// row with another number of fields than the header is an error.
    pub fn parse(file: &str, bytes: &[u8]) -> Result<CsvTable, DatasetError> {
        let bad = |line: usize, problem: String| DatasetError::Csv { file: file.to_string(), line, problem };
        let text = std::str::from_utf8(bytes).map_err(|e| {
            let line = 1 + bytes[..e.valid_up_to()].iter().filter(|&&b| b == b'\n').count();
            bad(line, format!("is not UTF-8 ({e})"))
        })?;
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let mut records = parse_records(text).map_err(|(line, problem)| bad(line, problem))?;
        if records.is_empty() {
            return Err(bad(1, "is empty: no header line".to_string()));
        }
        let header_row = records.remove(0);
        let header: Vec<String> = header_row.fields.iter().map(|h| h.trim().to_string()).collect();
        for (i, name) in header.iter().enumerate() {
            if name.is_empty() {
                return Err(bad(header_row.line, format!("header column {} has no name", i + 1)));
            }
            if header[..i].contains(name) {
                return Err(bad(header_row.line, format!("header names column {name:?} twice")));
            }
        }
        for row in &records {
            if row.fields.len() != header.len() {
                return Err(bad(
                    row.line,
                    format!("has {} field(s); the header has {} ({})", row.fields.len(), header.len(), header.join(",")),
                ));
            }
        }
        Ok(CsvTable { file: file.to_string(), header, rows: records })
    }

    /// The index of column `name`; an error naming the file and the columns
    /// present when it is missing.
    pub fn column(&self, name: &str) -> Result<usize, DatasetError> {
        self.header.iter().position(|h| h == name).ok_or_else(|| DatasetError::CsvMissingColumn {
            file: self.file.clone(),
            column: name.to_string(),
            present: self.header.clone(),
        })
    }

    /// Rejects columns outside `known`, naming the first one.
    pub fn only_columns(&self, known: &[&str]) -> Result<(), DatasetError> {
        match self.header.iter().find(|h| !known.contains(&h.as_str())) {
            Some(unknown) => Err(DatasetError::CsvField {
                file: self.file.clone(),
                line: 1,
                column: unknown.clone(),
                problem: format!("is not a known column (known: {})", known.join(", ")),
            }),
            None => Ok(()),
        }
    }

    /// An error about the value of `column` in `row`.
    pub fn field_error(&self, row: &CsvRow, column: &str, problem: impl Into<String>) -> DatasetError {
        DatasetError::CsvField { file: self.file.clone(), line: row.line, column: column.to_string(), problem: problem.into() }
    }
}

/// Splits `text` into records; `Err((line, problem))` for an unterminated
/// quote or a quote in the middle of an unquoted field.
fn parse_records(text: &str) -> Result<Vec<CsvRow>, (usize, String)> {
    let mut records = Vec::new();
    let mut fields: Vec<String> = Vec::new();
    let mut field = String::new();
    let mut line = 1;
    let mut record_line = 1;
    let mut in_quotes = false;
    let mut quoted_field = false;
    let mut chars = text.chars().peekable();
    let end_record = |fields: &mut Vec<String>, field: &mut String, records: &mut Vec<CsvRow>, record_line: usize| {
        fields.push(std::mem::take(field));
        let row = std::mem::take(fields);
        // A line with nothing on it is not a record.
        if !(row.len() == 1 && row[0].is_empty()) {
            records.push(CsvRow { line: record_line, fields: row });
        }
    };
    while let Some(c) = chars.next() {
        if in_quotes {
            match c {
                '"' if chars.peek() == Some(&'"') => {
                    chars.next();
                    field.push('"');
                }
                '"' => in_quotes = false,
                '\n' => {
                    line += 1;
                    field.push('\n');
                }
                other => field.push(other),
            }
            continue;
        }
        match c {
            '"' if field.is_empty() && !quoted_field => {
                in_quotes = true;
                quoted_field = true;
            }
            '"' => return Err((line, "has a quote inside an unquoted field (quote the whole field and double the quote)".to_string())),
            ',' => {
                fields.push(std::mem::take(&mut field));
                quoted_field = false;
            }
            '\r' if chars.peek() == Some(&'\n') => {}
            '\n' => {
                end_record(&mut fields, &mut field, &mut records, record_line);
                quoted_field = false;
                line += 1;
                record_line = line;
            }
            other if quoted_field => {
                return Err((line, format!("has {other:?} after a closing quote (a quoted field ends at its quote)")));
            }
            other => field.push(other),
        }
    }
    if in_quotes {
        return Err((record_line, "has a quoted field that is never closed".to_string()));
    }
    if !field.is_empty() || !fields.is_empty() || quoted_field {
        end_record(&mut fields, &mut field, &mut records, record_line);
    }
    Ok(records)
}
