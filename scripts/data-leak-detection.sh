#!/usr/bin/env bash
# Check for data exfiltration (operations guide): read volume against each user's baseline, GDPR export bursts, id probing.
exec "$(dirname "$0")/../bin/azora.js" security leak-detect "$@"
