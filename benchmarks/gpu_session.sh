#!/usr/bin/env bash
# One prepared GPU session: the CUDA checks and speed measurements of docs/benchmarks.md ("On a GPU").
# Run it on the device machine from the repository root, with the wheels of the packages the CUDA
# image lacks in .whl/ and NVIDIA's GL loader packages in .gl/ (docs/benchmarks.md says how to
# fetch both). Every part is time-boxed so the session ends inside its lease; results go to $OUT.
set -u
OUT=${OUT:-runs/gpu}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 MUJOCO_GL=egl
if compgen -G ".gl/*.deb" >/dev/null; then for f in .gl/*.deb; do dpkg -x "$f" /; done; ldconfig; fi
vendor=/usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json
[ -f $vendor ] && export __EGL_VENDOR_LIBRARY_FILENAMES=$vendor
pip=(python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site)
"${pip[@]}" .whl/*.whl && "${pip[@]}" --no-build-isolation . || exit 1
export PYTHONPATH=/tmp/site
fore=(python3 -P -m foretell.cli)  # -P: the checkout's foretell/ must not shadow the installed package
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv
python3 -c "import torch, mujoco, diffusers; print('torch', torch.__version__, torch.cuda.get_device_name(), \
'mujoco', mujoco.__version__, 'diffusers', diffusers.__version__)"

# a small rendered dataset for the training-CLI check, made on the CPUs while the GPU measures
(timeout 240 "${fore[@]}" generate foretell/Collide-v0 --episodes 32 --split train --space A \
  --obs-keys rgb,state,properties,object_mask --out /tmp/data/collide \
  --workers 8 --json > "$OUT/generate.log" 2>&1) &

echo "== frame-model training MFU"
timeout 210 python3 benchmarks/worldmodel.py --device cuda --frame-mfu --out "$OUT/frame-mfu.json" 2>&1 \
  | tee "$OUT/frame-mfu.log"
wait
tail -3 "$OUT/generate.log"

if [ -z "${SKIP_SPEED:-}" ]; then
echo "== imagination and training against the simulator"
# SKILL_MODEL: a trained skill run (its EMA weights are enough) to time the planner's imagine call with
timeout 120 python3 benchmarks/worldmodel.py --device cuda --imagine-plans 64 ${SKILL_MODEL:+--skill-model "$SKILL_MODEL"} \
  --out "$OUT/worldmodel-cuda.json" 2>&1 | tee "$OUT/worldmodel-cuda.log"
fi

echo "== foretell train world on CUDA: frame (bf16) killed, then resumed; object (bf16, compile)"
train=("${fore[@]}" train world --kind frame --data /tmp/data/collide --out /tmp/runs/frame --device cuda --bf16
       --steps 800 --batch-size 256 --checkpoint-every 100)
timeout -s KILL 45 "${train[@]}" > "$OUT/train-frame.log" 2>&1; echo "killed: rc $?"
ls /tmp/runs/frame/checkpoints
timeout 75 "${fore[@]}" train world --out /tmp/runs/frame --resume --json > "$OUT/train-frame-resume.json" \
  2> "$OUT/train-frame-resume.err"; echo "resume: rc $?"; cat "$OUT/train-frame-resume.json"
timeout 90 "${fore[@]}" train world --kind object --data /tmp/data/collide --out /tmp/runs/object --device cuda \
  --bf16 --compile --steps 300 --batch-size 512 --json > "$OUT/train-object.json" 2> "$OUT/train-object.err"
echo "object: rc $?"; cat "$OUT/train-object.json"; tail -3 "$OUT/train-object.err"

echo "== GPU tests"
timeout 90 python3 -m pytest -q -m gpu -p no:cacheprovider tests/app/test_runtime.py tests/worldmodel/test_frame.py 2>&1 \
  | tail -3
