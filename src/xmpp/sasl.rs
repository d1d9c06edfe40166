//! A sans-IO SASL client for XMPP authentication: SCRAM-SHA-256, SCRAM-SHA-1
//! (RFC 5802, RFC 7677) and PLAIN (RFC 4616).
//!
//! This module owns mechanism selection and the byte-level exchange: it turns
//! server challenges into client responses and verifies the server's final
//! signature. The caller moves the bytes (base64 inside `<auth/>`,
//! `<challenge/>`, `<response/>`, `<success/>`); this module does no I/O
//! (only [`random_nonce`] draws from the thread-local CSPRNG).
//!
//! SASLprep is reduced to escaping `=` and `,` in the SCRAM user name; user
//! names are expected to be normalised already and passwords are used as
//! their UTF-8 bytes.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::digest::Digest;
use hmac::digest::block_api::EagerHash;
use hmac::{Hmac, KeyInit, Mac};
use sha1::Sha1;
use sha2::Sha256;
use thiserror::Error;

/// Highest SCRAM iteration count we accept, so a hostile or misconfigured
/// server cannot make us spin for minutes in PBKDF2.
pub const MAX_ITERATIONS: u32 = 10_000_000;

/// The `c=` value of a client-final message: base64 of the GS2 header "n,,"
/// (no channel binding, no authzid).
const GS2_CHANNEL_BINDING: &str = "c=biws";

/// Mechanisms in order of preference, strongest first.
const PREFERENCE: [Mechanism; 3] = [
    Mechanism::ScramSha256,
    Mechanism::ScramSha1,
    Mechanism::Plain,
];

/// Why authentication could not proceed; each variant says which step failed
/// and with what, so a log line is enough to fix the setup.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SaslError {
    /// No mechanism both sides support (or PLAIN is offered but not allowed).
    #[error("{}", no_usable_mechanism_message(offered, *plain_allowed))]
    NoUsableMechanism {
        /// The mechanism names the server offered, as received.
        offered: Vec<String>,
        /// Whether PLAIN was allowed (TLS or `allow_plain = true`).
        plain_allowed: bool,
    },
    /// A server message arrived that the exchange was not expecting now.
    #[error("unexpected sasl {step} while {state}")]
    UnexpectedStep {
        /// What arrived: "challenge" or "success".
        step: &'static str,
        /// What the client was doing, e.g. "awaiting server-first".
        state: &'static str,
    },
    /// A server message does not follow the SCRAM grammar.
    #[error("malformed scram {step} message: {detail}")]
    Malformed {
        /// Which message: "server-first" or "server-final".
        step: &'static str,
        /// What is wrong with it.
        detail: String,
    },
    /// The server's iteration count is not a number in 1..=MAX_ITERATIONS.
    #[error("scram server-first iteration count {value:?} is not between 1 and {MAX_ITERATIONS}")]
    BadIterationCount {
        /// The `i=` value as received.
        value: String,
    },
    /// The server's nonce does not extend ours, so the exchange may be a
    /// replay.
    #[error("scram server nonce {server_nonce:?} does not extend our nonce {client_nonce:?}")]
    NonceMismatch {
        /// The nonce we sent.
        client_nonce: String,
        /// The nonce the server returned.
        server_nonce: String,
    },
    /// The server could not prove it knows the password: wrong server or a
    /// man in the middle.
    #[error(
        "scram server signature does not match: the server did not prove it knows the password"
    )]
    ServerSignatureMismatch,
    /// The server ended the SCRAM exchange with an `e=` error.
    #[error("server reported scram error {message:?}")]
    ServerError {
        /// The `e=` value, e.g. "invalid-proof".
        message: String,
    },
    /// HMAC refused a key; cannot happen with the hashes used here.
    #[error("hmac rejected a key of {len} bytes")]
    HmacKey {
        /// Length of the rejected key.
        len: usize,
    },
}

/// A SASL mechanism webbinder can authenticate with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mechanism {
    /// SCRAM with SHA-256 (RFC 7677): preferred, the password never leaves us.
    ScramSha256,
    /// SCRAM with SHA-1 (RFC 5802): what older servers offer.
    ScramSha1,
    /// PLAIN (RFC 4616): the password in the clear, so only over TLS or when
    /// explicitly allowed.
    Plain,
}

impl Mechanism {
    /// The IANA name, as sent in `<auth mechanism="...">` and offered in
    /// `<mechanisms/>`.
    pub fn name(&self) -> &'static str {
        match self {
            Mechanism::ScramSha256 => "SCRAM-SHA-256",
            Mechanism::ScramSha1 => "SCRAM-SHA-1",
            Mechanism::Plain => "PLAIN",
        }
    }
}

/// Picks the strongest mechanism we share with the server. PLAIN only when
/// `plain_allowed` (the caller passes true when the transport is TLS or the
/// config says allow_plain = true).
///
/// Names are compared ignoring ASCII case and surrounding whitespace.
///
/// # Errors
///
/// [`SaslError::NoUsableMechanism`] when nothing acceptable is offered; its
/// message says what to change.
pub fn choose(offered: &[String], plain_allowed: bool) -> Result<Mechanism, SaslError> {
    PREFERENCE
        .into_iter()
        .filter(|m| plain_allowed || *m != Mechanism::Plain)
        .find(|m| {
            offered
                .iter()
                .any(|o| o.trim().eq_ignore_ascii_case(m.name()))
        })
        .ok_or_else(|| SaslError::NoUsableMechanism {
            offered: offered.to_vec(),
            plain_allowed,
        })
}

/// 24 random bytes from the thread's CSPRNG, base64-encoded: a SCRAM client
/// nonce (printable, never contains ',').
pub fn random_nonce() -> String {
    let mut bytes = [0u8; 24];
    rand::fill(&mut bytes);
    BASE64.encode(bytes)
}

/// One SASL authentication exchange, driven by the caller: call
/// [`initial_response`](Self::initial_response), then
/// [`handle_challenge`](Self::handle_challenge) for each `<challenge/>`, then
/// [`handle_success`](Self::handle_success) on `<success/>`.
pub struct SaslClient {
    mechanism: Mechanism,
    username: String,
    password: String,
    nonce: String,
    state: State,
}

/// Where the exchange is.
enum State {
    /// Nothing sent yet.
    Start,
    /// PLAIN sent; only success can follow.
    PlainSent,
    /// SCRAM client-first sent; `client_first_bare` is kept for AuthMessage.
    AwaitingServerFirst { client_first_bare: String },
    /// SCRAM client-final sent; what is needed to verify the server.
    AwaitingServerFinal {
        server_key: Vec<u8>,
        auth_message: String,
    },
    /// SCRAM server-final verified (sent as a challenge); only an empty
    /// success can follow.
    ServerVerified,
    /// Success handled; nothing more is expected.
    Done,
    /// An error ended the exchange.
    Failed,
}

impl State {
    /// Short description for [`SaslError::UnexpectedStep`].
    fn describe(&self) -> &'static str {
        match self {
            State::Start => "no initial response was sent",
            State::PlainSent => "awaiting plain success",
            State::AwaitingServerFirst { .. } => "awaiting scram server-first",
            State::AwaitingServerFinal { .. } => "awaiting scram server-final",
            State::ServerVerified => "awaiting success after a verified server-final",
            State::Done => "already authenticated",
            State::Failed => "the exchange has already failed",
        }
    }
}

/// Shows the mechanism and state only: never the password.
impl fmt::Debug for SaslClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SaslClient")
            .field("mechanism", &self.mechanism)
            .field("username", &self.username)
            .field("state", &self.state.describe())
            .finish_non_exhaustive()
    }
}

impl SaslClient {
    /// Prepares an exchange for one login. `nonce` is injected (random in
    /// production via `random_nonce()`, fixed in tests); it must be printable
    /// ASCII without ',' and is ignored by PLAIN.
    pub fn new(mechanism: Mechanism, username: &str, password: &str, nonce: &str) -> SaslClient {
        SaslClient {
            mechanism,
            username: username.to_owned(),
            password: password.to_owned(),
            nonce: nonce.to_owned(),
            state: State::Start,
        }
    }

    /// The mechanism to name in `<auth mechanism="...">`.
    pub fn mechanism(&self) -> Mechanism {
        self.mechanism
    }

    /// The raw bytes for `<auth/>` (the caller base64-encodes them). SCRAM:
    /// `n,,n=<user>,r=<nonce>`; PLAIN: `\0user\0password`. Calling it again
    /// restarts the exchange.
    pub fn initial_response(&mut self) -> Vec<u8> {
        match self.mechanism {
            Mechanism::Plain => {
                self.state = State::PlainSent;
                let mut out = Vec::with_capacity(self.username.len() + self.password.len() + 2);
                out.push(0);
                out.extend_from_slice(self.username.as_bytes());
                out.push(0);
                out.extend_from_slice(self.password.as_bytes());
                out
            }
            Mechanism::ScramSha256 | Mechanism::ScramSha1 => {
                let client_first_bare =
                    format!("n={},r={}", escape_username(&self.username), self.nonce);
                let out = format!("n,,{client_first_bare}").into_bytes();
                self.state = State::AwaitingServerFirst { client_first_bare };
                out
            }
        }
    }

    /// Answers a `<challenge/>` (raw bytes, already base64-decoded). For
    /// SCRAM the server-first message yields the client-final message
    /// `c=biws,r=...,p=...`; a server-final message sent as a challenge is
    /// verified and answered with an empty response.
    ///
    /// # Errors
    ///
    /// [`SaslError::Malformed`], [`SaslError::NonceMismatch`],
    /// [`SaslError::BadIterationCount`] for a bad server-first;
    /// [`SaslError::ServerSignatureMismatch`] or [`SaslError::ServerError`]
    /// for a bad server-final; [`SaslError::UnexpectedStep`] when no
    /// challenge is expected (always for PLAIN). Any error ends the exchange.
    pub fn handle_challenge(&mut self, challenge: &[u8]) -> Result<Vec<u8>, SaslError> {
        let state = std::mem::replace(&mut self.state, State::Failed);
        match state {
            State::AwaitingServerFirst { client_first_bare } => {
                let (reply, server_key, auth_message) =
                    self.client_final(&client_first_bare, challenge)?;
                self.state = State::AwaitingServerFinal {
                    server_key,
                    auth_message,
                };
                Ok(reply)
            }
            State::AwaitingServerFinal {
                server_key,
                auth_message,
            } => {
                self.verify_server_final(&server_key, &auth_message, challenge)?;
                self.state = State::ServerVerified;
                Ok(Vec::new())
            }
            other => Err(SaslError::UnexpectedStep {
                step: "challenge",
                state: other.describe(),
            }),
        }
    }

    /// Handles `<success/>` with its additional data (raw bytes, already
    /// base64-decoded; empty if none). SCRAM verifies `v=ServerSignature` in
    /// constant time, so a server that does not know the password is caught;
    /// PLAIN has nothing to check.
    ///
    /// # Errors
    ///
    /// [`SaslError::ServerSignatureMismatch`], [`SaslError::ServerError`] for
    /// an `e=` message, [`SaslError::Malformed`] (including a success with no
    /// server-final at all), or [`SaslError::UnexpectedStep`] when success
    /// arrives before the exchange got that far. Any error ends the exchange.
    pub fn handle_success(&mut self, additional_data: &[u8]) -> Result<(), SaslError> {
        let state = std::mem::replace(&mut self.state, State::Failed);
        match state {
            State::PlainSent => {}
            State::AwaitingServerFinal {
                server_key,
                auth_message,
            } => self.verify_server_final(&server_key, &auth_message, additional_data)?,
            State::ServerVerified if additional_data.is_empty() => {}
            State::ServerVerified => {
                return Err(SaslError::Malformed {
                    step: "server-final",
                    detail: "success repeats data after the server-final challenge".to_owned(),
                });
            }
            other => {
                return Err(SaslError::UnexpectedStep {
                    step: "success",
                    state: other.describe(),
                });
            }
        }
        self.state = State::Done;
        Ok(())
    }

    /// Parses server-first and computes the client-final message, plus the
    /// ServerKey and AuthMessage needed to check the server later.
    fn client_final(
        &self,
        client_first_bare: &str,
        challenge: &[u8],
    ) -> Result<(Vec<u8>, Vec<u8>, String), SaslError> {
        let server_first = ServerFirst::parse(challenge)?;
        if server_first.nonce.len() <= self.nonce.len()
            || !server_first.nonce.starts_with(&self.nonce)
        {
            return Err(SaslError::NonceMismatch {
                client_nonce: self.nonce.clone(),
                server_nonce: server_first.nonce.to_owned(),
            });
        }
        let without_proof = format!("{GS2_CHANNEL_BINDING},r={}", server_first.nonce);
        let auth_message = format!(
            "{client_first_bare},{},{without_proof}",
            server_first.message
        );
        let keys = match self.mechanism {
            Mechanism::ScramSha256 => scram_keys::<Sha256>(
                self.password.as_bytes(),
                &server_first.salt,
                server_first.iterations,
                &auth_message,
            ),
            Mechanism::ScramSha1 => scram_keys::<Sha1>(
                self.password.as_bytes(),
                &server_first.salt,
                server_first.iterations,
                &auth_message,
            ),
            Mechanism::Plain => {
                return Err(SaslError::UnexpectedStep {
                    step: "challenge",
                    state: "awaiting plain success",
                });
            }
        }?;
        let reply = format!("{without_proof},p={}", BASE64.encode(&keys.client_proof));
        Ok((reply.into_bytes(), keys.server_key, auth_message))
    }

    /// Checks a SCRAM server-final message (`v=...` or `e=...`).
    fn verify_server_final(
        &self,
        server_key: &[u8],
        auth_message: &str,
        data: &[u8],
    ) -> Result<(), SaslError> {
        let malformed = |detail: String| SaslError::Malformed {
            step: "server-final",
            detail,
        };
        if data.is_empty() {
            return Err(malformed(
                "success carried no server signature, so the server was not verified".to_owned(),
            ));
        }
        let text = std::str::from_utf8(data).map_err(|e| malformed(format!("not utf-8: {e}")))?;
        let first = text.split(',').next().unwrap_or(text);
        if let Some(message) = first.strip_prefix("e=") {
            return Err(SaslError::ServerError {
                message: message.to_owned(),
            });
        }
        let Some(signature) = first.strip_prefix("v=") else {
            return Err(malformed(format!("expected v= or e=, got {text:?}")));
        };
        let signature = BASE64
            .decode(signature)
            .map_err(|e| malformed(format!("signature {signature:?} is not base64: {e}")))?;
        let verified = match self.mechanism {
            Mechanism::ScramSha256 => {
                verify_hmac::<Sha256>(server_key, auth_message.as_bytes(), &signature)
            }
            Mechanism::ScramSha1 => {
                verify_hmac::<Sha1>(server_key, auth_message.as_bytes(), &signature)
            }
            Mechanism::Plain => Ok(false),
        }?;
        if verified {
            Ok(())
        } else {
            Err(SaslError::ServerSignatureMismatch)
        }
    }
}

/// The fields of a SCRAM server-first message we use.
struct ServerFirst<'a> {
    /// The whole message, for AuthMessage.
    message: &'a str,
    /// Combined client + server nonce.
    nonce: &'a str,
    /// Decoded salt.
    salt: Vec<u8>,
    /// PBKDF2 iteration count, within 1..=MAX_ITERATIONS.
    iterations: u32,
}

impl<'a> ServerFirst<'a> {
    /// Parses `r=...,s=...,i=...[,ext...]` (RFC 5802 §7), in that order.
    fn parse(data: &'a [u8]) -> Result<ServerFirst<'a>, SaslError> {
        let malformed = |detail: String| SaslError::Malformed {
            step: "server-first",
            detail,
        };
        let message =
            std::str::from_utf8(data).map_err(|e| malformed(format!("not utf-8: {e}")))?;
        let mut attrs = message.split(',');
        let mut field = |name: &str| -> Result<&'a str, SaslError> {
            let attr = attrs.next().unwrap_or_default();
            attr.strip_prefix(name)
                .and_then(|a| a.strip_prefix('='))
                .ok_or_else(|| {
                    if attr.starts_with("m=") {
                        malformed(format!("unsupported mandatory extension in {message:?}"))
                    } else {
                        malformed(format!("expected {name}= but got {attr:?} in {message:?}"))
                    }
                })
        };
        let nonce = field("r")?;
        let salt = field("s")?;
        let iterations = field("i")?;
        if nonce.is_empty() {
            return Err(malformed(format!("empty nonce in {message:?}")));
        }
        let salt = BASE64
            .decode(salt)
            .map_err(|e| malformed(format!("salt {salt:?} is not base64: {e}")))?;
        if salt.is_empty() {
            return Err(malformed(format!("empty salt in {message:?}")));
        }
        let iterations = iterations
            .parse::<u32>()
            .ok()
            .filter(|i| (1..=MAX_ITERATIONS).contains(i))
            .ok_or_else(|| SaslError::BadIterationCount {
                value: iterations.to_owned(),
            })?;
        Ok(ServerFirst {
            message,
            nonce,
            salt,
            iterations,
        })
    }
}

/// The SCRAM values derived from the password.
struct ScramKeys {
    /// ClientKey XOR ClientSignature, sent as `p=`.
    client_proof: Vec<u8>,
    /// HMAC(SaltedPassword, "Server Key"), to verify the server signature.
    server_key: Vec<u8>,
}

/// RFC 5802 §3: SaltedPassword, ClientKey, StoredKey, ClientSignature,
/// ClientProof and ServerKey for hash `D`.
fn scram_keys<D: EagerHash>(
    password: &[u8],
    salt: &[u8],
    iterations: u32,
    auth_message: &str,
) -> Result<ScramKeys, SaslError> {
    let mut salted_password = vec![0u8; <D as Digest>::output_size()];
    pbkdf2::pbkdf2_hmac::<D>(password, salt, iterations, &mut salted_password);
    let client_key = hmac::<D>(&salted_password, b"Client Key")?;
    let stored_key = D::digest(&client_key);
    let client_signature = hmac::<D>(&stored_key, auth_message.as_bytes())?;
    let client_proof = client_key
        .iter()
        .zip(&client_signature)
        .map(|(k, s)| k ^ s)
        .collect();
    let server_key = hmac::<D>(&salted_password, b"Server Key")?;
    Ok(ScramKeys {
        client_proof,
        server_key,
    })
}

/// HMAC-`D` of `data` under `key`.
fn hmac<D: EagerHash>(key: &[u8], data: &[u8]) -> Result<Vec<u8>, SaslError> {
    let mut mac = <Hmac<D> as KeyInit>::new_from_slice(key)
        .map_err(|_| SaslError::HmacKey { len: key.len() })?;
    mac.update(data);
    Ok(mac.finalize().into_bytes().to_vec())
}

/// Whether `tag` is HMAC-`D` of `data` under `key`, compared in constant
/// time.
fn verify_hmac<D: EagerHash>(key: &[u8], data: &[u8], tag: &[u8]) -> Result<bool, SaslError> {
    let mut mac = <Hmac<D> as KeyInit>::new_from_slice(key)
        .map_err(|_| SaslError::HmacKey { len: key.len() })?;
    mac.update(data);
    Ok(mac.verify_slice(tag).is_ok())
}

/// RFC 5802 §5.1 user name escaping: '=' becomes "=3D", ',' becomes "=2C".
fn escape_username(username: &str) -> String {
    username.replace('=', "=3D").replace(',', "=2C")
}

/// The text of [`SaslError::NoUsableMechanism`]: what the server offered and
/// what to change.
fn no_usable_mechanism_message(offered: &[String], plain_allowed: bool) -> String {
    if offered.is_empty() {
        return "server offered no SASL mechanism (Prosody does this over plain HTTP): \
                use tls = true, or set consider_bosh_secure = true on the server"
            .to_owned();
    }
    let list = format!("[{}]", offered.join(", "));
    let offers_plain = offered
        .iter()
        .any(|o| o.trim().eq_ignore_ascii_case(Mechanism::Plain.name()));
    if offers_plain && !plain_allowed {
        format!(
            "server offers only {list}; PLAIN is refused without TLS: \
             use tls = true or set allow_plain = true in [xmpp]"
        )
    } else {
        format!(
            "server offers only {list}; webbinder supports SCRAM-SHA-256, SCRAM-SHA-1 and PLAIN: \
             enable one of them on the server"
        )
    }
}

#[cfg(test)]
mod tests;
