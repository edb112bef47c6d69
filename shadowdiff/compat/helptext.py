"""The text of `shadowdiff gor --help`: the GoReplay flags shadowdiff reads, grouped."""

from __future__ import annotations

from typing import Final

GOR_HELP: Final = """\
Usage: shadowdiff gor [GoReplay flags]

Reads a GoReplay command line as typed (-name value, --name value, -name=value, --name=value).
Rates and speeds stay address suffixes: "http://staging|10" (per second), "|10%" (sampling),
"requests.gor|200%" (replay speed). Sizes take kb/mb/gb/tb; durations use Go syntax (5s, 100ms).

Inputs:
  --input-raw ADDR              capture a port: ":8080", "host:80", ":80,8080" (repeatable)
  --input-raw-track-response    also capture the responses
  --input-raw-bpf-filter EXPR   custom capture filter
  --input-raw-buffer-size SIZE  capture buffer size
  --input-raw-engine NAME       libpcap, raw_socket or af_packet (all capture the same way here)
  --input-file FILE[|N%]        replay a .gor file or glob (repeatable)
  --input-file-loop             start again when the files are exhausted
  --input-file-max-wait DUR     cap the pause between two recorded requests
  --input-tcp ADDR              listen for another gor's --output-tcp stream (repeatable)

Outputs:
  --output-http URL[|N|N%]      replay to this target (repeatable)
  --output-http-track-response  keep the target's responses
  --output-http-timeout DUR     timeout of one request/response
  --output-http-workers N       most requests in flight
  --output-file PATH            write a .gor file; strftime-style %Y-%m-%d-%H (repeatable)
  --output-file-append          one file per name, no _N chunks
  --output-file-size-limit SIZE     start a new chunk at this size
  --output-file-queue-limit N       start a new chunk after N messages
  --output-file-max-size-limit SIZE stop writing at this total
  --output-file-flush-interval DUR  flush this often
  --output-tcp ADDR             send the framed stream to another gor's --input-tcp (repeatable)
  --output-stdout               print the messages in .gor framing
  --output-null                 drop everything

HTTP filters and rewrites (applied in GoReplay's order; repeatable unless noted):
  --http-allow-method METHOD        --http-allow-url REGEX          --http-disallow-url REGEX
  --http-allow-header 'Name: regex' --http-disallow-header 'Name: regex'
  --http-basic-auth-filter REGEX    --http-set-header 'Name: value' --http-set-param name=value
  --http-rewrite-url regex:replacement   --http-rewrite-header 'Name: regex,replacement'
  --http-header-limiter 'Name: N%' (once)   --http-param-limiter 'name: N%' (once)
  --http-original-host              keep the recorded Host header

Other:
  --middleware "COMMAND ARGS"   GoReplay middleware protocol (stdin/stdout hex lines)
  --split-output                round-robin requests across outputs instead of copying
  --prettify-http               de-chunk and gunzip payloads
  --exit-after DUR              stop after this long

shadowdiff extras:
  --db FILE  --rules DIR  --run NAME  --interface NAME (override the capture interface)
  --output-redis URL[|N|N%]     publish to a Redis stream, redis://HOST:PORT/DB?stream=NAME
                                (the traffic bus; repeatable)

Stats, debug, profiling and tuning flags (--verbose, --stats, --output-http-stats, --cpuprofile,
--input-raw-expire, --output-http-workers-min, ...) are accepted and ignored, and reported as
such. Old names (--output-http-header, --output-http-url-regexp, ...) are read as their
current ones. Kafka, Elasticsearch, WebSocket, k8s://, S3 and PRO flags are refused with what
shadowdiff offers instead.
"""
