//! The `xSelect` subset of SPEC §5 as a small typed query the datapoint table evaluates:
//! `//Item` followed by predicates such as `[@xsi:type="Dp_Cfg"]`,
//! `[starts-with(UCPTname,"Net/LON/iLON App")]`, `[contains(UCPTaliasName,"nviClaValue")]`,
//! `[UCPTformatDescription="#0000000000000000[0].SNVT_switch"]`,
//! `[UCPTlastUpdate>"2008-03-17T00:00:00"]` and `[position()<50]` (PR p.47, p.53), chained
//! or joined with `and`. Anything else is refused with the offset of the problem. No I/O.

use std::borrow::Cow;

mod parse;

use parse::Parser;
pub use parse::SelectError;

/// A field of an item a predicate looks at, by its element name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Field {
    /// `UCPTname`.
    Name,
    /// `UCPTaliasName`.
    AliasName,
    /// `UCPTannotation`.
    Annotation,
    /// `UCPTdescription`.
    Description,
    /// `UCPTformatDescription`.
    FormatDescription,
    /// `UCPTlastUpdate`.
    LastUpdate,
    /// Any other element name; items usually have no such field, so it never matches.
    Other(String),
}

impl Field {
    fn from_name(s: &str) -> Field {
        match s {
            "UCPTname" => Field::Name,
            "UCPTaliasName" => Field::AliasName,
            "UCPTannotation" => Field::Annotation,
            "UCPTdescription" => Field::Description,
            "UCPTformatDescription" => Field::FormatDescription,
            "UCPTlastUpdate" => Field::LastUpdate,
            other => Field::Other(other.to_owned()),
        }
    }

    /// The element name, e.g. `UCPTname`.
    pub fn as_str(&self) -> &str {
        match self {
            Field::Name => "UCPTname",
            Field::AliasName => "UCPTaliasName",
            Field::Annotation => "UCPTannotation",
            Field::Description => "UCPTdescription",
            Field::FormatDescription => "UCPTformatDescription",
            Field::LastUpdate => "UCPTlastUpdate",
            Field::Other(s) => s,
        }
    }
}

/// A comparison operator of a predicate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Cmp {
    /// `=`
    Eq,
    /// `!=`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
}

impl Cmp {
    fn as_str(self) -> &'static str {
        match self {
            Cmp::Eq => "=",
            Cmp::Ne => "!=",
            Cmp::Lt => "<",
            Cmp::Le => "<=",
            Cmp::Gt => ">",
            Cmp::Ge => ">=",
        }
    }

    fn holds(self, ord: std::cmp::Ordering) -> bool {
        use std::cmp::Ordering::{Equal, Greater, Less};
        match self {
            Cmp::Eq => ord == Equal,
            Cmp::Ne => ord != Equal,
            Cmp::Lt => ord == Less,
            Cmp::Le => ord != Greater,
            Cmp::Gt => ord == Greater,
            Cmp::Ge => ord != Less,
        }
    }
}

/// One condition inside a `[...]` predicate.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Term {
    /// `@xsi:type="T"`: the item is of type `T` (the table decides what is-a `Dp_Cfg`).
    Type(String),
    /// `starts-with(F,"prefix")`.
    StartsWith { field: Field, prefix: String },
    /// `contains(F,"needle")`.
    Contains { field: Field, needle: String },
    /// `F op "value"` or `F op 12`: see [`Value`].
    Compare { field: Field, op: Cmp, value: Value },
    /// `position() op n`: the 1-based position among the items the earlier predicates kept.
    Position { op: Cmp, n: u64 },
}

/// The right-hand side of a comparison.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Value {
    /// A quoted string: `=`/`!=` compare exactly, the others lexicographically (which orders
    /// ISO 8601 times of one zone correctly, e.g. `UCPTlastUpdate>"2008-03-17T00:00:00"`).
    Text(String),
    /// An unquoted number, as written (`[UCPTlength=2]`): compared numerically with the
    /// field's text read as a number; a field that is not a number never matches.
    Number(String),
}

/// One `[...]` predicate: its terms joined by `and`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Predicate {
    /// All must hold.
    pub terms: Vec<Term>,
}

/// A parsed `//Item[...][...]` selection: the predicates apply in order, as in XPath.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Selection {
    /// The predicates, in order.
    pub predicates: Vec<Predicate>,
}

/// What the datapoint table implements so a [`Selection`] can run over its items.
pub trait Selectable {
    /// True if the item is of `xsi:type` `ty` (e.g. every datapoint is a `Dp_Cfg`).
    fn is_type(&self, ty: &str) -> bool;
    /// The item's value of `field`, if it has one.
    fn field(&self, field: &Field) -> Option<Cow<'_, str>>;
}

impl Selection {
    /// A selection of one type: `//Item[@xsi:type="ty"]`.
    pub fn of_type(ty: impl Into<String>) -> Selection {
        Selection {
            predicates: vec![Predicate {
                terms: vec![Term::Type(ty.into())],
            }],
        }
    }

    /// Builder: add a predicate with one term.
    pub fn and(mut self, term: Term) -> Selection {
        self.predicates.push(Predicate { terms: vec![term] });
        self
    }

    /// The type the selection asks for if it is exactly `//Item[@xsi:type="T"]`.
    pub fn only_type(&self) -> Option<&str> {
        match self.predicates.as_slice() {
            [p] => match p.terms.as_slice() {
                [Term::Type(t)] => Some(t),
                _ => None,
            },
            _ => None,
        }
    }

    /// The items the selection keeps, in their order.
    pub fn select<'a, T: Selectable>(&self, items: impl IntoIterator<Item = &'a T>) -> Vec<&'a T> {
        let mut kept: Vec<&'a T> = items.into_iter().collect();
        for p in &self.predicates {
            kept = kept
                .into_iter()
                .enumerate()
                .filter(|(i, item)| p.terms.iter().all(|t| t.holds(*item, *i as u64 + 1)))
                .map(|(_, item)| item)
                .collect();
        }
        kept
    }

    /// Parses an `xSelect` string of the supported subset.
    pub fn parse(s: &str) -> Result<Selection, SelectError> {
        Parser { s, pos: 0 }.selection()
    }

    /// The `xSelect` text; `None` if a string holds both quote characters (XPath 1.0
    /// literals cannot).
    pub fn to_xselect(&self) -> Option<String> {
        let mut out = String::from("//Item");
        for p in &self.predicates {
            out.push('[');
            for (i, t) in p.terms.iter().enumerate() {
                if i > 0 {
                    out.push_str(" and ");
                }
                match t {
                    Term::Type(ty) => out.push_str(&format!("@xsi:type={}", literal(ty)?)),
                    Term::StartsWith { field, prefix } => out.push_str(&format!(
                        "starts-with({},{})",
                        field.as_str(),
                        literal(prefix)?
                    )),
                    Term::Contains { field, needle } => out.push_str(&format!(
                        "contains({},{})",
                        field.as_str(),
                        literal(needle)?
                    )),
                    Term::Compare { field, op, value } => {
                        let rhs = match value {
                            Value::Text(t) => literal(t)?,
                            Value::Number(n) => n.clone(),
                        };
                        out.push_str(&format!("{}{}{rhs}", field.as_str(), op.as_str()))
                    }
                    Term::Position { op, n } => {
                        out.push_str(&format!("position(){}{n}", op.as_str()))
                    }
                }
            }
            out.push(']');
        }
        Some(out)
    }
}

fn literal(s: &str) -> Option<String> {
    if !s.contains('"') {
        Some(format!("\"{s}\""))
    } else if !s.contains('\'') {
        Some(format!("'{s}'"))
    } else {
        None
    }
}

impl Term {
    fn holds<T: Selectable>(&self, item: &T, position: u64) -> bool {
        match self {
            Term::Type(ty) => item.is_type(ty),
            Term::StartsWith { field, prefix } => item
                .field(field)
                .is_some_and(|v| v.starts_with(prefix.as_str())),
            Term::Contains { field, needle } => item
                .field(field)
                .is_some_and(|v| v.contains(needle.as_str())),
            Term::Compare { field, op, value } => item.field(field).is_some_and(|v| match value {
                Value::Text(t) => op.holds(v.as_ref().cmp(t.as_str())),
                Value::Number(n) => match (v.trim().parse::<f64>(), n.parse::<f64>()) {
                    (Ok(a), Ok(b)) => a.partial_cmp(&b).is_some_and(|o| op.holds(o)),
                    _ => false,
                },
            }),
            Term::Position { op, n } => op.holds(position.cmp(n)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Dp {
        name: &'static str,
        alias: Option<&'static str>,
        format: &'static str,
        cfg: bool,
    }

    impl Selectable for Dp {
        fn is_type(&self, ty: &str) -> bool {
            self.cfg && ty == "Dp_Cfg"
        }
        fn field(&self, field: &Field) -> Option<Cow<'_, str>> {
            match field {
                Field::Name => Some(Cow::Borrowed(self.name)),
                Field::AliasName => self.alias.map(Cow::Borrowed),
                Field::FormatDescription => Some(Cow::Borrowed(self.format)),
                _ => None,
            }
        }
    }

    const SWITCH: &str = "#0000000000000000[0].SNVT_switch";

    fn table() -> Vec<Dp> {
        vec![
            Dp {
                name: "Net/LON/iLON App/Digital Output 1/nviClaValue_1",
                alias: Some("NVL_nviClaValue_1"),
                format: SWITCH,
                cfg: true,
            },
            Dp {
                name: "Net/LON/iLON App/VirtFb/temp",
                alias: None,
                format: "#0000000000000000[0].SNVT_temp_p",
                cfg: true,
            },
            Dp {
                name: "Net/LON/iLON App/Digital Output 2/nviClaValue_2",
                alias: Some("NVL_nviClaValue_2"),
                format: SWITCH,
                cfg: true,
            },
            Dp {
                name: "Net/LON/iLON App/Digital Output 2/ref",
                alias: None,
                format: SWITCH,
                cfg: false,
            },
        ]
    }

    fn names(sel: &str) -> Vec<&'static str> {
        let t = table();
        Selection::parse(sel)
            .unwrap()
            .select(&t)
            .into_iter()
            .map(|d| d.name)
            .collect()
    }

    #[test]
    fn the_notes_list_selection_keeps_switches_under_the_prefix() {
        assert_eq!(
            names(
                "//Item[@xsi:type=\"Dp_Cfg\"][starts-with(UCPTname,\"Net/LON/iLON App\")][UCPTformatDescription=\"#0000000000000000[0].SNVT_switch\"]"
            ),
            vec![
                "Net/LON/iLON App/Digital Output 1/nviClaValue_1",
                "Net/LON/iLON App/Digital Output 2/nviClaValue_2",
            ]
        );
    }

    #[test]
    fn contains_on_the_alias_with_a_space_between_predicates() {
        assert_eq!(
            names("//Item[@xsi:type=\"Dp_Cfg\"] [contains(UCPTaliasName,'Value_2')]"),
            vec!["Net/LON/iLON App/Digital Output 2/nviClaValue_2"]
        );
    }

    #[test]
    fn position_counts_among_the_items_kept_so_far() {
        assert_eq!(
            names(
                "//Item[UCPTformatDescription=\"#0000000000000000[0].SNVT_switch\"][position()>=2]"
            ),
            vec![
                "Net/LON/iLON App/Digital Output 2/nviClaValue_2",
                "Net/LON/iLON App/Digital Output 2/ref",
            ]
        );
        assert_eq!(names("//Item[position()<2]").len(), 1);
        assert_eq!(names("//Item").len(), 4);
    }

    #[test]
    fn and_joins_terms_and_a_missing_field_never_matches() {
        assert_eq!(
            names("//Item[@xsi:type=\"Dp_Cfg\" and contains(UCPTname,\"Output\")]").len(),
            2
        );
        assert_eq!(names("//Item[UCPTaliasName!=\"x\"]").len(), 2);
        assert_eq!(names("//Item[UCPTdescription=\"x\"]").len(), 0);
    }

    #[test]
    fn comparisons_on_times_are_lexicographic() {
        let sel = Selection::parse("//Item[UCPTlastUpdate>\"2008-03-17T00:00:00\"]").unwrap();
        assert_eq!(
            sel.predicates[0].terms,
            vec![Term::Compare {
                field: Field::LastUpdate,
                op: Cmp::Gt,
                value: Value::Text("2008-03-17T00:00:00".into()),
            }]
        );
        assert!(Cmp::Gt.holds("2008-03-17T13:36:48".cmp("2008-03-17T00:00:00")));
    }

    struct Indexed(&'static str);

    impl Selectable for Indexed {
        fn is_type(&self, _: &str) -> bool {
            true
        }
        fn field(&self, field: &Field) -> Option<Cow<'_, str>> {
            (field.as_str() == "UCPTindex").then_some(Cow::Borrowed(self.0))
        }
    }

    #[test]
    fn unquoted_numbers_compare_numerically() {
        let t = [Indexed("9"), Indexed("10"), Indexed("x"), Indexed("-2.5")];
        let kept = |s: &str| -> Vec<&str> {
            Selection::parse(s)
                .unwrap()
                .select(&t)
                .into_iter()
                .map(|i| i.0)
                .collect()
        };
        assert_eq!(kept("//Item[UCPTindex<10]"), vec!["9", "-2.5"]);
        assert_eq!(kept("//Item[UCPTindex>=-2.5]"), vec!["9", "10", "-2.5"]);
        // Quoted, the same bound compares as text.
        assert_eq!(kept("//Item[UCPTindex<\"10\"]"), vec!["-2.5"]);
        assert_eq!(
            Selection::parse("//Item[UCPTindex=1.2.3]")
                .unwrap_err()
                .to_string(),
            "at byte 17: expected a number or a quoted string"
        );
    }

    #[test]
    fn to_xselect_round_trips_and_picks_a_quote_the_string_lacks() {
        for s in [
            "//Item[@xsi:type=\"Dp_Cfg\"][starts-with(UCPTname,\"Net/LON\")]",
            "//Item[contains(UCPTaliasName,\"a\") and position()<=50][UCPTlength=2]",
            "//Item",
        ] {
            let sel = Selection::parse(s).unwrap();
            assert_eq!(sel.to_xselect().as_deref(), Some(s));
        }
        let quoted = Selection::default().and(Term::Contains {
            field: Field::Name,
            needle: "say \"hi\"".into(),
        });
        assert_eq!(
            quoted.to_xselect().as_deref(),
            Some("//Item[contains(UCPTname,'say \"hi\"')]")
        );
        let both = Selection::default().and(Term::Contains {
            field: Field::Name,
            needle: "it's \"x\"".into(),
        });
        assert_eq!(both.to_xselect(), None);
    }

    #[test]
    fn unsupported_syntax_is_refused_with_its_offset() {
        let err = |s: &str| Selection::parse(s).unwrap_err().to_string();
        assert_eq!(err("//Foo"), "at byte 0: expected \"//Item\"");
        assert_eq!(
            err("//Item[starts-with(UCPTname \"x\")]"),
            "at byte 28: expected \",\""
        );
        assert_eq!(
            err("//Item[contains(UCPTname,\"x)]"),
            "at byte 25: unterminated string"
        );
        assert_eq!(
            err("//Item[UCPTname=\"a\" or UCPTname=\"b\"]"),
            "at byte 20: expected \"]\""
        );
        assert_eq!(
            err("//Item[last()]"),
            "at byte 7: unsupported function last(), only starts-with(), contains() and position()"
        );
        assert_eq!(err("//Item[position()<x]"), "at byte 18: expected a number");
        assert_eq!(
            err("//Item[]"),
            "at byte 7: expected a field name, @xsi:type, position(), starts-with( or contains("
        );
        assert_eq!(
            err("//Item[UCPTname~\"a\"]"),
            "at byte 15: expected a comparison (=, !=, <, <=, >, >=)"
        );
    }
}
