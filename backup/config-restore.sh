#!/usr/bin/env bash
# Config restore (operations guide): ID | PATH | latest (default latest).
exec "$(dirname "$0")/../bin/azora.js" restore config "$@"
