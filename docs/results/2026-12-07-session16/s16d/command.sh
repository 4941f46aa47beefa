#!/usr/bin/env bash
# Session 16, call s16d (same .gpu as s16c): ncu of the plain call and the staged float16-bias call through the defaults
# (d 64: wg8@2 both; d 128: the bias's wgp12@1), one launch each, to see what the bias's remaining cost is made of.
NCU_TARGETS="tc:64:8192 tc+bias16:64:8192 tc+bias16:128:8192" bash scripts/gpu-tc.sh "$1" ncu
tar -C "$1" -czf /tmp/ncu.tgz . && rm -f "$1"/*.txt && mv /tmp/ncu.tgz "$1/ncu.tgz"
