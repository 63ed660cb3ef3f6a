#!/usr/bin/env bash
# Compromised credentials (operations guide): rotate signing keys and generated secrets without failed requests.
exec "$(dirname "$0")/../bin/azora.js" secrets rotate "$@"
