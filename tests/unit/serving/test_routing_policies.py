"""Routing policies decide from endpoint state alone; each row sets up endpoints and names
the endpoint the policy must pick."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from dockyard.serving.gateway.endpoints import Endpoint, Scraped
from dockyard.serving.gateway.policies import POLICIES, RouteRequest, make_policy


def request(hashes: list[int], tokens: int | None = None) -> RouteRequest:
    return RouteRequest(tokens or max(16, len(hashes) * 16), len(hashes) * 64, tuple(hashes))


@dataclass
class Case:
    policy: str
    history: list[tuple[str, list[int]]] = field(default_factory=list)  # routed before
    inflight: dict[str, int] = field(default_factory=dict)
    pending: dict[str, int] = field(default_factory=dict)
    decoding: dict[str, int] = field(default_factory=dict)
    waiting: dict[str, float] = field(default_factory=dict)
    hashes: list[int] = field(default_factory=lambda: list(range(100)))
    expect: str = ""


CASES = {
    "predictive-follows-the-cached-prefix": Case(
        "predictive", [("b", list(range(100)))], expect="b"
    ),
    "predictive-leaves-a-prefix-when-its-queue-costs-more": Case(
        "predictive", [("b", list(range(100)))], pending={"b": 5000}, expect="a"
    ),
    "predictive-spreads-new-prefixes-by-queued-work": Case(
        "predictive", pending={"a": 300, "c": 100}, inflight={"a": 1, "c": 1}, expect="b"
    ),
    "predictive-starts-a-new-prefix-on-the-idle-engine-even-if-it-holds-more-hot-kv": Case(
        "predictive",
        [("b", list(range(1000, 1100))), ("b", list(range(1000, 1100)))],
        decoding={"a": 1, "c": 2},
        expect="b",
    ),
    "predictive-breaks-ties-by-hot-footprint": Case(
        "predictive",
        [("a", list(range(1000, 1100))), ("a", list(range(1000, 1100)))],
        decoding={"c": 1},
        expect="b",
    ),
    "least-load-takes-the-idlest": Case(
        "least-load", inflight={"a": 3, "b": 1, "c": 2}, expect="b"
    ),
    "cache-aware-matches-above-threshold": Case(
        "cache-aware", [("c", list(range(100)))], expect="c"
    ),
    "cache-aware-balances-when-imbalanced": Case(
        "cache-aware", [("c", list(range(100)))], inflight={"a": 10, "b": 11, "c": 100}, expect="a"
    ),
    "gie-weighs-prefix-over-queue": Case(
        "gie", [("a", list(range(100)))], waiting={"a": 1, "b": 0, "c": 0}, expect="a"
    ),
    "gie-queue-wins-without-prefix": Case("gie", waiting={"a": 4, "b": 0, "c": 4}, expect="b"),
}


@pytest.mark.parametrize("case", list(CASES.values()), ids=list(CASES))
def test_policy_picks(case: Case) -> None:
    policy = make_policy(case.policy)
    endpoints = {name: Endpoint(name) for name in "abc"}
    for name, endpoint in endpoints.items():
        endpoint.inflight = case.inflight.get(name, 0)
        endpoint.pending_prefill_tokens = case.pending.get(name, 0)
        endpoint.decoding = case.decoding.get(name, 0)
        endpoint.scraped = Scraped(waiting=case.waiting.get(name, 0.0), num_blocks=1000)
    for name, hashes in case.history:
        decision = policy.pick(request(hashes), [endpoints[name]])
        policy.routed(request(hashes), decision)
    decision = policy.pick(request(case.hashes), list(endpoints.values()))
    assert decision.endpoint.url == case.expect


def test_round_robin_cycles_in_url_order() -> None:
    policy = make_policy("round-robin")
    endpoints = [Endpoint(u) for u in ("c", "a", "b")]
    picks = [policy.pick(request([1]), endpoints).endpoint.url for _ in range(4)]
    assert picks == ["a", "b", "c", "a"]


def test_predictive_index_forgets_evicted_blocks() -> None:
    policy = make_policy("predictive")
    a, b = Endpoint("a"), Endpoint("b")
    policy.routed(request([1, 2, 3]), policy.pick(request([1, 2, 3]), [a]))
    for h in (1, 2, 3):
        policy.kv_event("a", "removed", h)
    assert policy.pick(request([1, 2, 3]), [a, b]).cached_tokens == 0


def test_unknown_policy_names_the_choices() -> None:
    with pytest.raises(ValueError, match="round-robin"):
        make_policy("fastest")
    assert "predictive" in POLICIES


def test_a_request_moves_through_the_load_counters_and_leaves_them_as_they_were() -> None:
    endpoint = Endpoint("http://a")
    endpoint.claim(300)
    assert (endpoint.inflight, endpoint.prefilling, endpoint.pending_prefill_tokens) == (1, 1, 300)
    endpoint.first_token(300)
    assert (endpoint.prefilling, endpoint.pending_prefill_tokens, endpoint.decoding) == (0, 0, 1)
    endpoint.done()
    assert (endpoint.inflight, endpoint.decoding, endpoint.routed) == (0, 0, 1)
