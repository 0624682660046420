"""The emulated engine's HTTP surface: vLLM's OpenAI server plus SGLang's native endpoints.

Serving layer, standard library only. Endpoints:

* ``POST /v1/completions``, ``POST /v1/chat/completions`` — OpenAI shape, SSE streaming
  (``stream: true``; ``stream_options.include_usage`` adds a usage chunk), usage with
  ``prompt_tokens_details.cached_tokens``; ``kv_transfer_params`` as vLLM's disaggregated
  proxy uses it (a prefill engine returns them, a decode engine given
  ``do_remote_prefill: true`` pulls the KV instead of computing it).
* ``POST /generate`` — SGLang's native shape (``text``, ``sampling_params.max_new_tokens``).
* ``GET /v1/models``, ``/health``, ``/health_generate``, ``/get_server_info`` (``/server_info``),
  ``/get_model_info`` (``/model_info``), ``/version``, ``/metrics``.
* ``GET /kv_events?after=N`` — block stored/removed events since sequence number ``N``
  (``{"next": M, "events": [["stored", hash], ...], "reset": bool}``).
* ``POST /reset_prefix_cache`` (also ``/flush_cache``).

The first streamed chunk is sent when the first token exists (not before), so a client's
time to first byte is the engine's time to first token.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

from . import metrics
from ._http import HttpServer, Request, Response
from .batching import FINISHED, Engine, EngineConfig, Sequence
from .tokens import block_hashes, count_tokens, output_token, prompt_text

SSE_HEADERS = {"content-type": "text/event-stream", "cache-control": "no-cache"}


def _sse(payload: Any) -> bytes:
    return b"data: " + json.dumps(payload, separators=(",", ":")).encode() + b"\n\n"


class EngineServer:
    """Binds an :class:`Engine` to HTTP; ``port`` 0 picks a free port (see ``.port``)."""

    def __init__(self, config: EngineConfig, host: str = "127.0.0.1", port: int = 0) -> None:
        self.config = config
        self.engine = Engine(config)
        self.http = HttpServer(self.handle, host, port)
        self.started_at = int(time.time())

    @property
    def port(self) -> int:
        return self.http.port

    @property
    def url(self) -> str:
        return f"http://{self.http.host}:{self.http.port}"

    async def start(self) -> None:
        self.engine.start()
        await self.http.start()

    async def stop(self) -> None:
        await self.http.stop()
        await self.engine.stop()

    async def handle(self, req: Request) -> Response:
        path = req.path
        if req.method == "POST":
            if path in ("/v1/completions", "/v1/chat/completions", "/generate"):
                return await self._generate(req)
            if path in ("/reset_prefix_cache", "/flush_cache"):
                self.engine.cache.reset()
                return Response.json({"success": True})
            return Response.error(404, f"no route POST {path}")
        if req.method != "GET":
            return Response.error(405, f"method {req.method} not allowed")
        if path in ("/health", "/health_generate", "/ping"):
            return Response(200)
        if path == "/metrics":
            return Response.text(
                metrics.render(self.engine, self.url), content_type="text/plain; version=0.0.4"
            )
        if path == "/v1/models":
            return Response.json(
                {
                    "object": "list",
                    "data": [
                        {
                            "id": self.config.model,
                            "object": "model",
                            "created": self.started_at,
                            "owned_by": "dockyard",
                            "max_model_len": self.config.max_model_len,
                        }
                    ],
                }
            )
        if path in ("/get_server_info", "/server_info"):
            return Response.json(self._server_info())
        if path in ("/get_model_info", "/model_info"):
            return Response.json(
                {
                    "model_path": self.config.model,
                    "tokenizer_path": None,
                    "is_generation": True,
                    "max_total_num_tokens": self.config.num_blocks * 16,
                }
            )
        if path == "/version":
            return Response.json({"version": "dockyard-emulator-0.1"})
        if path == "/kv_events":
            return self._kv_events(int(req.query.get("after", "0")))
        return Response.error(404, f"no route GET {path}")

    def _server_info(self) -> dict[str, Any]:
        cfg = self.config
        return {
            "model_path": cfg.model,
            "served_model_name": cfg.model,
            "role": cfg.role,
            "disaggregation_mode": {"both": "null", "prefill": "prefill", "decode": "decode"}[
                cfg.role
            ],
            "max_running_requests": cfg.max_num_seqs,
            "chunked_prefill_size": cfg.max_batched_tokens,
            "page_size": 16,
            "num_gpu_blocks": cfg.num_blocks,
            "time_scale": cfg.time_scale,
            "profile": cfg.profile.name,
            "version": "dockyard-emulator-0.1",
        }

    def _kv_events(self, after: int) -> Response:
        cache = self.engine.cache
        base = cache.event_base
        end = base + len(cache.events)
        reset = after < base
        start = max(after, base) - base
        events = [[kind, str(h)] for kind, h in cache.events[start:]]
        return Response.json({"next": end, "events": events, "reset": reset})

    # -- generation --------------------------------------------------------------------
    async def _generate(self, req: Request) -> Response:
        try:
            body = req.json()
            if not isinstance(body, dict):
                raise ValueError("body must be a JSON object")
        except ValueError as exc:
            return Response.error(400, f"invalid JSON body: {exc}")
        path = req.path
        text = prompt_text(path, body)
        if path == "/generate":
            params = body.get("sampling_params") or {}
            max_tokens = params.get("max_new_tokens", 128)
        else:
            max_tokens = body.get("max_completion_tokens", body.get("max_tokens"))
            if max_tokens is None:
                max_tokens = 16 if path == "/v1/completions" else 128
        if not isinstance(max_tokens, int) or max_tokens < 1:
            return Response.error(400, "max_tokens must be a positive integer")
        prompt_tokens = count_tokens(text)
        if prompt_tokens + max_tokens > self.config.max_model_len:
            return Response.error(
                400,
                f"prompt ({prompt_tokens} tokens) plus max_tokens ({max_tokens}) exceeds the "
                f"maximum context length {self.config.max_model_len}",
            )
        kv_params = body.get("kv_transfer_params") or {}
        remote_kv = bool(kv_params.get("do_remote_prefill")) and self.config.role != "prefill"
        seq = self.engine.submit(prompt_tokens, block_hashes(text), max_tokens, remote_kv)
        seed = sum(map(ord, text[-32:]))
        if path == "/generate":
            return await self._sglang(seq, seed, bool(body.get("stream")))
        chat = path == "/v1/chat/completions"
        if body.get("stream"):
            opts = body.get("stream_options") or {}
            return Response(
                200,
                headers=dict(SSE_HEADERS),
                stream=self._openai_stream(seq, seed, chat, bool(opts.get("include_usage"))),
            )
        try:
            pieces = [output_token(seed, i) async for i in self._tokens(seq)]
        except asyncio.CancelledError:
            self.engine.abort(seq)
            raise
        out = "".join(pieces)
        choice: dict[str, Any] = {"index": 0, "finish_reason": seq.finish_reason, "logprobs": None}
        if chat:
            choice["message"] = {"role": "assistant", "content": out}
        else:
            choice["text"] = out
        payload: dict[str, Any] = {
            "id": f"{'chatcmpl' if chat else 'cmpl'}-{seq.rid}",
            "object": "chat.completion" if chat else "text_completion",
            "created": int(time.time()),
            "model": self.config.model,
            "choices": [choice],
            "usage": self._usage(seq),
        }
        if self.config.role == "prefill":
            payload["kv_transfer_params"] = {
                "do_remote_prefill": True,
                "do_remote_decode": False,
                "remote_engine_id": self.url,
                "remote_host": self.http.host,
                "remote_port": self.http.port,
                "remote_request_id": seq.rid,
                "remote_block_ids": [],
            }
        return Response.json(payload)

    async def _tokens(self, seq: Sequence) -> AsyncIterator[int]:
        while True:
            index = await seq.out.get()
            if index == FINISHED:
                return
            yield index

    def _usage(self, seq: Sequence) -> dict[str, Any]:
        return {
            "prompt_tokens": seq.prompt_tokens,
            "completion_tokens": seq.generated,
            "total_tokens": seq.prompt_tokens + seq.generated,
            "prompt_tokens_details": {"cached_tokens": seq.cached_tokens},
        }

    async def _openai_stream(
        self, seq: Sequence, seed: int, chat: bool, include_usage: bool
    ) -> AsyncIterator[bytes]:
        rid = f"{'chatcmpl' if chat else 'cmpl'}-{seq.rid}"
        obj = "chat.completion.chunk" if chat else "text_completion"
        created = int(time.time())
        model = self.config.model
        done = False
        try:
            async for index in self._tokens(seq):
                token = output_token(seed, index)
                finish = seq.finish_reason if seq.generated >= seq.max_tokens else None
                if chat:
                    delta: dict[str, Any] = {"content": token}
                    if index == 0:
                        delta["role"] = "assistant"
                    choice: dict[str, Any] = {"index": 0, "delta": delta, "finish_reason": finish}
                else:
                    choice = {"index": 0, "text": token, "finish_reason": finish}
                yield _sse(
                    {
                        "id": rid,
                        "object": obj,
                        "created": created,
                        "model": model,
                        "choices": [choice],
                    }
                )
            if include_usage:
                yield _sse(
                    {
                        "id": rid,
                        "object": obj,
                        "created": created,
                        "model": model,
                        "choices": [],
                        "usage": self._usage(seq),
                    }
                )
            yield b"data: [DONE]\n\n"
            done = True
        finally:
            if not done:
                self.engine.abort(seq)

    async def _sglang(self, seq: Sequence, seed: int, stream: bool) -> Response:
        def meta() -> dict[str, Any]:
            return {
                "id": seq.rid,
                "prompt_tokens": seq.prompt_tokens,
                "completion_tokens": seq.generated,
                "cached_tokens": seq.cached_tokens,
                "finish_reason": {"type": seq.finish_reason or "length"},
            }

        if not stream:
            try:
                text = "".join([output_token(seed, i) async for i in self._tokens(seq)])
            except asyncio.CancelledError:
                self.engine.abort(seq)
                raise
            return Response.json({"text": text, "meta_info": meta()})

        async def events() -> AsyncIterator[bytes]:
            text = ""
            done = False
            try:
                async for index in self._tokens(seq):
                    text += output_token(seed, index)
                    yield _sse({"text": text, "meta_info": meta()})
                yield b"data: [DONE]\n\n"
                done = True
            finally:
                if not done:
                    self.engine.abort(seq)

        return Response(200, headers=dict(SSE_HEADERS), stream=events())
