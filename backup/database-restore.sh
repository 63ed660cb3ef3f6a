#!/usr/bin/env bash
# Database restore (operations guide): a backup id, a backup directory, a plain .sql file, or latest.
exec "$(dirname "$0")/../bin/azora.js" restore "$@"
