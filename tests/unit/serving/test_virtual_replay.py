"""The virtual-time replay is deterministic and runs the real engines and policies."""

from __future__ import annotations

from dockyard.serving.bench.replay import replay
from dockyard.serving.bench.traces import TraceShape
from dockyard.serving.gateway.policies import Predictive, RoundRobin

SHAPE = TraceShape(groups=4, prompts_per_group=12, system_len=600, question_len=60, output_len=4)


def run(policy: str) -> list[dict[str, object]]:
    factory = (lambda clock: Predictive(clock=clock)) if policy == "predictive" else None
    return replay(
        factory or (lambda clock: RoundRobin()),
        "shared-prefix",
        [8.0],
        duration=4.0,
        warmup=1.0,
        engines=2,
        kv_blocks=120,
        shape=SHAPE,
    )


def test_replay_is_deterministic_and_routing_decides_the_hits() -> None:
    first, again = run("predictive"), run("predictive")
    assert first == again
    (predictive,), (round_robin,) = first, run("round-robin")
    assert predictive["requests"] == round_robin["requests"] == 32
    # Four 600-token system prompts (152 blocks) fit the fleet only once: following the
    # prefix hits nearly always; alternating engines evicts and recomputes them.
    assert predictive["prefix_hit_rate"] > 0.8 > round_robin["prefix_hit_rate"]  # type: ignore[operator]
    assert predictive["ttft_p90_ms"] < round_robin["ttft_p90_ms"]  # type: ignore[operator]
