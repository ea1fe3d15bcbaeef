"""moto's server with one request handled at a time.

moto handles concurrent requests on threads without locking its backends, so two concurrent
DynamoDB writes can interleave (a lost ADD, two winners of one conditional write) where real
DynamoDB applies each write atomically. keygate's race tests (concurrent refreshes, failure
counters) need DynamoDB's semantics, so this launcher serializes request handling: each request
runs whole, as an item write does in DynamoDB. Usage: moto_serial.py HOST PORT
"""

import os
import sys
import threading

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import run_simple

host, port = sys.argv[1], int(sys.argv[2])
os.environ.setdefault("MOTO_PORT", str(port))
app = DomainDispatcherApplication(create_backend_app)
lock = threading.Lock()


def serial(environ, start_response):
    with lock:
        # Consume the whole answer inside the lock: the backend work happens here.
        return list(app(environ, start_response))


run_simple(host, port, serial, threaded=True)
