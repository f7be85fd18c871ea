"""LLM backend for any OpenAI-compatible server (vLLM, SGLang, Ollama, llama.cpp server), through the
official ``openai`` client.

The planner's prompts are few-shot *completion* prompts, so this backend uses the completions API
(``POST /v1/completions`` with ``prompt`` and ``n``), which every one of those servers serves for
base and instruction-tuned models alike; no chat template is applied.

Structured output: with ``json_schema``, the request carries the server's structured-output field,
chosen by ``structured`` (env ``FORETELL_LLM_STRUCTURED`` through ``make_backend``):

| ``structured`` | field sent | servers |
|---|---|---|
| ``response_format`` (default) | ``response_format={"type": "json_schema", ...}`` | vLLM, SGLang, llama.cpp server |
| ``vllm`` | ``structured_outputs={"json": schema}`` | vLLM >= 0.10 |
| ``guided_json`` | ``guided_json=schema`` | older vLLM |
| ``none`` | nothing (unconstrained; the planner's parser rejects bad plans) | Ollama's completions |

A server that answers HTTP 400 to the field gets the request again without it, once, and the backend
stops sending it (logged as a warning).

Failures become one-line errors: an unreachable server or a timeout raises ``RuntimeError`` after
``max_retries`` retries with the client's exponential backoff; an unknown model raises
``ValueError`` naming the models the server lists. The API key is read from ``$OPENAI_API_KEY`` only;
it is never logged, recorded or put into a message.
"""

from __future__ import annotations

import logging
import os

from .llm import Completion, LLMBackend

STRUCTURED = ("response_format", "vllm", "guided_json", "none")
_NO_KEY = "EMPTY"  # local servers (vLLM, Ollama, llama.cpp) accept any key; the client needs one
log = logging.getLogger(__name__)


class OpenAIBackend(LLMBackend):
    """Completions from an OpenAI-compatible server.

    Args:
        model: the served model name; None picks the server's only model (an error if it lists several).
        url: base URL including ``/v1`` (default ``$OPENAI_BASE_URL``).
        timeout: seconds for one HTTP request.
        max_retries: retries after a connection error, timeout, HTTP 408/409/429 or 5xx, with exponential
            backoff (the ``openai`` client's: 0.5 s doubling, capped at 8 s, with jitter).
        structured: how ``json_schema`` is sent (module docstring table).
    """

    def __init__(self, model: str | None = None, url: str | None = None, timeout: float = 60.0,
                 max_retries: int = 3, structured: str = "response_format") -> None:
        import openai

        url = url or os.environ.get("OPENAI_BASE_URL")
        if not url:
            raise ValueError("the openai backend needs a server URL: --llm-url URL or OPENAI_BASE_URL "
                             "(e.g. http://127.0.0.1:8000/v1)")
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"url={url!r} must start with http:// or https://")
        if structured not in STRUCTURED:
            raise ValueError(f"structured={structured!r} is not one of {', '.join(STRUCTURED)}")
        self.url = url.rstrip("/")
        self.timeout, self.max_retries, self.structured = float(timeout), int(max_retries), structured
        self._key = os.environ.get("OPENAI_API_KEY") or _NO_KEY
        self._client = openai.OpenAI(base_url=self.url, api_key=self._key, timeout=self.timeout,
                                     max_retries=self.max_retries)
        self.model = model or self._only_model()
        super().__init__(f"openai:{self.model}")

    # ------------------------------------------------------------------ calls
    def _complete(self, prompt, n, temperature, max_tokens, stop, json_schema, seed) -> Completion:
        import openai

        request = {"model": self.model, "prompt": prompt, "n": n, "temperature": temperature,
                   "max_tokens": max_tokens, "stop": stop, "seed": seed}
        extra = self._structured_body(json_schema)
        try:
            response = self._call(lambda: self._client.completions.create(**request, extra_body=extra or None))
        except openai.BadRequestError as exc:
            if not extra:
                raise RuntimeError(f"LLM server at {self.url} rejected the request: {self._clean(exc)}") from None
            log.warning("LLM server at %s rejected structured output (%s=...); sampling unconstrained from now "
                        "on: %s", self.url, next(iter(extra)), self._clean(exc))
            self.structured = "none"
            response = self._call(lambda: self._client.completions.create(**request))
        choices = sorted(response.choices, key=lambda choice: choice.index)
        usage = response.usage
        return Completion([choice.text or "" for choice in choices],
                          usage.prompt_tokens if usage else 0, usage.completion_tokens if usage else 0)

    def _structured_body(self, json_schema: dict | None) -> dict:
        if json_schema is None or self.structured == "none":
            return {}
        if self.structured == "vllm":
            return {"structured_outputs": {"json": json_schema}}
        if self.structured == "guided_json":
            return {"guided_json": json_schema}
        return {"response_format": {"type": "json_schema",
                                    "json_schema": {"name": "plan", "schema": json_schema, "strict": True}}}

    def _call(self, request):
        """Run one client request, turning the client's failures into one-line errors (key scrubbed)."""
        import openai

        tries = self.max_retries + 1
        try:
            return request()
        except openai.APITimeoutError:
            raise RuntimeError(f"LLM server at {self.url} did not answer within {self.timeout:g} s, "
                               f"{tries} tries") from None
        except openai.APIConnectionError as exc:
            raise RuntimeError(f"LLM server at {self.url} is not reachable after {tries} tries: "
                               f"{self._clean(exc.__cause__ or exc)}") from None
        except openai.AuthenticationError:
            raise RuntimeError(f"LLM server at {self.url} refused the API key (HTTP 401); set OPENAI_API_KEY "
                               f"to a key it accepts") from None
        except openai.NotFoundError as exc:
            raise ValueError(f"LLM server at {self.url} does not serve model {getattr(self, 'model', None)!r} "
                             f"(HTTP 404: {self._clean(exc)}); it lists: {self._listed()}") from None
        except openai.BadRequestError:
            raise
        except openai.APIStatusError as exc:
            raise RuntimeError(f"LLM server at {self.url} answered HTTP {exc.status_code} after {tries} tries: "
                               f"{self._clean(exc)}") from None

    # ------------------------------------------------------------------ models
    def _models(self) -> list[str]:
        return sorted(model.id for model in self._call(lambda: self._client.models.list()).data)

    def _listed(self) -> str:
        try:
            return ", ".join(self._models()) or "no models"
        except Exception as exc:  # the listing is a courtesy in an error message; never mask the first error
            return f"(could not list models: {self._clean(exc)})"

    def _only_model(self) -> str:
        models = self._models()
        if len(models) != 1:
            raise ValueError(f"LLM server at {self.url} serves {len(models)} models ({', '.join(models) or 'none'}); "
                             f"choose one with --llm-model")
        return models[0]

    def _clean(self, exc: BaseException | str) -> str:
        """The error's text on one line, without the API key, cut to 300 characters."""
        text = " ".join(str(exc).split())
        if self._key and self._key != _NO_KEY:
            text = text.replace(self._key, "***")
        return text[:300]
