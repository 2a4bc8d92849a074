"""Fixtures: loopback servers (tests/srv_*.py), TLS material, and a leak guard."""

import gc

import pytest

from srv_faults import FaultServer
from srv_loopback import live_servers, open_fds, server_threads
from srv_ports import ClosedPort, UnacceptedListener
from srv_recording import RecordingServer
from srv_tls import TLSMaterial


@pytest.fixture
def start_server():
    """start_server(cls, **kw): start a RecordingServer/FaultServer, stopped at teardown.
    Fails the test if the server hit an internal error, or (RecordingServer, strict=True)
    rejected a request as malformed HTTP."""
    started = []

    def start(cls, **kw):
        server = cls(**kw).start()
        started.append(server)
        return server

    yield start
    problems = []
    for server in started:
        server.stop()
        if server.errors:
            problems.append("%s errors: %r" % (type(server).__name__, server.errors))
        if getattr(server, "strict", False) and server.protocol_errors:
            problems.append("malformed requests: %r" % (server.protocol_errors,))
    if problems:
        pytest.fail("; ".join(problems))


@pytest.fixture
def recording_server(start_server):
    """A plain-HTTP RecordingServer; its .url is the client's endpoint."""
    return start_server(RecordingServer)


@pytest.fixture(scope="session")
def tls_material(tmp_path_factory):
    """TLSMaterial: trustme CA (.ca_file) and server_context(variant)."""
    return TLSMaterial(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def tls_recording_server(start_server, tls_material):
    """A RecordingServer speaking TLS with the valid certificate (verify=tls_material.ca_file)."""
    return start_server(RecordingServer, ssl_context=tls_material.server_context())


@pytest.fixture
def fault_server(start_server):
    """A FaultServer; script it with fault_server.set_behaviours(...)."""
    return start_server(FaultServer)


@pytest.fixture
def free_port():
    """A port nothing listens on, held for the test: connecting is refused."""
    with ClosedPort() as port:
        yield port.port


@pytest.fixture
def unaccepted_port():
    """A port whose listening socket never accepts: connect succeeds, nothing ever answers."""
    with UnacceptedListener() as listener:
        yield listener.port


@pytest.fixture(autouse=True)
def _no_leftover_servers():
    """Fail a test that leaves running a server it started, or one of its threads (servers of
    wider-scoped fixtures, started before the test, are left alone)."""
    before = set(live_servers())
    keep = [s.port for s in before]
    yield
    leftovers = [s for s in live_servers() if s not in before]
    for server in leftovers:
        server.stop()
    threads = [t.name for t in server_threads(exclude_ports=keep)]
    if leftovers or threads:
        pytest.fail("left running: servers %r, threads %r" % (leftovers, threads))


@pytest.fixture
def no_fd_leak():
    """Fail the test if it ends with more open file descriptors than it started with."""
    gc.collect()
    before = open_fds()
    yield
    gc.collect()
    after = open_fds()
    if before is not None and after > before:
        pytest.fail("file descriptors leaked: %d -> %d" % (before, after))
