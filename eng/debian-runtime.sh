#!/usr/bin/env bash
# Prepares a private glibc/libstdc++ runtime for TorchSharp 0.107 on machines whose system
# libstdc++ predates GCC 13 (e.g. Debian 12), and prints the folder holding a patched `dotnet`
# host that uses it. Prints nothing when the system libstdc++ is new enough.
#
# Why: libLibTorchSharp.so needs GLIBCXX_3.4.32. We never upgrade system packages; instead we
# unpack Debian 13's libc6, libstdc++6 and libgcc-s1 into a cache folder and give a *copy* of
# the dotnet host an ELF interpreter and RPATH that point there. Idempotent and cached.
#
# `eng/debian-runtime.sh --patch FILE...` also gives those ELF executables (a test project's app
# host: xunit.v3 runs the tests as their own program) the same interpreter and RPATH.
set -euo pipefail

patch_files=()
if [ "${1:-}" = "--patch" ]; then
  shift
  patch_files=("$@")
fi

need_symbol="GLIBCXX_3.4.32"
system_has_symbol() {
  local lib
  for lib in /usr/lib/x86_64-linux-gnu/libstdc++.so.6 /lib/x86_64-linux-gnu/libstdc++.so.6 /usr/lib64/libstdc++.so.6; do
    [ -f "$lib" ] || continue
    grep -qa "$need_symbol" "$lib" && return 0
  done
  return 1
}

if [ "${MLNETMIXERS_FORCE_PRIVATE_RUNTIME:-0}" != "1" ] && system_has_symbol; then
  exit 0
fi

if [ "$(uname -m)" != "x86_64" ] || [ ! -f /etc/debian_version ]; then
  echo "error: system libstdc++ lacks $need_symbol and automatic set-up supports only Debian/Ubuntu x86_64." >&2
  echo "       Install libstdc++ from GCC 13 or newer (Ubuntu 24.04+, Debian 13+)." >&2
  exit 1
fi

cache="${MLNETMIXERS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/mlnetmixers}"
host_dir="$cache/dotnet-host"
sdk_dotnet="$(readlink -f "$(command -v dotnet)")"
# Under ./dotnet (a build step calling this script) `dotnet` is the private host itself: use the SDK it links to.
if [ "$sdk_dotnet" = "$(readlink -f "$host_dir/dotnet" 2>/dev/null || true)" ]; then
  sdk_dotnet="$(dirname "$(readlink -f "$host_dir/sdk")")/dotnet"
fi
sdk_root="$(dirname "$sdk_dotnet")"
rt="$cache/trixie-runtime"
stamp="$host_dir/.ready-$(echo "$sdk_root" | md5sum | cut -c1-8)"

# Runs after the runtime is in place: points each --patch file at it, then prints the host folder.
finish() {
  if [ "${#patch_files[@]}" -gt 0 ]; then
    local libdir="$rt/usr/lib/x86_64-linux-gnu" loader="$rt/usr/lib64/ld-linux-x86-64.so.2" file
    [ -e "$loader" ] || loader="$libdir/ld-linux-x86-64.so.2"
    loader="$(readlink -f "$loader")"
    for file in "${patch_files[@]}"; do
      "$loader" --library-path "$libdir" "$cache/tools/usr/bin/patchelf" --set-interpreter "$loader" --force-rpath \
        --set-rpath "$libdir:/lib/x86_64-linux-gnu:/usr/lib/x86_64-linux-gnu" "$file"
    done
  fi
  echo "$host_dir"
}

if [ -f "$stamp" ] && [ -x "$host_dir/dotnet" ]; then
  finish
  exit 0
fi

mkdir -p "$cache"
exec 9>"$cache/.lock"
flock 9
if [ -f "$stamp" ] && [ -x "$host_dir/dotnet" ]; then finish; exit 0; fi

work="$cache/apt"
rm -rf "$work" "$rt"
mkdir -p "$work/lists/partial" "$work/archives/partial" "$work/debs" "$rt"
mirror="$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.sources /etc/apt/sources.list.d/*.list 2>/dev/null \
  | awk '/^URIs:/ {print $2} /^deb / {for (i = 2; i <= NF; i++) if ($i ~ /^https?:/) {print $i; break}}' \
  | grep -v security | head -n1 || true)"
mirror="${mirror:-http://deb.debian.org/debian}"
cat > "$work/sources.list" <<SRC
deb [trusted=yes] ${mirror%/} trixie main
SRC
apt_opts=(-o "Dir::State::Lists=$work/lists" -o "Dir::Etc::SourceList=$work/sources.list"
          -o "Dir::Etc::SourceParts=/dev/null" -o "Dir::Cache::Archives=$work/archives"
          -o "Dir::Cache::pkgcache=" -o "Dir::Cache::srcpkgcache=" -o "Debug::NoLocking=1" -o "APT::Sandbox::User=root"
          -o "APT::Architecture=amd64" -o "APT::Architectures=amd64")
echo "mlnetmixers: preparing a private GCC 13+ runtime for TorchSharp in $rt (one time)" >&2
apt-get "${apt_opts[@]}" -qq update >&2
(cd "$work/debs" && apt-get "${apt_opts[@]}" -qq download libc6 libstdc++6 libgcc-s1 patchelf >&2)
for deb in "$work"/debs/libc6_*.deb "$work"/debs/libstdc++6_*.deb "$work"/debs/libgcc-s1_*.deb; do
  dpkg-deb -x "$deb" "$rt"
done
tools="$cache/tools"; rm -rf "$tools"; mkdir -p "$tools"
dpkg-deb -x "$work"/debs/patchelf_*.deb "$tools"
libdir="$rt/usr/lib/x86_64-linux-gnu"
loader="$rt/usr/lib64/ld-linux-x86-64.so.2"
[ -e "$loader" ] || loader="$libdir/ld-linux-x86-64.so.2"
loader="$(readlink -f "$loader")"
# patchelf from trixie itself needs the new runtime: run it through the new loader.
patchelf() { "$loader" --library-path "$libdir" "$tools/usr/bin/patchelf" "$@"; }

rm -rf "$host_dir"; mkdir -p "$host_dir"
for entry in "$sdk_root"/*; do
  name="$(basename "$entry")"
  [ "$name" = "dotnet" ] && continue
  ln -s "$entry" "$host_dir/$name"
done
cp "$sdk_dotnet" "$host_dir/dotnet"
patchelf --set-interpreter "$loader" --force-rpath \
  --set-rpath "$libdir:/lib/x86_64-linux-gnu:/usr/lib/x86_64-linux-gnu" "$host_dir/dotnet"
DOTNET_ROOT="$host_dir" "$host_dir/dotnet" --version >/dev/null
rm -rf "$work"
touch "$stamp"
finish
