#!/bin/bash
# The image's HEALTHCHECK: GET /healthz from the metrics listener on loopback; healthy on a
# 200. Port: the first argument, else 9100 (the frontend's; the aggregator's is 9101).
# bash's /dev/tcp, so the image needs no HTTP client.
port=${1:-9100}
exec 3<>"/dev/tcp/127.0.0.1/$port" || exit 1
printf 'GET /healthz HTTP/1.0\r\nHost: localhost\r\n\r\n' >&3
IFS= read -r -t 2 status <&3 || exit 1
case $status in
"HTTP/1."?" 200 "*) exit 0 ;;
esac
echo "unhealthy: $status" >&2
exit 1
