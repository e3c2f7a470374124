#!/usr/bin/env bash
# kiln's front door: installs what is missing (apt-get; needs root or sudo), configures, builds,
# runs. CMake stays the build; this script only strings the usual commands together.
#
#   ./kiln.sh demo     train the default model (LeNet on Fashion-MNIST) on the best device present
#   ./kiln.sh test     build what the tests need and run the whole suite through CTest
#   ./kiln.sh build [auto|cuda|emulate|off]   configure and build one flavour into build-<flavour>
#   ./kiln.sh fuzz     only the fuzzing stage of `test` (libFuzzer targets, KILN_FUZZ_SECONDS each)
#   ./kiln.sh deps     only install the dependencies
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
JOBS="${KILN_JOBS:-$(nproc)}"
export PATH="/usr/local/cuda/bin:${PATH}"

# Debian packages kiln builds and tests with (the CUDA toolkit itself is expected at /usr/local/cuda).
PACKAGES=(build-essential cmake ninja-build git pkg-config
          libgtest-dev libgmock-dev libbenchmark-dev libopenblas-dev libomp-dev
          libcli11-dev libfmt-dev libboost-context-dev libtomlplusplus-dev nlohmann-json3-dev
          zlib1g-dev libjpeg62-turbo-dev dataset-fashion-mnist fortunes
          libopenmpi-dev openmpi-bin  # data-parallel runs: mpirun launches the ranks (tools/dist)
          python3-matplotlib  # kiln train draws metrics.png with it (tools/plot_metrics.py)
          clang-14 libclang-rt-14-dev)  # the fuzz targets: clang with libFuzzer (tests/fuzz)

say() { printf '\n== %s\n' "$*"; }
now() { date +%s; }
elapsed() { echo "$(( $(now) - $1 ))s"; }

install_deps() {
  local missing=()
  for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  say "installing: ${missing[*]}"
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "kiln.sh: need root or sudo to install ${missing[*]}" >&2; exit 1; }
    sudo="sudo"
  fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# configure_and_build DIR FLAVOUR [extra cmake args...] -- [targets...]
configure_and_build() {
  local dir="$1" flavour="$2"; shift 2
  local args=() targets=()
  while [ $# -gt 0 ] && [ "$1" != "--" ]; do args+=("$1"); shift; done
  [ $# -gt 0 ] && shift
  targets=("$@")
  local t0; t0=$(now)
  cmake -S "$ROOT" -B "$ROOT/$dir" -G Ninja -DKILN_GPU="$flavour" "${args[@]}" >"$ROOT/$dir.configure.log" 2>&1 \
    || { cat "$ROOT/$dir.configure.log"; echo "kiln.sh: configure of $dir failed" >&2; exit 1; }
  grep -A30 "configure summary" "$ROOT/$dir.configure.log" | sed -n '1,/^-- $/p' | sed 's/^-- //'
  echo "configure $dir: $(elapsed "$t0")"
  t0=$(now)
  if [ ${#targets[@]} -gt 0 ]; then
    cmake --build "$ROOT/$dir" -j "$JOBS" --target "${targets[@]}"
  else
    cmake --build "$ROOT/$dir" -j "$JOBS"
  fi
  echo "build $dir: $(elapsed "$t0")"
}

# run_ctest DIR [ctest args...]: runs CTest and adds its counts to the totals printed at the end.
PASSED=0; FAILED=0; SKIPPED=0
run_ctest() {
  local dir="$1"; shift
  local log="$ROOT/$(basename "$dir").ctest.log" status=0
  ctest --test-dir "$dir" --output-on-failure -j "$JOBS" "$@" 2>&1 | tee "$log" || status=$?
  local total failed skipped
  total=$(grep -oE 'tests failed out of [0-9]+' "$log" | grep -oE '[0-9]+$' | tail -1)
  failed=$(grep -oE '[0-9]+ tests failed out of' "$log" | grep -oE '^[0-9]+' | tail -1)
  skipped=$(grep -c '(Skipped)$' "$log" || true)
  total=${total:-0}; failed=${failed:-0}
  PASSED=$((PASSED + total - failed - skipped)); FAILED=$((FAILED + failed)); SKIPPED=$((SKIPPED + skipped))
  return "$status"
}

cmd_demo() {
  install_deps
  # The best device present: a GPU build where an NVIDIA GPU answers, else the CPU-only build
  # (compiling kernels for a GPU that is not there would only cost time).
  local flavour=off
  if command -v nvcc >/dev/null && command -v nvidia-smi >/dev/null && nvidia-smi -L >/dev/null 2>&1; then
    flavour=cuda
    say "building kiln for the GPU (KILN_GPU=cuda)"
  else
    say "no NVIDIA GPU answers here: building the CPU-only flavour (KILN_GPU=off)"
  fi
  configure_and_build "build-$flavour" "$flavour" -DKILN_BUILD_TESTS=OFF -DKILN_BUILD_BENCH=OFF -- kiln
  "$ROOT/build-$flavour/tools/kiln" info
  say "training LeNet on Fashion-MNIST (models/lenet_fashion.toml)"
  local out="$ROOT/out/lenet_fashion" t0; t0=$(now)
  "$ROOT/build-$flavour/tools/kiln" train "$ROOT/models/lenet_fashion.toml" --device auto --out "$out"
  local shown="$out"
  [ "$PWD" = "$ROOT" ] && shown="out/lenet_fashion"
  # The trainer draws metrics.png at the end where matplotlib is installed (else it says so above).
  if [ -f "$out/metrics.png" ] && ! [ "$out/metrics.png" -ot "$out/metrics.csv" ]; then
    echo "demo: $(elapsed "$t0") of training; metrics in $shown/metrics.csv, plotted in $shown/metrics.png"
  else
    echo "demo: $(elapsed "$t0") of training; metrics in $shown/metrics.csv (no plot: see above)"
  fi
}

# What the sanitizer builds compile and run: the kernels through every test that launches them.
# The address build runs these labels; the thread build runs its own label, racecheck
# (tests/CMakeLists.txt: the same binaries, each whole, grid-stride launches held to 2 blocks).
SANITIZED_TESTS=(emu_test emu_rules_test emu_memory_rules_test streams_test mma_test racecheck_test access_count_test
                 parity_tests layers_tests recurrent_tests kiln_gradcheck_test kiln_reference_test)
declare -A SANITIZED_LABELS=([address]='emu|parity|layers|recurrent|gradcheck|reference' [thread]='racecheck')

cmd_test() {
  install_deps
  local start; start=$(now)
  # 1. CPU-only build: no CUDA toolkit involved. The kiln command and the tests that differ by
  #    flavour (device discovery, kiln info, the communicator); everything else runs in the emulate
  #    build below.
  say "flavour off (CPU only)"
  configure_and_build build-test-off off -DKILN_WERROR=ON -DKILN_BUILD_BENCH=OFF -- \
    kiln core_tests cli_tests config_tests kiln_reference_test dist_tests
  local t0; t0=$(now)
  run_ctest "$ROOT/build-test-off" -L 'core|cli|config|reference|layout|dist'
  echo "tests build-test-off: $(elapsed "$t0")"
  # 2. Real CUDA build: every kernel compiled by nvcc (sm_80 SASS, sm_90 SASS + PTX). No GPU here, so
  #    its device tests skip themselves; the command-line tests run.
  if command -v nvcc >/dev/null; then
    say "flavour cuda (compile with nvcc; GPU tests skip without a device)"
    configure_and_build build-test-cuda cuda -DKILN_WERROR=ON "-DCMAKE_CUDA_ARCHITECTURES=80-real;90" -- \
      kiln core_tests cli_tests emu_test parity_tests kiln_kernel_bench dist_tests
    t0=$(now)
    run_ctest "$ROOT/build-test-cuda" -L 'cli|emu|core|dist'
    echo "tests build-test-cuda: $(elapsed "$t0")"
    say "kernel resource report (fails on any register spill)"
    python3 "$ROOT/tools/kernel_report" --build "$ROOT/build-test-cuda"
  else
    echo "nvcc not found: skipping the cuda flavour (install the CUDA toolkit to compile the kernels)"
  fi
  # 3. The whole suite on the CUDA emulator: every kernel runs on the CPU. The last line printed
  #    counts the tests of all three flavours.
  say "flavour emulate (the whole suite; kernels run on kiln's CUDA emulator)"
  configure_and_build build-test-emulate emulate -DKILN_WERROR=ON --
  t0=$(now)
  local status=0
  run_ctest "$ROOT/build-test-emulate" || status=$?
  echo "tests build-test-emulate: $(elapsed "$t0")"
  # 4. The emulator's memcheck and racecheck: the kernels and their tests built with
  #    AddressSanitizer + UBSan, then with ThreadSanitizer (each GPU thread a TSan fiber), errors
  #    fatal, at reduced sizes (KILN_TEST_REDUCED: small parity cases, one process per executable).
  local sanitizer
  for sanitizer in address thread; do
    say "sanitizer $sanitizer (emulate flavour, reduced sizes)"
    configure_and_build "build-test-$sanitizer" emulate "-DKILN_SANITIZE=$sanitizer" -DKILN_TEST_REDUCED=ON \
      -DKILN_BUILD_BENCH=OFF -- "${SANITIZED_TESTS[@]}"
    t0=$(now)
    run_ctest "$ROOT/build-test-$sanitizer" -L "${SANITIZED_LABELS[$sanitizer]}" || status=$?
    echo "tests build-test-$sanitizer: $(elapsed "$t0")"
  done
  # 5. The emulator's access counting (kernels/emu/README.md, "Access counting"): its own build
  #    (GCC's kernel-address instrumentation on the GPU sources), only the test that checks the
  #    figures on kernels whose numbers are known. tools/kernel_report --access is not a CI step.
  say "access counting (emulate flavour, -DKILN_EMU_ACCESS=ON)"
  configure_and_build build-test-access emulate -DKILN_EMU_ACCESS=ON -DKILN_WERROR=ON -DKILN_BUILD_BENCH=OFF -- \
    access_count_test
  t0=$(now)
  run_ctest "$ROOT/build-test-access" -R 'AccessCount' || status=$?
  echo "tests build-test-access: $(elapsed "$t0")"
  # 6. Fuzzing: the parsers under libFuzzer (fuzz_stage below).
  fuzz_stage || status=$?
  echo "kiln.sh test: total $(elapsed "$start") for the three flavours, the two sanitizer builds, the counting build and the fuzzers"
  echo "tests: $PASSED passed, $FAILED failed, $SKIPPED skipped"
  return "$status"
}

# The fuzzing stage of `kiln.sh test` (tests/fuzz/README.md), alone as `kiln.sh fuzz`: the parsers
# of configs, data files and checkpoints under libFuzzer with ASan + UBSan (clang 14; KILN_FUZZ=ON
# builds only their libraries), each target for KILN_FUZZ_SECONDS (15) from its seed corpus, 1 GiB
# memory limit, 5 s per input. Any finding (crash, sanitizer report, escaping exception, leak,
# timeout, memory) fails it.
fuzz_stage() {
  local seconds="${KILN_FUZZ_SECONDS:-15}" t0
  say "fuzzing (clang-14, libFuzzer + ASan + UBSan, ${seconds}s per target)"
  configure_and_build build-test-fuzz off -DKILN_FUZZ=ON -DCMAKE_C_COMPILER=clang-14 \
    -DCMAKE_CXX_COMPILER=clang++-14 -DKILN_WERROR=ON -DKILN_BUILD_TESTS=OFF -DKILN_BUILD_BENCH=OFF -- fuzz_all
  t0=$(now)
  local status=0
  "$ROOT/tests/fuzz/run_fuzzers.sh" "$ROOT/build-test-fuzz" "$seconds" || status=$?
  echo "fuzz build-test-fuzz: $(elapsed "$t0")"
  return "$status"
}

cmd_fuzz() {
  install_deps
  fuzz_stage
}

cmd_build() {
  install_deps
  local flavour="${1:-auto}"
  configure_and_build "build-$flavour" "$flavour" --
}

case "${1:-}" in
  demo) cmd_demo ;;
  test) cmd_test ;;
  fuzz) cmd_fuzz ;;
  build) shift; cmd_build "$@" ;;
  deps) install_deps ;;
  *) sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
