//! The item payloads of responses, as plain structs the datapoint table fills in:
//! `Dp_Data` (Read/Write answers), `Dp_Cfg` (Get answers), List entries and name echoes,
//! plus the `UCPTvalue` string with its `LonFormat`. Each converts to its `<Item>` element in
//! the SmartServer's element order (Axis `Item`/`Dp_Data`/`Dp_Cfg` field order, PR p.31,
//! p.47, p.54) and back, so peer responses can be read with the same types. No I/O.

use super::error::SoapError;
use super::ns;
use super::xml_util::{
    child_local, child_text, children_local, format_bool, format_decimal, msg, parse_bool, quote,
    text_of,
};
use crate::xmpp::xml::Element;

/// The `LonFormat` of a `<UCPTvalue>` naming a preset (PR p.54, p.442).
pub const PRESET_FORMAT: &str = "UCPTvalueDef";

/// The `LonFormat` of `<UCPTpointStatus>` (PR p.31, p.54).
pub const POINT_STATUS_FORMAT: &str = "UCPTpointStatus";

/// `xsi:type` of a datapoint value item.
pub const DP_DATA: &str = "Dp_Data";

/// `xsi:type` of a datapoint configuration item.
pub const DP_CFG: &str = "Dp_Cfg";

/// `xsi:type` of a priority-reset item (PR p.58).
pub const DP_RESET_PRIO_INVOKE: &str = "Dp_ResetPrio_Invoke";

/// One `<UCPTvalue>` (the WSDL's `E_LonString`): a value text, the `LonFormat` it is written
/// in, and optionally its `Unit`.
///
/// A Read answer carries several: the formatted value, one per structure field, and the
/// preset name (`LonFormat="UCPTvalueDef"`) when the value equals a preset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LonValue {
    /// The value text, e.g. `100.0 1` or `ON`.
    pub text: String,
    /// `LonFormat`, e.g. `#0000000000000000[0].SNVT_switch`, `SNVT_switch.value` or `UCPTvalueDef`.
    pub lon_format: Option<String>,
    /// `Unit`, e.g. `value, state` (Read answers only).
    pub unit: Option<String>,
}

impl LonValue {
    /// A value in the given format.
    pub fn new(text: impl Into<String>, lon_format: impl Into<String>) -> LonValue {
        LonValue {
            text: text.into(),
            lon_format: Some(lon_format.into()),
            unit: None,
        }
    }

    /// A preset name (`LonFormat="UCPTvalueDef"`).
    pub fn preset(name: impl Into<String>) -> LonValue {
        LonValue::new(name, PRESET_FORMAT)
    }

    /// Builder: add a `Unit`.
    pub fn with_unit(mut self, unit: impl Into<String>) -> LonValue {
        self.unit = Some(unit.into());
        self
    }

    /// True if this names a preset rather than giving a value.
    pub fn is_preset(&self) -> bool {
        self.lon_format.as_deref() == Some(PRESET_FORMAT)
    }

    /// `<name LonFormat=.. Unit=..>text</name>` (attribute order as the SmartServer prints it).
    pub(crate) fn to_element(&self, name: &str) -> Element {
        let mut el = msg(name);
        if let Some(f) = &self.lon_format {
            el = el.attr("LonFormat", f.clone());
        }
        if let Some(u) = &self.unit {
            el = el.attr("Unit", u.clone());
        }
        el.text(self.text.clone())
    }

    pub(crate) fn from_element(el: &Element) -> LonValue {
        LonValue {
            text: text_of(el),
            lon_format: el.get_attr("LonFormat").map(str::to_owned),
            unit: el.get_attr("Unit").map(str::to_owned),
        }
    }
}

/// A `Dp_Data` item: a datapoint's current value as Read and Write answers show it, and as
/// the WebBinder receives it (PR p.31, p.54).
///
/// `values` are emitted in order; the table puts the formatted value first, then field
/// values, then the preset name if the value equals a preset.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DpData {
    /// `UCPTname`, the full datapoint path.
    pub name: String,
    /// `UCPTannotation`, e.g. `Dp_Out;xsi:type="LON_Dp_Cfg"`.
    pub annotation: Option<String>,
    /// `UCPThidden`.
    pub hidden: Option<bool>,
    /// `UCPTaliasName`, e.g. `NVL_nvoClsValue_1`.
    pub alias_name: Option<String>,
    /// `UCPTlastUpdate`: time of the last value update, local time with offset and ms.
    pub last_update: Option<String>,
    /// The `UCPTvalue` elements.
    pub values: Vec<LonValue>,
    /// `UCPTpointStatus`, e.g. `AL_NUL`, `AL_NO_CONDITION`, `AL_OFFLINE`.
    pub point_status: Option<String>,
    /// `UCPTpriority`, 0 (highest) .. 255 (default, lowest).
    pub priority: Option<u8>,
}

impl DpData {
    /// `<Item xsi:type="Dp_Data">` with the fields that are set.
    pub(crate) fn to_item(&self) -> Element {
        let mut el = msg("Item")
            .attr_ns(ns::XSI, "type", DP_DATA)
            .text_child("UCPTname", self.name.clone());
        el = push_base(el, &self.annotation, self.hidden, &self.alias_name);
        if let Some(t) = &self.last_update {
            el = el.text_child("UCPTlastUpdate", t.clone());
        }
        for v in &self.values {
            el = el.child(v.to_element("UCPTvalue"));
        }
        if let Some(s) = &self.point_status {
            el = el.child(point_status_element(s));
        }
        if let Some(p) = self.priority {
            el = el.text_child("UCPTpriority", p.to_string());
        }
        el
    }

    /// Reads a `Dp_Data` `<Item>` from a peer's response.
    pub fn from_item(el: &Element) -> Result<DpData, SoapError> {
        Ok(DpData {
            name: required_name(el)?,
            annotation: child_text(el, "UCPTannotation"),
            hidden: optional_bool(el, "UCPThidden")?,
            alias_name: child_text(el, "UCPTaliasName"),
            last_update: child_text(el, "UCPTlastUpdate"),
            values: children_local(el, "UCPTvalue")
                .map(LonValue::from_element)
                .collect(),
            point_status: child_text(el, "UCPTpointStatus"),
            priority: optional_num(el, "UCPTpriority")?,
        })
    }
}

/// `<UCPTpointStatus LonFormat="UCPTpointStatus">status</UCPTpointStatus>`.
pub(crate) fn point_status_element(status: &str) -> Element {
    msg("UCPTpointStatus")
        .attr("LonFormat", POINT_STATUS_FORMAT)
        .text(status.to_owned())
}

fn push_base(
    mut el: Element,
    annotation: &Option<String>,
    hidden: Option<bool>,
    alias: &Option<String>,
) -> Element {
    if let Some(a) = annotation {
        el = el.text_child("UCPTannotation", a.clone());
    }
    if let Some(h) = hidden {
        el = el.text_child("UCPThidden", format_bool(h));
    }
    if let Some(a) = alias {
        el = el.text_child("UCPTaliasName", a.clone());
    }
    el
}

fn bad(el: &Element, detail: String) -> SoapError {
    SoapError::MalformedResponse {
        op: el.name().to_owned(),
        detail,
    }
}

fn required_name(el: &Element) -> Result<String, SoapError> {
    match child_text(el, "UCPTname") {
        Some(n) if !n.is_empty() => Ok(n),
        _ => Err(bad(el, "item has no UCPTname".to_owned())),
    }
}

fn optional_bool(el: &Element, name: &str) -> Result<Option<bool>, SoapError> {
    child_text(el, name)
        .map(|t| {
            parse_bool(&t).ok_or_else(|| bad(el, format!("{name} {} is not 0 or 1", quote(&t))))
        })
        .transpose()
}

fn optional_num<T: std::str::FromStr>(el: &Element, name: &str) -> Result<Option<T>, SoapError> {
    child_text(el, name)
        .map(|t| {
            t.parse::<T>()
                .map_err(|_| bad(el, format!("{name} {} is not a number in range", quote(&t))))
        })
        .transpose()
}

fn optional_f64(el: &Element, name: &str) -> Result<Option<f64>, SoapError> {
    match optional_num::<f64>(el, name)? {
        Some(v) if !v.is_finite() => Err(bad(el, format!("{name} is not finite"))),
        v => Ok(v),
    }
}

/// One `<UCPTunit field="..">` of a `Dp_Cfg`: the unit of one structure field (or of the
/// whole value when `field` is empty).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnitDef {
    /// The `field` attribute.
    pub field: String,
    /// The unit text, e.g. `% of full level`.
    pub unit: String,
}

/// One `<ValueDef>` of a `Dp_Cfg`: a named preset (PR p.49, p.442).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValueDef {
    /// `UCPTindex`.
    pub index: u32,
    /// `UCPTname` of the preset, e.g. `ON`.
    pub name: String,
    /// The preset's value.
    pub value: LonValue,
}

/// A `Dp_Cfg` item: a datapoint's configuration as Get answers show it (PR p.31, p.47-49).
///
/// Times are seconds (`SCPTmaxSendTime` etc.), printed with one decimal at least.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DpCfg {
    /// `UCPTname`.
    pub name: String,
    /// `UCPTannotation`, e.g. `Dp_In;xsi:type="LON_Dp_Cfg"`.
    pub annotation: Option<String>,
    /// `UCPThidden`.
    pub hidden: Option<bool>,
    /// `UCPTaliasName`.
    pub alias_name: Option<String>,
    /// `UCPTlastUpdate`: last configuration change.
    pub last_update: Option<String>,
    /// `UCPTdescription` (at most 201 characters on a SmartServer).
    pub description: Option<String>,
    /// `UCPTformatDescription`, e.g. `#0000000000000000[0].SNVT_switch`.
    pub format_description: Option<String>,
    /// `UCPTlength` in bytes.
    pub length: Option<u32>,
    /// `UCPTdirection`: `DIR_IN`, `DIR_OUT` or `DIR_NUL`.
    pub direction: Option<String>,
    /// `UCPTpersist`.
    pub persist: Option<bool>,
    /// `UCPTdefOutput`: the value after power-up.
    pub def_output: Option<LonValue>,
    /// `UCPTunit`, one per structure field.
    pub units: Vec<UnitDef>,
    /// `UCPTbaseType`, e.g. `BT_STRUCT`.
    pub base_type: Option<String>,
    /// `UCPTmaxFields`.
    pub max_fields: Option<u32>,
    /// `SCPTmaxSendTime` (heartbeat) in seconds.
    pub max_send_time: Option<f64>,
    /// `SCPTminSendTime` (throttle) in seconds.
    pub min_send_time: Option<f64>,
    /// `SCPTmaxRcvTime` in seconds.
    pub max_rcv_time: Option<f64>,
    /// `ValueDef` presets.
    pub value_defs: Vec<ValueDef>,
}

impl DpCfg {
    /// `<Item xsi:type="Dp_Cfg">` in the element order of the GetResponse of PR p.31.
    pub(crate) fn to_item(&self) -> Element {
        let mut el = msg("Item")
            .attr_ns(ns::XSI, "type", DP_CFG)
            .text_child("UCPTname", self.name.clone());
        el = push_base(el, &self.annotation, self.hidden, &self.alias_name);
        let texts = [
            ("UCPTlastUpdate", self.last_update.clone()),
            ("UCPTdescription", self.description.clone()),
            ("UCPTformatDescription", self.format_description.clone()),
            ("UCPTlength", self.length.map(|v| v.to_string())),
        ];
        for (name, v) in texts {
            if let Some(v) = v {
                el = el.text_child(name, v);
            }
        }
        if let Some(d) = &self.direction {
            el = el.child(LonValue::new(d.clone(), "UCPTdirection").to_element("UCPTdirection"));
        }
        if let Some(p) = self.persist {
            el = el.text_child("UCPTpersist", format_bool(p));
        }
        if let Some(v) = &self.def_output {
            el = el.child(v.to_element("UCPTdefOutput"));
        }
        for u in &self.units {
            el = el.child(
                msg("UCPTunit")
                    .attr("field", u.field.clone())
                    .text(u.unit.clone()),
            );
        }
        if let Some(b) = &self.base_type {
            el = el.child(LonValue::new(b.clone(), "UCPTbaseType").to_element("UCPTbaseType"));
        }
        if let Some(m) = self.max_fields {
            el = el.text_child("UCPTmaxFields", m.to_string());
        }
        let times = [
            ("SCPTmaxSendTime", self.max_send_time),
            ("SCPTminSendTime", self.min_send_time),
            ("SCPTmaxRcvTime", self.max_rcv_time),
        ];
        for (name, v) in times {
            if let Some(v) = v {
                el = el.text_child(name, format_decimal(v));
            }
        }
        for d in &self.value_defs {
            el = el.child(
                msg("ValueDef")
                    .text_child("UCPTindex", d.index.to_string())
                    .text_child("UCPTname", d.name.clone())
                    .child(d.value.to_element("UCPTvalue")),
            );
        }
        el
    }

    /// Reads a `Dp_Cfg` `<Item>` from a peer's Get response.
    pub fn from_item(el: &Element) -> Result<DpCfg, SoapError> {
        let mut value_defs = Vec::new();
        for d in children_local(el, "ValueDef") {
            value_defs.push(ValueDef {
                index: optional_num(d, "UCPTindex")?.unwrap_or(0),
                name: child_text(d, "UCPTname").unwrap_or_default(),
                value: child_local(d, "UCPTvalue")
                    .map(LonValue::from_element)
                    .ok_or_else(|| bad(el, "ValueDef has no UCPTvalue".to_owned()))?,
            });
        }
        Ok(DpCfg {
            name: required_name(el)?,
            annotation: child_text(el, "UCPTannotation"),
            hidden: optional_bool(el, "UCPThidden")?,
            alias_name: child_text(el, "UCPTaliasName"),
            last_update: child_text(el, "UCPTlastUpdate"),
            description: child_text(el, "UCPTdescription"),
            format_description: child_text(el, "UCPTformatDescription"),
            length: optional_num(el, "UCPTlength")?,
            direction: child_text(el, "UCPTdirection"),
            persist: optional_bool(el, "UCPTpersist")?,
            def_output: child_local(el, "UCPTdefOutput").map(LonValue::from_element),
            units: children_local(el, "UCPTunit")
                .map(|u| UnitDef {
                    field: u.get_attr("field").unwrap_or_default().to_owned(),
                    unit: text_of(u),
                })
                .collect(),
            base_type: child_text(el, "UCPTbaseType"),
            max_fields: optional_num(el, "UCPTmaxFields")?,
            max_send_time: optional_f64(el, "SCPTmaxSendTime")?,
            min_send_time: optional_f64(el, "SCPTminSendTime")?,
            max_rcv_time: optional_f64(el, "SCPTmaxRcvTime")?,
            value_defs,
        })
    }
}

/// One entry of a List answer: identity fields only (PR p.62, p.218).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListEntry {
    /// `xsi:type` of the item, `Dp_Cfg` for datapoints.
    pub item_type: String,
    /// `UCPTname`.
    pub name: String,
    /// `UCPTannotation`.
    pub annotation: Option<String>,
    /// `UCPThidden`.
    pub hidden: Option<bool>,
}

impl ListEntry {
    /// A datapoint entry (`xsi:type="Dp_Cfg"`).
    pub fn datapoint(name: impl Into<String>, annotation: Option<String>) -> ListEntry {
        ListEntry {
            item_type: DP_CFG.to_owned(),
            name: name.into(),
            annotation,
            hidden: Some(false),
        }
    }

    pub(crate) fn to_item(&self) -> Element {
        let el = msg("Item")
            .attr_ns(ns::XSI, "type", self.item_type.clone())
            .text_child("UCPTname", self.name.clone());
        push_base(el, &self.annotation, self.hidden, &None)
    }

    /// Reads a List answer's `<Item>`.
    pub fn from_item(el: &Element) -> Result<ListEntry, SoapError> {
        Ok(ListEntry {
            item_type: el
                .get_attr_ns(Some(ns::XSI), "type")
                .unwrap_or_default()
                .to_owned(),
            name: required_name(el)?,
            annotation: child_text(el, "UCPTannotation"),
            hidden: optional_bool(el, "UCPThidden")?,
        })
    }
}

/// A successful item of an `Item_Coll` answer (InvokeCmd): only its name is echoed,
/// `<Item><UCPTname>..</UCPTname></Item>`, as Set and Delete answers do (PR p.52, p.60).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemEcho {
    /// `UCPTname`.
    pub name: String,
}

impl ItemEcho {
    pub(crate) fn to_item(&self) -> Element {
        msg("Item").text_child("UCPTname", self.name.clone())
    }
}
