//! CSV with a header row naming the columns (the names of [`super::request::RequestFields`]; other
//! columns are ignored). Read line by line: a quoted field may hold commas and doubled quotes but
//! not a line break (no request log field holds one), so a quote that never closes spoils its own
//! row only, not every row after it.

use super::request::{Field, RequestFields, quote};
use crate::RequestRow;
use callbudget_api::Text;
use std::borrow::Cow;

/// The file's columns, from its header row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct CsvColumns {
    /// What each field of a row is, by position; `None`: ignored.
    columns: Vec<Option<Field>>,
}

impl CsvColumns {
    /// The columns a header row names; why it cannot be read otherwise.
    pub(super) fn from_header(line: &[u8]) -> Result<CsvColumns, String> {
        let mut columns: Vec<Option<Field>> = Vec::new();
        let mut names: Vec<String> = Vec::new();
        for field in Fields::new(line) {
            let field = field?;
            let name = std::str::from_utf8(&field)
                .map_err(|_| format!("column {} is not UTF-8 text", columns.len() + 1))?
                .trim()
                .to_owned();
            let column = Field::named(&name).filter(|f| *f != Field::Client);
            if let Some(earlier) = column.and_then(|c| columns.iter().position(|e| *e == Some(c))) {
                return Err(format!(
                    "columns {} ({}) and {} ({}) name the same field",
                    earlier + 1,
                    quote(&names[earlier]),
                    columns.len() + 1,
                    quote(&name)
                ));
            }
            columns.push(column);
            names.push(name);
        }
        if !columns.contains(&Some(Field::Ts)) {
            return Err("names no time column (ts, timestamp or time)".to_owned());
        }
        Ok(CsvColumns { columns })
    }

    /// The request a row holds, its strings borrowed from the line where they hold no quote.
    pub(super) fn decode_row<'a>(
        &self,
        line: &'a [u8],
    ) -> Result<RequestRow<Cow<'a, str>>, String> {
        let mut fields = RequestFields::default();
        let mut width = 0;
        // A row of the wrong width says so before what is wrong within it.
        let mut wrong_value = None;
        for (index, field) in Fields::new(line).enumerate() {
            let field = field?;
            width = index + 1;
            if wrong_value.is_some() {
                continue;
            }
            let Some(column) = self.columns.get(index).copied().flatten() else {
                continue;
            };
            let text = match field {
                Cow::Borrowed(bytes) => std::str::from_utf8(bytes).map(Cow::Borrowed).ok(),
                Cow::Owned(bytes) => String::from_utf8(bytes).map(Cow::Owned).ok(),
            };
            let Some(text) = text else {
                wrong_value = Some(format!("field {width} is not UTF-8 text"));
                continue;
            };
            let number = |max: &str| {
                format!(
                    "field {width}: {} is not a number from 0 to {max}",
                    quote(&text)
                )
            };
            let slot = match column {
                Field::Ts => &mut fields.ts,
                Field::Method => &mut fields.method,
                Field::Host => &mut fields.host,
                Field::Path => &mut fields.path,
                Field::QueryString => &mut fields.query_string,
                Field::UserAgent => &mut fields.user_agent,
                Field::SourceIp => &mut fields.source_ip,
                Field::AdminId => &mut fields.admin_id,
                Field::OperationId => &mut fields.operation_id,
                Field::ClientId => &mut fields.client_id,
                Field::ClientType => &mut fields.client_type,
                // An empty cell is no value.
                Field::ResponseCode | Field::Version if text.is_empty() => continue,
                // Not a column: a cell cannot hold the nested object (see `from_header`).
                Field::Client => continue,
                Field::ResponseCode => {
                    match text.parse() {
                        Ok(code) => fields.response_code = Some(code),
                        Err(_) => wrong_value = Some(number("65535")),
                    }
                    continue;
                }
                Field::Version => {
                    match text.parse() {
                        Ok(version) => fields.version = Some(version),
                        Err(_) => wrong_value = Some(number("255")),
                    }
                    continue;
                }
            };
            *slot = Some(Text(text));
        }
        if width != self.columns.len() {
            return Err(format!(
                "{width} field(s) where the header has {}",
                self.columns.len()
            ));
        }
        match wrong_value {
            Some(reason) => Err(reason),
            None => fields.into_row(),
        }
    }
}

/// The fields of one CSV line (RFC 4180 within a line): a field that opens with `"` runs to the
/// next `"` not doubled, which must end the field.
struct Fields<'a> {
    rest: &'a [u8],
    number: usize,
    done: bool,
}

impl<'a> Fields<'a> {
    fn new(line: &'a [u8]) -> Self {
        Fields {
            rest: line,
            number: 0,
            done: false,
        }
    }
}

impl<'a> Iterator for Fields<'a> {
    type Item = Result<Cow<'a, [u8]>, String>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        self.number += 1;
        let Some(quoted) = self.rest.strip_prefix(b"\"") else {
            let (field, rest) = match self.rest.iter().position(|&b| b == b',') {
                Some(comma) => (&self.rest[..comma], Some(&self.rest[comma + 1..])),
                None => (self.rest, None),
            };
            match rest {
                Some(rest) => self.rest = rest,
                None => self.done = true,
            }
            return Some(Ok(Cow::Borrowed(field)));
        };
        let mut value: Cow<'a, [u8]> = Cow::Borrowed(&[]);
        let mut at = quoted;
        loop {
            let Some(quote_at) = at.iter().position(|&b| b == b'"') else {
                self.done = true;
                return Some(Err(format!(
                    "field {} opens a quote that does not close on its line",
                    self.number
                )));
            };
            let (text, after) = (&at[..quote_at], &at[quote_at + 1..]);
            value = match value {
                Cow::Borrowed([]) => Cow::Borrowed(text),
                earlier => {
                    let mut owned = earlier.into_owned();
                    owned.extend_from_slice(text);
                    Cow::Owned(owned)
                }
            };
            match after.first() {
                // A doubled quote is one quote in the value.
                Some(b'"') => {
                    let mut owned = value.into_owned();
                    owned.push(b'"');
                    value = Cow::Owned(owned);
                    at = &after[1..];
                }
                Some(b',') => {
                    self.rest = &after[1..];
                    return Some(Ok(value));
                }
                None => {
                    self.done = true;
                    return Some(Ok(value));
                }
                Some(_) => {
                    self.done = true;
                    return Some(Err(format!(
                        "field {} has text after its closing quote",
                        self.number
                    )));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(line: &str) -> Result<Vec<String>, String> {
        Fields::new(line.as_bytes())
            .map(|f| f.map(|b| String::from_utf8_lossy(&b).into_owned()))
            .collect()
    }

    #[test]
    fn a_line_splits_into_its_fields_as_rfc_4180_quotes_them() {
        assert_eq!(fields("a,b,,c").unwrap(), ["a", "b", "", "c"]);
        assert_eq!(fields("").unwrap(), [""]);
        assert_eq!(fields("a,").unwrap(), ["a", ""]);
        assert_eq!(
            fields(r#""x,y","say ""hi""",""," a b ""#).unwrap(),
            ["x,y", r#"say "hi""#, "", " a b "]
        );
        assert_eq!(fields(r#"a"b,c"#).unwrap(), [r#"a"b"#, "c"]);
        assert_eq!(
            fields(r#"a,"open,b"#).unwrap_err(),
            "field 2 opens a quote that does not close on its line"
        );
        assert_eq!(
            fields(r#""x"y,b"#).unwrap_err(),
            "field 1 has text after its closing quote"
        );
    }

    #[test]
    fn a_header_names_its_columns_once_and_a_time() {
        let columns = CsvColumns::from_header(b" ts ,method,whatever,\"userAgent\"").unwrap();
        assert_eq!(
            columns.columns,
            [
                Some(Field::Ts),
                Some(Field::Method),
                None,
                Some(Field::UserAgent)
            ]
        );
        assert_eq!(
            CsvColumns::from_header(b"ts,path,time").unwrap_err(),
            "columns 1 (\"ts\") and 3 (\"time\") name the same field"
        );
        assert_eq!(
            CsvColumns::from_header(b"method,path").unwrap_err(),
            "names no time column (ts, timestamp or time)"
        );
    }

    #[test]
    fn a_row_maps_by_its_header_and_says_what_is_wrong() {
        let columns =
            CsvColumns::from_header(b"ts,method,path,user_agent,response_code,version,x").unwrap();
        let row = columns
            .decode_row(b"2026-11-20T10:00:00Z,get,\"/a?key=s,x=1\",\"ua \"\"q\"\"\",429,,ignored")
            .unwrap();
        assert_eq!(row.method.as_deref(), Some("GET"));
        assert_eq!(row.path.as_deref(), Some("/a"));
        assert_eq!(row.query_string.as_deref(), Some("key=s,x=1"));
        assert_eq!(row.user_agent.as_deref(), Some("ua \"q\""));
        assert_eq!((row.response_code, row.version), (Some(429), None));
        for (line, reason) in [
            (
                &b"2026-11-20T10:00:00Z,GET,/a,ua,OK,1,x"[..],
                "field 5: \"OK\" is not a number from 0 to 65535",
            ),
            (
                b"2026-11-20T10:00:00Z,GET,/a,ua,200,1",
                "6 field(s) where the header has 7",
            ),
            (
                b"2026-11-20T10:00:00Z,GET,\"/a,ua,200,1,x",
                "field 3 opens a quote that does not close on its line",
            ),
            (
                b"2026-11-20T10:00:00Z,GET,/a,\xff,200,1,x",
                "field 4 is not UTF-8 text",
            ),
            (b",GET,/a,ua,200,1,x", "no time (ts, timestamp or time)"),
        ] {
            assert_eq!(columns.decode_row(line).unwrap_err(), reason);
        }
    }
}
