"""OCI distribution-spec conformance, parameterized over registry
implementations: Debian's docker-registry (distribution 2.8) as the
reference, and berth-hub.

Each test takes the `registry` fixture (directly or through `client`) and
runs once per implementation, ids `[distribution]` and `[berth-hub]`:

    /usr/bin/python3 -m pytest tests/hub               # both
    /usr/bin/python3 -m pytest tests/hub -k "not berth"  # distribution only

A test of an optional part of the spec names it with
@pytest.mark.requires(feature, ...) and is generated only for
implementations that claim every feature named, so distribution does not
show a pile of skips for the parts it predates; @pytest.mark.lacks(...)
is the converse, for what the spec says a registry without the feature
answers. Where the spec leaves a choice (the status of an invalid name,
how tag deletion is refused) each implementation's answer is stated on its
Impl below and the tests assert exactly that.

berth-hub is <build dir>/berth-hub (BERTH_BUILD_DIR, default build/), run
as `berth-hub serve --root <tmp> --listen 127.0.0.1:<port> --open`. If it
is missing or does not come up, its tests FAIL with the reason.
"""
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from registry_client import RegistryClient
from registry_server import Hub, Registry

# Optional parts of the spec (and docker extensions) that tests can require.
FEATURES = {
    "referrers",          # GET /v2/<name>/referrers/<digest>, OCI-Subject on PUT (spec 1.1)
    "tags-pagination",    # tags/list honours n and last, Link rel="next", n=0 (spec 1.1)
    "tags-sorted",        # tags/list in lexical order ("MUST"; distribution 2.8 lists in directory order)
    "chunk-range-check",  # PATCH checks Content-Range: an out-of-order chunk gets 416
    "single-post-upload",  # POST ?digest= with the body stores the blob: 201, no PUT needed
    "tag-delete",         # DELETE /v2/<name>/manifests/<tag> removes the tag only
    "manifest-size-4mb",  # manifests of (almost) 4 MB are accepted ("SHOULD expect to support")
}


@dataclass(frozen=True)
class Impl:
    name: str
    features: frozenset
    # The answer to a request naming an invalid repository (upper case):
    # (status, error code or None when the body is not a spec error body).
    invalid_name: tuple
    # What DELETE by tag answers when tag-delete is not claimed: the spec
    # allows "400 Bad Request or 405 Method Not Allowed"; distribution says
    # 400 DIGEST_INVALID (it wants a digest).
    tag_delete_refused: tuple = ()


IMPLS = {
    # distribution 2.8 (2023) predates spec 1.1: no referrers API, tags/list
    # ignores n/last and is not sorted (the filesystem driver's directory
    # order), PATCH ignores Content-Range (an out-of-order chunk is appended),
    # POST ?digest= opens an ordinary session (202), DELETE by tag answers
    # 400 DIGEST_INVALID, and its router answers a name that fails the
    # repository regex with a plain-text 404 because no route matches.
    "distribution": Impl("distribution", frozenset({"manifest-size-4mb"}),
                         invalid_name=(404, None), tag_delete_refused=(400,)),
    # berth-hub implements the whole spec (brief: "claims every feature").
    "berth-hub": Impl("berth-hub", frozenset(FEATURES), invalid_name=(400, "NAME_INVALID")),
    # berth-hub as replicas run it: metadata in a real PostgreSQL, blobs in a
    # real S3-compatible server (s3rver), so the whole suite covers that path.
    "berth-hub-s3": Impl("berth-hub-s3", frozenset(FEATURES), invalid_name=(400, "NAME_INVALID")),
}



def pytest_configure(config):
    config.addinivalue_line("markers", "requires(*features): run only on implementations claiming these features")
    config.addinivalue_line("markers", "lacks(*features): run only on implementations claiming none of these "
                            "(for what the spec says a registry without the feature answers)")


def pytest_generate_tests(metafunc):
    if "registry" not in metafunc.fixturenames:
        return
    required, lacking = set(), set()
    for kind, into in (("requires", required), ("lacks", lacking)):
        for mark in metafunc.definition.iter_markers(kind):
            unknown = set(mark.args) - FEATURES
            assert not unknown, f"{metafunc.definition.nodeid}: unknown features {unknown}"
            into |= set(mark.args)
    names = [name for name, impl in IMPLS.items() if required <= impl.features and not lacking & impl.features]
    if not names:
        # No implementation runs it (e.g. every one claims what a `lacks` test
        # is about): one visible skip rather than a test that silently vanishes.
        metafunc.parametrize("registry", [pytest.param(None, marks=pytest.mark.skip(
            reason=f"no implementation claims {sorted(required)} without {sorted(lacking)}"))], indirect=True)
        return
    metafunc.parametrize("registry", names, indirect=True)


@dataclass
class Server:
    impl: Impl
    base_url: str
    stop: callable = field(repr=False)
    unavailable: str = None  # why the server could not be started

    @property
    def name(self):
        return self.impl.name

    @property
    def features(self):
        return self.impl.features


def _start(name: str, tmp: Path) -> Server:
    impl = IMPLS[name]
    if name == "distribution":
        r = Registry(tmp)  # filesystem storage under tmp, storage.delete.enabled: true
        return Server(impl, f"http://{r.host}", r.stop)
    if name == "berth-hub":
        h = Hub(tmp)  # --open: anonymous push and pull
        return Server(impl, f"http://{h.host}", h.stop)
    if name == "berth-hub-s3":
        from postgres_server import PostgresServer
        from s3_server import S3Server
        pg = PostgresServer()
        try:
            s3 = S3Server(tmp)
        except Exception:
            pg.stop()
            raise
        try:
            h = Hub(tmp, "--open", "--database", pg.create_database(), "--storage", s3.storage_url("hub"))
        except Exception:
            s3.stop()
            pg.stop()
            raise
        return Server(impl, f"http://{h.host}", lambda: (h.stop(), s3.stop(), pg.stop()))
    raise AssertionError(name)


@pytest.fixture(scope="session")
def _servers(tmp_path_factory):
    """One server per implementation for the whole run, started on first use.
    A failed start is remembered (as a Server with `unavailable` set) so each
    of that implementation's tests fails at once with the same message
    instead of retrying the start."""
    started = {}

    def get(name):
        if name not in started:
            try:
                started[name] = _start(name, tmp_path_factory.mktemp(name))
            except Exception as e:  # noqa: BLE001 (any start failure is reported verbatim)
                started[name] = Server(IMPLS[name], "http://unavailable.invalid", lambda: None, unavailable=str(e))
        return started[name]

    yield get
    for s in started.values():
        s.stop()


@pytest.fixture
def registry(request, _servers):
    return _servers(request.param)


def pytest_runtest_call(item):
    # An implementation that cannot be started FAILS its tests (in the call
    # phase, so they count as failures, not setup errors or skips): a missing
    # berth-hub binary must not read as a green or skipped conformance run.
    server = getattr(item, "funcargs", {}).get("registry")
    if isinstance(server, Server) and server.unavailable:
        pytest.fail(server.unavailable, pytrace=False)


@pytest.fixture
def client(registry):
    return RegistryClient(registry.base_url)


@pytest.fixture
def repo():
    """A repository name of its own for each test, two components deep like
    most real ones; tests never see each other's content."""
    return f"conformance/t{uuid.uuid4().hex[:12]}"
