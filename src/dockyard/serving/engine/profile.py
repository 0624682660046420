"""Step-time model: how long one forward pass of a batch takes on the emulated GPU.

Serving layer, standard library only. Calibration (the default ``H100_LLAMA2_7B``):

* Batch forward time against batched tokens comes from Vidur's profile of Llama-2-7B on one
  H100 (Agrawal et al., "Vidur: A Large-Scale Simulation Framework for LLM Inference",
  MLSys 2024; profiled MLP/linear part): about 5.6 ms per forward for 1-64 tokens, 12 ms at
  512, 40 ms at 2,048 and 84 ms at 4,096 — flat up to a knee, then linear. Between points
  we interpolate linearly; beyond the last point we extend the last slope.
* Attention is added on top: decode reads every running sequence's KV once per step
  (Llama-2-7B keeps 0.5 MiB of KV per token; at ~3.3 TB/s of HBM that is ~0.15 ms per 1,000
  context tokens), and a prefill chunk attends over its cached prefix plus itself
  (~1.5e-6 ms per token-pair, about 8.4e9 FLOP per 1,000x1,000 at ~5.5e14 FLOP/s).
* KV transfer for prefill/decode disaggregation: 0.5 MiB per token over one 400 Gb/s RDMA
  NIC per GPU (the DGX H100 layout, ~50 GB/s) is ~0.01 ms per token, plus 2 ms of fixed
  handshake.

These land inside llm-d's reference ranges for a 7-8B model on H100 (tens of ms of overhead,
10-15 ms per output token under load). The ``time_scale`` of the engine divides every duration
so that a run on a CPU finishes quickly; reported latencies are in emulated time.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass


@dataclass(frozen=True)
class StepProfile:
    """Forward-pass cost model; all times in emulated milliseconds."""

    name: str
    points: tuple[tuple[int, float], ...]
    decode_kv_ms_per_ktoken: float
    prefill_attn_ms_per_pair: float
    kv_transfer_ms_per_token: float
    kv_transfer_fixed_ms: float

    def forward_ms(self, batched_tokens: int) -> float:
        """Linear-layer time of one forward over ``batched_tokens`` tokens (0 → 0)."""
        if batched_tokens <= 0:
            return 0.0
        pts = self.points
        if batched_tokens <= pts[0][0]:
            return pts[0][1]
        for (x0, y0), (x1, y1) in itertools.pairwise(pts):
            if batched_tokens <= x1:
                return y0 + (y1 - y0) * (batched_tokens - x0) / (x1 - x0)
        (x0, y0), (x1, y1) = pts[-2], pts[-1]
        return y1 + (y1 - y0) / (x1 - x0) * (batched_tokens - x1)

    def step_ms(
        self,
        batched_tokens: int,
        decode_context_tokens: int,
        prefill_pairs: float,
    ) -> float:
        """One step: linear layers + decode KV reads + prefill attention."""
        if batched_tokens <= 0:
            return 0.0
        return (
            self.forward_ms(batched_tokens)
            + self.decode_kv_ms_per_ktoken * decode_context_tokens / 1000.0
            + self.prefill_attn_ms_per_pair * prefill_pairs
        )

    def transfer_ms(self, tokens: int) -> float:
        """Time to pull ``tokens`` tokens of KV from a prefill engine (0 tokens → 0)."""
        if tokens <= 0:
            return 0.0
        return self.kv_transfer_fixed_ms + self.kv_transfer_ms_per_token * tokens


H100_LLAMA2_7B = StepProfile(
    name="h100-llama2-7b",
    points=((1, 5.6), (64, 5.6), (512, 12.0), (2048, 40.0), (4096, 84.0)),
    decode_kv_ms_per_ktoken=0.15,
    prefill_attn_ms_per_pair=1.5e-6,
    kv_transfer_ms_per_token=0.01,
    kv_transfer_fixed_ms=2.0,
)

ZERO = StepProfile(
    name="zero",
    points=((1, 0.0), (2, 0.0)),
    decode_kv_ms_per_ktoken=0.0,
    prefill_attn_ms_per_pair=0.0,
    kv_transfer_ms_per_token=0.0,
    kv_transfer_fixed_ms=0.0,
)

PROFILES = {p.name: p for p in (H100_LLAMA2_7B, ZERO)}
