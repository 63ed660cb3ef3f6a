#!/usr/bin/env bash
# Monitor for unauthorized access (operations guide): ops-token and admin use, admin grants, off-hours and new-network admin access.
exec "$(dirname "$0")/../bin/azora.js" security access-monitor "$@"
