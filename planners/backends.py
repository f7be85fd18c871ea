"""``make_backend``: the one place that knows every LLM backend (base classes, recording and
replay live in ``llm``; the backends in ``llm_local`` and ``llm_openai`` import them, so the
factory sits above all three and no module imports in a circle)."""

from __future__ import annotations

import os
from pathlib import Path

from .llm import KINDS, CallRecorder, LLMBackend, ReplayBackend


def make_backend(kind: str, model: str | None = None, url: str | None = None, record: str | Path | None = None,
                 replay: str | Path | None = None, timeout: float = 60.0, max_retries: int = 3) -> LLMBackend:
    """Build an LLM backend.

    Args:
        kind: ``local`` (embedded Gemma 3 270M), ``openai`` (OpenAI-compatible server), ``transformers``
            (a local model folder or ``.gguf`` file) or ``replay``.
        model: ``openai``: the served model name (default: the only model the server lists);
            ``transformers``: the model folder or ``.gguf`` file; ``local``: must be None.
        url: ``openai``: the server's base URL, e.g. ``http://127.0.0.1:8000/v1`` (default
            ``$OPENAI_BASE_URL``). The key comes from ``$OPENAI_API_KEY`` only.
        record: append every call to this JSON-lines file.
        replay: serve the calls recorded in this file (implies kind ``replay``).
        timeout: ``openai``: seconds to wait for one HTTP request.
        max_retries: ``openai``: retries (with exponential backoff) after a failed request.

    Returns:
        The backend; its ``recorder`` is set when ``record`` is given.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown LLM backend kind={kind!r}; expected one of {', '.join(KINDS)}")
    if not isinstance(timeout, (int, float)) or timeout <= 0:
        raise ValueError(f"timeout must be > 0 seconds, got timeout={timeout!r}")
    if isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0:
        raise ValueError(f"max_retries must be an integer >= 0, got max_retries={max_retries!r}")
    if replay is not None or kind == "replay":
        if replay is None:
            raise ValueError("kind='replay' needs replay=PATH (an llm.jsonl written with record=)")
        backend: LLMBackend = ReplayBackend(replay)
    elif kind == "openai":
        from .llm_openai import OpenAIBackend

        backend = OpenAIBackend(model=model, url=url, timeout=timeout, max_retries=max_retries,
                                structured=os.environ.get("FORETELL_LLM_STRUCTURED", "response_format"))
    elif kind == "transformers":
        if not model:
            raise ValueError("kind='transformers' needs model=PATH (a model folder or a .gguf file)")
        from .llm_local import TransformersBackend

        backend = TransformersBackend(model)
    else:
        if model is not None:
            raise ValueError(f"kind='local' is the embedded Gemma 3 270M and takes no model (got model={model!r}); "
                             f"use kind='transformers' for another local model")
        from .llm_local import local_gemma

        backend = local_gemma()
    if record is not None:
        backend.recorder = CallRecorder(record)
    return backend
