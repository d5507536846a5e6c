"""An OTLP/gRPC logs receiver built from the official `opentelemetry-proto` package (PyPI)
and grpcio: a third-party endpoint for the sensor's exporter.

usage: otlp_receiver.py PORT [--hold] [--tls CERT KEY [CLIENT_CA]]

Listens on 127.0.0.1:PORT (0: any free port), prints "LISTENING <port>", then one JSON line
per log record received: its event name, severity, body, attributes (flattened to plain
values), the resource's attributes and the request's headers.
--hold: every Export waits until a line arrives on stdin (an endpoint that hangs), then all
waiting exports go through.
--tls: serve TLS with CERT and KEY; with CLIENT_CA, require client certificates it signed.
"""
import json
import sys
import threading
from concurrent import futures

import grpc
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2, logs_service_pb2_grpc

args = sys.argv[1:]
port = int(args.pop(0))
hold = "--hold" in args
released = threading.Event()
if not hold:
    released.set()
tls = None
if "--tls" in args:
    i = args.index("--tls")
    tls = args[i + 1 : i + 4]

lock = threading.Lock()


def plain(any_value):
    kind = any_value.WhichOneof("value")
    if kind == "array_value":
        return [plain(v) for v in any_value.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: plain(kv.value) for kv in any_value.kvlist_value.values}
    if kind == "bytes_value":
        return any_value.bytes_value.hex()
    return getattr(any_value, kind) if kind else None


def attrs(kvs):
    out = {}
    for kv in kvs:
        if kv.key in out:
            raise ValueError(f"attribute {kv.key} twice")
        out[kv.key] = plain(kv.value)
    return out


class Logs(logs_service_pb2_grpc.LogsServiceServicer):
    def Export(self, request, context):
        released.wait()
        headers = {k: v for k, v in context.invocation_metadata()}
        lines = []
        for rl in request.resource_logs:
            resource = attrs(rl.resource.attributes)
            for sl in rl.scope_logs:
                for r in sl.log_records:
                    lines.append(
                        json.dumps(
                            {
                                "event_name": r.event_name,
                                "severity_number": r.severity_number,
                                "severity_text": r.severity_text,
                                "time_unix_nano": r.time_unix_nano,
                                "body": plain(r.body),
                                "attributes": attrs(r.attributes),
                                "resource": resource,
                                "scope": sl.scope.name,
                                "headers": headers,
                            }
                        )
                    )
        with lock:
            for line in lines:
                print(line, flush=True)
        return logs_service_pb2.ExportLogsServiceResponse()


def release_on_input():
    sys.stdin.readline()
    released.set()


server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
logs_service_pb2_grpc.add_LogsServiceServicer_to_server(Logs(), server)
if tls:
    cert, key = open(tls[0], "rb").read(), open(tls[1], "rb").read()
    client_ca = open(tls[2], "rb").read() if len(tls) > 2 else None
    creds = grpc.ssl_server_credentials(
        [(key, cert)], root_certificates=client_ca, require_client_auth=client_ca is not None
    )
    bound = server.add_secure_port(f"127.0.0.1:{port}", creds)
else:
    bound = server.add_insecure_port(f"127.0.0.1:{port}")
server.start()
if hold:
    threading.Thread(target=release_on_input, daemon=True).start()
print(f"LISTENING {bound}", flush=True)
server.wait_for_termination()
