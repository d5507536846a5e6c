"""A collector written with grpcio (a third-party gRPC implementation), generated from proto/.

usage: subscribe.py STUBS_DIR ADDR COUNT CGROUP_ID SYSCALL...

Subscribes to flagged syscalls of one cgroup and of the given syscalls only, prints READY once
the sensor has accepted the stream, then one JSON line per event, and exits after COUNT events.
"""
import json
import sys

stubs, addr, count, cgroup_id, *syscalls = sys.argv[1:]
sys.path.insert(0, stubs)

import grpc  # noqa: E402
from sensor.v1 import sensor_pb2, sensor_pb2_grpc  # noqa: E402

channel = grpc.insecure_channel(addr)
stub = sensor_pb2_grpc.SensorServiceStub(channel)
request = sensor_pb2.GetEventsRequest(
    kinds=[sensor_pb2.EVENT_KIND_FLAGGED_SYSCALL],
    cgroup_ids=[int(cgroup_id)],
    syscalls=syscalls,
)
call = stub.GetEvents(request, timeout=60)
call.initial_metadata()  # the sensor answers once it has subscribed us
print("READY", flush=True)
seen = 0
for item in call:
    kind = item.WhichOneof("item")
    if kind == "lost":
        print(json.dumps({"lost": item.lost.count}), flush=True)
        continue
    ev = item.event
    print(
        json.dumps(
            {
                "seq": ev.header.seq,
                "pid": ev.header.pid,
                "cgroup_id": ev.header.cgroup_id,
                "syscall": ev.flagged_syscall.name,
                "errno": ev.flagged_syscall.outcome.errno_name,
            }
        ),
        flush=True,
    )
    seen += 1
    if seen == int(count):
        break
call.cancel()
