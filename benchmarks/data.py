"""Dataset pipeline speed: generation episodes/s and frames/s with 1 and N workers (scaling),
bytes per frame on disk, and EpisodeDataset/DataLoader samples/s with and without workers.
Prints a table and writes JSON.

    MUJOCO_GL=egl python benchmarks/data.py --episodes 24 --out runs/bench/data.json
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import torch
from torch.utils.data import DataLoader

from foretell.data import DatasetConfig, EpisodeDataset, TaskSpec, generate, read_meta
from foretell.runtime import atomic_write_json


def bench_generate(config: DatasetConfig, workers: int, root: Path) -> dict:
    out = root / f"gen-w{workers}"
    report = generate(config, out, workers=workers, progress=False)
    total = read_meta(out).counts["total"]
    return {"workers": workers, "episodes": report.generated, "frames": report.frames, "seconds": report.seconds,
            "episodes_per_s": report.episodes_per_s, "frames_per_s": report.frames_per_s,
            "bytes_per_frame": total["bytes_per_frame"], "path": out}


def bench_loader(path: Path, workers: int, batches: int, batch_size: int) -> dict:
    ds = EpisodeDataset(path, keys=("rgb", "depth", "state"), history=2, horizon=4)
    loader = DataLoader(ds, batch_size=batch_size, shuffle=True, num_workers=workers,
                        persistent_workers=workers > 0, generator=torch.Generator().manual_seed(0))
    seen, start = 0, None
    for k, batch in enumerate(_cycle(loader, batches + 1)):
        if k == 0:  # the first batch pays for worker start-up; time the steady state
            start = time.perf_counter()
            continue
        seen += len(batch["t"])
    seconds = time.perf_counter() - start
    return {"workers": workers, "samples": seen, "seconds": seconds, "samples_per_s": seen / seconds,
            "dataset_windows": len(ds)}


def _cycle(loader: DataLoader, n: int):
    k = 0
    while True:
        for batch in loader:
            yield batch
            k += 1
            if k == n:
                return


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", default="foretell/Collide-v0")
    parser.add_argument("--episodes", type=int, default=24)
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--workers", type=int, default=2, help="the parallel run's worker count")
    parser.add_argument("--batches", type=int, default=40)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--out", type=Path, default=Path("runs/bench/data.json"))
    args = parser.parse_args()
    config = DatasetConfig(tasks=(TaskSpec(args.env, args.episodes),), image_size=args.image_size, seed=0)
    root = Path(tempfile.mkdtemp(prefix="foretell-bench-data-"))
    try:
        serial = bench_generate(config, 1, root)
        parallel = bench_generate(config, args.workers, root)
        loaders = [bench_loader(serial["path"], w, args.batches, args.batch_size) for w in (0, args.workers)]
    finally:
        shutil.rmtree(root, ignore_errors=True)
    for row in (serial, parallel):
        row.pop("path")
    result = {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "machine": platform.platform(),
              "cpus": os.cpu_count(), "env": args.env, "image_size": args.image_size,
              "obs_keys": list(config.obs_keys), "generate": [serial, parallel],
              "scaling": parallel["episodes_per_s"] / serial["episodes_per_s"], "loader": loaders}
    print(f"generate {args.episodes} x {args.env} at {args.image_size}px ({', '.join(config.obs_keys)})")
    print(f"{'workers':>8s} {'episodes/s':>11s} {'frames/s':>9s} {'bytes/frame':>12s}")
    for row in (serial, parallel):
        print(f"{row['workers']:8d} {row['episodes_per_s']:11.2f} {row['frames_per_s']:9.1f} "
              f"{row['bytes_per_frame']:12.0f}")
    print(f"scaling {args.workers} workers / 1: {result['scaling']:.2f}x")
    print(f"loader (rgb+depth+state, history 2 + horizon 4, batch {args.batch_size})")
    for row in loaders:
        print(f"{row['workers']:8d} workers {row['samples_per_s']:10.0f} samples/s")
    atomic_write_json(args.out, result)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
