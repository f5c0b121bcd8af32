#!/bin/sh
# on-host.sh HOST COMMAND [ARG...]: run COMMAND on HOST, a machine made of a network namespace
# (tests/support/netns.py): in HOST's network namespace, resolving names with its hosts file
# (/etc/netns/HOST/hosts), under its hostname. Unlike `ip netns exec`, it keeps the machine's
# /sys, whose cgroup mounts slurmd needs.
set -eu
host=$1
shift
exec nsenter --net="/run/netns/$host" unshare --mount --uts -- sh -c '
  mount --bind "/etc/netns/$0/hosts" /etc/hosts && hostname "$0" && exec "$@"' "$host" "$@"
