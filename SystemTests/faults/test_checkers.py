"""Self-tests of the checkers: hand-made histories, good ones that must pass and at least twenty
bad ones (stale reads, lost writes, duplicates, divergence, audit gaps...) that must be flagged."""

import pytest

from checkers import check_audit, check_register, check_revoked_tokens, check_set


class H:
    """Builds a history with one clock."""

    def __init__(self):
        self.events = []
        self.time = 0.0
        self.counter = 0

    def _event(self, kind, process, f, key, value, request_id, **extra):
        self.time += 1
        self.events.append({"process": process, "type": kind, "f": f, "key": key, "value": value, "time": self.time,
                            "request_id": request_id, **extra})

    def invoke(self, process, f, key, value=None):
        self.counter += 1
        request_id = f"r{self.counter}"
        self._event("invoke", process, f, key, value, request_id)
        return request_id

    def complete(self, request_id, kind, **extra):
        invoke = next(e for e in self.events if e["request_id"] == request_id and e["type"] == "invoke")
        value = extra.pop("value", invoke["value"])
        self._event(kind, invoke["process"], invoke["f"], invoke["key"], value, request_id, **extra)

    def create(self, process, element, kind="ok", **extra):
        request_id = self.invoke(process, "create", "orgs", element)
        self.complete(request_id, kind, **extra)
        return request_id

    def cas(self, process, expected, new, kind="ok", revision=None):
        request_id = self.invoke(process, "cas", "role", [expected, new])
        self.complete(request_id, kind, **({"revision": revision} if revision is not None else {}))
        return request_id

    def read(self, process, revision, value):
        request_id = self.invoke(process, "read", "role")
        self.complete(request_id, "ok", value=[revision, value])
        return request_id


def record(sequence, request_id, outcome="ok", previous=None, hash_=None):
    return {"sequence": sequence, "request_id": request_id, "outcome": outcome,
            "previous_hash": previous if previous is not None else f"h{sequence - 1}", "hash": hash_ or f"h{sequence}"}


INITIAL = (1, "v0")

# MARK: - Good histories pass


def test_good_set_history_passes():
    h = H()
    h.create(1, "a")
    h.create(2, "b")
    h.create(3, "c", kind="fail")
    h.create(1, "d", kind="info")
    verdict = check_set(h.events, {"r1": ["a", "b", "d"], "r2": ["a", "b", "d"]})
    assert verdict.valid, verdict
    assert verdict.counts["acknowledged"] == 2 and verdict.counts["lost"] == 0


def test_good_register_history_passes():
    h = H()
    h.read(1, 1, "v0")
    h.cas(1, 1, "v1", revision=5)
    h.read(2, 5, "v1")
    h.cas(2, 1, "late", kind="fail")
    h.cas(3, 5, "v2", revision=9)
    h.read(1, 9, "v2")
    assert check_register(h.events, "role", INITIAL).valid


def test_concurrent_operations_may_linearize_in_either_order():
    h = H()
    first = h.invoke(1, "cas", "role", [1, "a"])
    reader = h.invoke(2, "read", "role")
    h.complete(reader, "ok", value=[4, "a"])
    h.complete(first, "ok", revision=4)
    assert check_register(h.events, "role", INITIAL).valid


def test_unknown_write_may_take_effect_later():
    h = H()
    h.cas(1, 1, "maybe", kind="info")
    h.read(2, 1, "v0")
    h.read(3, 7, "maybe")
    assert check_register(h.events, "role", INITIAL).valid


def test_unknown_write_may_never_take_effect():
    h = H()
    h.cas(1, 1, "maybe", kind="info")
    h.read(2, 1, "v0")
    h.cas(3, 1, "v1", revision=8)
    h.read(2, 8, "v1")
    assert check_register(h.events, "role", INITIAL).valid


def test_good_audit_passes():
    h = H()
    a = h.create(1, "a")
    b = h.create(1, "b", kind="fail", proposed=True)
    c = h.create(1, "c", kind="fail")
    log = [record(1, a), record(2, b, outcome="already_exists")]
    verdict = check_audit(h.events, {"r1": log, "r2": list(log)})
    assert verdict.valid, verdict
    assert c  # refused before proposing: no record expected, none present


# MARK: - Bad histories are flagged (at least twenty)

def bad_set_lost_acknowledged_create():
    h = H()
    h.create(1, "a")
    h.create(2, "b")
    return check_set(h.events, {"r1": ["a"], "r2": ["a"]})


def bad_set_lost_on_one_replica():
    h = H()
    h.create(1, "a")
    return check_set(h.events, {"r1": ["a"], "r2": []})


def bad_set_failed_create_present():
    h = H()
    h.create(1, "a", kind="fail")
    return check_set(h.events, {"r1": ["a"]})


def bad_set_duplicate():
    h = H()
    h.create(1, "a")
    return check_set(h.events, {"r1": ["a", "a"]})


def bad_set_divergence_in_unknown_elements():
    h = H()
    h.create(1, "a", kind="info")
    return check_set(h.events, {"r1": ["a"], "r2": []})


def bad_set_divergence_extra_element():
    h = H()
    h.create(1, "a")
    return check_set(h.events, {"r1": ["a"], "r2": ["a", "z"]})


def bad_register_stale_read():
    h = H()
    h.cas(1, 1, "v1", revision=5)
    h.read(2, 1, "v0")  # after the write was acknowledged
    return check_register(h.events, "role", INITIAL)


def bad_register_read_of_never_written_value():
    h = H()
    h.read(1, 3, "ghost")
    return check_register(h.events, "role", INITIAL)


def bad_register_lost_update():
    h = H()
    h.cas(1, 1, "a", revision=5)
    h.cas(2, 1, "b", revision=6)  # both expected revision 1: one must have failed
    return check_register(h.events, "role", INITIAL)


def bad_register_cas_with_wrong_expected_revision():
    h = H()
    h.cas(1, 7, "a", revision=8)
    return check_register(h.events, "role", INITIAL)


def bad_register_revision_goes_back():
    h = H()
    h.cas(1, 1, "a", revision=5)
    h.cas(1, 5, "b", revision=3)
    return check_register(h.events, "role", INITIAL)


def bad_register_read_goes_back_in_time():
    h = H()
    h.cas(1, 1, "a", revision=5)
    h.cas(1, 5, "b", revision=9)
    h.read(2, 9, "b")
    h.read(3, 5, "a")
    return check_register(h.events, "role", INITIAL)


def bad_register_read_value_with_wrong_revision():
    h = H()
    h.cas(1, 1, "a", revision=5)
    h.read(2, 6, "a")
    return check_register(h.events, "role", INITIAL)


def bad_register_failed_write_visible():
    h = H()
    h.cas(1, 1, "no", kind="fail")
    h.read(2, 4, "no")
    return check_register(h.events, "role", INITIAL)


def bad_register_acknowledged_write_lost():
    h = H()
    h.cas(1, 1, "a", revision=5)
    h.cas(2, 1, "b", revision=7)  # succeeded against the old revision: the first write was lost
    h.read(3, 7, "b")
    return check_register(h.events, "role", INITIAL)


def bad_audit_gap():
    h = H()
    a = h.create(1, "a")
    return check_audit(h.events, {"r1": [record(1, a), record(3, "x", previous="h1")]})


def bad_audit_reordered():
    h = H()
    return check_audit(h.events, {"r1": [record(2, "x"), record(1, "y")]})


def bad_audit_broken_link():
    h = H()
    a = h.create(1, "a")
    return check_audit(h.events, {"r1": [record(1, a), record(2, "x", previous="tampered")]})


def bad_audit_divergent_chains():
    h = H()
    a = h.create(1, "a")
    return check_audit(h.events, {"r1": [record(1, a)], "r2": [record(1, a, hash_="other")]})


def bad_audit_different_heads():
    h = H()
    a = h.create(1, "a")
    return check_audit(h.events, {"r1": [record(1, a), record(2, "x")], "r2": [record(1, a)]})


def bad_audit_acknowledged_write_without_record():
    h = H()
    h.create(1, "a")
    return check_audit(h.events, {"r1": []})


def bad_audit_acknowledged_write_applied_twice():
    h = H()
    a = h.create(1, "a")
    return check_audit(h.events, {"r1": [record(1, a), record(2, a)]})


def bad_audit_record_for_unproposed_request():
    h = H()
    a = h.create(1, "a", kind="fail")
    return check_audit(h.events, {"r1": [record(1, a, outcome="already_exists")]})


def bad_audit_idempotent_retries_applied_twice():
    h = H()
    first = h.invoke(1, "create", "orgs", "a")
    h.events[-1]["idempotency_key"] = "k"
    h.complete(first, "info")
    retry = h.invoke(1, "create", "orgs", "a")
    h.events[-1]["idempotency_key"] = "k"
    h.complete(retry, "ok")
    return check_audit(h.events, {"r1": [record(1, first), record(2, retry)]})


def test_idempotent_retry_replayed_is_one_write():
    h = H()
    first = h.invoke(1, "create", "orgs", "a")
    h.events[-1]["idempotency_key"] = "k"
    h.complete(first, "info")
    retry = h.invoke(1, "create", "orgs", "a")
    h.events[-1]["idempotency_key"] = "k"
    h.complete(retry, "ok")
    verdict = check_audit(h.events, {"r1": [record(1, first), record(2, retry, outcome="replayed")]})
    assert verdict.valid, verdict


def bad_audit_acknowledged_write_recorded_as_failure():
    h = H()
    a = h.create(1, "a")
    return check_audit(h.events, {"r1": [record(1, a, outcome="forbidden")]})


BAD = [value for name, value in sorted(globals().items()) if name.startswith("bad_")]


@pytest.mark.parametrize("history", BAD, ids=lambda f: f.__name__)
def test_bad_history_is_flagged(history):
    verdict = history()
    assert not verdict.valid, f"{history.__name__} passed: {verdict}"
    assert verdict.problems


def test_there_are_at_least_twenty_bad_histories():
    assert len(BAD) >= 20


def test_malformed_histories_are_refused():
    with pytest.raises(ValueError):
        check_set([{"type": "ok", "f": "create", "key": "orgs", "value": "a", "time": 1, "request_id": "x", "process": 1}], {})


# MARK: - Token revocations

def test_an_acknowledged_revocation_lost_is_caught_and_a_kept_one_passes():
    h = H()
    first = h.invoke(1, "revoke", "revocations", "aa")
    h.complete(first, "ok", revision=4)
    second = h.invoke(2, "revoke", "revocations", "bb")
    h.complete(second, "fail")
    kept = check_set(h.events, {"r1": ["aa"], "r2": ["aa"]}, key="revocations", f="revoke")
    assert kept.valid, kept
    lost = check_set(h.events, {"r1": ["aa"], "r2": []}, key="revocations", f="revoke")
    assert not lost.valid and "lost 1" in str(lost)
    unexpected = check_set(h.events, {"r1": ["aa", "bb"], "r2": ["aa", "bb"]}, key="revocations", f="revoke")
    assert not unexpected.valid, "a refused revocation is in the list"


def test_a_revoked_token_accepted_by_a_replica_that_applied_the_revocation_is_caught():
    uses = [{"f": "use-revoked", "type": "refused", "value": "aa", "revision": 3},
            {"f": "use-revoked", "type": "accepted", "value": "bb", "revision": 5, "answer": {"allowed": True}}]
    assert check_revoked_tokens(uses[:1]).valid
    verdict = check_revoked_tokens(uses)
    assert not verdict.valid and "bb" in str(verdict) and verdict.counts["accepted"] == 1
