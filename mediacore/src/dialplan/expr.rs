//! Pure: dialplan variable substitution and `$[…]` expressions (Asterisk's
//! `pbx_substitute_variables_helper_full` and `ast_expr2.y`).
//!
//! Substitution: `${VAR}`, `${VAR:offset}`, `${VAR:offset:length}` (negative offset counts
//! from the end, negative length drops characters from the end, as `ast_str_substring`),
//! functions `${CALLERID(num)}`, `${CALLERID(name)}`, `${LEN(text)}`, `${CUT(var,delim,fields)}`
//! and `${IF(cond?true:false)}`, nesting
//! (`${X_${N}}`) and `$[…]` expressions. Undefined variables expand to "".
//!
//! Expressions: `|`, `&`, `= == != < > <= >=`, `+ - * / %`, unary `-` and `!`,
//! `cond ? a :: b`, parentheses and `"quoted strings"`. Comparisons are numeric when both
//! sides are numbers, else by bytes. Arithmetic is floating point as in Asterisk 1.6+
//! (`$[7/2]` is `3.5`); a non-numeric operand counts as 0, as Asterisk does after its
//! warning. Deliberate differences: division by zero is an error (Asterisk yields a huge
//! number), and the regex operators `:` and `=~` are not supported.
//!
//! Everything here returns [`ExprError`] rather than panicking; the executor turns one
//! into a hang-up with a reason.

use std::cmp::Ordering;

/// Nested `${…}`/`$[…]` deeper than this is an error.
const MAX_DEPTH: usize = 64;
/// Expansions longer than this (bytes) are an error: a `Set(X=${X}${X})` loop doubles.
pub const MAX_LEN: usize = 16 * 1024;

/// A substitution or expression failure (the dialplan author's fault, found at run time).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExprError {
    /// `${` or `$[` without its closing bracket.
    #[error("missing '{close}' in '{text}'")]
    Unterminated {
        /// The missing bracket.
        close: char,
        /// The text from the opening bracket on.
        text: String,
    },
    /// `${FOO(x)}` for a function we do not provide.
    #[error("unknown function '{name}'")]
    UnknownFunction {
        /// The function name.
        name: String,
    },
    /// `CALLERID(x)` with an unsupported data item.
    #[error("unsupported CALLERID item '{item}' (num or name)")]
    CallerIdItem {
        /// The item.
        item: String,
    },
    /// `${VAR:x:y}` where x or y is not an integer.
    #[error("invalid substring in '${{{text}}}'")]
    Substring {
        /// The text between the braces.
        text: String,
    },
    /// A malformed `$[…]` expression.
    #[error("syntax error in expression '{expr}': {reason}")]
    Syntax {
        /// The expression after substitution.
        expr: String,
        /// What was expected.
        reason: &'static str,
    },
    /// `/` or `%` by zero.
    #[error("division by zero in expression '{expr}'")]
    DivisionByZero {
        /// The expression after substitution.
        expr: String,
    },
    /// Nesting deeper than 64.
    #[error("substitution nested deeper than {max}")]
    TooDeep {
        /// The limit.
        max: usize,
    },
    /// The result would exceed [`MAX_LEN`].
    #[error("expansion longer than {max} bytes")]
    TooLong {
        /// The limit.
        max: usize,
    },
}

/// Expands `template`, looking variables up with `lookup` (which gets names such as
/// `EXTEN` or `CALLERID(num)` and returns `None` for undefined ones).
pub fn expand(
    template: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<String, ExprError> {
    expand_at(template, lookup, 0)
}

/// Evaluates the inside of a `$[…]` that has already been substituted.
pub fn evaluate(expr: &str) -> Result<String, ExprError> {
    let tokens = tokenize(expr)?;
    if tokens.is_empty() {
        return Ok(String::new());
    }
    let mut parser = ExprParser {
        tokens: &tokens,
        pos: 0,
        expr,
        depth: 0,
    };
    let value = parser.ternary()?;
    if parser.pos != tokens.len() {
        return Err(parser.syntax("unexpected token"));
    }
    Ok(value)
}

/// Asterisk's `pbx_checkcondition`, used by `GotoIf`: empty is false, a leading integer
/// is its value (`"0abc"` is false), anything else is true.
pub fn is_true(condition: &str) -> bool {
    if condition.is_empty() {
        return false;
    }
    let s = condition.trim_start();
    let unsigned = s.strip_prefix(['-', '+']).unwrap_or(s);
    let digits: &str = &unsigned[..unsigned
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(unsigned.len())];
    if digits.is_empty() {
        return true;
    }
    digits.bytes().any(|b| b != b'0')
}

/// Static check of a template at load time: brackets balance and every function whose
/// name is literal exists. Expression syntax is left to run time (it depends on values).
pub fn check(template: &str) -> Result<(), ExprError> {
    check_at(template, 0)
}

fn check_at(s: &str, depth: usize) -> Result<(), ExprError> {
    if depth > MAX_DEPTH {
        return Err(ExprError::TooDeep { max: MAX_DEPTH });
    }
    let mut rest = s;
    while let Some(start) = rest.find('$') {
        let after = &rest[start..];
        if let Some((inner, len)) = bracketed(after)? {
            check_at(inner, depth + 1)?;
            if after.starts_with("${") {
                let (name, _) = split_substring(inner);
                match function_call(name) {
                    Some((function, _)) if !function.contains('$') => check_function(function)?,
                    _ => {}
                }
            }
            rest = &after[len..];
        } else {
            rest = &after[1..];
        }
    }
    Ok(())
}

/// The byte length of the `${…}`/`$[…]` at the start of `s`; `None` if there is none or
/// it is unterminated. Lets argument splitting step over substitutions.
pub(crate) fn construct_len(s: &str) -> Option<usize> {
    bracketed(s).ok().flatten().map(|(_, len)| len)
}

/// If `s` starts with `${` or `$[`, the inside and the total length of the construct.
fn bracketed(s: &str) -> Result<Option<(&str, usize)>, ExprError> {
    let bytes = s.as_bytes();
    let (open, close) = match bytes.get(1) {
        Some(b'{') if bytes.first() == Some(&b'$') => (b'{', b'}'),
        Some(b'[') if bytes.first() == Some(&b'$') => (b'[', b']'),
        _ => return Ok(None),
    };
    let mut depth = 1usize;
    for (i, &b) in bytes.iter().enumerate().skip(2) {
        if b == open {
            depth += 1;
        } else if b == close {
            depth -= 1;
            if depth == 0 {
                return Ok(Some((&s[2..i], i + 1)));
            }
        }
    }
    Err(ExprError::Unterminated {
        close: char::from(close),
        text: s.chars().take(80).collect(),
    })
}

fn expand_at(
    s: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
    depth: usize,
) -> Result<String, ExprError> {
    if depth > MAX_DEPTH {
        return Err(ExprError::TooDeep { max: MAX_DEPTH });
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(start) = rest.find('$') {
        out.push_str(&rest[..start]);
        let after = &rest[start..];
        match bracketed(after)? {
            Some((inner, len)) => {
                let inner = expand_at(inner, lookup, depth + 1)?;
                let value = if after.starts_with("${") {
                    resolve(&inner, lookup)?
                } else {
                    evaluate(&inner)?
                };
                out.push_str(&value);
                rest = &after[len..];
            }
            None => {
                out.push('$');
                rest = &after[1..];
            }
        }
        if out.len() > MAX_LEN {
            return Err(ExprError::TooLong { max: MAX_LEN });
        }
    }
    out.push_str(rest);
    if out.len() > MAX_LEN {
        return Err(ExprError::TooLong { max: MAX_LEN });
    }
    Ok(out)
}

/// Splits `NAME:offset:length` at the first `:` outside parentheses.
fn split_substring(inner: &str) -> (&str, Option<&str>) {
    let mut depth = 0i32;
    for (i, c) in inner.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ':' if depth <= 0 => return (&inner[..i], Some(&inner[i + 1..])),
            _ => {}
        }
    }
    (inner, None)
}

/// `CUT(varname,delimiter,fields)`: the variable's value split on `delimiter` (one
/// character, `-` when empty), fields counted from 1: `2`, `2-3`, `2-` (to the end), `-2`
/// (from the start), joined with the delimiter again; fields past the end are left out.
fn cut(args: &str, lookup: &dyn Fn(&str) -> Option<String>) -> Result<String, ExprError> {
    let mut parts = args.splitn(3, ',');
    let (var, delim, fields) = (
        parts.next().unwrap_or("").trim(),
        parts.next().unwrap_or(""),
        parts.next().unwrap_or("1"),
    );
    let delim = delim.chars().next().unwrap_or('-');
    let value = lookup(var).unwrap_or_default();
    let pieces: Vec<&str> = value.split(delim).collect();
    let bad = || ExprError::Substring {
        text: format!("CUT({args})"),
    };
    let number = |s: &str, default: usize| -> Result<usize, ExprError> {
        match s.trim() {
            "" => Ok(default),
            n => n.parse::<usize>().ok().filter(|&n| n > 0).ok_or_else(bad),
        }
    };
    let mut chosen: Vec<&str> = Vec::new();
    for spec in fields.split('&') {
        let (from, to) = match spec.split_once('-') {
            Some((from, to)) => (number(from, 1)?, number(to, pieces.len())?),
            None => {
                let n = number(spec, 1)?;
                (n, n)
            }
        };
        chosen.extend(
            pieces
                .iter()
                .skip(from - 1)
                .take((to + 1).saturating_sub(from)),
        );
    }
    Ok(chosen.join(&delim.to_string()))
}

/// `IF(condition?true[:false])`: the condition as `GotoIf` reads it.
fn if_function(args: &str) -> String {
    let (condition, branches) = args.split_once('?').unwrap_or((args, ""));
    let (if_true, if_false) = branches.split_once(':').unwrap_or((branches, ""));
    if is_true(condition.trim()) {
        if_true.to_owned()
    } else {
        if_false.to_owned()
    }
}

/// `NAME(args)` → (`NAME`, `args`).
fn function_call(name: &str) -> Option<(&str, &str)> {
    let body = name.strip_suffix(')')?;
    let open = body.find('(')?;
    Some((body[..open].trim(), &body[open + 1..]))
}

/// The functions we provide.
/// `DB` and `STRFTIME` are the caller's: `lookup` gets the whole call (`DB(family/key)`).
const FUNCTIONS: [&str; 6] = ["LEN", "CALLERID", "CUT", "IF", "DB", "STRFTIME"];

fn check_function(name: &str) -> Result<(), ExprError> {
    if FUNCTIONS.iter().any(|f| name.eq_ignore_ascii_case(f)) {
        Ok(())
    } else {
        Err(ExprError::UnknownFunction {
            name: name.to_owned(),
        })
    }
}

fn resolve(inner: &str, lookup: &dyn Fn(&str) -> Option<String>) -> Result<String, ExprError> {
    let (name, range) = split_substring(inner);
    let value = match function_call(name) {
        Some((function, args)) => {
            check_function(function)?;
            if function.eq_ignore_ascii_case("LEN") {
                args.chars().count().to_string()
            } else if function.eq_ignore_ascii_case("CUT") {
                cut(args, lookup)?
            } else if function.eq_ignore_ascii_case("IF") {
                if_function(args)
            } else if function.eq_ignore_ascii_case("DB")
                || function.eq_ignore_ascii_case("STRFTIME")
            {
                lookup(&format!("{}({args})", function.to_ascii_uppercase())).unwrap_or_default()
            } else {
                let item = args.trim().to_ascii_lowercase();
                let key = match item.as_str() {
                    "num" | "number" => "CALLERID(num)",
                    "name" => "CALLERID(name)",
                    _ => return Err(ExprError::CallerIdItem { item }),
                };
                lookup(key).unwrap_or_default()
            }
        }
        None => lookup(name.trim()).unwrap_or_default(),
    };
    let Some(range) = range else {
        return Ok(value);
    };
    let bad = || ExprError::Substring {
        text: inner.to_owned(),
    };
    let (offset, length) = match range.split_once(':') {
        Some((o, l)) => (o, Some(l)),
        None => (range, None),
    };
    let parse = |s: &str| -> Result<i64, ExprError> {
        let s = s.trim();
        if s.is_empty() {
            Ok(0)
        } else {
            s.parse().map_err(|_| bad())
        }
    };
    let offset = parse(offset)?;
    let length = match length {
        Some(l) if !l.trim().is_empty() => Some(parse(l)?),
        _ => None,
    };
    Ok(substring(&value, offset, length))
}

/// `ast_str_substring` on characters.
fn substring(value: &str, offset: i64, length: Option<i64>) -> String {
    let chars: Vec<char> = value.chars().collect();
    let len = i64::try_from(chars.len()).unwrap_or(i64::MAX);
    let mut start = offset;
    if start < 0 {
        start = (len + start).max(0);
    }
    if start >= len {
        return String::new();
    }
    let end = match length {
        None => len,
        Some(l) if l >= 0 => start.saturating_add(l).min(len),
        Some(l) => {
            let end = len + l; // drop |l| characters from the end
            if end <= start {
                return String::new();
            }
            end
        }
    };
    let (start, end) = (
        usize::try_from(start).unwrap_or(0),
        usize::try_from(end).unwrap_or(0),
    );
    chars
        .get(start..end)
        .map(|s| s.iter().collect())
        .unwrap_or_default()
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Value(String),
    Op(&'static str),
}

const OPERATORS: &[&str] = &[
    "::", "==", "!=", "<=", ">=", "=~", "|", "&", "=", "<", ">", "+", "-", "*", "/", "%", "!", "(",
    ")", "?", ":",
];

fn tokenize(expr: &str) -> Result<Vec<Token>, ExprError> {
    let mut tokens = Vec::new();
    let mut rest = expr;
    loop {
        rest = rest.trim_start();
        if rest.is_empty() {
            return Ok(tokens);
        }
        if let Some(quoted) = rest.strip_prefix('"') {
            let Some(end) = quoted.find('"') else {
                return Err(ExprError::Syntax {
                    expr: expr.to_owned(),
                    reason: "unterminated string",
                });
            };
            tokens.push(Token::Value(quoted[..end].to_owned()));
            rest = &quoted[end + 1..];
            continue;
        }
        if let Some(op) = OPERATORS.iter().find(|op| rest.starts_with(**op)) {
            tokens.push(Token::Op(op));
            rest = &rest[op.len()..];
            continue;
        }
        let end = rest
            .find(|c: char| c.is_whitespace() || c == '"' || "|&=!<>+-*/%()?:".contains(c))
            .unwrap_or(rest.len());
        if end == 0 {
            // unreachable while OPERATORS lists every single operator character; guards
            // against an endless loop if the two lists ever drift apart
            return Err(ExprError::Syntax {
                expr: expr.to_owned(),
                reason: "unexpected character",
            });
        }
        tokens.push(Token::Value(rest[..end].to_owned()));
        rest = &rest[end..];
    }
}

struct ExprParser<'a> {
    tokens: &'a [Token],
    pos: usize,
    expr: &'a str,
    depth: usize,
}

/// Numbers as Asterisk's `to_number` sees them: optional sign, digits, optional fraction.
fn number(s: &str) -> Option<f64> {
    let unsigned = s.strip_prefix(['-', '+']).unwrap_or(s);
    let (int, frac) = unsigned.split_once('.').unwrap_or((unsigned, ""));
    let digits = |p: &str| p.bytes().all(|b| b.is_ascii_digit());
    if (int.is_empty() && frac.is_empty()) || !digits(int) || !digits(frac) {
        return None;
    }
    s.parse().ok()
}

fn format_number(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e15 {
        // exact: |n| < 2^53
        format!("{}", n as i64)
    } else {
        format!("{n}")
    }
}

/// "Neither an empty string nor zero" (the `|` and `&` rule).
fn truthy(s: &str) -> bool {
    !s.is_empty() && number(s) != Some(0.0)
}

fn flag(b: bool) -> String {
    if b { "1" } else { "0" }.to_owned()
}

impl ExprParser<'_> {
    fn syntax(&self, reason: &'static str) -> ExprError {
        ExprError::Syntax {
            expr: self.expr.to_owned(),
            reason,
        }
    }

    fn peek_op(&self) -> Option<&'static str> {
        match self.tokens.get(self.pos) {
            Some(Token::Op(op)) => Some(op),
            _ => None,
        }
    }

    fn eat(&mut self, ops: &[&str]) -> Option<&'static str> {
        let op = self.peek_op().filter(|op| ops.contains(op))?;
        self.pos += 1;
        Some(op)
    }

    fn enter(&mut self) -> Result<(), ExprError> {
        self.depth += 1;
        if self.depth > 256 {
            return Err(self.syntax("nested too deeply"));
        }
        Ok(())
    }

    fn ternary(&mut self) -> Result<String, ExprError> {
        self.enter()?;
        let cond = self.or()?;
        let value = if self.eat(&["?"]).is_some() {
            let yes = self.ternary()?;
            if self.eat(&["::"]).is_none() {
                return Err(self.syntax("expected '::' after '?'"));
            }
            let no = self.ternary()?;
            if truthy(&cond) {
                yes
            } else {
                no
            }
        } else {
            cond
        };
        self.depth -= 1;
        Ok(value)
    }

    fn or(&mut self) -> Result<String, ExprError> {
        let mut left = self.and()?;
        while self.eat(&["|"]).is_some() {
            let right = self.and()?;
            if !truthy(&left) {
                left = right;
            }
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<String, ExprError> {
        let mut left = self.comparison()?;
        while self.eat(&["&"]).is_some() {
            let right = self.comparison()?;
            if !(truthy(&left) && truthy(&right)) {
                left = "0".to_owned();
            }
        }
        Ok(left)
    }

    fn comparison(&mut self) -> Result<String, ExprError> {
        let mut left = self.additive()?;
        while let Some(op) = self.eat(&["=", "==", "!=", "<", ">", "<=", ">="]) {
            let right = self.additive()?;
            let order = match (number(&left), number(&right)) {
                (Some(a), Some(b)) => a.partial_cmp(&b).unwrap_or(Ordering::Equal),
                _ => left.as_bytes().cmp(right.as_bytes()),
            };
            left = flag(match op {
                "=" | "==" => order == Ordering::Equal,
                "!=" => order != Ordering::Equal,
                "<" => order == Ordering::Less,
                ">" => order == Ordering::Greater,
                "<=" => order != Ordering::Greater,
                _ => order != Ordering::Less,
            });
        }
        Ok(left)
    }

    fn additive(&mut self) -> Result<String, ExprError> {
        let mut left = self.multiplicative()?;
        while let Some(op) = self.eat(&["+", "-"]) {
            let right = self.multiplicative()?;
            let (a, b) = (number(&left).unwrap_or(0.0), number(&right).unwrap_or(0.0));
            left = format_number(if op == "+" { a + b } else { a - b });
        }
        Ok(left)
    }

    fn multiplicative(&mut self) -> Result<String, ExprError> {
        let mut left = self.unary()?;
        while let Some(op) = self.eat(&["*", "/", "%"]) {
            let right = self.unary()?;
            let (a, b) = (number(&left).unwrap_or(0.0), number(&right).unwrap_or(0.0));
            if op != "*" && b == 0.0 {
                return Err(ExprError::DivisionByZero {
                    expr: self.expr.to_owned(),
                });
            }
            left = format_number(match op {
                "*" => a * b,
                "/" => a / b,
                _ => a % b,
            });
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<String, ExprError> {
        match self.eat(&["-", "!"]) {
            Some(op) => {
                self.enter()?;
                let value = self.unary()?;
                self.depth -= 1;
                Ok(if op == "-" {
                    format_number(-number(&value).unwrap_or(0.0))
                } else {
                    flag(!truthy(&value))
                })
            }
            None => self.primary(),
        }
    }

    fn primary(&mut self) -> Result<String, ExprError> {
        match self.tokens.get(self.pos) {
            Some(Token::Value(v)) => {
                self.pos += 1;
                Ok(v.clone())
            }
            Some(Token::Op("(")) => {
                self.pos += 1;
                let value = self.ternary()?;
                if self.eat(&[")"]).is_none() {
                    return Err(self.syntax("expected ')'"));
                }
                Ok(value)
            }
            Some(Token::Op(":" | "=~")) => Err(self.syntax("regex operators are not supported")),
            Some(Token::Op(_)) => Err(self.syntax("expected a value")),
            None => Err(self.syntax("unexpected end")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn vars() -> HashMap<&'static str, &'static str> {
        HashMap::from([
            ("EXTEN", "0612345678"),
            ("ACK", "1"),
            ("N", "2"),
            ("OPT_2", "two"),
            ("CALLERID(num)", "+390612345"),
            ("CALLERID(name)", "Sala Operativa"),
            ("S", "hello world"),
            ("PATH", "a/b/c/d"),
            ("DASHED", "a-b-c"),
        ])
    }

    fn x(template: &str) -> String {
        let vars = vars();
        expand(template, &|name| vars.get(name).map(|v| (*v).to_owned()))
            .unwrap_or_else(|e| panic!("{template}: {e}"))
    }

    fn x_err(template: &str) -> ExprError {
        let vars = vars();
        match expand(template, &|name| vars.get(name).map(|v| (*v).to_owned())) {
            Ok(v) => panic!("{template} expanded to {v:?}"),
            Err(e) => e,
        }
    }

    #[test]
    fn variables_expand_and_undefined_ones_are_empty() {
        assert_eq!(x("ack=${ACK}!"), "ack=1!");
        assert_eq!(x("[${NOPE}]"), "[]");
        assert_eq!(x("cost $5"), "cost $5");
    }

    #[test]
    fn substrings_follow_asterisk_offsets() {
        assert_eq!(x("${EXTEN:1}"), "612345678");
        assert_eq!(x("${EXTEN:0:3}"), "061");
        assert_eq!(x("${EXTEN:-4}"), "5678");
        assert_eq!(x("${EXTEN:-4:2}"), "56");
        assert_eq!(x("${EXTEN:2:-2}"), "123456");
        assert_eq!(x("${EXTEN:-100:2}"), "06");
        assert_eq!(x("${EXTEN:100}"), "");
        assert_eq!(x("${EXTEN:8:-5}"), "");
        assert!(matches!(x_err("${EXTEN:a}"), ExprError::Substring { .. }));
    }

    #[test]
    fn functions_and_nesting_expand() {
        assert_eq!(x("${CALLERID(num)}"), "+390612345");
        assert_eq!(x("${CALLERID(name)}"), "Sala Operativa");
        assert_eq!(x("${CALLERID(num):1:2}"), "39");
        assert_eq!(x("${LEN(${EXTEN})}"), "10");
        assert_eq!(x("${OPT_${N}}"), "two");
        assert_eq!(x("${IF($[${ACK} = 1]?yes:no)}"), "yes");
        assert_eq!(x("${IF($[${ACK} = 2]?yes:no)}"), "no");
        assert_eq!(x("${IF(0?yes)}"), "");
        assert_eq!(x("${CUT(S, ,2)}"), "world");
        assert_eq!(x("${CUT(PATH,/,2-3)}"), "b/c");
        assert_eq!(x("${CUT(PATH,/,3-)}"), "c/d");
        assert_eq!(x("${CUT(PATH,/,-2)}"), "a/b");
        assert_eq!(x("${CUT(PATH,/,1&4)}"), "a/d");
        assert_eq!(x("${CUT(PATH,/,9)}"), "");
        assert_eq!(x("${CUT(DASHED,,2)}"), "b");
        assert!(matches!(
            x_err("${CUT(PATH,/,x)}"),
            ExprError::Substring { .. }
        ));
        assert!(matches!(
            x_err("${CUT(PATH,/,0)}"),
            ExprError::Substring { .. }
        ));
        assert!(matches!(
            x_err("${SHELL(rm)}"),
            ExprError::UnknownFunction { .. }
        ));
        assert!(matches!(
            x_err("${CALLERID(ani)}"),
            ExprError::CallerIdItem { .. }
        ));
    }

    #[test]
    fn expressions_compute_numbers_and_strings() {
        assert_eq!(x("$[1 + 2 * 3]"), "7");
        assert_eq!(x("$[(1+2)*3]"), "9");
        assert_eq!(x("$[7 / 2]"), "3.5");
        assert_eq!(x("$[7 % 4]"), "3");
        assert_eq!(x("$[-3 + 1]"), "-2");
        assert_eq!(x("$[${ACK} = 1]"), "1");
        assert_eq!(x("$[${ACK} != 1]"), "0");
        assert_eq!(x("$[01 = 1]"), "1", "numeric when both are numbers");
        assert_eq!(x("$[\"01\" = \"1\"]"), "1");
        assert_eq!(x("$[abc < abd]"), "1");
        assert_eq!(x("$[10 > 9]"), "1", "not string order");
        assert_eq!(x("$[\"${S}\" = \"hello world\"]"), "1");
        assert_eq!(x("$[${NOPE}x = x]"), "1");
        assert_eq!(x("$[1 <= 1 & 2 >= 3]"), "0");
        assert_eq!(x("$[0 | fallback]"), "fallback");
        assert_eq!(x("$[yes & 5]"), "yes");
        assert_eq!(x("$[!0]"), "1");
        assert_eq!(x("$[${ACK} ? a :: b]"), "a");
        assert_eq!(x("$[$[1+1]*2]"), "4");
        assert_eq!(x("$[]"), "");
    }

    #[test]
    fn expression_errors_are_returned_not_panicked() {
        assert!(matches!(x_err("$[1 +]"), ExprError::Syntax { .. }));
        assert!(matches!(x_err("$[(1]"), ExprError::Syntax { .. }));
        assert!(matches!(x_err("$[1 2]"), ExprError::Syntax { .. }));
        assert!(matches!(x_err("$[\"a]"), ExprError::Syntax { .. }));
        assert!(matches!(x_err("$[a : b]"), ExprError::Syntax { .. }));
        assert!(matches!(x_err("$[1/0]"), ExprError::DivisionByZero { .. }));
        assert!(matches!(
            x_err("${ACK"),
            ExprError::Unterminated { close: '}', .. }
        ));
        assert!(matches!(
            x_err("$[1"),
            ExprError::Unterminated { close: ']', .. }
        ));
        let deep = format!("$[{}1{}]", "(".repeat(5000), ")".repeat(5000));
        assert!(matches!(x_err(&deep), ExprError::Syntax { .. }));
        let nested = format!("{}{}", "${".repeat(500), "}".repeat(500));
        assert!(matches!(x_err(&nested), ExprError::TooDeep { .. }));
        assert!(matches!(
            x_err(&"x".repeat(MAX_LEN + 1)),
            ExprError::TooLong { .. }
        ));
    }

    #[test]
    fn conditions_follow_pbx_checkcondition() {
        assert!(!is_true(""));
        assert!(!is_true("0"));
        assert!(!is_true("0abc"));
        assert!(!is_true(" -0"));
        assert!(is_true("1"));
        assert!(is_true("abc"));
        assert!(is_true(" "));
        assert!(is_true("-2"));
    }

    #[test]
    fn static_check_finds_unbalanced_brackets_and_unknown_functions() {
        assert!(check("${EXTEN:1}$[${A} = 1]${LEN(x)}").is_ok());
        assert!(check("${FOO(${X})}").is_err());
        assert!(check("${A").is_err());
        assert!(
            check("${${A}(x)}").is_ok(),
            "dynamic names are left to run time"
        );
    }
}
