"""The emulated engine core: continuous batching over a finite prefix-cached KV pool.

Serving layer, standard library only; shaped like vLLM's V1 scheduler. Each step:

1. decide (:meth:`Engine._schedule`): every running sequence that finished its prefill
   gets one decode token; remaining token budget (``max_batched_tokens``) goes to prefill
   chunks of running sequences, then to waiting sequences in arrival order, each admitted
   only when its prompt's KV blocks can be allocated (prefix-cache hits are shared, not
   recomputed). A sequence that cannot grow its KV preempts the newest running sequence,
   which is recomputed later (vLLM's recompute preemption). Waiting stops at the first
   sequence that does not fit (KV-full queueing, first come first served).
2. sleep for the step time the :class:`~.profile.StepProfile` gives that batch, divided by
   ``time_scale`` — prefill chunks in the batch slow every decode in it;
3. apply: advance prefills, publish each computed chunk's full prompt blocks to the prefix
   cache (a later step's request can share them while the rest of the prompt is still
   being prefilled, as in vLLM V1), emit one token per decode, finish and free sequences.

Roles: ``prefill`` engines stop every request after its first token and keep its KV cached
for transfer; ``decode`` engines take requests that carry remote KV (``remote_kv``) by
waiting a transfer time for the blocks they do not hold, instead of computing them.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from .kvcache import Allocation, PrefixCache
from .profile import H100_LLAMA2_7B, StepProfile
from .tokens import BLOCK_TOKENS

Role = Literal["both", "prefill", "decode"]
FINISHED = -1


@dataclass(frozen=True)
class EngineConfig:
    """What an emulated engine is; durations in emulated time unless noted."""

    model: str = "emulated-llama-2-7b"
    num_blocks: int = 4096
    max_num_seqs: int = 256
    max_batched_tokens: int = 2048
    max_model_len: int = 65536
    time_scale: float = 1.0
    profile: StepProfile = H100_LLAMA2_7B
    role: Role = "both"


@dataclass(eq=False)
class Sequence:
    """One request inside the engine; ``out`` yields token indices, then ``FINISHED``."""

    rid: str
    prompt_tokens: int
    hashes: list[int]
    max_tokens: int
    remote_kv: bool = False
    arrival: float = field(default_factory=time.monotonic)
    out: asyncio.Queue[int] = field(default_factory=asyncio.Queue)
    alloc: Allocation | None = None
    target: int = 0  # tokens to have KV for before decoding (prompt + recomputed output)
    computed: int = 0
    generated: int = 0
    cached_tokens: int = 0
    ready_at: float = 0.0
    first_token_at: float | None = None
    submitted_ms: float = 0.0  # engine's modelled clock at submission
    modelled_ttft_ms: float | None = None  # modelled (emulated) time to first token
    last_token_at: float | None = None
    finish_reason: str | None = None
    aborted: bool = False

    @property
    def prefilled(self) -> bool:
        return self.alloc is not None and self.computed >= self.target


@dataclass
class Histogram:
    """A Prometheus histogram's state (cumulative buckets are computed when rendered)."""

    bounds: tuple[float, ...]
    counts: list[int] = field(default_factory=list)
    total: float = 0.0
    n: int = 0

    def __post_init__(self) -> None:
        self.counts = [0] * (len(self.bounds) + 1)

    def observe(self, value: float) -> None:
        for i, bound in enumerate(self.bounds):
            if value <= bound:
                self.counts[i] += 1
                break
        else:
            self.counts[-1] += 1
        self.total += value
        self.n += 1


LATENCY_BOUNDS = (
    0.001,
    0.005,
    0.01,
    0.02,
    0.04,
    0.06,
    0.08,
    0.1,
    0.25,
    0.5,
    0.75,
    1.0,
    2.5,
    5.0,
    7.5,
    10.0,
    20.0,
    40.0,
    80.0,
)


@dataclass
class EngineStats:
    prompt_tokens: int = 0
    generation_tokens: int = 0
    prefix_queries: int = 0
    prefix_hits: int = 0
    preemptions: int = 0
    finished: int = 0
    kv_transfer_tokens: int = 0
    steps: int = 0
    ttft: Histogram = field(default_factory=lambda: Histogram(LATENCY_BOUNDS))
    itl: Histogram = field(default_factory=lambda: Histogram(LATENCY_BOUNDS))
    e2e: Histogram = field(default_factory=lambda: Histogram(LATENCY_BOUNDS))


@dataclass
class _Plan:
    chunks: list[tuple[Sequence, int]]
    decodes: list[Sequence]

    @property
    def empty(self) -> bool:
        return not self.chunks and not self.decodes


class Engine:
    """Owns the waiting/running queues and the step loop; see the module docstring.

    ``clock`` (wall seconds, default :func:`time.monotonic`) must agree with the running
    event loop's own clock: a replay on a virtual-time loop passes ``loop.time``.
    """

    def __init__(self, config: EngineConfig, clock: Callable[[], float] = time.monotonic) -> None:
        if config.time_scale <= 0:
            raise ValueError("time_scale must be positive")
        self.config = config
        self.clock = clock
        self.cache = PrefixCache(config.num_blocks)
        self.waiting: deque[Sequence] = deque()
        self.running: list[Sequence] = []
        self.transferring: list[Sequence] = []
        self.stats = EngineStats()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._ids = itertools.count()
        # Modelled busy time in emulated ms: the sum of step times (and transfer waits).
        # Deterministic, unlike wall time, so tests can check the cost model exactly.
        self.modelled_ms = 0.0

    # -- public --------------------------------------------------------------------------
    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._loop(), name="engine-steps")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def submit(
        self, prompt_tokens: int, hashes: list[int], max_tokens: int, remote_kv: bool = False
    ) -> Sequence:
        """Queue a request; read tokens from ``seq.out`` until ``FINISHED``."""
        if self.config.role == "prefill":
            max_tokens = 1
        seq = Sequence(
            rid=f"req-{next(self._ids)}",
            prompt_tokens=prompt_tokens,
            hashes=hashes,
            max_tokens=max(1, max_tokens),
            remote_kv=remote_kv and self.config.role != "prefill",
            arrival=self.clock(),
        )
        seq.target = prompt_tokens
        seq.submitted_ms = self.modelled_ms
        self.stats.prompt_tokens += prompt_tokens
        self.waiting.append(seq)
        self._wake.set()
        return seq

    def abort(self, seq: Sequence) -> None:
        """Drop a sequence whose client went away; its KV is released at once."""
        if seq.finish_reason is not None or seq.aborted:
            return
        seq.aborted = True
        seq.finish_reason = "abort"
        if seq in self.waiting:
            self.waiting.remove(seq)
        if seq in self.transferring:
            self.transferring.remove(seq)
        if seq in self.running:
            self.running.remove(seq)
        if seq.alloc is not None:
            self.cache.free(seq.alloc)
            seq.alloc = None
        self._wake.set()

    @property
    def kv_usage(self) -> float:
        return self.cache.used_blocks / self.cache.num_blocks

    def scaled(self, wall_seconds: float) -> float:
        """Wall seconds → emulated seconds."""
        return wall_seconds * self.config.time_scale

    # -- the loop --------------------------------------------------------------------------
    async def _loop(self) -> None:
        while True:
            self._admit_transfers()
            plan = self._schedule()
            if plan.empty:
                self._wake.clear()
                timeout = None
                if self.transferring:
                    timeout = max(0.0, min(s.ready_at for s in self.transferring) - self.clock())
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout)
                continue
            seconds = self._step_seconds(plan)
            await asyncio.sleep(seconds)
            self.modelled_ms += seconds * 1000.0 * self.config.time_scale
            self._apply(plan)

    def _step_seconds(self, plan: _Plan) -> float:
        batched = sum(n for _, n in plan.chunks) + len(plan.decodes)
        decode_ctx = sum(s.target + s.generated for s in plan.decodes)
        pairs = sum(n * (s.computed + n / 2) for s, n in plan.chunks)
        ms = self.config.profile.step_ms(batched, decode_ctx, pairs)
        return ms / 1000.0 / self.config.time_scale

    # -- decide ---------------------------------------------------------------------------
    def _schedule(self) -> _Plan:
        cfg = self.config
        decodes: list[Sequence] = []
        for seq in list(self.running):
            if seq not in self.running or not seq.prefilled:
                continue
            assert seq.alloc is not None
            need = -(-(seq.target + seq.generated + 1) // BLOCK_TOKENS)
            while not self.cache.grow(seq.alloc, need):
                victim = self.running[-1]
                self._preempt(victim)
                if victim is seq:
                    break
            if seq in self.running:
                decodes.append(seq)
        budget = cfg.max_batched_tokens - len(decodes)
        chunks: list[tuple[Sequence, int]] = []
        for seq in self.running:
            if budget <= 0:
                break
            if not seq.prefilled:
                n = min(seq.target - seq.computed, budget)
                chunks.append((seq, n))
                budget -= n
        while self.waiting and budget > 0 and len(self.running) < cfg.max_num_seqs:
            seq = self.waiting[0]
            total = -(-seq.target // BLOCK_TOKENS)
            alloc = self.cache.allocate(seq.hashes, total)
            if alloc is None:
                break  # KV full: the head of the queue waits for blocks to free up
            self.waiting.popleft()
            seq.alloc = alloc
            hit_tokens = alloc.hit_blocks * BLOCK_TOKENS
            self.stats.prefix_queries += seq.target
            self.stats.prefix_hits += min(hit_tokens, seq.target)
            seq.cached_tokens = min(hit_tokens, seq.target)
            if seq.remote_kv:
                # KV for the uncached part arrives over the wire; no compute.
                missing = seq.target - seq.cached_tokens
                self.stats.kv_transfer_tokens += missing
                delay = cfg.profile.transfer_ms(missing) / 1000.0 / cfg.time_scale
                seq.ready_at = self.clock() + delay
                seq.submitted_ms -= delay * 1000.0 * cfg.time_scale  # the wait counts too
                self.transferring.append(seq)
                continue
            seq.computed = min(hit_tokens, seq.target - 1)
            self.running.append(seq)
            n = min(seq.target - seq.computed, budget)
            chunks.append((seq, n))
            budget -= n
        return _Plan(chunks, decodes)

    def _admit_transfers(self) -> None:
        if not self.transferring:
            return
        now = self.clock()
        for seq in [s for s in self.transferring if s.ready_at <= now]:
            self.transferring.remove(seq)
            assert seq.alloc is not None
            seq.computed = seq.target
            self.cache.commit(seq.alloc, seq.hashes)
            self.running.append(seq)

    def _preempt(self, seq: Sequence) -> None:
        self.running.remove(seq)
        if seq.alloc is not None:
            self.cache.free(seq.alloc)
            seq.alloc = None
        seq.target = seq.prompt_tokens + seq.generated
        seq.computed = 0
        seq.remote_kv = False
        self.stats.preemptions += 1
        self.waiting.appendleft(seq)

    # -- apply ------------------------------------------------------------------------------
    def _apply(self, plan: _Plan) -> None:
        now = self.clock()
        self.stats.steps += 1
        emit: list[Sequence] = []
        for seq, n in plan.chunks:
            if seq.aborted or seq not in self.running:
                continue
            seq.computed += n
            assert seq.alloc is not None
            # Full blocks are published as each chunk completes (vLLM V1 caches a chunk's
            # blocks when it schedules them), so a later request can share a prompt head
            # whose tail is still being prefilled.
            self.cache.commit(seq.alloc, seq.hashes[: seq.computed // BLOCK_TOKENS])
            if seq.computed >= seq.target:
                emit.append(seq)
        emit.extend(s for s in plan.decodes if not s.aborted and s in self.running)
        for seq in emit:
            self._emit(seq, now)

    def _emit(self, seq: Sequence, now: float) -> None:
        stats = self.stats
        index = seq.generated
        seq.generated += 1
        stats.generation_tokens += 1
        if seq.first_token_at is None:
            seq.first_token_at = now
            seq.modelled_ttft_ms = self.modelled_ms - seq.submitted_ms
            stats.ttft.observe(self.scaled(now - seq.arrival))
        elif seq.last_token_at is not None:
            stats.itl.observe(self.scaled(now - seq.last_token_at))
        seq.last_token_at = now
        seq.out.put_nowait(index)
        if seq.generated >= seq.max_tokens:
            seq.finish_reason = "length"
            self.running.remove(seq)
            assert seq.alloc is not None
            self.cache.free(seq.alloc)
            seq.alloc = None
            stats.finished += 1
            stats.e2e.observe(self.scaled(now - seq.arrival))
            seq.out.put_nowait(FINISHED)
