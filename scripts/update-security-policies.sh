#!/usr/bin/env bash
# Update security policies (operations guide): validate and store the policy file; without arguments, show the one in force.
if [ "$#" -eq 0 ]; then exec "$(dirname "$0")/../bin/azora.js" security policies show; fi
exec "$(dirname "$0")/../bin/azora.js" security policies update "$@"
