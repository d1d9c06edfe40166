//! XMPP addresses (JIDs, RFC 7622) and the MAC-ID user names webbinder logs in
//! with.
//!
//! This module owns parsing, validation and normalisation of JIDs and MAC IDs:
//! a simplified nodeprep (the node and domain are lower-cased, the resource is
//! kept as is) plus the length and character checks the servers enforce, so
//! that a bad address is reported here, with the offending text, instead of as
//! an opaque stream error later. It does no I/O.

use std::fmt;
use std::str::FromStr;

use thiserror::Error;

/// Longest node, domain or resource RFC 7622 allows, in bytes.
const MAX_PART_BYTES: usize = 1023;

/// Characters RFC 7622 (via nodeprep) forbids in the node part.
const NODE_FORBIDDEN: [char; 8] = ['"', '&', '\'', '/', ':', '<', '>', '@'];

/// Why a JID or MAC ID was rejected; each variant names the offending text so
/// that a config or protocol error can be fixed without guessing.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum JidError {
    /// A part that is present must not be empty (`@b`, `a@b/`, ``).
    #[error("jid {input:?} has an empty {part}")]
    EmptyPart {
        /// The JID as given (for [`Jid::new`]: its parts joined).
        input: String,
        /// Which part: "node", "domain" or "resource".
        part: &'static str,
    },
    /// A part is longer than the 1023 bytes RFC 7622 allows.
    #[error("jid {input:?} has a {part} of {len} bytes, over the limit of 1023")]
    PartTooLong {
        /// The JID as given (for [`Jid::new`]: its parts joined).
        input: String,
        /// Which part: "node", "domain" or "resource".
        part: &'static str,
        /// Length of the part after normalisation, in bytes.
        len: usize,
    },
    /// A part contains a character that is not allowed there.
    #[error("jid {input:?} has forbidden character {ch:?} in its {part}")]
    ForbiddenChar {
        /// The JID as given (for [`Jid::new`]: its parts joined).
        input: String,
        /// Which part: "node", "domain" or "resource".
        part: &'static str,
        /// The first forbidden character found.
        ch: char,
    },
    /// A string that should be a MAC ID is not one.
    #[error(
        "{input:?} is not a mac id: expected 12 hex digits, bare or in pairs separated by '-' or ':'"
    )]
    BadMacId {
        /// The string as given.
        input: String,
    },
}

/// A validated, normalised XMPP address, so that comparisons between JIDs
/// (roster entries, stanza `from`/`to`) are plain equality.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Jid {
    node: Option<String>,
    domain: String,
    resource: Option<String>,
}

impl Jid {
    /// Builds a JID from its parts, normalising and validating each one, so
    /// that code assembling addresses gets the same checks as parsed input.
    ///
    /// # Errors
    ///
    /// [`JidError::EmptyPart`], [`JidError::PartTooLong`] or
    /// [`JidError::ForbiddenChar`] naming the first bad part.
    pub fn new(node: Option<&str>, domain: &str, resource: Option<&str>) -> Result<Jid, JidError> {
        let input = join_parts(node, domain, resource);
        Ok(Jid {
            node: node.map(|n| normalize_node(n, &input)).transpose()?,
            domain: normalize_domain(domain, &input)?,
            resource: resource.map(|r| check_resource(r, &input)).transpose()?,
        })
    }

    /// The local part (user name), lower-cased; `None` for a server JID.
    pub fn node(&self) -> Option<&str> {
        self.node.as_deref()
    }

    /// The server the address lives on, lower-cased without a trailing dot.
    pub fn domain(&self) -> &str {
        &self.domain
    }

    /// The resource (one connected client), exactly as given.
    pub fn resource(&self) -> Option<&str> {
        self.resource.as_deref()
    }

    /// The account this address belongs to (the JID without its resource),
    /// which is what rosters and subscriptions are keyed by.
    pub fn bare(&self) -> Jid {
        Jid {
            node: self.node.clone(),
            domain: self.domain.clone(),
            resource: None,
        }
    }

    /// Whether this is an account address rather than one connected client.
    pub fn is_bare(&self) -> bool {
        self.resource.is_none()
    }

    /// The same account with the given resource, e.g. to address the full JID
    /// the server bound for us.
    ///
    /// # Errors
    ///
    /// [`JidError::EmptyPart`], [`JidError::PartTooLong`] or
    /// [`JidError::ForbiddenChar`] if `resource` is not a valid resource.
    pub fn with_resource(&self, resource: &str) -> Result<Jid, JidError> {
        let input = join_parts(self.node(), self.domain(), Some(resource));
        Ok(Jid {
            node: self.node.clone(),
            domain: self.domain.clone(),
            resource: Some(check_resource(resource, &input)?),
        })
    }
}

/// Parses `[node@]domain[/resource]` as RFC 7622 §3.1 splits it: the resource
/// is everything after the first '/', the node everything before the first
/// '@' in what precedes it.
impl FromStr for Jid {
    type Err = JidError;

    fn from_str(input: &str) -> Result<Jid, JidError> {
        let (rest, resource) = match input.split_once('/') {
            Some((rest, resource)) => (rest, Some(resource)),
            None => (input, None),
        };
        let (node, domain) = match rest.split_once('@') {
            Some((node, domain)) => (Some(node), domain),
            None => (None, rest),
        };
        Ok(Jid {
            node: node.map(|n| normalize_node(n, input)).transpose()?,
            domain: normalize_domain(domain, input)?,
            resource: resource.map(|r| check_resource(r, input)).transpose()?,
        })
    }
}

/// Renders `node@domain/resource`, leaving out absent parts, so that the
/// output parses back to the same JID.
impl fmt::Display for Jid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&join_parts(self.node(), self.domain(), self.resource()))
    }
}

/// A 48-bit device identifier used as the XMPP user name of a device, so that
/// the many ways people write one all name the same account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MacId([u8; 6]);

impl MacId {
    /// The device's JID on `domain`: the canonical MAC ID is the node.
    ///
    /// # Errors
    ///
    /// The [`JidError`] of [`Jid::new`] if `domain` or `resource` is invalid.
    pub fn jid(&self, domain: &str, resource: Option<&str>) -> Result<Jid, JidError> {
        Jid::new(Some(&self.to_string()), domain, resource)
    }
}

/// Accepts `08-00-00-1A-7C-62`, `08:00:00:1a:7c:62` and `0800001a7c62` in
/// any case; a separated form must use one separator throughout.
impl FromStr for MacId {
    type Err = JidError;

    fn from_str(input: &str) -> Result<MacId, JidError> {
        let bad = || JidError::BadMacId {
            input: input.to_owned(),
        };
        let bytes = input.as_bytes();
        let digits: Vec<u8> = match bytes.len() {
            12 => bytes.to_vec(),
            17 => {
                let sep = bytes[2];
                if sep != b'-' && sep != b':' {
                    return Err(bad());
                }
                let mut digits = Vec::with_capacity(12);
                for (i, &b) in bytes.iter().enumerate() {
                    if i % 3 == 2 {
                        if b != sep {
                            return Err(bad());
                        }
                    } else {
                        digits.push(b);
                    }
                }
                digits
            }
            _ => return Err(bad()),
        };
        let mut octets = [0u8; 6];
        for (octet, pair) in octets.iter_mut().zip(digits.chunks_exact(2)) {
            let (Some(hi), Some(lo)) = (hex_value(pair[0]), hex_value(pair[1])) else {
                return Err(bad());
            };
            *octet = (hi << 4) | lo;
        }
        Ok(MacId(octets))
    }
}

/// Renders the canonical form `08-00-00-1a-7c-62`: lower-case because
/// nodeprep lower-cases the node, hyphenated because that is the account name
/// on the server.
impl fmt::Display for MacId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [a, b, c, d, e, g] = self.0;
        write!(f, "{a:02x}-{b:02x}-{c:02x}-{d:02x}-{e:02x}-{g:02x}")
    }
}

/// Canonicalises a configured user name the way the server will see it, so
/// that lookups and comparisons match: a MAC ID in any accepted form becomes
/// its canonical form, any other name is lower-cased.
pub fn normalize_user(user: &str) -> String {
    match user.parse::<MacId>() {
        Ok(mac) => mac.to_string(),
        Err(_) => user.to_lowercase(),
    }
}

/// The value of one ASCII hex digit.
fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// `node@domain/resource` with absent parts left out.
fn join_parts(node: Option<&str>, domain: &str, resource: Option<&str>) -> String {
    let mut out = String::new();
    if let Some(node) = node {
        out.push_str(node);
        out.push('@');
    }
    out.push_str(domain);
    if let Some(resource) = resource {
        out.push('/');
        out.push_str(resource);
    }
    out
}

/// Checks a normalised part's length (1..=1023 bytes).
fn check_len(value: &str, part: &'static str, input: &str) -> Result<(), JidError> {
    if value.is_empty() {
        return Err(JidError::EmptyPart {
            input: input.to_owned(),
            part,
        });
    }
    if value.len() > MAX_PART_BYTES {
        return Err(JidError::PartTooLong {
            input: input.to_owned(),
            part,
            len: value.len(),
        });
    }
    Ok(())
}

/// Rejects the first character of `value` matching `forbidden`.
fn check_chars(
    value: &str,
    part: &'static str,
    input: &str,
    forbidden: impl Fn(char) -> bool,
) -> Result<(), JidError> {
    match value.chars().find(|&c| forbidden(c)) {
        Some(ch) => Err(JidError::ForbiddenChar {
            input: input.to_owned(),
            part,
            ch,
        }),
        None => Ok(()),
    }
}

/// Simplified nodeprep: lower-case, then length and character checks.
fn normalize_node(node: &str, input: &str) -> Result<String, JidError> {
    let node = node.to_lowercase();
    check_len(&node, "node", input)?;
    check_chars(&node, "node", input, |c| {
        NODE_FORBIDDEN.contains(&c) || c.is_whitespace() || c.is_control()
    })?;
    Ok(node)
}

/// Lower-cases the domain and drops one trailing dot (`example.com.` is the
/// same host as `example.com`), then checks it.
fn normalize_domain(domain: &str, input: &str) -> Result<String, JidError> {
    let domain = domain.to_lowercase();
    let domain = domain.strip_suffix('.').unwrap_or(&domain).to_owned();
    check_len(&domain, "domain", input)?;
    check_chars(&domain, "domain", input, |c| {
        c == '@' || c == '/' || c.is_whitespace() || c.is_control()
    })?;
    Ok(domain)
}

/// The resource is kept as is (it is case-sensitive); only its length and
/// control characters (which cannot travel in XML) are checked.
fn check_resource(resource: &str, input: &str) -> Result<String, JidError> {
    check_len(resource, "resource", input)?;
    check_chars(resource, "resource", input, char::is_control)?;
    Ok(resource.to_owned())
}

#[cfg(test)]
mod tests;
