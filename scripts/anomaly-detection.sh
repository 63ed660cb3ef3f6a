#!/usr/bin/env bash
# Intrusion detection (operations guide): anomalies in the platform's auth and access logs; exit 1 on findings.
exec "$(dirname "$0")/../bin/azora.js" security anomalies "$@"
