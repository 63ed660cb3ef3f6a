#!/usr/bin/env bash
# Weekly performance review (operations guide): the slowest statements with a hint from their plans.
exec "$(dirname "$0")/../bin/azora.js" db analyze-queries "$@"
