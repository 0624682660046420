"""Seeded traces are reproducible and have their documented shapes; RoleBasedGroup
planning (pure) converges roles step by step."""

from __future__ import annotations

import pytest

from dockyard.serving.bench.traces import TraceShape, make_trace, poisson_arrivals
from dockyard.serving.engine.tokens import count_tokens, render_chat
from dockyard.serving.groups.api import RoleBasedGroupSpec
from dockyard.serving.groups.controller import PodView, plan_role

SHAPE = TraceShape(
    groups=3, prompts_per_group=4, system_len=100, question_len=10, output_len=5, turns=2
)


@pytest.mark.parametrize("name", ["shared-prefix", "multi-turn", "no-sharing"])
def test_traces_are_seeded(name: str) -> None:
    assert make_trace(name, SHAPE, 1) == make_trace(name, SHAPE, 1)
    assert make_trace(name, SHAPE, 1) != make_trace(name, SHAPE, 2)
    assert len(make_trace(name, SHAPE, 1)) == 12


def test_shared_prefix_shape() -> None:
    trace = make_trace("shared-prefix", SHAPE, 0)
    assert len({r.key for r in trace}) == 3
    assert all(110 <= count_tokens(render_chat(list(r.messages))) <= 125 for r in trace)


def test_multi_turn_resends_history() -> None:
    trace = make_trace("multi-turn", SHAPE, 0)
    by_chat: dict[str, list[int]] = {}
    for r in trace:
        by_chat.setdefault(r.key, []).append(len(r.messages))
    assert all(lengths == sorted(lengths) and lengths[0] == 2 for lengths in by_chat.values())


def test_poisson_arrivals_have_the_rate() -> None:
    times = poisson_arrivals(4000, 50.0, 0)
    assert times == sorted(times)
    assert 3800 / 50 < times[-1] < 4200 / 50


def role(
    replicas: int, surge: int = 0, unavailable: int = 1, partition: int = 0, recreate: bool = False
):  # type: ignore[no-untyped-def]
    spec = RoleBasedGroupSpec.model_validate(
        {
            "roles": [
                {
                    "name": "decode",
                    "replicas": replicas,
                    "rolloutStrategy": {
                        "type": "Recreate" if recreate else "RollingUpdate",
                        "rollingUpdate": {
                            "maxSurge": surge,
                            "maxUnavailable": unavailable,
                            "partition": partition,
                        },
                    },
                    "template": {"spec": {"containers": [{"name": "e", "image": "busybox"}]}},
                }
            ]
        }
    )
    return spec.roles[0]


def pod(index: int, rev: str = "new", ready: bool = True, draining: bool = False) -> PodView:
    return PodView(f"p{index}-{rev}", index, rev, ready, draining)


PLANS = {
    "create-missing": (role(3), [pod(0)], [1, 2], []),
    "scale-down-drains-highest": (role(1), [pod(0), pod(1), pod(2)], [], ["p1-new", "p2-new"]),
    "surge-creates-replacement-first": (
        role(2, surge=1, unavailable=0),
        [pod(0, "old"), pod(1, "old")],
        [0],
        [],
    ),
    "unavailable-budget-drains-old": (
        role(2, surge=0, unavailable=1),
        [pod(0, "old"), pod(1, "old")],
        [],
        ["p0-old"],
    ),
    "ready-replacement-retires-old": (role(1), [pod(0, "old"), pod(0, "new")], [], ["p0-old"]),
    "unready-replacement-keeps-old": (role(1), [pod(0, "old"), pod(0, "new", ready=False)], [], []),
    "partition-keeps-low-indices": (
        role(2, partition=1, unavailable=2),
        [pod(0, "old"), pod(1, "old")],
        [],
        ["p1-old"],
    ),
    "recreate-drains-all-old": (
        role(2, recreate=True),
        [pod(0, "old"), pod(1, "old")],
        [],
        ["p0-old", "p1-old"],
    ),
    "draining-pod-is-replaced": (role(1), [pod(0, "old", draining=True)], [0], []),
}


@pytest.mark.parametrize(("r", "pods", "create", "drain"), list(PLANS.values()), ids=list(PLANS))
def test_plan_role(r, pods, create, drain) -> None:  # type: ignore[no-untyped-def]
    plan = plan_role(r, "new", pods)
    assert (plan.create, sorted(plan.drain)) == (create, drain)


@pytest.mark.parametrize(
    ("roles", "message"),
    [
        pytest.param([("a", ["b"]), ("b", ["a"])], "cycle", id="cycle"),
        pytest.param([("a", ["z"])], "unknown role", id="unknown-dependency"),
        pytest.param([("a", []), ("a", [])], "unique", id="duplicate-role"),
    ],
)
def test_bad_dependencies_are_rejected(roles: list[tuple[str, list[str]]], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        RoleBasedGroupSpec.model_validate(
            {
                "roles": [
                    {
                        "name": n,
                        "dependencies": d,
                        "template": {"spec": {"containers": [{"name": "e", "image": "busybox"}]}},
                    }
                    for n, d in roles
                ]
            }
        )
