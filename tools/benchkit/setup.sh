# shellcheck shell=bash
# Sourced by tools/bench and tools/syscalls: installs what they need from
# Debian and builds splicehttpd into build-bench/ (buildtype=release), apart
# from build/ so that a benchmark never reconfigures the tests' build.

# shellcheck source=tools/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"   # ROOT, PACKAGES (the build's dependencies)

# Peers, load generators, the chart, and gcc + liburing-dev for the ceiling probes;
# lighttpd-mod-openssl and openssl (the certificate) for the HTTPS cases.
BENCH_PACKAGES=("${PACKAGES[@]}" gcc liburing-dev python3 python3-matplotlib
                wrk apache2-utils nginx-light h2o lighttpd lighttpd-mod-openssl openssl)
BENCH_BUILD="$ROOT/build-bench"

bench_ensure_packages() {
    local missing=() p
    for p in "${BENCH_PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    local sudo=()
    [ "$(id -u)" -ne 0 ] && sudo=(sudo)
    echo "bench: installing ${missing[*]}" >&2
    # Others may be running apt on a shared machine: wait for the lock rather than fail.
    # policy-rc.d 101 keeps the packages' postinst from starting nginx/h2o/lighttpd on :80.
    local rc=0 policy=/usr/sbin/policy-rc.d placed=0
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\nexit 101\n' | "${sudo[@]}" tee "$policy" >/dev/null &&
            "${sudo[@]}" chmod +x "$policy" && placed=1
    fi
    "${sudo[@]}" apt-get -o DPkg::Lock::Timeout=600 update -qq >&2 &&
        DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get -o DPkg::Lock::Timeout=600 install -y -qq \
            --no-install-recommends "${missing[@]}" >/dev/null || rc=$?
    [ $placed -eq 1 ] && "${sudo[@]}" rm -f "$policy"
    return $rc
}

bench_build() {
    if [ ! -f "$BENCH_BUILD/build.ninja" ]; then
        meson setup "$BENCH_BUILD" "$ROOT" --buildtype=release >/dev/null || return 1
    fi
    meson compile -C "$BENCH_BUILD" splicehttpd >/dev/null || meson compile -C "$BENCH_BUILD" splicehttpd
}

# bench_build_rev REV: build a committed revision, not the work tree (which others may be
# editing), from `git archive` into build-bench/rev-SHA/; sets REV_SHA and REV_BINARY.
bench_build_rev() {
    local sha dir
    sha=$(git -C "$ROOT" rev-parse --verify --short=12 "$1^{commit}") || return 1
    dir="$BENCH_BUILD/rev-$sha"
    REV_SHA=$sha REV_BINARY="$dir/build/splicehttpd"
    if [ ! -x "$dir/build/splicehttpd" ]; then
        rm -rf "$dir" && mkdir -p "$dir/src" &&
            git -C "$ROOT" archive --format=tar "$sha" | tar -x -C "$dir/src" &&
            meson setup "$dir/build" "$dir/src" --buildtype=release >/dev/null &&
            { meson compile -C "$dir/build" splicehttpd >/dev/null || meson compile -C "$dir/build" splicehttpd >&2; } ||
            return 1
    fi
}

# bench_main SCRIPT ARGS...: set up (unless no server is to run), then run the Python part
# with Debian's python3, the one that has python3-matplotlib.  --rev REV measures a
# committed revision; --splicehttpd PATH a given binary (no build).
bench_main() {
    local script=$1 a rev="" binary="" prev="" label=()
    shift
    for a in "$@"; do
        # help and --replot need no server: no install, no build
        case $a in -h|--help|--replot) exec /usr/bin/python3 "$ROOT/tools/benchkit/$script" "$@" ;; esac
        case $prev in --rev) rev=$a ;; --splicehttpd) binary=$a ;; esac
        case $a in --rev=*) rev=${a#--rev=} ;; --splicehttpd=*) binary=${a#--splicehttpd=} ;; esac
        prev=$a
    done
    bench_ensure_packages || { echo "bench: could not install ${BENCH_PACKAGES[*]}" >&2; exit 1; }
    if [ -n "$rev" ]; then
        bench_build_rev "$rev" || { echo "bench: could not build revision $rev" >&2; exit 1; }
        binary=$REV_BINARY
        label=(--label "splicehttpd $REV_SHA (--rev $rev)")
    elif [ -z "$binary" ]; then
        bench_build || { echo "bench: build of $BENCH_BUILD failed (tools/bench --rev HEAD builds the last commit instead)" >&2; exit 1; }
        binary=$BENCH_BUILD/splicehttpd
    fi
    exec /usr/bin/python3 "$ROOT/tools/benchkit/$script" --splicehttpd "$binary" "${label[@]}" "$@"
}
