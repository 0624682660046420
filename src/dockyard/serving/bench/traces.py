"""Seeded request traces for the gateway benchmark.

Serving layer. Sizes are in tokens (four characters each, see
:mod:`dockyard.serving.engine.tokens`). Three shapes, as used in the field:

* ``shared-prefix`` (SGLang's generated-shared-prefix / inference-perf): ``groups`` system
  prompts of ``system_len`` tokens, each followed by ``prompts_per_group`` distinct
  questions of ``question_len`` tokens; requests are shuffled.
* ``multi-turn``: ``groups`` open conversations whose every turn resends the whole history
  plus a new user message; a conversation closes after ``turns`` turns and a new one opens.
* ``no-sharing``: unique prompts of ``system_len + question_len`` tokens (the control).

A trace is a list of chat requests; arrival times are drawn separately (Poisson) so one
trace can be replayed at any rate.
"""

from __future__ import annotations

import random
import string
from dataclasses import dataclass
from typing import Any

from dockyard.serving.engine.tokens import CHARS_PER_TOKEN

TRACES = ("shared-prefix", "multi-turn", "no-sharing")


@dataclass(frozen=True)
class TraceShape:
    groups: int = 24
    prompts_per_group: int = 40
    system_len: int = 2000
    question_len: int = 200
    output_len: int = 32
    turns: int = 6


@dataclass(frozen=True)
class TraceRequest:
    messages: tuple[dict[str, str], ...]
    max_tokens: int
    key: str  # group or conversation, for analysis

    def body(self, model: str) -> dict[str, Any]:
        return {
            "model": model,
            "messages": list(self.messages),
            "max_tokens": self.max_tokens,
            "stream": True,
            "stream_options": {"include_usage": True},
        }


def _text(rng: random.Random, tokens: int) -> str:
    alphabet = string.ascii_lowercase + "     "
    return "".join(rng.choices(alphabet, k=tokens * CHARS_PER_TOKEN))


def shared_prefix(shape: TraceShape, seed: int) -> list[TraceRequest]:
    rng = random.Random(seed)
    out: list[TraceRequest] = []
    for g in range(shape.groups):
        system = f"[group {g}] " + _text(rng, shape.system_len)
        for _ in range(shape.prompts_per_group):
            out.append(
                TraceRequest(
                    (
                        {"role": "system", "content": system},
                        {"role": "user", "content": _text(rng, shape.question_len)},
                    ),
                    shape.output_len,
                    f"g{g}",
                )
            )
    rng.shuffle(out)
    return out


def multi_turn(shape: TraceShape, seed: int) -> list[TraceRequest]:
    """``groups`` conversations are open at any time; each request continues a random open
    one, which closes after ``turns`` turns and is replaced by a new conversation. A
    conversation opens with its own context of ``system_len // 2`` tokens."""
    rng = random.Random(seed)
    total = shape.groups * shape.prompts_per_group
    started = 0

    def opening() -> list[dict[str, str]]:
        nonlocal started
        started += 1
        return [
            {"role": "system", "content": f"[chat {started}] " + _text(rng, shape.system_len // 2)}
        ]

    open_chats = [opening() for _ in range(shape.groups)]
    ids = list(range(1, shape.groups + 1))
    out: list[TraceRequest] = []
    while len(out) < total:
        slot = rng.randrange(shape.groups)
        history = open_chats[slot]
        history.append({"role": "user", "content": _text(rng, shape.question_len)})
        out.append(TraceRequest(tuple(dict(m) for m in history), shape.output_len, f"c{ids[slot]}"))
        history.append({"role": "assistant", "content": _text(rng, shape.output_len)})
        if len(history) >= 1 + 2 * shape.turns:
            open_chats[slot] = opening()
            ids[slot] = started
    return out


def no_sharing(shape: TraceShape, seed: int) -> list[TraceRequest]:
    rng = random.Random(seed)
    n = shape.groups * shape.prompts_per_group
    return [
        TraceRequest(
            (
                {
                    "role": "user",
                    "content": f"[{i}] " + _text(rng, shape.system_len + shape.question_len),
                },
            ),
            shape.output_len,
            f"u{i}",
        )
        for i in range(n)
    ]


def make_trace(name: str, shape: TraceShape, seed: int) -> list[TraceRequest]:
    if name == "shared-prefix":
        return shared_prefix(shape, seed)
    if name == "multi-turn":
        return multi_turn(shape, seed)
    if name == "no-sharing":
        return no_sharing(shape, seed)
    raise ValueError(f"unknown trace {name!r}; choose one of {', '.join(TRACES)}")


def poisson_arrivals(n: int, rate: float, seed: int) -> list[float]:
    """``n`` arrival offsets (seconds) of a Poisson process at ``rate`` per second."""
    rng = random.Random(seed)
    t, out = 0.0, []
    for _ in range(n):
        t += rng.expovariate(rate)
        out.append(t)
    return out
