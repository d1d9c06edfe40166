//! Namespaces and fixed attribute values of the SOAP codec, each named after the
//! document that defines it. No I/O.

/// SOAP 1.1 §4 (W3C Note 08 May 2000): the `Envelope`, `Header`, `Body` and `Fault` namespace.
pub const SOAP_ENV: &str = "http://schemas.xmlsoap.org/soap/envelope/";

/// SOAP 1.1 §5: the SOAP encoding, the value of `encodingStyle` in every i.LON envelope
/// (SmartServer 2.0 Programmer's Reference p.19).
pub const SOAP_ENCODING: &str = "http://schemas.xmlsoap.org/soap/encoding/";

/// i.LON SmartServer 2.0 Programmer's Reference p.18-19 (`iLON100.wsdl`, v4.0): the message
/// namespace of every Data Server operation, of `messageProperties`, and, as the seed
/// XMPP guide's examples show, of `SystemService_Read_Info` (`iLON100_System.wsdl`) too.
pub const ILON: &str = "http://wsdl.echelon.com/web_services_ns/ilon100/v4.0/message/";

/// XML Schema Part 1 §2.6: `xsi:type` on `<Item>` (`Dp_Data`, `Dp_Cfg`, ...).
pub const XSI: &str = "http://www.w3.org/2001/XMLSchema-instance";

/// XML Schema Part 2: declared on i.LON envelopes (Programmer's Reference p.19).
pub const XSD: &str = "http://www.w3.org/2001/XMLSchema";

/// webbinder SPEC §5: the `<seq epoch first last prev/>` header block carrying the sender's
/// queue sequence numbers for end-to-end de-duplication between webbinder agents (echoed in a
/// compact Write answer), the `seq` attribute of a compact answer's items, and the `<gap>`
/// detail of the fault refusing a batch whose `prev` was not applied.
pub const REPLICATION: &str = "urn:webbinder:replication:1";

/// The prefix our envelopes use for [`SOAP_ENV`], as the SmartServer's own responses do
/// (Programmer's Reference p.19, p.31).
pub const SOAP_ENV_PREFIX: &str = "SOAP-ENV";

/// The prefix our `messageProperties` header uses for [`ILON`] (Programmer's Reference p.31).
pub const MESSAGE_PROPERTIES_PREFIX: &str = "p";
