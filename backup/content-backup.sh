#!/usr/bin/env bash
# Content backup (operations guide): attachment files, incremental by content hash, local or S3.
exec "$(dirname "$0")/../bin/azora.js" backup content "$@"
