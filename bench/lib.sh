#!/bin/sh
# being written
