//! A query's rows as an aligned table (for people), CSV (RFC 4180 quoting) or JSON (an array of
//! objects, keys in column order).

use crate::QueryRows;
use callbudget_api::text::printable;
use rusqlite::types::Value;
use std::io::{self, Write};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueryFormat {
    Table,
    Csv,
    Json,
}

impl QueryFormat {
    /// The names the command line accepts.
    pub const NAMES: [&'static str; 3] = ["table", "csv", "json"];
}

impl std::str::FromStr for QueryFormat {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "table" => Ok(QueryFormat::Table),
            "csv" => Ok(QueryFormat::Csv),
            "json" => Ok(QueryFormat::Json),
            other => Err(format!("{other:?}: expected table, csv or json")),
        }
    }
}

pub fn write_rows(out: &mut impl Write, format: QueryFormat, rows: &QueryRows) -> io::Result<()> {
    match format {
        QueryFormat::Table => write_table(out, rows),
        QueryFormat::Csv => write_csv(out, rows),
        QueryFormat::Json => write_json(out, rows),
    }
}

/// A value as text; NULL is empty.
fn text(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::Integer(i) => i.to_string(),
        Value::Real(x) => x.to_string(),
        Value::Text(s) => s.clone(),
        Value::Blob(bytes) => bytes.iter().map(|b| format!("{b:02x}")).collect(),
    }
}

fn write_table(out: &mut impl Write, rows: &QueryRows) -> io::Result<()> {
    let cells: Vec<Vec<String>> = rows
        .rows
        .iter()
        .map(|row| {
            row.iter()
                .map(|v| printable(&text(v)).into_owned())
                .collect()
        })
        .collect();
    let header: Vec<String> = rows
        .columns
        .iter()
        .map(|c| printable(c).into_owned())
        .collect();
    let widths: Vec<usize> = (0..header.len())
        .map(|i| {
            cells
                .iter()
                .map(|row| row[i].chars().count())
                .chain([header[i].chars().count()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    // Numbers right-aligned, so their digits line up.
    let numeric: Vec<bool> = (0..header.len())
        .map(|i| {
            rows.rows
                .iter()
                .all(|row| matches!(row[i], Value::Integer(_) | Value::Real(_) | Value::Null))
        })
        .collect();
    let line = |out: &mut dyn Write, row: &[String]| -> io::Result<()> {
        let mut text = String::new();
        for (i, cell) in row.iter().enumerate() {
            if i > 0 {
                text.push_str("  ");
            }
            let pad = " ".repeat(widths[i] - cell.chars().count());
            if numeric[i] {
                text.push_str(&pad);
                text.push_str(cell);
            } else {
                text.push_str(cell);
                text.push_str(&pad);
            }
        }
        writeln!(out, "{}", text.trim_end())
    };
    line(out, &header)?;
    let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
    line(out, &rule)?;
    for row in &cells {
        line(out, row)?;
    }
    if cells.is_empty() {
        writeln!(out, "(no rows)")?;
    }
    Ok(())
}

/// A CSV field, quoted when it holds a comma or a quote (RFC 4180). Text from the database came
/// from the API or a file and is usually read on a terminal or in a spreadsheet: its control
/// characters (line breaks included) are shown as escapes, as in the table.
fn csv_field(field: &str) -> String {
    let field = callbudget_api::text::printable(field);
    if field.contains([',', '"']) {
        format!("\"{}\"", field.replace('"', "\"\""))
    } else {
        field.into_owned()
    }
}

fn write_csv(out: &mut impl Write, rows: &QueryRows) -> io::Result<()> {
    let record = |fields: Vec<String>| fields.join(",") + "\r\n";
    out.write_all(record(rows.columns.iter().map(|c| csv_field(c)).collect()).as_bytes())?;
    for row in &rows.rows {
        out.write_all(record(row.iter().map(|v| csv_field(&text(v))).collect()).as_bytes())?;
    }
    Ok(())
}

fn json_value(value: &Value) -> serde_json::Value {
    match value {
        Value::Null => serde_json::Value::Null,
        Value::Integer(i) => (*i).into(),
        // NaN and infinities have no JSON form.
        Value::Real(x) => {
            serde_json::Number::from_f64(*x).map_or(serde_json::Value::Null, Into::into)
        }
        Value::Text(s) => s.clone().into(),
        Value::Blob(_) => text(value).into(),
    }
}

fn write_json(out: &mut impl Write, rows: &QueryRows) -> io::Result<()> {
    // Written by hand so that keys keep the query's column order.
    let keys: Vec<String> = rows
        .columns
        .iter()
        .map(|c| serde_json::Value::from(c.as_str()).to_string())
        .collect();
    out.write_all(b"[")?;
    for (n, row) in rows.rows.iter().enumerate() {
        out.write_all(if n == 0 { b"\n  {" } else { b",\n  {" })?;
        for (i, value) in row.iter().enumerate() {
            if i > 0 {
                out.write_all(b", ")?;
            }
            write!(out, "{}: {}", keys[i], json_value(value))?;
        }
        out.write_all(b"}")?;
    }
    out.write_all(if rows.rows.is_empty() {
        b"]\n"
    } else {
        b"\n]\n"
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> QueryRows {
        QueryRows {
            columns: vec!["ua".to_owned(), "n".to_owned()],
            rows: vec![
                vec![Value::Text("a, \"b\"".to_owned()), Value::Integer(12)],
                vec![Value::Null, Value::Real(0.5)],
            ],
        }
    }

    fn render(format: QueryFormat) -> String {
        let mut out = Vec::new();
        write_rows(&mut out, format, &sample()).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn csv_quotes_commas_and_quotes_and_leaves_null_empty() {
        assert_eq!(
            render(QueryFormat::Csv),
            "ua,n\r\n\"a, \"\"b\"\"\",12\r\n,0.5\r\n"
        );
        // A line break or escape from the log cannot split a record or reach the terminal.
        assert_eq!(csv_field("a\nb\u{1b}[2J"), "a\\u{a}b\\u{1b}[2J");
    }

    #[test]
    fn json_is_an_array_of_objects_in_column_order() {
        assert_eq!(
            render(QueryFormat::Json),
            "[\n  {\"ua\": \"a, \\\"b\\\"\", \"n\": 12},\n  {\"ua\": null, \"n\": 0.5}\n]\n"
        );
    }

    #[test]
    fn a_table_aligns_text_left_and_numbers_right() {
        assert_eq!(
            render(QueryFormat::Table),
            "ua        n\n------  ---\na, \"b\"   12\n        0.5\n"
        );
    }
}
