#!/usr/bin/env bash
# Everything CI checks, from a fresh Debian 12 machine: dependencies, formatting, the release build
# and its tests, the ASan+UBSan build and its tests, the ThreadSanitizer build and the tests of
# waygate's threads, the libFuzzer targets for a bounded time, then clang-tidy. Exits non-zero if
# any step fails.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

scripts/install-deps.sh

# Formatting is checked first but does not stop the run: the test results are worth having anyway.
format_status=0
scripts/format.sh --check || format_status=$?

# --no-tests=error: a tree that registered no test must fail, not pass silently.
# --timeout: a hung test (one without its own TIMEOUT) fails after 10 minutes, not ctest's 25.
ctest_args=(--output-on-failure -j2 --no-tests=error --timeout 600)

echo "== release build and tests"
scripts/build.sh release
ctest --test-dir build "${ctest_args[@]}"

echo "== ASan+UBSan build and tests"
# GCC 12's sanitizer runtime crashes at startup when the kernel randomises mmap with more than 28
# bits (the default on newer kernels); lower it when we can.
if [[ -r /proc/sys/vm/mmap_rnd_bits ]] && (($(cat /proc/sys/vm/mmap_rnd_bits) > 28)); then
  sysctl -qw vm.mmap_rnd_bits=28 ||
    echo "test.sh: vm.mmap_rnd_bits > 28 and cannot lower it; ASan may fail to start" >&2
fi
scripts/build.sh asan
# WAYGATE_TEST_LARGE_BYTES shrinks the integration tests' 1 GiB bodies to 64 MiB under the sanitizer,
# WAYGATE_TEST_MANY_HOSTS the 100,000-host config to 10,000.
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  WAYGATE_TEST_LARGE_BYTES=67108864 \
  WAYGATE_TEST_MANY_HOSTS=10000 \
  ctest --test-dir build-asan "${ctest_args[@]}"

echo "== ThreadSanitizer build and the tests of waygate's threads (ctest -L threads)"
# Only what those tests need is built (target threads_tests). The mmap_rnd_bits limit above holds
# for TSan too.
scripts/build.sh tsan --target threads_tests
TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1:suppressions=$PWD/tests/tsan.supp \
  ctest --test-dir build-tsan "${ctest_args[@]}" -L threads

echo "== libFuzzer targets (clang), each fuzzing for a bounded time, and their regressions"
# After the ASan step, which lowers vm.mmap_rnd_bits for clang's sanitizer runtimes too.
scripts/build.sh fuzz
ctest --test-dir build-fuzz "${ctest_args[@]}"

echo "== clang-tidy (.clang-tidy) on src/"
scripts/tidy.sh

if ((format_status != 0)); then
  echo "test.sh: all tests passed, but formatting is off (see above; scripts/format.sh fixes it)" >&2
  exit "$format_status"
fi
