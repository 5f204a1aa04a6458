#!/usr/bin/env python3
"""A Kubernetes API server for exitwatch's tests: the real REST paths exitwatch's kube-rs client
uses (list/watch this node's pods, watch Events, create/patch events.k8s.io/v1 Events), over TLS
with a bearer token, and every object it is given validated against the Kubernetes OpenAPI schema
(kubernetes-validate, strict: unknown fields are errors) before it is accepted.

No kube-apiserver is packaged for these machines; this one keeps objects in memory and speaks
just enough of the API for the client to be the real one. Tests drive it through /_test/ paths
(with their own token): put pods, post kubelet Events, read what exitwatch posted, deny a verb
(RBAC) or take the API down.

    apiserver.py --port P --cert C --key K --token T --control-token CT [--version 1.37.0]

prints `listening on PORT` when ready.
"""

import argparse
import copy
import json
import ssl
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import kubernetes_validate

# Resources this server knows: (group/version prefix, plural) -> kind.
POD = ("/api/v1", "pods")
CORE_EVENT = ("/api/v1", "events")
EVENT = ("/apis/events.k8s.io/v1", "events")
KINDS = {POD: ("v1", "Pod"), CORE_EVENT: ("v1", "Event"), EVENT: ("events.k8s.io/v1", "Event")}
MAX_BODY = 1 << 20


class Store:
    """Objects by resource, namespace and name, each change numbered (resourceVersion) and
    offered to the open watches."""

    def __init__(self):
        self.lock = threading.Condition()
        self.version = 1
        self.objects = {key: {} for key in KINDS}
        self.changes = []  # (version, resource, type, object)
        self.posted = []  # what the client created or patched, in order
        self.requests = []  # (method, path, query, status)
        self.denied = set()  # (verb, plural)
        self.down = False

    def put(self, resource, obj, kind="ADDED"):
        with self.lock:
            self.version += 1
            obj = copy.deepcopy(obj)
            meta = obj.setdefault("metadata", {})
            meta["resourceVersion"] = str(self.version)
            meta.setdefault("uid", f"uid-{self.version}")
            meta.setdefault("creationTimestamp", now())
            key = (meta.get("namespace", ""), meta["name"])
            if kind == "ADDED" and key in self.objects[resource]:
                kind = "MODIFIED"
            if kind == "DELETED":
                self.objects[resource].pop(key, None)
            else:
                self.objects[resource][key] = obj
            self.changes.append((self.version, resource, kind, obj))
            self.lock.notify_all()
            return obj


def now():
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def status(code, reason, message):
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }


def merge_patch(target, patch):
    """RFC 7386."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = copy.deepcopy(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = merge_patch(out.get(k), v)
    return out


def field_selector_matches(selector, obj):
    """`a.b=v` terms joined by commas, as the client sends them (spec.nodeName=NODE)."""
    for term in filter(None, (selector or "").split(",")):
        path, _, want = term.partition("=")
        want = want.lstrip("=")
        value = obj
        for part in path.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        if str(value if value is not None else "") != want:
            return False
    return True


def route(path):
    """(resource, namespace, name) for an API path, or None."""
    for (prefix, plural) in KINDS:
        if not path.startswith(prefix + "/"):
            continue
        rest = path[len(prefix) + 1 :].split("/")
        if rest == [plural]:
            return (prefix, plural), None, None
        if len(rest) >= 3 and rest[0] == "namespaces" and rest[2] == plural:
            if len(rest) == 3:
                return (prefix, plural), rest[1], None
            if len(rest) == 4:
                return (prefix, plural), rest[1], rest[3]
    return None


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "exitwatch-test-apiserver"

    def log_message(self, fmt, *args):
        pass

    # Plumbing

    def body(self):
        n = int(self.headers.get("Content-Length") or 0)
        if n > MAX_BODY:
            raise ValueError("body too large")
        return self.rfile.read(n) if n else b""

    def send_json(self, code, obj):
        data = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        self.note(code)

    def note(self, code):
        u = urllib.parse.urlsplit(self.path)
        with self.server.store.lock:
            self.server.store.requests.append(
                {"method": self.command, "path": u.path, "query": u.query, "status": code}
            )

    def authorized(self, token):
        return self.headers.get("Authorization", "") == f"Bearer {token}"

    def validate(self, obj):
        try:
            kubernetes_validate.validate(obj, self.server.k8s_version, strict=True)
            return None
        except kubernetes_validate.ValidationError as e:
            return f"{e.message} at {'.'.join(str(p) for p in e.path)}"
        except Exception as e:  # schema not found and the like: refuse, loudly
            return f"cannot validate: {e}"

    # Dispatch

    def do_GET(self):
        self.dispatch()

    def do_POST(self):
        self.dispatch()

    def do_PUT(self):
        self.dispatch()

    def do_PATCH(self):
        self.dispatch()

    def do_DELETE(self):
        self.dispatch()

    def dispatch(self):
        u = urllib.parse.urlsplit(self.path)
        query = dict(urllib.parse.parse_qsl(u.query))
        try:
            if u.path.startswith("/_test/"):
                if not self.authorized(self.server.control_token):
                    return self.send_json(401, status(401, "Unauthorized", "control token"))
                return self.control(u.path, query)
            store = self.server.store
            if store.down:
                return self.send_json(503, status(503, "ServiceUnavailable", "down for the test"))
            if not self.authorized(self.server.token):
                return self.send_json(401, status(401, "Unauthorized", "Unauthorized"))
            if u.path in ("/version", "/version/"):
                return self.send_json(200, {"major": "1", "minor": "37", "gitVersion": "v1.37.0"})
            r = route(u.path)
            if r is None:
                return self.send_json(404, status(404, "NotFound", f"no route {u.path}"))
            resource, ns, name = r
            verb = {
                "GET": "watch" if query.get("watch") in ("1", "true") else ("get" if name else "list"),
                "POST": "create",
                "PATCH": "patch",
                "PUT": "update",
                "DELETE": "delete",
            }[self.command]
            if (verb, resource[1]) in store.denied:
                return self.send_json(
                    403,
                    status(
                        403,
                        "Forbidden",
                        f'{resource[1]} is forbidden: User "system:serviceaccount:exitwatch:exitwatch" '
                        f'cannot {verb} resource "{resource[1]}"',
                    ),
                )
            if verb == "list":
                return self.list(resource, ns, query)
            if verb == "watch":
                return self.watch(resource, ns, query)
            if verb == "get":
                obj = store.objects[resource].get((ns or "", name))
                if obj is None:
                    return self.send_json(404, status(404, "NotFound", f"{name} not found"))
                return self.send_json(200, obj)
            if verb == "create" and resource == EVENT and ns and not name:
                return self.create(resource, ns)
            if verb == "patch" and resource == EVENT and ns and name:
                return self.patch(resource, ns, name)
            return self.send_json(405, status(405, "MethodNotAllowed", f"{verb} not served here"))
        except (BrokenPipeError, ConnectionResetError):
            pass
        except ValueError as e:
            self.send_json(400, status(400, "BadRequest", str(e)))

    # The API

    def selected(self, resource, ns, query):
        store = self.server.store
        return [
            o
            for (ons, _), o in sorted(store.objects[resource].items())
            if (ns is None or ons == ns)
            and field_selector_matches(query.get("fieldSelector"), o)
        ]

    def list(self, resource, ns, query):
        store = self.server.store
        with store.lock:
            items = self.selected(resource, ns, query)
            version = store.version
        api_version, kind = KINDS[resource]
        self.send_json(
            200,
            {
                "kind": kind + "List",
                "apiVersion": api_version,
                "metadata": {"resourceVersion": str(version)},
                "items": items,
            },
        )

    def watch(self, resource, ns, query):
        store = self.server.store
        since = int(query.get("resourceVersion") or 0)
        deadline = time.monotonic() + min(float(query.get("timeoutSeconds") or 300), 300)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self.note(200)
        while time.monotonic() < deadline and not store.down:
            with store.lock:
                pending = [c for c in store.changes if c[0] > since and c[1] == resource]
                if not pending:
                    store.lock.wait(timeout=0.5)
                    continue
            for version, _, kind, obj in pending:
                since = version
                if ns is not None and obj["metadata"].get("namespace") != ns:
                    continue
                if not field_selector_matches(query.get("fieldSelector"), obj):
                    continue
                line = json.dumps({"type": kind, "object": obj}).encode() + b"\n"
                self.wfile.write(b"%x\r\n%s\r\n" % (len(line), line))
                self.wfile.flush()
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def create(self, resource, ns):
        obj = json.loads(self.body())
        api_version, kind = KINDS[resource]
        if obj.get("apiVersion") != api_version or obj.get("kind") != kind:
            return self.send_json(400, status(400, "BadRequest", "apiVersion/kind mismatch"))
        meta = obj.get("metadata", {})
        meta.setdefault("namespace", ns)
        if meta["namespace"] != ns:
            return self.send_json(400, status(400, "BadRequest", "namespace mismatch"))
        if "name" not in meta and "generateName" in meta:
            meta["name"] = meta["generateName"] + f"{self.server.store.version:x}"
        obj["metadata"] = meta
        problem = self.validate(obj)
        if problem is None and (meta["namespace"], meta.get("name")) in self.server.store.objects[resource]:
            return self.send_json(409, status(409, "AlreadyExists", f"{meta['name']} exists"))
        with self.server.store.lock:
            self.server.store.posted.append({"verb": "create", "object": obj, "invalid": problem})
        if problem:
            return self.send_json(422, status(422, "Invalid", problem))
        self.send_json(201, self.server.store.put(resource, obj))

    def patch(self, resource, ns, name):
        store = self.server.store
        kind = self.headers.get("Content-Type", "")
        if kind not in ("application/merge-patch+json", "application/strategic-merge-patch+json"):
            return self.send_json(415, status(415, "UnsupportedMediaType", kind))
        patch = json.loads(self.body())
        current = store.objects[resource].get((ns, name))
        if current is None:
            return self.send_json(404, status(404, "NotFound", f"{name} not found"))
        merged = merge_patch(current, patch)
        merged["metadata"].pop("resourceVersion", None)
        problem = self.validate(merged)
        with store.lock:
            store.posted.append({"verb": "patch", "object": merged, "patch": patch, "invalid": problem})
        if problem:
            return self.send_json(422, status(422, "Invalid", problem))
        self.send_json(200, store.put(resource, merged, "MODIFIED"))

    # What the tests drive

    def control(self, path, query):
        store = self.server.store
        if path == "/_test/posted" and self.command == "GET":
            with store.lock:
                return self.send_json(200, store.posted)
        if path == "/_test/requests" and self.command == "GET":
            with store.lock:
                return self.send_json(200, store.requests)
        if path == "/_test/pods" and self.command in ("PUT", "DELETE"):
            obj = json.loads(self.body())
            obj.setdefault("apiVersion", "v1")
            obj.setdefault("kind", "Pod")
            problem = self.validate(obj)
            if problem:
                return self.send_json(422, status(422, "Invalid", problem))
            kind = "DELETED" if self.command == "DELETE" else "ADDED"
            return self.send_json(200, store.put(POD, obj, kind))
        if path == "/_test/events" and self.command == "POST":
            obj = json.loads(self.body())
            obj.setdefault("apiVersion", "v1")
            obj.setdefault("kind", "Event")
            problem = self.validate(obj)
            if problem:
                return self.send_json(422, status(422, "Invalid", problem))
            return self.send_json(200, store.put(CORE_EVENT, obj))
        if path == "/_test/deny" and self.command == "PUT":
            with store.lock:
                store.denied = {tuple(d.split(":", 1)) for d in json.loads(self.body())}
            return self.send_json(200, sorted(store.denied))
        if path == "/_test/down" and self.command == "PUT":
            with store.lock:
                store.down = bool(json.loads(self.body()))
                store.lock.notify_all()
            return self.send_json(200, store.down)
        self.send_json(404, status(404, "NotFound", path))


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--cert", required=True)
    p.add_argument("--key", required=True)
    p.add_argument("--token", required=True)
    p.add_argument("--control-token", required=True)
    p.add_argument("--version", default="1.37.0")
    a = p.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", a.port), Handler)
    server.daemon_threads = True
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(a.cert, a.key)
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    server.store = Store()
    server.token = a.token
    server.control_token = a.control_token
    server.k8s_version = a.version
    print(f"listening on {server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    sys.exit(main())
