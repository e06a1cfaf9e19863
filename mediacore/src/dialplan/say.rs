//! Pure: the prompts that say a string of digits or a number, named as Asterisk names its
//! sound files (`digits/<n>`, `digits/hundred`…) and in the order Asterisk's `say.c` plays
//! them for Italian, the language the node's prompts are in.
//!
//! Italian, as Asterisk says it: 0–20 have a prompt each; the tens are one prompt
//! (`digits/30`) followed by the unit, except the elided forms, which have their own
//! (`digits/21` "ventuno", `digits/28` "ventotto", …, `digits/98`); `digits/hundred`
//! ("cento") follows the count of hundreds from 200 up; 1,000 is `digits/thousand`
//! ("mille") and from 2,000 the count then `digits/thousands` ("mila"); millions likewise
//! (`digits/million`, `digits/millions`). Below zero `digits/minus` comes first. Like
//! Asterisk, a billion or more cannot be said. The prompts themselves are
//! `mediacore/prompts/digits-it.tsv`, spoken into the image at build time.

/// The largest magnitude [`number`] says (Asterisk's Italian stops below a billion).
pub const LIMIT: i64 = 999_999_999;

/// The prompts for `text` read digit by digit: `0`–`9`, `*` (`digits/star`), `#`
/// (`digits/pound`) and `-` (`digits/minus`); anything else is skipped, as Asterisk does.
pub fn digits(text: &str) -> Vec<String> {
    text.chars()
        .filter_map(|c| match c {
            '0'..='9' => Some(format!("digits/{c}")),
            '*' => Some("digits/star".to_owned()),
            '#' => Some("digits/pound".to_owned()),
            '-' => Some("digits/minus".to_owned()),
            _ => None,
        })
        .collect()
}

/// The prompts that say `n` in Italian; an error beyond ±[`LIMIT`].
pub fn number(n: i64) -> Result<Vec<String>, String> {
    if n.unsigned_abs() > LIMIT.unsigned_abs() {
        return Err(format!("{n} is too large to say (at most {LIMIT})"));
    }
    if n == 0 {
        return Ok(vec!["digits/0".to_owned()]);
    }
    let mut files = Vec::new();
    if n < 0 {
        files.push("digits/minus".to_owned());
    }
    say(n.unsigned_abs(), &mut files);
    Ok(files)
}

/// Appends the prompts for 1 ≤ `n` ≤ [`LIMIT`] (0 adds nothing: the remainder of a round
/// number).
fn say(n: u64, files: &mut Vec<String>) {
    let mut push = |f: String| files.push(f);
    match n {
        0 => {}
        1..=20 => push(format!("digits/{n}")),
        21..=99 => {
            let (tens, unit) = (n / 10 * 10, n % 10);
            if unit == 1 || unit == 8 {
                // "ventuno", "ventotto": the tens lose their vowel, so a prompt of its own.
                push(format!("digits/{n}"));
            } else {
                push(format!("digits/{tens}"));
                say(unit, files);
            }
        }
        100..=999 => {
            if n / 100 > 1 {
                push(format!("digits/{}", n / 100));
            }
            files.push("digits/hundred".to_owned());
            say(n % 100, files);
        }
        1_000..=999_999 => {
            if n / 1_000 > 1 {
                say(n / 1_000, files);
                files.push("digits/thousands".to_owned());
            } else {
                push("digits/thousand".to_owned());
            }
            say(n % 1_000, files);
        }
        _ => {
            if n / 1_000_000 > 1 {
                say(n / 1_000_000, files);
                files.push("digits/millions".to_owned());
            } else {
                push("digits/million".to_owned());
            }
            say(n % 1_000_000, files);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn said(n: i64) -> String {
        number(n)
            .unwrap()
            .iter()
            .map(|f| f.trim_start_matches("digits/"))
            .collect::<Vec<_>>()
            .join(" ")
    }

    #[test]
    fn numbers_are_said_with_asterisks_italian_files() {
        let cases = [
            (0, "0"),
            (7, "7"),
            (16, "16"),
            (20, "20"),
            (21, "21"),
            (23, "20 3"),
            (28, "28"),
            (40, "40"),
            (98, "98"),
            (99, "90 9"),
            (100, "hundred"),
            (101, "hundred 1"),
            (121, "hundred 21"),
            (200, "2 hundred"),
            (358, "3 hundred 58"),
            (1_000, "thousand"),
            (1_001, "thousand 1"),
            (1_999, "thousand 9 hundred 90 9"),
            (2_000, "2 thousands"),
            (21_000, "21 thousands"),
            (112_118, "hundred 12 thousands hundred 18"),
            (1_000_000, "million"),
            (2_500_000, "2 millions 5 hundred thousands"),
            (
                999_999_999,
                "9 hundred 90 9 millions 9 hundred 90 9 thousands 9 hundred 90 9",
            ),
            (-5, "minus 5"),
            (-1_000, "minus thousand"),
        ];
        for (n, expected) in cases {
            assert_eq!(said(n), expected, "{n}");
        }
    }

    #[test]
    fn a_billion_or_more_is_refused_not_mangled() {
        assert!(number(1_000_000_000).is_err());
        assert!(number(-1_000_000_000).is_err());
        assert!(
            number(i64::MIN).is_err(),
            "no overflow on the most negative"
        );
    }

    #[test]
    fn digits_are_read_one_by_one_and_other_characters_skipped() {
        assert_eq!(
            digits("1*0#-9a"),
            [
                "digits/1",
                "digits/star",
                "digits/0",
                "digits/pound",
                "digits/minus",
                "digits/9"
            ]
        );
        assert!(digits("abc").is_empty());
    }

    /// Every prompt a number or a digit string can ask for is one the image speaks.
    #[test]
    fn every_prompt_said_is_shipped() {
        let shipped: std::collections::HashSet<&str> = include_str!("../../prompts/digits-it.tsv")
            .lines()
            .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
            .map(|l| l.split('\t').next().unwrap_or(""))
            .collect();
        let mut asked: Vec<String> = digits("0123456789*#-");
        for n in (-1_000..=25_000).chain([1_000_000, 2_000_000, 999_999_999]) {
            asked.extend(number(n).unwrap());
        }
        for file in asked {
            assert!(
                shipped.contains(file.as_str()),
                "{file} is not in digits-it.tsv"
            );
        }
        for line in include_str!("../../prompts/digits-it.tsv").lines() {
            if !line.starts_with('#') {
                assert_eq!(line.split('\t').count(), 2, "not name<TAB>text: {line:?}");
            }
        }
    }
}
