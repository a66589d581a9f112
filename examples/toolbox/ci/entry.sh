#!/bin/sh
echo "ci toolbox ready: $(git --version)"
