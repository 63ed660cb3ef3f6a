#!/usr/bin/env bash
# Config backup (operations guide): secrets and settings files of DATA_DIR, encrypted with the backup key.
exec "$(dirname "$0")/../bin/azora.js" backup config "$@"
