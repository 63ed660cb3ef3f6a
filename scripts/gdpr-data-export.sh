#!/usr/bin/env bash
# Data subject access request (operations guide): everything held about EMAIL in one archive.
exec "$(dirname "$0")/../bin/azora.js" gdpr export "$@"
