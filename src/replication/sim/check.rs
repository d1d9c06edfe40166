//! The guarantees checked after every run (SPEC §6), on what survives a crash (the durable
//! part of each model store), at B (from A) and at C (through the chain):
//! `queues_end_empty`; every-change: `acknowledged_updates_are_applied`,
//! `applied_exactly_once`, `applied_in_per_host_order`; latest: `latest_last_value_wins`,
//! `latest_never_goes_back`, `applied_only_acknowledged_updates`;
//! `nothing_dead_lettered_without_a_fault` (only A's writes to the unknown target).
//!
//! During the run the harness (`world.rs`) checks: `nothing_sent_while_session_down`,
//! `batches_are_runs_of_queued_writes`, `at_most_window_batches_in_flight`,
//! `settle_in_seq_order`, `settle_only_what_the_receiver_applied_durably`,
//! `settle_dead_letters_only_queued_writes`, `nothing_dead_lettered_without_a_fault`, and
//! `quiet_in_bounded_time` once healed.

use super::node::{Applied, EVERY, LATEST, Target, UNKNOWN};
use super::world::{A, B, C, NAMES, World};

type Broken = (&'static str, String);

pub fn after_run(w: &World) -> Result<(), Broken> {
    for (i, n) in w.nodes.iter().enumerate() {
        if let Some((host, q)) = n
            .store
            .live
            .queues
            .iter()
            .find(|(_, q)| !q.entries.is_empty())
        {
            let head = q.entries.keys().next().copied();
            // SPEC §6.7: a queue declared stuck at its head keeps it until a purge (a write stuck
            // for session losses is sent again after a pause, so the run goes on until then).
            if head.is_some() && w.stuck_at(i) == head {
                continue;
            }
            return Err((
                "queues_end_empty",
                format!(
                    "{}'s queue for {} keeps {} writes from seq {head:?}",
                    NAMES[i],
                    NAMES[*host],
                    q.entries.len()
                ),
            ));
        }
    }
    let source = w.nodes[A].store.source.durable();
    let mut want: Vec<u64> = source
        .iter()
        .filter(|(t, _)| EVERY.contains(t))
        .map(|(_, v)| *v)
        .collect();
    let mut stuck = false;
    for (node, sender) in [(B, A), (C, B)] {
        let history: Vec<&Applied> = w.nodes[node]
            .store
            .history
            .durable()
            .iter()
            .filter(|a| a.sender == sender)
            .collect();
        let got: Vec<u64> = history
            .iter()
            .filter(|a| EVERY.contains(&a.target))
            .map(|a| a.value)
            .collect();
        stuck |= w.stuck_at(sender).is_some();
        // Behind a stuck queue only a prefix arrives (still exactly once, in order).
        let expect = if stuck {
            &want[..got.len().min(want.len())]
        } else {
            &want[..]
        };
        same_sequence(NAMES[node], expect, &got)?;
        latest_wins(w, node, source, &history, stuck)?;
        want = got;
    }
    for (i, n) in w.nodes.iter().enumerate() {
        for d in n.store.dead.durable() {
            let fault = d.reason.starts_with("_error");
            if i != A || !fault || d.entry.is_none_or(|e| e.target != UNKNOWN) {
                return Err((
                    "nothing_dead_lettered_without_a_fault",
                    format!(
                        "{} dead-lettered seq {} ({:?}): {}",
                        NAMES[i], d.seq, d.entry, d.reason
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// Every acknowledged every-change update applied exactly once, in the writer's order.
fn same_sequence(node: &str, want: &[u64], got: &[u64]) -> Result<(), Broken> {
    if want == got {
        return Ok(());
    }
    let i = want.iter().zip(got).take_while(|(a, b)| a == b).count();
    let (w, g) = (want.get(i), got.get(i));
    let what = match (w, g) {
        (Some(w), Some(g)) if got[i..].contains(w) && want[..i].contains(g) => {
            format!("value {g} applied twice")
        }
        (Some(w), Some(g)) if got[i..].contains(w) => format!("value {g} applied before {w}"),
        (Some(w), _) if !got.contains(w) => format!("acknowledged value {w} never applied"),
        (None, Some(g)) => format!("value {g} applied again or never acknowledged"),
        _ => format!("expected {w:?}, applied {g:?}"),
    };
    let kind = if want.len() < got.len() || what.contains("twice") {
        "applied_exactly_once"
    } else if what.contains("never applied") {
        "acknowledged_updates_are_applied"
    } else {
        "applied_in_per_host_order"
    };
    Err((
        kind,
        format!(
            "at {node} (every-change, {} acknowledged, {} applied): {what}",
            want.len(),
            got.len()
        ),
    ))
}

/// `latest`: the last acknowledged value wins; values never go back.
fn latest_wins(
    w: &World,
    node: usize,
    source: &[(Target, u64)],
    history: &[&Applied],
    stuck: bool,
) -> Result<(), Broken> {
    let last = source
        .iter()
        .rev()
        .find(|(t, _)| *t == LATEST)
        .map(|(_, v)| *v);
    let applied: Vec<u64> = history
        .iter()
        .filter(|a| a.target == LATEST)
        .map(|a| a.value)
        .collect();
    if let Some(pair) = applied.windows(2).find(|p| p[0] >= p[1]) {
        return Err((
            "latest_never_goes_back",
            format!(
                "{} applied {LATEST} = {} after {}",
                NAMES[node], pair[1], pair[0]
            ),
        ));
    }
    let has = w.nodes[node].store.committed.values.get(LATEST).copied();
    if !stuck && last.is_some() && has != last {
        return Err((
            "latest_last_value_wins",
            format!(
                "{} holds {LATEST} = {has:?}, last acknowledged {last:?}",
                NAMES[node]
            ),
        ));
    }
    if let Some(v) = applied.iter().find(|v| !source.contains(&(LATEST, **v))) {
        return Err((
            "applied_only_acknowledged_updates",
            format!("{} applied {LATEST} = {v}", NAMES[node]),
        ));
    }
    Ok(())
}
