#!/bin/bash
# tests/sockhook/t-ipv6.sh again, with every routed connection going through
# a client agent (SH_MODE=agent in tests/sockhook/common.sh).
SH_MODE=agent exec bash "$(dirname "$0")/../t-ipv6.sh"
