#!/usr/bin/env bash
# Print the Python interpreter `make` builds .venv with (override: make PYTHON=...).
#
# The first Python >= 3.11 that can create a virtual environment, the distribution's
# build first: Debian's python3 (like the python:3.11 image the Dockerfile uses) is
# compiled with profile-guided and link-time optimisation, while a version manager
# (pyenv) builds without them unless told to, and served pages here cost about a fifth
# more CPU on such a build (docs/runbook.md, "Web sizing").
set -u
for candidate in /usr/bin/python3 /usr/local/bin/python3 python3; do
  command -v "$candidate" >/dev/null 2>&1 || continue
  if "$candidate" -c 'import sys, venv, ensurepip; sys.exit(sys.version_info < (3, 11))' \
      >/dev/null 2>&1; then
    command -v "$candidate"
    exit 0
  fi
done
echo python3
