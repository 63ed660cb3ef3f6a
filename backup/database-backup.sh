#!/usr/bin/env bash
# Database backup (operations guide): full | incremental | emergency.
exec "$(dirname "$0")/../bin/azora.js" backup "$@"
