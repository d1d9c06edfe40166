//! Reading an `xSelect` string into a [`Selection`]: the grammar and its error offsets, kept
//! apart so the query types and their evaluation read without the tokenizer's details.

use std::fmt;

use super::{Cmp, Field, Predicate, Selection, Term, Value};

/// Why an `xSelect` was refused: `offset` is the byte position in the string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SelectError {
    /// Byte offset of the problem.
    pub offset: usize,
    /// What was expected there.
    pub detail: String,
}

impl fmt::Display for SelectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "at byte {}: {}", self.offset, self.detail)
    }
}

pub(super) struct Parser<'a> {
    pub(super) s: &'a str,
    pub(super) pos: usize,
}

impl Parser<'_> {
    fn rest(&self) -> &str {
        self.s.get(self.pos..).unwrap_or("")
    }

    fn err<T>(&self, detail: impl Into<String>) -> Result<T, SelectError> {
        Err(SelectError {
            offset: self.pos,
            detail: detail.into(),
        })
    }

    fn ws(&mut self) {
        let r = self.rest();
        self.pos += r.len() - r.trim_start().len();
    }

    fn eat(&mut self, token: &str) -> bool {
        self.ws();
        if self.rest().starts_with(token) {
            self.pos += token.len();
            true
        } else {
            false
        }
    }

    fn expect(&mut self, token: &str) -> Result<(), SelectError> {
        if self.eat(token) {
            Ok(())
        } else {
            self.err(format!("expected {token:?}"))
        }
    }

    pub(super) fn selection(mut self) -> Result<Selection, SelectError> {
        self.expect("//Item")?;
        let mut sel = Selection::default();
        loop {
            self.ws();
            if self.rest().is_empty() {
                return Ok(sel);
            }
            self.expect("[")?;
            let mut terms = vec![self.term()?];
            while self.keyword("and") {
                terms.push(self.term()?);
            }
            self.expect("]")?;
            sel.predicates.push(Predicate { terms });
        }
    }

    /// `and` as a whole word.
    fn keyword(&mut self, word: &str) -> bool {
        self.ws();
        let r = self.rest();
        let whole = r.strip_prefix(word).is_some_and(|after| {
            !after
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
        });
        if whole {
            self.pos += word.len();
        }
        whole
    }

    fn term(&mut self) -> Result<Term, SelectError> {
        if self.eat("@xsi:type") {
            self.expect("=")?;
            return Ok(Term::Type(self.string()?));
        }
        if self.eat("position()") {
            let op = self.cmp()?;
            self.ws();
            let digits: String = self
                .rest()
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            let Ok(n) = digits.parse::<u64>() else {
                return self.err("expected a number");
            };
            self.pos += digits.len();
            return Ok(Term::Position { op, n });
        }
        let start = self.pos;
        let name = self.ident()?;
        if (name == "starts-with" || name == "contains") && self.eat("(") {
            let field = Field::from_name(&self.ident()?);
            self.expect(",")?;
            let arg = self.string()?;
            self.expect(")")?;
            return Ok(if name == "contains" {
                Term::Contains { field, needle: arg }
            } else {
                Term::StartsWith { field, prefix: arg }
            });
        }
        if self.rest().trim_start().starts_with('(') {
            self.pos = start;
            return self.err(format!(
                "unsupported function {name}(), only starts-with(), contains() and position()"
            ));
        }
        if name.contains('-') {
            self.pos = start;
            return self.err("expected starts-with( or contains(");
        }
        let op = self.cmp()?;
        let value = self.value()?;
        Ok(Term::Compare {
            field: Field::from_name(&name),
            op,
            value,
        })
    }

    fn ident(&mut self) -> Result<String, SelectError> {
        self.ws();
        let id: String = self
            .rest()
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
            .collect();
        if id.is_empty() || id.starts_with(|c: char| c.is_ascii_digit() || c == '-') {
            return self
                .err("expected a field name, @xsi:type, position(), starts-with( or contains(");
        }
        self.pos += id.len();
        Ok(id)
    }

    fn cmp(&mut self) -> Result<Cmp, SelectError> {
        for (tok, op) in [
            ("!=", Cmp::Ne),
            ("<=", Cmp::Le),
            (">=", Cmp::Ge),
            ("=", Cmp::Eq),
            ("<", Cmp::Lt),
            (">", Cmp::Gt),
        ] {
            if self.eat(tok) {
                return Ok(op);
            }
        }
        self.err("expected a comparison (=, !=, <, <=, >, >=)")
    }

    fn string(&mut self) -> Result<String, SelectError> {
        self.ws();
        let Some(q) = self
            .rest()
            .chars()
            .next()
            .filter(|c| *c == '"' || *c == '\'')
        else {
            return self.err("expected a quoted string");
        };
        let Some((value, _)) = self
            .rest()
            .strip_prefix(q)
            .and_then(|body| body.split_once(q))
        else {
            return self.err("unterminated string");
        };
        let value = value.to_owned();
        self.pos += value.len() + 2;
        Ok(value)
    }

    fn value(&mut self) -> Result<Value, SelectError> {
        self.ws();
        let num: String = self
            .rest()
            .chars()
            .enumerate()
            .take_while(|(i, c)| c.is_ascii_digit() || *c == '.' || (*i == 0 && *c == '-'))
            .map(|(_, c)| c)
            .collect();
        if num.is_empty() {
            return self.string().map(Value::Text);
        }
        if num.parse::<f64>().is_err() {
            return self.err("expected a number or a quoted string");
        }
        self.pos += num.len();
        Ok(Value::Number(num))
    }
}
