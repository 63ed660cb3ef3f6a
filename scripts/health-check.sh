#!/usr/bin/env bash
# Daily morning check (operations guide): every component, exit 0 only when all are healthy.
exec "$(dirname "$0")/../bin/azora.js" health-check "$@"
