#!/usr/bin/env bash
# Incident investigation (operations guide): one archive of the incident's logs, metrics, health, deploys and config.
exec "$(dirname "$0")/../bin/azora.js" incident collect-logs "$@"
