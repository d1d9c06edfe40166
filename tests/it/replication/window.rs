//! Issue 9, SPEC §5 "Several Writes in flight", receiver side over a real server: a peer's
//! Write with `prev` past a gap is refused whole with the typed `<gap>` fault, batches in order
//! are applied, a replay is answered without being applied, and the compact answer (only the
//! faulted items, by seq) reaches the sender intact through ejabberd and Prosody.

use super::*;
use webbinder::soap::{
    LonValue, MessageProperties, Seq, WriteAnswer, WriteItem, build_write_request,
    read_write_answer,
};
use webbinder::xmpp::session::Client;

use crate::support::agent::{soap, wait_serving};

const PEER: &str = "pidgin";

async fn peer_write(
    client: &Client,
    agent: &Agent,
    (first, prev): (u64, u64),
    items: &[(&str, &str)],
) -> WriteAnswer {
    let props = MessageProperties {
        seq: Some(Seq {
            epoch: 3,
            first,
            last: first + items.len() as u64 - 1,
            prev: Some(prev),
        }),
        ..MessageProperties::default()
    };
    let items: Vec<WriteItem> = items
        .iter()
        .map(|(n, v)| WriteItem::new(*n, LonValue::new(*v, "")))
        .collect();
    let env = build_write_request(&props, &items).unwrap();
    let answer = soap(client, &agent.jid, env).await.unwrap();
    read_write_answer(&answer, items.len(), first).unwrap()
}

async fn a_peer_batch_past_a_gap_is_refused_and_answers_are_compact(kind: Kind) {
    let server = Server::start(kind);
    server.register(&[(B_MAC, "pw-b"), (PEER, "pw-p")]);
    let mut b = Agent::new(&server, B_MAC, "pw-b", &[PEER]);
    b.start();
    let (client, _rx) = Client::start(server.client(PEER, "pw-p", "ilon")).unwrap();
    client.wait_online(Duration::from_secs(20)).await.unwrap();
    wait_serving(&client, &b, TEMP).await;
    let ok = WriteAnswer::Delivered {
        refused: Vec::new(),
    };

    let first = [(TEMP, "1.0"), (TEMP, "2.0")];
    assert_eq!(peer_write(&client, &b, (1, 0), &first).await, ok);
    // Batch 3..4 (prev 2) is lost; 5..6 follows it.
    let third = [(TEMP, "5.0"), (TEMP, "6.0")];
    assert_eq!(
        peer_write(&client, &b, (5, 4), &third).await,
        WriteAnswer::Gap {
            applied: 2,
            prev: 4
        }
    );
    assert_eq!(b.dp_read(TEMP).await.as_deref(), Some("2.0"));
    // Resent from the oldest unacknowledged write: a faulted item is named by its seq even
    // though its target appears twice in the batch.
    let second = [(TEMP, "3.0"), (TEMP, "hot"), (TEMP, "4.0")];
    match peer_write(&client, &b, (2, 2), &second).await {
        WriteAnswer::Delivered { refused } => {
            assert_eq!(refused.len(), 1, "{refused:?}");
            assert_eq!(refused[0].0, 1, "{refused:?}");
            assert!(refused[0].1.starts_with("fault 11:"), "{refused:?}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(peer_write(&client, &b, (5, 4), &third).await, ok);
    assert_eq!(b.dp_read(TEMP).await.as_deref(), Some("6.0"));
    // A replay (its answer was lost) is answered and not applied again.
    assert_eq!(peer_write(&client, &b, (1, 0), &first).await, ok);
    assert_eq!(b.dp_read(TEMP).await.as_deref(), Some("6.0"));
}

both_servers!(a_peer_batch_past_a_gap_is_refused_and_answers_are_compact);
