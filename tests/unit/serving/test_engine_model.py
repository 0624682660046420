"""The emulated engine's cost model, read from its deterministic modelled clock (emulated
milliseconds), not from wall time: TTFT grows linearly with uncached prompt tokens and falls
with prefix-cache hits; KV exhaustion queues; roles behave as disaggregation needs."""

from __future__ import annotations

import asyncio
import statistics

import pytest

from dockyard.serving.engine import H100_LLAMA2_7B, Engine, EngineConfig
from dockyard.serving.engine.batching import FINISHED, Sequence
from dockyard.serving.engine.tokens import BLOCK_CHARS, block_hashes, count_tokens

FAST = 1000.0  # time scale: a 40 ms step sleeps 40 µs


async def drain(seq: Sequence) -> int:
    n = 0
    while await seq.out.get() != FINISHED:
        n += 1
    return n


def text_of(tokens: int, salt: str = "") -> str:
    base = (salt + "abcdefghijklmnopqrstuvwxyz0123456789 ") * (tokens * 4 // 37 + 2)
    return base[: tokens * 4]


async def ttft(engine: Engine, text: str, max_tokens: int = 2) -> tuple[float, int]:
    seq = engine.submit(count_tokens(text), block_hashes(text), max_tokens)
    await drain(seq)
    assert seq.modelled_ttft_ms is not None
    return seq.modelled_ttft_ms, seq.cached_tokens


def run(coro):  # type: ignore[no-untyped-def]
    return asyncio.run(coro)


def test_ttft_rises_linearly_with_uncached_prompt_tokens() -> None:
    async def measure() -> list[tuple[int, float]]:
        engine = Engine(EngineConfig(time_scale=FAST, num_blocks=4096))
        engine.start()
        out = []
        for i, tokens in enumerate(range(2048, 16385, 2048)):
            t, cached = await ttft(engine, text_of(tokens, salt=f"{i}|"))
            assert cached == 0
            out.append((tokens, t))
        await engine.stop()
        return out

    points = run(measure())
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    assert ys == sorted(ys)
    slope, intercept = statistics.linear_regression(xs, ys)
    residual = max(abs(y - (slope * x + intercept)) for x, y in points)
    # Linear up to the prefill attention's small quadratic term.
    assert residual < 0.05 * ys[-1], points
    # And calibrated: one 2,048-token chunk costs the profile's 40 ms plus attention.
    assert ys[0] == pytest.approx(H100_LLAMA2_7B.step_ms(2048, 0, 2048 * 1024), rel=1e-6)


@pytest.mark.parametrize(
    ("shared_fraction", "expect_cached"),
    [
        pytest.param(0.0, 0, id="no-shared-prefix"),
        pytest.param(0.5, 2048, id="half-shared"),
        pytest.param(1.0, 4095, id="identical-prompt"),
    ],
)
def test_prefix_hits_cut_ttft(shared_fraction: float, expect_cached: int) -> None:
    async def measure() -> tuple[float, float, int]:
        engine = Engine(EngineConfig(time_scale=FAST, num_blocks=2048))
        engine.start()
        first = text_of(4096, salt="A")
        cold, _ = await ttft(engine, first)
        keep = int(len(first) * shared_fraction) // BLOCK_CHARS * BLOCK_CHARS
        second = first[:keep] + text_of(4096, salt="B")[keep:]
        warm, cached = await ttft(engine, second)
        await engine.stop()
        return cold, warm, cached

    cold, warm, cached = run(measure())
    assert cached == (expect_cached // 16 * 16 if expect_cached < 4095 else 4096)
    if shared_fraction == 0.0:
        assert warm == pytest.approx(cold, rel=0.01)
    else:
        assert warm < cold * (1.0 - shared_fraction * 0.8)


def test_requests_queue_when_kv_blocks_run_out() -> None:
    async def scenario() -> tuple[int, int, int, int]:
        # 64 blocks = 1,024 tokens: one 600-token request fits, two do not.
        engine = Engine(EngineConfig(time_scale=10.0, num_blocks=64))
        engine.start()
        a = engine.submit(600, block_hashes(text_of(600, "a")), 50)
        b = engine.submit(600, block_hashes(text_of(600, "b")), 50)
        await a.out.get()  # a has its first token
        waiting, running = len(engine.waiting), len(engine.running)
        na = 1 + await drain(a)
        nb = await drain(b)
        await engine.stop()
        return waiting, running, na, nb

    waiting, running, na, nb = run(scenario())
    assert (waiting, running) == (1, 1)
    assert (na, nb) == (50, 50)


@pytest.mark.parametrize(
    ("role", "remote_kv", "max_tokens", "expect_tokens", "expect_transfer"),
    [
        pytest.param("prefill", False, 20, 1, 0, id="prefill-role-stops-after-first-token"),
        pytest.param("decode", True, 5, 5, 1024, id="decode-role-pulls-remote-kv"),
        pytest.param("decode", False, 5, 5, 0, id="decode-role-without-kv-prefills-locally"),
    ],
)
def test_disaggregation_roles(
    role: str, remote_kv: bool, max_tokens: int, expect_tokens: int, expect_transfer: int
) -> None:
    async def scenario() -> tuple[int, int, float]:
        engine = Engine(EngineConfig(time_scale=FAST, role=role))  # type: ignore[arg-type]
        engine.start()
        text = text_of(1024)
        seq = engine.submit(1024, block_hashes(text), max_tokens, remote_kv=remote_kv)
        n = await drain(seq)
        await engine.stop()
        assert seq.modelled_ttft_ms is not None
        return n, engine.stats.kv_transfer_tokens, seq.modelled_ttft_ms

    n, transferred, first_ms = run(scenario())
    assert n == expect_tokens
    assert transferred == expect_transfer
    if remote_kv:  # pulling 1,024 tokens of KV is cheaper than computing them
        assert first_ms < H100_LLAMA2_7B.step_ms(1024, 0, 1024 * 512)


def test_a_prompt_head_is_shared_while_its_tail_is_still_prefilling() -> None:
    async def scenario() -> tuple[int, int]:
        # 5,000 tokens take three chunks (2,048 + 2,048 + 904). A twin sharing the first
        # 4,096 tokens that arrives during the second chunk is admitted beside the third and
        # hits the two chunks already computed.
        engine = Engine(EngineConfig(time_scale=10.0, num_blocks=4096))
        engine.start()
        head = text_of(5000, "h")
        first = engine.submit(5000, block_hashes(head), 2)
        while engine.stats.steps < 1:
            await asyncio.sleep(0)
        twin_text = head[: 4096 * 4] + text_of(500, "t")
        twin = engine.submit(count_tokens(twin_text), block_hashes(twin_text), 2)
        await drain(first)
        await drain(twin)
        await engine.stop()
        return twin.cached_tokens, first.cached_tokens

    twin_cached, first_cached = run(scenario())
    assert (twin_cached, first_cached) == (4096, 0)
