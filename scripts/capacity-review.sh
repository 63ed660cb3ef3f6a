#!/usr/bin/env bash
# Monthly capacity planning (operations guide): growth, projection and days until each limit.
exec "$(dirname "$0")/../bin/azora.js" capacity review "$@"
