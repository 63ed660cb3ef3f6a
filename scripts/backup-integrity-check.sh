#!/usr/bin/env bash
# Backup validation (operations guide): every backup's manifest and checksums; names each bad file.
exec "$(dirname "$0")/../bin/azora.js" backup verify --all "$@"
