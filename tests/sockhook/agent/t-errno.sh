#!/bin/bash
# tests/sockhook/t-errno.sh again, with every routed connection going through
# a client agent (SH_MODE=agent in tests/sockhook/common.sh).
SH_MODE=agent exec bash "$(dirname "$0")/../t-errno.sh"
