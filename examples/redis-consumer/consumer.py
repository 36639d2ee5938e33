#!/usr/bin/env python3
"""Live traffic counts from trafficpublish's Redis stream, through a consumer group.

    build/pyenv/bin/python examples/redis-consumer/consumer.py --url redis://127.0.0.1:6379 \
        --stream traffic-events --group counters [--until-summary]

Each event (schema traffic-vision/events v1, docs/events.md) is acknowledged (XACK) once
handled. Delivery is at least once, so events are de-duplicated by their `id`. Several
consumers in one group share the work; a restarted consumer first re-reads what it was
given but had not acknowledged. REDIS_URL and TRAFFIC_STREAM, when set, are the defaults of
--url and --stream.
"""

import argparse
import collections
import json
import os
import socket
import sys
import time

import redis

SCHEMA = "traffic-vision/events"
# Ids remembered for de-duplication: redeliveries come soon after the original.
SEEN_IDS = 100_000


class Counts:
    """Crossings per source/line, class and direction, de-duplicated by event id."""

    def __init__(self):
        self.totals = collections.defaultdict(collections.Counter)
        self.counted = 0
        self.seen = set()
        self.order = collections.deque()

    def is_new(self, event_id):
        if event_id in self.seen:
            return False
        self.seen.add(event_id)
        self.order.append(event_id)
        if len(self.order) > SEEN_IDS:
            self.seen.discard(self.order.popleft())
        return True

    def add(self, event):
        line = f"{event['source']}/{event['line']}" if "source" in event else event["line"]
        self.totals[line][(event["class"], event["direction"])] += 1
        self.counted += 1
        return line

    def line_text(self, line):
        parts = [f"{cls} {direction}={n}" for (cls, direction), n in sorted(self.totals[line].items())]
        return f"{line}: " + ", ".join(parts)


def handle(event, counts, out):
    """Prints one event; returns True for a summary."""
    if event.get("schema") != SCHEMA or event.get("version") != 1:
        print(f"skipped an event of unknown schema {event.get('schema')!r} v{event.get('version')}", file=sys.stderr)
        return False
    if not counts.is_new(event["id"]):
        return False
    kind = event["type"]
    if kind == "crossing":
        line = counts.add(event)
        plate = f" plate {event['plate']}" if event.get("plate") else ""
        print(f"crossing  {event['class']} #{event['track_id']} {event['direction']}{plate}  |  {counts.line_text(line)}", file=out)
    elif kind in ("zone-enter", "zone-exit"):
        inside = sum(event["occupancy"].values())
        stay = f" after {event['dwell']:.1f} s" if kind == "zone-exit" else ""
        print(f"{kind:<9} {event['class']} #{event['track_id']} {event['zone']}{stay}  |  {inside} inside", file=out)
    elif kind == "plate":
        print(f"plate     #{event['track_id']} {event['text']} ({event['confidence']:.2f})", file=out)
    elif kind == "summary":
        print(
            f"summary   frames={event['frames']} crossings={event['crossings']} counted={counts.counted} "
            f"totals={json.dumps(event['totals'], sort_keys=True)}",
            file=out,
        )
        return True
    out.flush()
    return False


def create_group(r, args, deadline):
    """Creates the group (and the stream) unless it exists; waits for Redis to come up."""
    while True:
        try:
            r.xgroup_create(args.stream, args.group, id=args.start, mkstream=True)
            return
        except redis.ResponseError as e:
            if "BUSYGROUP" in str(e):  # the group exists: join it
                return
            raise
        except redis.ConnectionError as e:
            if deadline and time.monotonic() > deadline:
                raise
            print(f"waiting for Redis: {e}", file=sys.stderr)
            time.sleep(1)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    # The environment gives the defaults in containers (docker-compose.yml).
    ap.add_argument("--url", default=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379"))
    ap.add_argument("--stream", default=os.environ.get("TRAFFIC_STREAM", "traffic-events"))
    ap.add_argument("--group", default="counters")
    ap.add_argument("--consumer", default=f"{socket.gethostname()}-{os.getpid()}")
    ap.add_argument("--start", default="0", help="where a new group starts: 0 (the whole stream) or $ (new events only)")
    ap.add_argument("--until-summary", action="store_true", help="exit after the first summary event")
    ap.add_argument("--timeout", type=float, default=0, help="with --until-summary: give up (exit 1) after this many seconds")
    args = ap.parse_args()

    r = redis.Redis.from_url(args.url, decode_responses=True)
    deadline = time.monotonic() + args.timeout if args.timeout else None
    create_group(r, args, deadline)

    counts = Counts()
    # "0" first: what this consumer was given before a restart and did not acknowledge.
    cursor = "0"
    while True:
        if deadline and time.monotonic() > deadline:
            print(f"no summary within {args.timeout} s", file=sys.stderr)
            return 1
        try:
            reply = r.xreadgroup(args.group, args.consumer, {args.stream: cursor}, count=100, block=1000)
        except redis.ConnectionError as e:
            print(f"Redis unreachable ({e}); retrying", file=sys.stderr)
            time.sleep(1)
            continue
        entries = [entry for _, stream_entries in reply for entry in stream_entries]
        if cursor == "0" and not entries:
            cursor = ">"
            continue
        done = False
        for entry_id, fields in entries:
            try:
                done = handle(json.loads(fields["event"]), counts, sys.stdout) or done
            except (KeyError, TypeError, ValueError) as e:
                print(f"skipped malformed entry {entry_id}: {e}", file=sys.stderr)
            r.xack(args.stream, args.group, entry_id)
        sys.stdout.flush()
        if done and args.until_summary:
            return 0


if __name__ == "__main__":
    sys.exit(main())
