#!/usr/bin/env bash
# Security audit (operations guide, regular security assessments): check this deployment's secrets, ports, headers, admins, dependencies and manifests.
exec "$(dirname "$0")/../bin/azora.js" security audit "$@"
