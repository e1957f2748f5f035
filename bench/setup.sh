#!/usr/bin/env bash
# Installs the tools the benchmark compares against, from Debian packages.
# Missing tools are skipped by the benchmark with a note, so this is optional.
set -euo pipefail
need=()
for tool in git restic rsync; do command -v "$tool" >/dev/null 2>&1 || need+=("$tool"); done
command -v openssl >/dev/null 2>&1 || need+=(openssl)
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}"
fi
echo "bench tools: $(for t in git restic rsync openssl sha1sum; do printf '%s=%s ' "$t" "$(command -v $t >/dev/null && echo yes || echo no)"; done)"
