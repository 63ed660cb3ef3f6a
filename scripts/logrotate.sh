#!/usr/bin/env bash
# Daily log rotation (operations guide): rotate, gzip and prune api.log, auth.log and security.log.
exec "$(dirname "$0")/../bin/azora.js" logs rotate "$@"
