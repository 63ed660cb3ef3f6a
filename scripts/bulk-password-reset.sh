#!/usr/bin/env bash
# Compromised credentials (operations guide): force a password reset (sessions end, reset mail sent).
exec "$(dirname "$0")/../bin/azora.js" password-reset "$@"
