#!/usr/bin/env bash
# Weekly security updates (operations guide): bump the image tags in the overlays, show the diff, summarise npm audit.
exec "$(dirname "$0")/../bin/azora.js" images update "$@"
