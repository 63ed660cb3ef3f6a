#!/usr/bin/env bash
# Monthly backup test (operations guide): restore the latest backup into a scratch database and compare.
exec "$(dirname "$0")/../bin/azora.js" backup drill "$@"
