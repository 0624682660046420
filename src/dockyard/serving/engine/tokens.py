"""Deterministic text ↔ token accounting and block hashes, shared by engine and gateway.

Serving layer, standard library only. Real tokenizers give roughly four characters of
English per token; the emulator uses exactly that rule so that every component (engine,
gateway, benchmark) agrees on token counts without a tokenizer download:

* a text of ``n`` characters is ``ceil(n / 4)`` tokens (at least one);
* a KV block holds ``BLOCK_TOKENS`` (16) tokens, i.e. 64 characters;
* block ``i``'s hash chains the previous block's hash with the block's text, seeded with
  the model name, so two prompts share block ``i`` iff they share their first
  ``64 * (i + 1)`` characters. Only full blocks are hashed (as in vLLM's prefix cache).
"""

from __future__ import annotations

import hashlib
from typing import Any

CHARS_PER_TOKEN = 4
BLOCK_TOKENS = 16
BLOCK_CHARS = CHARS_PER_TOKEN * BLOCK_TOKENS


def count_tokens(text: str) -> int:
    """Tokens in ``text`` under the four-characters rule (at least one)."""
    return max(1, -(-len(text) // CHARS_PER_TOKEN))


def block_hashes(text: str, seed: str = "", limit: int | None = None) -> list[int]:
    """Chained 64-bit hashes of the full 64-character blocks of ``text`` (at most ``limit``)."""
    full = len(text) // BLOCK_CHARS
    if limit is not None:
        full = min(full, limit)
    hashes: list[int] = []
    prev = hashlib.blake2b(seed.encode(), digest_size=8).digest()
    data = text.encode("utf-8", "surrogatepass")
    # Characters, not bytes, define blocks; ASCII fast path keeps this cheap.
    ascii_only = len(data) == len(text)
    for i in range(full):
        start, end = i * BLOCK_CHARS, (i + 1) * BLOCK_CHARS
        piece = data[start:end] if ascii_only else text[start:end].encode("utf-8", "surrogatepass")
        prev = hashlib.blake2b(prev + piece, digest_size=8).digest()
        hashes.append(int.from_bytes(prev, "big"))
    return hashes


def render_chat(messages: list[dict[str, Any]]) -> str:
    """The prompt text an engine sees for chat ``messages`` (a fixed, simple template)."""
    parts: list[str] = []
    for message in messages:
        content = message.get("content") or ""
        if isinstance(content, list):  # OpenAI content parts
            content = "".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
        parts.append(f"<|{message.get('role', 'user')}|>\n{content}\n")
    parts.append("<|assistant|>\n")
    return "".join(parts)


def prompt_text(path: str, body: dict[str, Any]) -> str:
    """The prompt text of an OpenAI or SGLang request body, whichever endpoint it targets."""
    if "messages" in body:
        return render_chat(list(body.get("messages") or []))
    prompt = body.get("prompt", body.get("text", ""))
    if isinstance(prompt, list):
        prompt = "".join(str(p) for p in prompt)
    return str(prompt)


_WORDS = (" the", " and", " for", " you", " not", " are", " but", " can", " all", " new")


def output_token(request_seed: int, index: int) -> str:
    """The ``index``-th generated token's text (four characters, deterministic)."""
    return _WORDS[(request_seed * 31 + index * 7) % len(_WORDS)]
