//! A WebBinder destination for tests: an XMPP client logged in under a MAC-ID JID that answers
//! every incoming SOAP `Write` with a fault-free `WriteResponse` and records each item (target,
//! value) in order, so tests can check order and duplicates at the far end. Like a receiving
//! agent, it skips items whose `seq` it already recorded and refuses a batch whose `prev` it
//! has not recorded (SPEC §5), so what it records is what the sender delivered exactly once.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use webbinder::soap::{
    Admission, DpData, ItemReply, Op, Reply, SeqGap, SoapBody, SoapFault, WriteResponse,
    parse_request,
};
use webbinder::xmpp::session::{Client, ClientEvent};
use webbinder::xmpp::stanza::{self, IqType};

use super::Server;

/// What the recorder saw: (target, value) per item, in order.
pub type Seen = Arc<Mutex<Vec<(String, String)>>>;

pub struct Recorder {
    pub client: Arc<Client>,
    pub seen: Seen,
}

impl Recorder {
    /// Logs in as `mac` (resource `ilon`) and starts answering.
    pub async fn start(server: &Server, mac: &str, password: &str) -> Recorder {
        let (client, mut rx) = Client::start(server.client(mac, password, "ilon")).unwrap();
        let client = Arc::new(client);
        client
            .wait_online(std::time::Duration::from_secs(20))
            .await
            .unwrap();
        let seen: Seen = Arc::default();
        let (c, s) = (client.clone(), seen.clone());
        tokio::spawn(async move {
            let mut applied: HashMap<(String, u64), u64> = HashMap::new();
            while let Some(ev) = rx.recv().await {
                let ClientEvent::Stanza(el) = ev else {
                    continue;
                };
                if el.name() == "presence" && el.get_attr("type") == Some("subscribe") {
                    if let Some(from) = stanza::from(&el) {
                        c.approve(&from);
                    }
                    continue;
                }
                if IqType::of(&el) != Some(IqType::Set) {
                    continue;
                }
                let Some(env) = stanza::payload(&el) else {
                    continue;
                };
                let Ok(req) = parse_request(env) else {
                    continue;
                };
                let Op::Write(items) = req.op else { continue };
                let sender = stanza::from(&el)
                    .map(|j| j.bare().to_string())
                    .unwrap_or_default();
                // The receiver's `prev` rule (SPEC §5), as an agent applies it: a batch whose
                // predecessor was not recorded is refused whole, so that with several Writes
                // in flight a later batch never overtakes a lost one (whose resend would then
                // be skipped as a duplicate).
                if let Some(seq) = req.header.seq
                    && let Admission::Gap { applied: a, prev } = seq.admit(
                        applied.get(&(sender.clone(), seq.epoch)).copied(),
                        items.len(),
                    )
                {
                    let fault = SoapFault::gap(
                        format!("seq gap: recorded {a} from {sender}, this batch follows {prev}"),
                        SeqGap { applied: a, prev },
                    );
                    c.send(stanza::iq_result(&el, Some(fault.to_envelope())));
                    continue;
                }
                let mut replies = Vec::new();
                {
                    let mut seen = s.lock().unwrap();
                    for (n, i) in items.iter().enumerate() {
                        let fresh = match req.header.seq {
                            Some(seq) => {
                                let key = (sender.clone(), seq.epoch);
                                let number = seq.first + n as u64;
                                let fresh = applied.get(&key).is_none_or(|a| number > *a);
                                if fresh {
                                    applied.insert(key, number);
                                }
                                fresh
                            }
                            None => true,
                        };
                        if fresh {
                            let value = i.formatted().map(|v| v.text.clone()).unwrap_or_default();
                            seen.push((i.name.clone(), value));
                        }
                        replies.push(ItemReply::Ok(DpData {
                            name: i.name.clone(),
                            annotation: None,
                            hidden: None,
                            alias_name: None,
                            last_update: None,
                            values: i.values.clone(),
                            point_status: None,
                            priority: i.priority,
                        }));
                    }
                }
                let answer =
                    Reply::Write(WriteResponse { items: replies }).to_envelope(&Default::default());
                c.send(stanza::iq_result(&el, Some(answer)));
            }
        });
        Recorder { client, seen }
    }

    /// The values seen so far for `target`.
    pub fn values(&self, target: &str) -> Vec<String> {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .filter(|(t, _)| t == target)
            .map(|(_, v)| v.clone())
            .collect()
    }
}
