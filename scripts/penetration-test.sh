#!/usr/bin/env bash
# Penetration test (operations guide, regular security assessments): safe probes against a running platform (default http://127.0.0.1:$PORT, 8080 unless set).
exec "$(dirname "$0")/../bin/azora.js" security pentest "$@"
