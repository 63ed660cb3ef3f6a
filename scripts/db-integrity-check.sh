#!/usr/bin/env bash
# Data integrity after a restore (operations guide): orphaned rows, constraints, indexes, sequences.
exec "$(dirname "$0")/../bin/azora.js" db integrity-check "$@"
