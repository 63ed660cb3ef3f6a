#!/usr/bin/env bash
# Blue-green release (operations guide): ./deployment/blue-green-deploy.sh staging|production VERSION
exec "$(dirname "$0")/../bin/azora.js" deploy blue-green "$@"
