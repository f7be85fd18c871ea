"""Local LLM speed: load time (cold conversion or warm cache), grammar compile time, and tokens/s for
n = 1, 4, 8 candidates, constrained (JSON schema of the scene's names) and unconstrained, on the
planner's own few-shot prompt, and the prompt's prefill with and without the shared-prefix cache (a
second planner prompt for another scene after the first). Prints one line per case and writes JSON.

    python benchmarks/llm.py --dtype float32 --n 1,4,8 --out runs/bench/llm.json

Wall seconds depend on what else runs on the machine; CPU seconds of this process are printed too
(on 2 cores an unloaded run's wall time is about CPU / 2).
"""

from __future__ import annotations

import argparse
import os
import time
from datetime import datetime, timezone

import numpy as np

from foretell.planners.llm_local import local_gemma
from foretell.planners.plans import parse_plan, plan_schema
from foretell.planners.prompts import PLAN_STOP, build_prompt, describe_scene
from foretell.runtime import atomic_write_json

NAMES = ["red_cube", "blue_plate", "green_ball", "yellow_cube"]
OBJECTS = [{"shape": "cube", "color": "red", "size": [0.025] * 3, "mass": 0.3},
           {"shape": "plate", "color": "blue", "size": [0.06, 0.06, 0.01], "mass": 0.5},
           {"shape": "ball", "color": "green", "size": [0.03] * 3, "mass": 0.2},
           {"shape": "cube", "color": "yellow", "size": [0.03] * 3, "mass": 0.4}]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"])
    parser.add_argument("--n", default="1,4,8", help="candidate counts, comma-separated")
    parser.add_argument("--max-tokens", type=int, default=120)
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    wall, cpu = time.perf_counter(), time.process_time()
    backend = local_gemma(dtype=args.dtype)
    rows = [{"case": "load", "wall_s": time.perf_counter() - wall, "cpu_s": time.process_time() - cpu}]
    print(f"load: {rows[0]['wall_s']:.1f} s wall, {rows[0]['cpu_s']:.1f} s CPU ({args.dtype})", flush=True)
    prompt = build_prompt("Stack the red cube, the green ball and the yellow cube on the blue plate.",
                          describe_scene(OBJECTS, NAMES, np.zeros((4, 4), bool), np.ones(4, bool)))
    schema = plan_schema(NAMES)
    wall = time.perf_counter()
    backend.grammar(schema)
    print(f"grammar compile: {time.perf_counter() - wall:.2f} s; prompt {len(backend.tokenizer(prompt).input_ids)} "
          f"tokens", flush=True)
    for constrained in (False, True):
        for n in [int(x) for x in args.n.split(",")]:
            before, cpu = backend.usage.to_dict(), time.process_time()
            # unconstrained: the prompt without its trailing space, so the model's own " {" token can start
            texts = backend.complete(prompt if constrained else prompt.rstrip(), n=n, temperature=0.8,
                                     max_tokens=args.max_tokens, stop=[PLAN_STOP],
                                     json_schema=schema if constrained else None, seed=1)
            after = backend.usage.to_dict()
            tokens, seconds = after["completion_tokens"] - before["completion_tokens"], after["seconds"] - before["seconds"]
            row = {"case": "constrained" if constrained else "unconstrained", "n": n, "tokens": tokens,
                   "wall_s": seconds, "cpu_s": time.process_time() - cpu, "tokens_per_s": tokens / seconds,
                   "valid_plans": sum(parse_plan(text, NAMES).ok for text in texts), "load_avg": os.getloadavg()[0]}
            rows.append(row)
            print(f"{row['case']:>13} n={n}: {tokens} tokens, {seconds:.1f} s wall ({row['tokens_per_s']:.1f} tok/s), "
                  f"{row['cpu_s']:.1f} s CPU, {row['valid_plans']}/{n} valid plans, load {row['load_avg']:.1f}",
                  flush=True)
    rows += prefill_rows(backend, prompt)
    if args.out:
        atomic_write_json(args.out, {"date": datetime.now(timezone.utc).isoformat(), "dtype": args.dtype,
                                     "cpus": os.cpu_count(), "rows": rows})


def prefill_rows(backend, prompt: str) -> list[dict]:
    """Prefill of a second planner prompt (another instruction, the same few-shot header) from scratch,
    then with the prefix it shares with the first prompt kept (``TransformersBackend._prefill``)."""
    import torch

    other = prompt.replace("Stack the red cube, the green ball and the yellow cube on the blue plate.",
                           "Put the yellow cube on the red cube.")
    ids = [backend.tokenizer(p, return_tensors="pt").input_ids for p in (prompt, other)]
    rows = []
    for case in ("prefill, no cache", "prefill, shared prefix kept"):
        backend._prefix = backend._last_ids = None
        if case.endswith("kept"):
            with torch.inference_mode():
                backend._prefill(ids[0])  # the previous call: its prompt's ids are remembered
                backend._prefill(ids[1])  # the first call sharing the header keeps it
        start, cpu = time.perf_counter(), time.process_time()
        with torch.inference_mode():
            backend._prefill(ids[1])
        kept = 0 if backend._prefix is None else len(backend._prefix[0])
        rows.append({"case": case, "prompt_tokens": int(ids[1].shape[1]), "kept_tokens": kept if case.endswith("kept")
                     else 0, "wall_s": time.perf_counter() - start, "cpu_s": time.process_time() - cpu})
        print(f"{case}: {rows[-1]['prompt_tokens']} tokens ({rows[-1]['kept_tokens']} kept), "
              f"{rows[-1]['wall_s']:.2f} s wall, {rows[-1]['cpu_s']:.2f} s CPU", flush=True)
    return rows


if __name__ == "__main__":
    main()
