#!/usr/bin/env bash
# Rollback (operations guide): ./deployment/rollback.sh staging|production "REASON"
exec "$(dirname "$0")/../bin/azora.js" rollback "$@"
