#!/usr/bin/env bash
# Data processing inventory (operations guide): every column holding personal data, and why.
exec "$(dirname "$0")/../bin/azora.js" gdpr audit "$@"
