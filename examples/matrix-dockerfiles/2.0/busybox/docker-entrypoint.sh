#!/bin/sh
# Runs the tool for `tool ARGS...`, anything else as given.
set -e
if test "$1" = tool; then
	shift
	exec sh "$TOOL_HOME/bin/tool" "$@"
fi
exec "$@"
