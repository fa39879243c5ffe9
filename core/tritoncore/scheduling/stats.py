"""Per model-version statistics with Triton's fields and JSON shape."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

STAGES = ("compute_input", "compute_infer", "compute_output")
REQUEST_STATS = ("success", "fail", "queue", *STAGES, "cache_hit", "cache_miss")
#: Triton's failure reasons (nv_inference_request_failure{reason=...}).
FAILURE_REASONS = ("REJECTED", "CANCELED", "BACKEND", "OTHER")


@dataclass
class Duration:
    """A count and the nanoseconds it took in total."""

    count: int = 0
    ns: int = 0

    def add(self, ns: int, count: int = 1) -> None:
        self.count += count
        self.ns += ns

    def as_json(self) -> dict[str, int]:
        return {"count": self.count, "ns": self.ns}


@dataclass
class ModelStats:
    """Counters of one model version; thread-safe updates."""

    requests: dict[str, Duration] = field(
        default_factory=lambda: {k: Duration() for k in REQUEST_STATS}
    )
    batches: dict[int, dict[str, Duration]] = field(default_factory=dict)
    inference_count: int = 0
    execution_count: int = 0
    last_inference_ms: int = 0
    failures: dict[str, int] = field(default_factory=lambda: dict.fromkeys(FAILURE_REASONS, 0))
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def request_done(self, ok: bool, duration_ns: int, reason: str = "BACKEND") -> None:
        """A request got its final response (successful or not; ``reason``: why it failed)."""
        with self._lock:
            if ok:
                d = self.requests["success"]
            else:
                d = self.requests["fail"]
                self.failures[reason if reason in self.failures else "OTHER"] += 1
            d.count += 1
            d.ns += duration_ns
            self.last_inference_ms = time.time_ns() // 1_000_000

    def batch_done(self, batch_size: int, requests: int, queue_ns: int, infer_ns: int,
                   input_ns: int = 0, output_ns: int = 0) -> None:
        """A batch of ``requests`` (``batch_size`` inferences) ran; the stages' nanoseconds.

        Every stage is counted even at 0 ns: perf_analyzer requires equal stage counts.
        """
        with self._lock:
            self.execution_count += 1
            self.inference_count += batch_size
            r = self.requests
            r["queue"].add(queue_ns, requests)
            r["compute_input"].add(input_ns, requests)
            r["compute_infer"].add(infer_ns, requests)
            r["compute_output"].add(output_ns, requests)
            stages = self.batches.get(batch_size)
            if stages is None:
                stages = self.batches[batch_size] = {k: Duration() for k in STAGES}
            stages["compute_input"].add(input_ns)
            stages["compute_infer"].add(infer_ns)
            stages["compute_output"].add(output_ns)

    def as_json(self, name: str, version: int) -> dict[str, Any]:
        """Triton's ``model_stats`` entry."""
        with self._lock:
            return {
                "name": name,
                "version": str(version),
                "last_inference": self.last_inference_ms,
                "inference_count": self.inference_count,
                "execution_count": self.execution_count,
                "inference_stats": {k: d.as_json() for k, d in self.requests.items()},
                "response_stats": {},
                "batch_stats": [
                    {"batch_size": size, **{k: d.as_json() for k, d in stages.items()}}
                    for size, stages in sorted(self.batches.items())
                ],
                "memory_usage": [],
            }
