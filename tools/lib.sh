# shellcheck shell=bash
# Shared by tools/serve and tools/test: install what is missing from Debian,
# then configure and build into build/. Sourced, not run.

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# Build and test dependencies, all Debian 12 packages.
PACKAGES=(g++ pkg-config meson ninja-build liburing-dev node-llhttp libspdlog-dev doctest-dev libcli11-dev
          libseccomp-dev libtomlplusplus-dev libssl-dev openssl
          curl python3 strace
          iproute2 util-linux  # the sandbox tests: netns, prlimit
          chromium help2man groff-base man-db systemd logrotate)  # the demo-site, man-page, unit-file tests
# AES-GCM with VAES/AVX-512 for HTTPS records sealed in user space
# (src/tls/fast_gcm.hpp); packaged for amd64 only, optional in meson.build.
if [ "$(dpkg --print-architecture 2>/dev/null)" = amd64 ]; then PACKAGES+=(libipsec-mb-dev); fi

ensure_packages() {
    local missing=() p
    for p in "${PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    local sudo=()
    [ "$(id -u)" -ne 0 ] && sudo=(sudo)
    echo "tools: installing ${missing[*]}" >&2
    "${sudo[@]}" apt-get update -qq >&2 &&
        DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends \
            "${missing[@]}" >/dev/null
}

# build [meson options...]: configures $BUILD (build/ unless set) on first
# use, applies the options, compiles: everything, or with BUILD_SUITE set
# only what that meson test suite's tests depend on.
BUILD=${BUILD:-$ROOT/build}
build() {
    if [ ! -f "$BUILD/build.ninja" ]; then
        meson setup "$BUILD" "$ROOT" "$@" >/dev/null || return 1
    elif [ $# -gt 0 ]; then
        meson configure "$BUILD" "$@" >/dev/null || return 1
    fi
    local targets=()
    if [ -n "${BUILD_SUITE:-}" ]; then
        mapfile -t targets < <(suite_targets "$BUILD_SUITE") && [ ${#targets[@]} -gt 0 ] || return 1
    fi
    meson compile -C "$BUILD" "${targets[@]}" >/dev/null || meson compile -C "$BUILD" "${targets[@]}"
}

# suite_targets SUITE: the names of the targets SUITE's tests depend on, from
# meson's introspection of $BUILD (one a line).
suite_targets() {
    python3 - "$BUILD" "$1" <<'PY'
import json, subprocess, sys
build, suite = sys.argv[1], sys.argv[2]
intro = lambda what: json.loads(subprocess.run(["meson", "introspect", what, build], check=True,
                                               capture_output=True, text=True).stdout)
names = {t["id"]: t["name"] for t in intro("--targets")}
ids = {d for t in intro("--tests") if any(s.split(":")[-1] == suite for s in t["suite"]) for d in t["depends"]}
print("\n".join(sorted(names[i] for i in ids)))
PY
}
