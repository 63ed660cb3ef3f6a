#!/usr/bin/env bash
# Forensic analysis (operations guide, security incident response): the incident window's timeline, audit rows and evidence bundle.
exec "$(dirname "$0")/../bin/azora.js" security forensics "$@"
