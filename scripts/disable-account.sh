#!/usr/bin/env bash
# Compromised credentials (operations guide): refuse logins, end sessions, revoke live tokens within 5 s.
exec "$(dirname "$0")/../bin/azora.js" account disable "$@"
