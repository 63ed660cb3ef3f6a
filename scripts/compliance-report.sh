#!/usr/bin/env bash
# Monthly compliance audit (operations guide): every control with its state; exit 1 when one fails.
exec "$(dirname "$0")/../bin/azora.js" compliance report "$@"
