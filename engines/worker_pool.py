"""A Beam worker pool on 127.0.0.1: the Python workers of a standalone Flink or
Spark cluster (`--environment_type=EXTERNAL --environment_config=HOST:PORT`).

Beam's own `python -m apache_beam.runners.worker.worker_pool_main` listens on
every interface ([::]); this one binds the loopback address only. Each worker
the runner asks for is a separate `python` process (the venv's, put first on
PATH by engines/cluster.py), as worker_pool_main does.

    python engines/worker_pool.py --port 50000
"""

from __future__ import annotations

import argparse
import atexit
import logging
import signal
import sys
import threading

import grpc
from apache_beam.portability.api import beam_fn_api_pb2_grpc
from apache_beam.runners.worker import worker_pool_main
from apache_beam.utils import thread_pool_executor


def serve(host: str, port: int) -> grpc.Server:
    server = grpc.server(
        thread_pool_executor.shared_unbounded_instance(),
        options=[("grpc.http2.max_pings_without_data", 0), ("grpc.http2.max_ping_strikes", 0)],
    )
    bound = server.add_insecure_port(f"{host}:{port}")
    if not bound:
        raise SystemExit(f"worker pool: cannot listen on {host}:{port}")
    pool = worker_pool_main.BeamFnExternalWorkerPoolServicer(use_process=True)
    beam_fn_api_pb2_grpc.add_BeamFnExternalWorkerPoolServicer_to_server(pool, server)
    server.start()

    def stop_workers() -> None:
        for process in list(pool._worker_processes.values()):
            worker_pool_main.kill_process_gracefully(process)

    atexit.register(stop_workers)
    logging.info("Beam worker pool listening on %s:%s", host, bound)
    return server


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=50000)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    server = serve(args.host, args.port)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    done.wait()
    server.stop(2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
