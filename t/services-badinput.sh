#!/bin/bash
# Placeholder: being written this session.
. "${top_srcdir:-$(dirname "$0")/..}/t/lib.sh"
t_plan 1
t_fail "not written yet"
