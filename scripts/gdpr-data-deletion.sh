#!/usr/bin/env bash
# Right to be forgotten (operations guide): erase EMAIL everywhere, recorded in the deletion ledger.
exec "$(dirname "$0")/../bin/azora.js" gdpr delete "$@"
