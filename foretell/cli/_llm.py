"""The LLM backend options that ``foretell plan``, ``foretell bench plan`` and ``foretell eval plans`` share."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

import typer

LLMKind = Literal["local", "openai", "transformers", "replay"]


def llm_spec(llm: str | None, llm_model: str | None, llm_url: str | None, llm_replay: Path | None,
              flag: str = "--llm") -> dict | None:
    """``make_backend`` keyword arguments from the options named ``flag``, ``flag-model``, ...
    (None when ``llm`` is None: no backend asked for)."""
    if llm is None:
        if llm_model or llm_url or llm_replay:
            raise ValueError(f"{flag}-model, {flag}-url and {flag}-replay need {flag} KIND")
        return None
    if llm == "replay" and llm_replay is None:
        raise ValueError(f"{flag} replay needs {flag}-replay FILE (an llm.jsonl written by an earlier run)")
    if llm == "openai" and not (llm_url or os.environ.get("OPENAI_BASE_URL")):
        raise ValueError(f"{flag} openai needs {flag}-url URL or OPENAI_BASE_URL (an OpenAI-compatible server)")
    if llm == "transformers" and not llm_model:
        raise ValueError(f"{flag} transformers needs {flag}-model (a model directory or a .gguf file)")
    spec: dict = {"kind": llm}
    if llm_model:
        spec["model"] = llm_model
    if llm_url:
        spec["url"] = llm_url
    if llm_replay is not None:
        spec["replay"] = str(llm_replay)
    return spec


LLM_OPTIONS = {  # the LLM options of every command that runs a planner
    "llm": typer.Option("local", help="LLM backend: local (embedded Gemma 3 270M) | openai | transformers | "
                                      "replay."),
    "llm_model": typer.Option(None, "--llm-model", help="Model name (openai) or directory/.gguf "
                                                        "(transformers)."),
    "llm_url": typer.Option(None, "--llm-url", help="Base URL of an OpenAI-compatible server "
                                                    "[default: $OPENAI_BASE_URL]; the key comes from "
                                                    "$OPENAI_API_KEY."),
    "llm_replay": typer.Option(None, "--llm-replay", dir_okay=False, exists=True,
                               help="An llm.jsonl to replay (with --llm replay): no model runs."),
}
