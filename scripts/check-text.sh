#!/usr/bin/env bash
# Fails when a tracked file names a machine's own path (a home or work
# folder) or speaks of the project's issue tracker instead of the product
# ("issue 3", "a later issue"): code, docs and generated results must read
# the same on every clone.
set -uo pipefail
cd "$(dirname "$0")/.."

machine_path='(^|[^A-Za-z0-9_.])/(work|home|root|Users|mnt/[a-z])/'
tracker='\b[Ii]ssues? #?[0-9]+\b|\b(later|earlier|future|next|previous|an?other) issues?\b|\bsession [0-9]+\b'

status=0
for what in "machine path:$machine_path" "issue tracker:$tracker"; do
  label=${what%%:*}
  pattern=${what#*:}
  if hits=$(git grep -nIP "$pattern" -- . ':!scripts/check-text.sh'); then
    echo "check-text: $label in tracked files:" >&2
    echo "$hits" >&2
    status=1
  fi
done
[ $status -eq 0 ] && echo "check-text: no machine paths or tracker references"
exit $status
