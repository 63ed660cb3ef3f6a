#!/usr/bin/env bash
# Canary release (operations guide): ./deployment/canary-deploy.sh staging|production VERSION
exec "$(dirname "$0")/../bin/azora.js" deploy canary "$@"
