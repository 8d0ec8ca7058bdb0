//! A linearizability checker for histories of register operations, per key.
//!
//! Linearizability is compositional: a history is linearizable if and only if its
//! sub-history on each key is, so each key is checked on its own. For one key the search is
//! Wing and Gong's, with the memoization of Lowe (and of Porcupine): extend a linearization
//! one operation at a time, choosing only operations that no unlinearized operation
//! returned before they were invoked, simulate the register, and never revisit a (set of
//! linearized operations, register value) pair. The search is depth-first, on an explicit
//! stack.
//!
//! An operation whose outcome is unknown (a timeout, a crashed node) has no return time:
//! it may be linearized anywhere after its invocation, with any result, or never (which is
//! the same as last). A read with an unknown result says nothing and is left out; an
//! operation that certainly failed is left out by the caller.
//!
//! Unknown writes are what makes the search blow up: each one doubles the sets of
//! linearized operations a dead end can revisit. A write whose outcome is unknown and whose
//! value nothing ever depends on (no read returned it, no write replaced it, no
//! compare-and-set expected it) is dropped before the search, which changes no verdict:
//! had it taken effect, the operations that saw the key before the next write are ones
//! without answers, whose effects do not depend on it (no compare expected its value),
//! so they can all be placed as if it never happened.

use std::collections::{BTreeMap, HashSet};

/// What a client asked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// Read the key.
    Get,
    /// Set it.
    Put(String),
    /// Remove it.
    Delete,
    /// Set it to `new` if it is `expected` (None: absent / remove).
    Cas { expected: Option<String>, new: Option<String> },
}

/// What the cluster answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Answer {
    /// A read's value.
    Read(Option<String>),
    /// A write's: whether it applied (false only for a failed compare) and the value before.
    Write { ok: bool, previous: Option<String> },
}

/// One operation of a history: invocation and completion times from one monotonic clock.
#[derive(Clone, Debug)]
pub struct Operation {
    /// The client that issued it (for reports).
    pub client: usize,
    /// The key.
    pub key: String,
    /// What was asked.
    pub command: Command,
    /// When it was invoked.
    pub invoked: u64,
    /// When it completed and what it answered; None if the outcome is unknown.
    pub completed: Option<(u64, Answer)>,
}

/// What a successful check covered.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Report {
    /// Keys checked.
    pub keys: usize,
    /// Operations checked (unknown reads left out).
    pub operations: usize,
    /// Of those, operations with an unknown outcome (unobserved unknown writes left out).
    pub unknown: usize,
    /// Search states visited, over all keys.
    pub states: usize,
}

type Value = Option<String>;

/// The register after `op` runs on `value`, or None if `op`'s answer contradicts `value`.
fn step(value: &Value, op: &Operation) -> Option<Value> {
    let answer = op.completed.as_ref().map(|(_, a)| a);
    let (next, expected_answer) = match &op.command {
        Command::Get => (value.clone(), Answer::Read(value.clone())),
        Command::Put(v) => (Some(v.clone()), Answer::Write { ok: true, previous: value.clone() }),
        Command::Delete => (None, Answer::Write { ok: true, previous: value.clone() }),
        Command::Cas { expected, new } => {
            let ok = expected == value;
            let next = if ok { new.clone() } else { value.clone() };
            (next, Answer::Write { ok, previous: value.clone() })
        }
    };
    match answer {
        Some(answer) if *answer != expected_answer => None,
        _ => Some(next),
    }
}

/// Checks one key's operations (the register starts absent).
fn check_key(key: &str, mut ops: Vec<Operation>) -> Result<usize, String> {
    ops.sort_by_key(|op| op.invoked);
    let n = ops.len();
    let known = ops.iter().filter(|op| op.completed.is_some()).count();
    let returned = |op: &Operation| op.completed.as_ref().map_or(u64::MAX, |(t, _)| *t);
    let words = n.div_ceil(64);
    let mut seen: HashSet<(Vec<u64>, Value)> = HashSet::new();
    // Each frame: linearized set, register value, known operations linearized, next candidate.
    let mut stack: Vec<(Vec<u64>, Value, usize, usize)> = vec![(vec![0; words], None, 0, 0)];
    let mut deepest = (0, vec![0u64; words]);
    while let Some(frame) = stack.last_mut() {
        let (done, value, known_done, next) = (&frame.0, &frame.1, frame.2, &mut frame.3);
        if known_done == known {
            return Ok(seen.len());
        }
        let is_done = |i: usize| done[i / 64] & (1 << (i % 64)) != 0;
        // The first unlinearized operation: everything invoked before it is linearized.
        let first = done.iter().position(|w| *w != u64::MAX).map_or(n, |w| w * 64 + done[w].trailing_ones() as usize);
        // An operation may go next only if it was invoked before every unlinearized
        // operation's return. Operations invoked after a return seen so far cannot lower it.
        let mut horizon = u64::MAX;
        for op in (first..n).filter(|&i| !is_done(i)).map(|i| &ops[i]) {
            if op.invoked > horizon {
                break;
            }
            horizon = horizon.min(returned(op));
        }
        *next = (*next).max(first);
        let mut child = None;
        while *next < n && ops[*next].invoked <= horizon {
            let i = *next;
            *next += 1;
            if is_done(i) {
                continue;
            }
            if let Some(after) = step(value, &ops[i]) {
                let mut set = done.clone();
                set[i / 64] |= 1 << (i % 64);
                if seen.insert((set.clone(), after.clone())) {
                    child = Some((set, after, known_done + usize::from(ops[i].completed.is_some()), 0));
                    break;
                }
            }
        }
        match child {
            Some(child) => {
                if child.2 > deepest.0 {
                    deepest = (child.2, child.0.clone());
                }
                stack.push(child);
            }
            None => {
                stack.pop();
            }
        }
    }
    let stuck = (0..n)
        .find(|&i| deepest.1[i / 64] & (1 << (i % 64)) == 0 && ops[i].completed.is_some())
        .map(|i| format!("{:?}", ops[i]))
        .unwrap_or_default();
    Err(format!(
        "key {key:?}: no linearization of its {n} operations; the longest linearizable prefix holds {} of {known} \
         completed ones, and the first it could not place is {stuck}",
        deepest.0
    ))
}

/// Checks a whole history; Err describes the first key with no linearization.
pub fn check(history: &[Operation]) -> Result<Report, String> {
    let mut observed: HashSet<(&str, &str)> = HashSet::new();
    for op in history {
        if let Some((_, Answer::Read(Some(v)) | Answer::Write { previous: Some(v), .. })) = &op.completed {
            observed.insert((&op.key, v));
        }
        if let Command::Cas { expected: Some(v), .. } = &op.command {
            observed.insert((&op.key, v));
        }
    }
    let mut by_key: BTreeMap<&str, Vec<Operation>> = BTreeMap::new();
    for op in history {
        let unobserved_write = match &op.command {
            Command::Put(v) | Command::Cas { new: Some(v), .. } => !observed.contains(&(op.key.as_str(), v.as_str())),
            _ => false,
        };
        if op.completed.is_none() && (op.command == Command::Get || unobserved_write) {
            continue;
        }
        by_key.entry(&op.key).or_default().push(op.clone());
    }
    let mut report = Report { keys: by_key.len(), ..Report::default() };
    for (key, ops) in by_key {
        report.operations += ops.len();
        report.unknown += ops.iter().filter(|op| op.completed.is_none()).count();
        report.states += check_key(key, ops)?;
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(command: Command, invoked: u64, completed: Option<(u64, Answer)>) -> Operation {
        Operation { client: 0, key: "k".into(), command, invoked, completed }
    }
    fn put(v: &str, t: (u64, u64), previous: Option<&str>) -> Operation {
        let previous = previous.map(String::from);
        op(Command::Put(v.into()), t.0, Some((t.1, Answer::Write { ok: true, previous })))
    }
    fn get(v: Option<&str>, t: (u64, u64)) -> Operation {
        op(Command::Get, t.0, Some((t.1, Answer::Read(v.map(String::from)))))
    }

    #[test]
    fn sequential_histories_follow_the_register() {
        let h =
            vec![put("a", (0, 1), None), get(Some("a"), (2, 3)), put("b", (4, 5), Some("a")), get(Some("b"), (6, 7))];
        assert!(check(&h).is_ok());
        let stale = vec![put("a", (0, 1), None), put("b", (2, 3), Some("a")), get(Some("a"), (4, 5))];
        assert!(check(&stale).is_err(), "a read after a completed overwrite saw the old value");
    }

    #[test]
    fn concurrent_operations_may_take_either_order() {
        // The get overlaps both puts, so it may see either value or none.
        for seen in [None, Some("a"), Some("b")] {
            let h = vec![put("a", (0, 10), None), put("b", (1, 11), Some("a")), get(seen, (2, 12))];
            let ok = check(&h).is_ok();
            assert!(ok, "get of {seen:?} overlapping both puts was refused");
        }
        // The puts' answers fix their order: b saw a.
        let h = vec![put("a", (0, 10), None), put("b", (1, 11), Some("a")), get(Some("a"), (20, 21))];
        assert!(check(&h).is_err());
    }

    #[test]
    fn an_unknown_write_may_happen_or_not_but_only_after_its_invocation() {
        let unknown = op(Command::Put("x".into()), 5, None);
        let happened = vec![put("a", (0, 1), None), unknown.clone(), get(Some("x"), (100, 101))];
        let not_happened = vec![put("a", (0, 1), None), unknown.clone(), get(Some("a"), (100, 101))];
        assert!(check(&happened).is_ok() && check(&not_happened).is_ok());
        let before_invocation = vec![unknown, get(Some("x"), (1, 2))];
        assert!(check(&before_invocation).is_err(), "a read saw a write not yet invoked");
    }

    #[test]
    fn compare_and_set_answers_are_checked() {
        let cas = |exp: Option<&str>, new: &str, ok: bool, previous: Option<&str>, t: (u64, u64)| {
            let command = Command::Cas { expected: exp.map(String::from), new: Some(new.into()) };
            let previous = previous.map(String::from);
            op(command, t.0, Some((t.1, Answer::Write { ok, previous })))
        };
        let good = vec![put("a", (0, 1), None), cas(Some("a"), "b", true, Some("a"), (2, 3)), get(Some("b"), (4, 5))];
        assert!(check(&good).is_ok());
        let lied = vec![put("a", (0, 1), None), cas(Some("a"), "b", false, Some("a"), (2, 3))];
        assert!(check(&lied).is_err(), "a compare that held reported failure");
        let lost = vec![put("a", (0, 1), None), cas(Some("a"), "b", true, Some("a"), (2, 3)), get(Some("a"), (4, 5))];
        assert!(check(&lost).is_err(), "an acknowledged compare-and-set was lost");
    }

    #[test]
    fn keys_are_checked_independently_and_reported() {
        let mut other = put("z", (0, 1), None);
        other.key = "other".into();
        let h = vec![put("a", (0, 1), None), other, get(Some("a"), (2, 3)), op(Command::Get, 4, None)];
        let report = check(&h).unwrap();
        assert_eq!((report.keys, report.operations, report.unknown), (2, 3, 0));
    }

    #[test]
    fn unobserved_unknown_writes_do_not_slow_a_refutation() {
        // Forty writes of unknown outcome that no answer shows, then a stale read: the
        // search would revisit every subset of them before giving up.
        let mut h = vec![put("a", (0, 1), None), put("b", (2, 3), Some("a"))];
        for i in 0..40 {
            h.push(op(Command::Put(format!("lost-{i}")), 4 + i, None));
        }
        h.push(get(Some("a"), (100, 101)));
        assert!(check(&h).is_err());
        // An unknown write that a read saw is kept: it explains the read.
        let seen = vec![put("a", (0, 1), None), op(Command::Put("x".into()), 2, None), get(Some("x"), (10, 11))];
        assert_eq!(check(&seen).unwrap().unknown, 1);
        // So is one an unknown compare-and-set expected: together they explain the read.
        let cas = Command::Cas { expected: Some("v".into()), new: Some("x".into()) };
        let chained = vec![
            put("a", (0, 1), None),
            op(Command::Put("v".into()), 2, None),
            op(cas, 3, None),
            get(Some("x"), (10, 11)),
        ];
        assert_eq!(check(&chained).unwrap().unknown, 2);
    }

    #[test]
    fn many_concurrent_clients_are_checked_quickly() {
        // 8 clients, 400 rounds: each round every client writes its own value concurrently
        // and then reads; every read sees the round's last writer.
        let mut h = Vec::new();
        let mut previous: Option<String> = None;
        for round in 0..400u64 {
            let t = round * 100;
            for c in 0..8u64 {
                let v = format!("{round}-{c}");
                h.push(op(
                    Command::Put(v.clone()),
                    t + c,
                    Some((t + 50 + c, Answer::Write { ok: true, previous: previous.clone() })),
                ));
                previous = Some(v);
            }
            h.push(get(previous.as_deref(), (t + 60, t + 61)));
        }
        let report = check(&h).unwrap();
        assert_eq!(report.operations, 400 * 9);
    }
}
