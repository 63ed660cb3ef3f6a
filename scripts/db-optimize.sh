#!/usr/bin/env bash
# Weekly database optimization (operations guide): VACUUM (ANALYZE), bloat, unused/duplicate/missing indexes.
exec "$(dirname "$0")/../bin/azora.js" db optimize "$@"
