"""Checkers for fault-injection histories, written for Rampart.

A history is a list of events, one per line in a history file:

    {"process": 3, "type": "invoke", "f": "create", "key": "orgs", "value": "w-3-17", "time": 12.5, "request_id": "r-3-17"}
    {"process": 3, "type": "ok",     "f": "create", "key": "orgs", "value": "w-3-17", "time": 12.6, "request_id": "r-3-17", "revision": 88}

`type` is `invoke` when a client sends a request, then exactly one of:
- `ok`: the request took effect (a write was acknowledged, a read returned `value`);
- `fail`: it certainly did not take effect (refused before it was proposed, or rejected by the
  state machine, which then changes nothing but the audit log: `"proposed": true`);
- `info`: unknown (a timeout): it may or may not have taken effect, now or later.

Operations:
- `create` on the set `key`: add `value` (unique per request).
- `cas` on the register `key`: `value` is `[expected_revision, new_value]`; `ok` carries the
  new `revision`.
- `read` on the register `key`: `ok` carries `value` as `[revision, value]`.

Each checker returns a `Verdict`: `valid`, counts, and the problems found.
"""

from dataclasses import dataclass, field


@dataclass
class Verdict:
    name: str
    valid: bool = True
    problems: list = field(default_factory=list)
    counts: dict = field(default_factory=dict)

    def fail(self, problem: str) -> None:
        self.valid = False
        if len(self.problems) < 50:
            self.problems.append(problem)

    def __str__(self) -> str:
        state = "valid" if self.valid else "INVALID"
        counts = ", ".join(f"{k} {v}" for k, v in sorted(self.counts.items()))
        text = f"{self.name}: {state} ({counts})"
        for problem in self.problems[:10]:
            text += f"\n  - {problem}"
        return text


def completions(history):
    """Pairs each invoke with its completion: {request_id: (invoke, completion or None)}."""
    pairs = {}
    for event in history:
        request_id = event["request_id"]
        if event["type"] == "invoke":
            if request_id in pairs:
                raise ValueError(f"request {request_id} invoked twice")
            pairs[request_id] = (event, None)
        else:
            if request_id not in pairs:
                raise ValueError(f"request {request_id} completed without an invoke")
            invoke, previous = pairs[request_id]
            if previous is not None:
                raise ValueError(f"request {request_id} completed twice")
            pairs[request_id] = (invoke, event)
    return pairs


# MARK: - Set

def check_set(history, final_sets, key="orgs", f="create"):
    """set-full: every acknowledged create is in every replica's final set; no create that
    certainly failed is; no element is there twice; every replica holds the same set.

    `final_sets` maps a replica name to the list of elements it holds (a list, so duplicates
    show)."""
    verdict = Verdict("set" if f == "create" else f"set of {key}")
    pairs = completions([e for e in history if e.get("f") == f and e.get("key") == key])
    # Retries of one element (same value, same idempotency key) are one create: acknowledged if
    # any attempt was, failed only if every attempt certainly failed.
    outcomes = {}
    for invoke, completion in pairs.values():
        kind = "info" if completion is None else completion["type"]
        outcomes.setdefault(invoke["value"], set()).add(kind)
    acknowledged = {value for value, kinds in outcomes.items() if "ok" in kinds}
    unknown = {value for value, kinds in outcomes.items() if "ok" not in kinds and "info" in kinds}
    failed = {value for value, kinds in outcomes.items() if kinds == {"fail"}}
    reference = None
    for replica, elements in sorted(final_sets.items()):
        present = set(elements)
        if len(present) != len(elements):
            duplicates = sorted({e for e in elements if elements.count(e) > 1})
            verdict.fail(f"{replica} holds duplicates: {duplicates[:5]}")
        lost = acknowledged - present
        if lost:
            verdict.fail(f"{replica} lost {len(lost)} acknowledged creates: {sorted(lost)[:5]}")
        unexpected = failed & present
        if unexpected:
            verdict.fail(f"{replica} holds {len(unexpected)} creates that failed: {sorted(unexpected)[:5]}")
        if reference is None:
            reference = (replica, present)
        elif present != reference[1]:
            verdict.fail(f"{replica} and {reference[0]} diverge: {sorted(present ^ reference[1])[:5]}")
    verdict.counts = {
        "acknowledged": len(acknowledged), "failed": len(failed), "unknown": len(unknown),
        "lost": sum(len(acknowledged - set(e)) for e in final_sets.values()),
    }
    return verdict


# MARK: - Register (linearizability)

class _Operation:
    __slots__ = ("index", "f", "argument", "result", "call", "ret", "certain")

    def __init__(self, index, f, argument, result, call, ret, certain):
        self.index = index
        self.f = f
        self.argument = argument
        self.result = result
        self.call = call
        self.ret = ret
        self.certain = certain


def _register_operations(history, key):
    operations = []
    for invoke, completion in completions(
            [e for e in history if e.get("key") == key and e.get("f") in ("cas", "read")]).values():
        if completion is not None and completion["type"] == "fail":
            continue  # certainly no effect
        if invoke["f"] == "read" and (completion is None or completion["type"] != "ok"):
            continue  # a read without an answer constrains nothing
        certain = completion is not None and completion["type"] == "ok"
        result = None
        if certain:
            result = completion.get("revision") if invoke["f"] == "cas" else tuple(completion["value"])
        ret = completion["time"] if certain else float("inf")
        operations.append(_Operation(len(operations), invoke["f"], invoke.get("value"), result, invoke["time"], ret, certain))
    return operations


def _step(state, operation):
    """Applies an operation to the register state (revision, value); None if impossible."""
    revision, value = state
    if operation.f == "read":
        return state if operation.result == (revision, value) else None
    expected, new_value = operation.argument
    if expected != revision:
        return None  # a CAS that took effect must have seen its expected revision
    if operation.certain:
        if operation.result is None or operation.result <= revision:
            return None  # revisions only grow
        return (operation.result, new_value)
    # An unknown CAS that took effect got some revision after the current one; the next read
    # or CAS names it.
    return ("unknown-after", revision, new_value)


def _matches(state, operation):
    """Resolves a state left by an unknown CAS against the next operation."""
    if state[0] != "unknown-after":
        return state
    _, floor, value = state
    if operation.f == "read":
        revision, read_value = operation.result
        return (revision, value) if revision > floor and read_value == value else None
    expected, _ = operation.argument
    return (expected, value) if expected > floor else None


def check_register(history, key, initial):
    """Linearizability of one register (Wing and Gong's search with memoization of visited
    states). `initial` is the register's (revision, value) before the history. Operations whose
    outcome is unknown may take effect at any point after their call, or never.

    A search state is: the position in call order before which every certain operation has
    taken effect, the unknown operations before it that have not (yet), the operations after
    it that have, and the register. Only the operations running at once lie after the
    position, so a step costs what the concurrency is, not what the history's length is."""
    verdict = Verdict(f"register {key}")
    operations = _register_operations(history, key)
    verdict.counts = {"operations": len(operations)}
    if not operations:
        return verdict
    order = sorted(operations, key=lambda o: o.call)
    count = len(order)

    def settle(position, ahead, skipped):
        """Moves the position past operations that took effect and unknown ones that have not."""
        while position < count:
            if position in ahead:
                ahead = ahead - {position}
            elif not order[position].certain:
                skipped = skipped | {position}
            else:
                break
            position += 1
        return position, ahead, skipped

    seen = set()
    stack = [settle(0, frozenset(), frozenset()) + (tuple(initial),)]
    explored = 0
    while stack:
        entry = stack.pop()
        position, ahead, skipped, state = entry
        if position == count:
            verdict.counts["explored"] = explored
            return verdict
        if entry in seen:
            continue
        seen.add(entry)
        explored += 1
        if explored > 2_000_000:
            verdict.fail("search too large (over 2,000,000 states); shorten the history")
            return verdict
        # An operation may go next if no pending certain operation returned before it began.
        # Operations after the position are in call order, so the scan can stop at the first
        # that began after the earliest return seen so far: none after it began earlier or
        # returns earlier. (And every one scanned before it began no later than that return.)
        earliest_return = float("inf")
        running = []
        index = position
        while index < count and order[index].call <= earliest_return:
            if index not in ahead:
                running.append(index)
                if order[index].certain:
                    earliest_return = min(earliest_return, order[index].ret)
            index += 1
        # Unknown operations that began before the position may go at any time. The earliest
        # call goes on the stack last, so it is tried first.
        candidates = sorted(skipped) + running
        for index in reversed(candidates):
            operation = order[index]
            resolved = _matches(state, operation)
            if resolved is None:
                continue
            following = _step(resolved, operation)
            if following is None:
                continue
            if index in skipped:
                stack.append((position, ahead, skipped - {index}, following))
            else:
                stack.append(settle(position, ahead | {index}, skipped) + (following,))
    verdict.fail(f"no linearization of {len(operations)} operations (explored {explored} states)")
    verdict.counts["explored"] = explored
    return verdict


# MARK: - Audit

def check_revoked_tokens(history):
    """A token whose revocation was acknowledged at revision R is never accepted by a replica
    asked with `min_revision=R` (one that has applied the revocation): the clients record each
    such use, and any acceptance."""
    verdict = Verdict("revoked tokens")
    uses = [e for e in history if e.get("f") == "use-revoked"]
    accepted = [e for e in uses if e["type"] == "accepted"]
    for event in accepted[:5]:
        verdict.fail(f"revoked token {event['value']} accepted at revision {event.get('revision')}: {event.get('answer')}")
    verdict.counts = {"uses": len(uses), "refused": sum(1 for e in uses if e["type"] == "refused"), "accepted": len(accepted)}
    return verdict


def check_audit(history, logs):
    """Audit checks. `logs` maps a replica name to its list of audit records (dicts with
    sequence, hash, previous_hash, request_id, outcome), oldest first:
    - every log starts at sequence 1 and has no gap, and each record links to the one before;
    - every replica holds the same chain (same hashes) up to the shortest, and the same head;
    - every acknowledged write has exactly one record with its request id, with outcome ok;
    - a request that failed before it was proposed has no record."""
    verdict = Verdict("audit")
    for replica, records in sorted(logs.items()):
        previous_hash = None
        for position, record in enumerate(records, start=1):
            if record["sequence"] != position:
                verdict.fail(f"{replica}: record {position} has sequence {record['sequence']} (gap or reordering)")
                break
            if previous_hash is not None and record["previous_hash"] != previous_hash:
                verdict.fail(f"{replica}: record {position} does not link to the record before")
                break
            previous_hash = record["hash"]
    names = sorted(logs)
    heads = {name: (logs[name][-1]["hash"] if logs[name] else None) for name in names}
    if len(set(heads.values())) > 1:
        verdict.fail(f"audit heads differ: {heads}")
    for name in names[1:]:
        for mine, theirs in zip(logs[names[0]], logs[name]):
            if mine["hash"] != theirs["hash"]:
                verdict.fail(f"{names[0]} and {name} diverge at sequence {mine['sequence']}")
                break
    reference = logs[names[0]] if names else []
    by_request = {}
    for record in reference:
        by_request.setdefault(record["request_id"], []).append(record)
    # Retries that share an idempotency key are one write: exactly one of their records applies
    # it (the others say "replayed").
    groups = {}
    for invoke, completion in completions([e for e in history if e.get("f") in ("create", "cas", "revoke")]).values():
        groups.setdefault(invoke.get("idempotency_key") or invoke["request_id"], []).append((invoke, completion))
    acknowledged = unproposed = 0
    for group, attempts in groups.items():
        records = [r for invoke, _ in attempts for r in by_request.get(invoke["request_id"], [])]
        if any(c is not None and c["type"] == "ok" for _, c in attempts):
            acknowledged += 1
            applied = [r for r in records if r["outcome"] == "ok"]
            if len(applied) != 1:
                verdict.fail(f"acknowledged write {group} has {len(applied)} applied records")
        for invoke, completion in attempts:
            if completion is not None and completion["type"] == "fail" and not completion.get("proposed", False):
                unproposed += 1
                if by_request.get(invoke["request_id"]):
                    verdict.fail(f"request {invoke['request_id']} failed before it was proposed but has a record")
    verdict.counts = {"records": len(reference), "acknowledged": acknowledged, "unproposed": unproposed, "replicas": len(names)}
    return verdict
