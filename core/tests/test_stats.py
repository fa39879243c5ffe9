"""Model statistics: what a sequence of finished batches and requests adds up to, in Triton's
JSON shape."""

from __future__ import annotations

from collections import Counter, defaultdict

from hypothesis import given
from hypothesis import strategies as st
from tritoncore.scheduling.stats import ModelStats

_NS = st.integers(0, 10**9)
_BATCH = st.tuples(st.integers(1, 8), st.integers(1, 4), _NS, _NS, _NS, _NS)
_REQUEST = st.tuples(st.booleans(), _NS, st.sampled_from(["REJECTED", "CANCELED", "BACKEND",
                                                          "ELSE"]))


@given(st.lists(_BATCH, max_size=20), st.lists(_REQUEST, max_size=20))
def test_batches_and_requests_add_up(batches: list[tuple[int, ...]],
                                     requests: list[tuple[bool, int, str]]) -> None:
    stats = ModelStats()
    for size, count, queue, infer, c_in, c_out in batches:
        stats.batch_done(size, count, queue, infer, c_in, c_out)
    for ok, ns, reason in requests:
        stats.request_done(ok, ns, reason)
    doc = stats.as_json("m", 3)

    def total(i: int, count_index: int = 1) -> dict[str, int]:
        return {"count": sum(b[count_index] for b in batches), "ns": sum(b[i] for b in batches)}

    inference = doc["inference_stats"]
    assert (doc["inference_count"], doc["execution_count"]) == (
        sum(b[0] for b in batches), len(batches))
    assert inference["queue"] == total(2)
    assert inference["compute_infer"] == total(3)
    assert inference["compute_input"] == total(4)
    assert inference["compute_output"] == total(5)
    for outcome, ok in (("success", True), ("fail", False)):
        assert inference[outcome] == {"count": sum(1 for r in requests if r[0] is ok),
                                      "ns": sum(r[1] for r in requests if r[0] is ok)}
    per_size: dict[int, Counter[str]] = defaultdict(Counter)
    for size, _, _, infer, c_in, c_out in batches:
        per_size[size].update({"n": 1, "infer": infer, "in": c_in, "out": c_out})
    assert doc["batch_stats"] == [
        {"batch_size": size,
         "compute_input": {"count": c["n"], "ns": c["in"]},
         "compute_infer": {"count": c["n"], "ns": c["infer"]},
         "compute_output": {"count": c["n"], "ns": c["out"]}}
        for size, c in sorted(per_size.items())]
    failed = Counter(r[2] if r[2] != "ELSE" else "OTHER" for r in requests if not r[0])
    assert stats.failures == {k: failed.get(k, 0) for k in ("REJECTED", "CANCELED", "BACKEND",
                                                             "OTHER")}
