#!/usr/bin/env python3
"""Where one request's CPU goes, by part of the path, from a perf profile
with DWARF call stacks.

    PERF=1 PERF_ARGS="--call-graph dwarf,16384" NO_BUILD=1 DURATION=6 \\
        ./loadtest/run.sh n a
    perf script -i loadtest/out/perf-a.data -F comm,tid,ip,sym --no-inline \\
        > /tmp/a.script
    loadtest/attribute.py /tmp/a.script 28.6   # CPU µs per request, from the row

Each sample goes to the first part below whose frame it has on its stack
(so a socket write inside the handler's poll counts as the write). With the
CPU per request of the same run, each share is also given in µs. Run it on
the floor's profile (perf-n.data) too: the parts both have (socket, head
decode, routing, dispatcher) say what the same actix-web code costs in each
process.
"""
import collections
import sys

# (part, frames that put a sample there); the first match wins.
PARTS = [
    ("librdkafka and other threads", None),
    ("socket send (kernel; loopback runs the peer's receive here)", ["poll_write_priv"]),
    ("socket receive", ["poll_read_priv"]),
    ("epoll, parking", ["park_internal", "Driver::turn"]),
    ("handler: body parse (simd-json)", ["parse_padded"]),
    ("handler: records encoded", ["encode_records"]),
    ("handler: pipeline submit (rd_kafka_producev, flat combining)", ["Pipeline::submit"]),
    ("handler: the answer's JSON", ["produce::respond"]),
    ("handler: acknowledgements relayed", ["relay"]),
    ("handler: the rest", ["http::produce::"]),
    ("routing", ["AppRouting"]),
    ("limits middleware, its own", ["LimitsService"]),
    ("metrics and content-type wrapper", ["http::app::{{closure}}"]),
    ("between limits and handler (conditions off, extractors)", ["CatchUnwind"]),
    ("request head decode", ["codec::decoder::Decoder"]),
    ("response head encode", ["codec::encoder::Encoder"]),
    ("actix dispatcher, tokio tasks, the rest", []),
]


def samples(path):
    current = None
    for line in open(path, errors="replace"):
        if not line.strip():
            if current:
                yield current
            current = None
        elif not line[0].isspace():
            current = (line.rsplit(None, 1)[0].strip(), [])
        elif current is not None:
            parts = line.strip().split(None, 1)
            current[1].append(parts[1] if len(parts) > 1 else "?")
    if current:
        yield current


def part_of(thread, frames):
    if not thread.startswith("actix-server"):
        return PARTS[0][0]
    for name, marks in PARTS[1:]:
        if name == "limits middleware, its own":
            if any("LimitsService" in f for f in frames) and not any("CatchUnwind" in f for f in frames):
                return name
            continue
        if name == "metrics and content-type wrapper":
            if any(marks[0] in f for f in frames) and not any("LimitsService" in f for f in frames):
                return name
            continue
        if not marks or any(m in f for m in marks for f in frames):
            return name
    return PARTS[-1][0]


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    per_request = float(sys.argv[2]) if len(sys.argv) > 2 else None
    counts = collections.Counter(part_of(t, f) for t, f in samples(sys.argv[1]))
    total = sum(counts.values()) or 1
    print(f"{total} samples")
    for name, _ in PARTS:
        share = counts[name] / total
        us = f"  {per_request * share:5.2f} µs" if per_request else ""
        print(f"{100 * share:5.1f}%{us}  {name}")


if __name__ == "__main__":
    main()
