//! Pure: changes to the windows file that keep everything else an administrator wrote:
//! comments, order, spacing (`toml_edit`, which the file's reader does not need). The file
//! must read cleanly before a change, and the result is read again before it is returned,
//! so an edit never leaves a file the supervisor would refuse.

use toml_edit::{ArrayOfTables, DocumentMut, Item, Table};

use crate::{format_local, parse, Kind, LineError, Window};

/// What a file made by the console starts with.
pub const NEW_FILE: &str = "\
# sla.toml: announced planned work and excluded periods, for the availability report
# (`allertactl sla`, the console's status page). Replicated: it is changed on the master,
# from the console's settings page or by hand. Times are the nodes' local time,
# \"YYYY-MM-DD HH:MM\"; a window is [from, to).
";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EditError {
    /// The file as it is does not read: it is not changed until someone fixes it.
    #[error("the file does not read: line {0}")]
    Unreadable(LineError),
    #[error("`{0}` is not a list of [[{0}]] tables")]
    Shape(&'static str),
    #[error("no such window")]
    NoSuchWindow,
}

/// A short fingerprint of the file's text (FNV-1a, 64 bits), so that a form shown before
/// someone else changed the file is refused instead of removing the wrong window.
pub fn fingerprint(text: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}

fn key(excluded: bool) -> &'static str {
    if excluded {
        "excluded"
    } else {
        "announced"
    }
}

/// The file as an editable document, and its windows; refused unless it reads.
fn document(text: &str) -> Result<(DocumentMut, Vec<Window>), EditError> {
    let windows = parse(text).map_err(EditError::Unreadable)?;
    let doc = text.parse::<DocumentMut>().map_err(|e| {
        EditError::Unreadable(LineError {
            line: 1,
            reason: e.to_string(),
        })
    })?;
    Ok((doc, windows))
}

/// The array of `[[key]]` tables, made if absent (an inline `key = [...]` becomes tables).
fn tables<'d>(
    doc: &'d mut DocumentMut,
    key: &'static str,
) -> Result<&'d mut ArrayOfTables, EditError> {
    let item = doc
        .entry(key)
        .or_insert(Item::ArrayOfTables(ArrayOfTables::new()));
    let empty_inline = item.as_array().is_some_and(|a| a.is_empty());
    if empty_inline {
        *item = Item::ArrayOfTables(ArrayOfTables::new());
    } else if !item.is_array_of_tables() {
        let taken = std::mem::take(item);
        *item = Item::ArrayOfTables(
            taken
                .into_array_of_tables()
                .map_err(|_| EditError::Shape(key))?,
        );
    }
    item.as_array_of_tables_mut().ok_or(EditError::Shape(key))
}

fn finish(doc: DocumentMut) -> Result<String, EditError> {
    let out = doc.to_string();
    parse(&out).map_err(EditError::Unreadable)?;
    Ok(out)
}

/// The file with `w` added after the other windows of its kind. An empty text becomes
/// `NEW_FILE` first.
pub fn add(text: &str, w: &Window) -> Result<String, EditError> {
    let text = if text.trim().is_empty() {
        NEW_FILE
    } else {
        text
    };
    let (mut doc, windows) = document(text)?;
    let minute = |t: i64| format_local(t)[..16].to_owned();
    let mut table = Table::new();
    table.insert("from", toml_edit::value(minute(w.from)));
    table.insert("to", toml_edit::value(minute(w.to)));
    match &w.kind {
        Kind::Announced { announced, what } => {
            table.insert("announced", toml_edit::value(minute(*announced)));
            table.insert("what", toml_edit::value(what.as_str()));
        }
        Kind::Excluded { reason } => {
            table.insert("reason", toml_edit::value(reason.as_str()));
        }
    }
    // The first window goes after a file's leading comments, not before them (a file of
    // comments only keeps them as its trailing text).
    let first = windows.is_empty();
    let trailing = doc.trailing().as_str().unwrap_or_default().to_owned();
    if first && !trailing.trim().is_empty() {
        table.decor_mut().set_prefix(format!("{trailing}\n"));
        doc.set_trailing("");
    } else {
        table.decor_mut().set_prefix("\n");
    }
    tables(&mut doc, key(w.is_excluded()))?.push(table);
    finish(doc)
}

/// The file without the `index`th window of its kind (in the file's order). Comment lines
/// right above the removed window go with it; a comment separated from it by a blank line
/// (a file's header) stays.
pub fn remove(text: &str, excluded: bool, index: usize) -> Result<String, EditError> {
    let (mut doc, _) = document(text)?;
    let name = key(excluded);
    let list = tables(&mut doc, name)?;
    let gone = list.get(index).ok_or(EditError::NoSuchWindow)?;
    let position = gone.position();
    let prefix = gone
        .decor()
        .prefix()
        .and_then(|p| p.as_str())
        .unwrap_or_default()
        .to_owned();
    list.remove(index);
    if list.is_empty() {
        doc.remove(name);
    }
    let kept = detached(&prefix);
    if !kept.trim().is_empty() {
        match next_table(&mut doc, position) {
            Some(next) => {
                let own = next
                    .decor()
                    .prefix()
                    .and_then(|p| p.as_str())
                    .unwrap_or_default()
                    .to_owned();
                next.decor_mut().set_prefix(format!("{kept}{own}"));
            }
            None => {
                let own = doc.trailing().as_str().unwrap_or_default().to_owned();
                doc.set_trailing(format!("{kept}{own}"));
            }
        }
    }
    finish(doc)
}

/// The part of a table's leading decor that is not its own comment: everything up to the
/// last blank line before the comment lines right above the header.
fn detached(prefix: &str) -> String {
    let lines: Vec<&str> = prefix.split_inclusive('\n').collect();
    let mut end = lines.len();
    while end > 0 && lines[end - 1].trim_start().starts_with('#') {
        end -= 1;
    }
    lines[..end].concat()
}

/// The window table that comes first after `position` in the document, of either kind.
fn next_table(doc: &mut DocumentMut, position: Option<isize>) -> Option<&mut Table> {
    let position = position?;
    let mut best: Option<(&'static str, usize, isize)> = None;
    for name in ["announced", "excluded"] {
        let Some(list) = doc.get(name).and_then(Item::as_array_of_tables) else {
            continue;
        };
        for (i, t) in list.iter().enumerate() {
            if let Some(p) = t.position().filter(|p| *p > position) {
                if best.is_none_or(|(_, _, b)| p < b) {
                    best = Some((name, i, p));
                }
            }
        }
    }
    let (name, i, _) = best?;
    doc.get_mut(name)?.as_array_of_tables_mut()?.get_mut(i)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::{check, NewWindow};

    const EXAMPLE: &str = include_str!("../../systemd/sla.toml.example");

    fn flood() -> Window {
        check(&NewWindow {
            excluded: true,
            from: "2026-12-03 10:00".into(),
            to: "2026-12-03 12:30".into(),
            announced: String::new(),
            text: "flood \"Reno\" (ordinanza n. 5)".into(),
        })
        .unwrap()
    }

    #[test]
    fn adding_keeps_the_administrators_comments() {
        let out = add(EXAMPLE, &flood()).unwrap();
        assert!(out.starts_with(EXAMPLE), "{out}");
        assert!(
            out.ends_with(
                "\n[[excluded]]\nfrom = \"2026-12-03 10:00\"\nto = \"2026-12-03 12:30\"\nreason = 'flood \"Reno\" (ordinanza n. 5)'\n"
            ),
            "{out}"
        );
        let windows = parse(&out).unwrap();
        assert_eq!(windows.len(), 3);
        assert_eq!(windows[2].describe(), flood().describe());
    }

    #[test]
    fn a_first_window_makes_a_file_with_a_header() {
        let work = check(&NewWindow {
            excluded: false,
            from: "2026-12-10 22:00".into(),
            to: "2026-12-10 23:00".into(),
            announced: "2026-12-01 09:00".into(),
            text: "Debian point release".into(),
        })
        .unwrap();
        let out = add("", &work).unwrap();
        assert!(out.starts_with(NEW_FILE), "{out}");
        assert_eq!(parse(&out).unwrap()[0].describe(), work.describe());
    }

    #[test]
    fn removing_takes_the_windows_own_comment_and_keeps_the_header() {
        let out = remove(EXAMPLE, false, 0).unwrap();
        let header_end = EXAMPLE.find("[[announced]]").unwrap();
        assert!(
            out.starts_with(&EXAMPLE[..header_end]),
            "the header stays:\n{out}"
        );
        assert!(!out.contains("Debian point release"), "{out}");
        assert!(!out.contains("when the customer was told"), "{out}");
        let windows = parse(&out).unwrap();
        assert_eq!(windows.len(), 1);
        assert!(windows[0].is_excluded());
        let none = remove(&out, true, 0).unwrap();
        assert_eq!(parse(&none).unwrap(), []);
        assert!(none.starts_with(&EXAMPLE[..header_end - 1]), "{none}");
    }

    #[test]
    fn a_broken_file_or_a_missing_window_is_refused() {
        assert!(matches!(
            add("[[excluded]]\nfrom = 1\n", &flood()),
            Err(EditError::Unreadable(_))
        ));
        assert_eq!(remove(EXAMPLE, true, 1), Err(EditError::NoSuchWindow));
        let inline = "excluded = []\n";
        let out = add(inline, &flood()).unwrap();
        assert_eq!(parse(&out).unwrap().len(), 1, "{out}");
    }

    #[test]
    fn the_fingerprint_changes_with_the_text() {
        assert_eq!(fingerprint(EXAMPLE), fingerprint(EXAMPLE));
        assert_ne!(
            fingerprint(EXAMPLE),
            fingerprint(&add(EXAMPLE, &flood()).unwrap())
        );
    }
}
