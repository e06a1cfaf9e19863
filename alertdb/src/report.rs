//! Pure: a campaign report as a table for people or CSV for other programs.

use std::fmt::Write as _;

use crate::store::ReportRow;

/// The report as CSV (RFC 4180 quoting), one line per recipient.
pub fn csv(rows: &[ReportRow]) -> String {
    csv_with(rows, |f| f.to_owned())
}

/// The report as CSV for a spreadsheet (the web console's download): a field that a
/// spreadsheet would run as a formula (`=`, `+`, `-`, `@`, a tab or a return first; a
/// contact's name comes from an imported file) starts with `'`, which shows it as text.
/// Numbers like `+39…` stay readable and are no longer turned into arithmetic.
pub fn csv_for_spreadsheets(rows: &[ReportRow]) -> String {
    csv_with(rows, |f| {
        if f.starts_with(['=', '+', '-', '@', '\t', '\r']) {
            format!("'{f}")
        } else {
            f.to_owned()
        }
    })
}

fn csv_with(rows: &[ReportRow], cell: impl Fn(&str) -> String) -> String {
    let mut out = String::from("id,name,status,attempts,last_outcome,last_number,node\n");
    for r in rows {
        let fields = [
            r.external_id.as_str(),
            r.name.as_str(),
            r.status.as_str(),
            &r.attempts.to_string(),
            r.last_outcome.as_str(),
            r.last_number.as_str(),
            r.node.as_str(),
        ];
        let line: Vec<String> = fields.iter().map(|f| quote(&cell(f))).collect();
        out.push_str(&line.join(","));
        out.push('\n');
    }
    out
}

fn quote(field: &str) -> String {
    if field.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", field.replace('"', "\"\""))
    } else {
        field.to_owned()
    }
}

/// The report as an aligned table.
pub fn table(rows: &[ReportRow]) -> String {
    let header = [
        "ID",
        "NAME",
        "STATUS",
        "TRIES",
        "LAST OUTCOME",
        "NUMBER",
        "NODE",
    ];
    let cells: Vec<[String; 7]> = rows
        .iter()
        .map(|r| {
            [
                r.external_id.clone(),
                r.name.clone(),
                r.status.clone(),
                r.attempts.to_string(),
                r.last_outcome.clone(),
                r.last_number.clone(),
                r.node.clone(),
            ]
        })
        .collect();
    let mut widths = header.map(|h| h.chars().count());
    for row in &cells {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = (*w).max(c.chars().count());
        }
    }
    let mut out = String::new();
    let line = |out: &mut String, row: &[&str]| {
        for (i, (c, w)) in row.iter().zip(widths).enumerate() {
            let pad = if i + 1 == row.len() {
                0
            } else {
                w - c.chars().count() + 2
            };
            let _ = write!(out, "{c}{}", " ".repeat(pad));
        }
        out.push('\n');
    };
    line(&mut out, &header);
    for row in &cells {
        let refs: Vec<&str> = row.iter().map(String::as_str).collect();
        line(&mut out, &refs);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: &str, name: &str) -> ReportRow {
        ReportRow {
            external_id: id.into(),
            name: name.into(),
            status: "confirmed".into(),
            attempts: 1,
            last_outcome: "confirmed".into(),
            last_number: "0743111111".into(),
            node: "node-a".into(),
        }
    }

    #[test]
    fn csv_quotes_what_needs_it() {
        let text = csv(&[row("C1", "Rossi, \"Mario\"")]);
        assert_eq!(
            text.lines().nth(1),
            Some("C1,\"Rossi, \"\"Mario\"\"\",confirmed,1,confirmed,0743111111,node-a")
        );
    }

    #[test]
    fn a_spreadsheet_shows_formulas_from_an_import_as_text() {
        let mut r = row("C1", "=HYPERLINK(\"http://x\")");
        r.last_number = "+390743111111".into();
        let text = csv_for_spreadsheets(&[r.clone()]);
        assert_eq!(
            text.lines().nth(1),
            Some(
                "C1,\"'=HYPERLINK(\"\"http://x\"\")\",confirmed,1,confirmed,'+390743111111,node-a"
            )
        );
        assert!(
            csv(&[r]).contains(",+390743111111,"),
            "programs get the value as is"
        );
    }

    #[test]
    fn table_columns_line_up() {
        let t = table(&[row("C1", "Anna"), row("C100", "Bartolomeo")]);
        let lines: Vec<&str> = t.lines().collect();
        let col = |l: &str| l.find("confirmed");
        assert_eq!(col(lines[1]), col(lines[2]));
    }
}
