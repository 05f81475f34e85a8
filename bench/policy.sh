#!/bin/sh
# being written
echo "ratio cpu=NA"
