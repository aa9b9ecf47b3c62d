#!/usr/bin/python3
"""Reflection alone: list every service the server offers and call each one.

A client that has no .proto at all (grpcurl, buf curl, a debugging UI) sees
the server only through grpc.reflection.v1alpha. This test is such a client:
it lists the services, fetches each one's descriptors (file_containing_symbol,
then its dependencies by file name), builds a descriptor pool and message
classes from them, and calls a method of every listed service with dynamic
messages through a generic channel call. The generated code it uses is the
reflection stub's alone (and the health stub that ServerTestCase waits on).

Run:
  /usr/bin/python3 tests/python/reflection_test.py \
      --server build/related-server --proto_dir proto
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from google.protobuf import json_format, message_factory  # noqa: E402

import related_testlib  # noqa: E402
from related_testlib import RPC_TIMEOUT_S, ReflectionError  # noqa: E402

RELATED = "related.v1.RelatedArticles"
HEALTH = "grpc.health.v1.Health"
REFLECTION = "grpc.reflection.v1alpha.ServerReflection"
# Everything the server registers; a service added or dropped fails
# test_lists_every_service until this line and a check below follow it.
EXPECTED_SERVICES = {RELATED, HEALTH, REFLECTION}


class ReflectedService:
    """One service as reflection describes it: its descriptor and message
    classes in a pool of its own, and generic calls of its methods."""

    def __init__(self, pb, channel, name):
        """Raises ReflectionError if reflection cannot describe `name`."""
        self.channel = channel
        files = related_testlib.reflected_files(pb, channel, name)
        self.pool = related_testlib.descriptor_pool_of(files)
        try:
            self.descriptor = self.pool.FindServiceByName(name)
        except KeyError:
            raise ReflectionError(f"the files reflection returned for {name} "
                                  f"({sorted(files)}) do not define it")
        self._factory = message_factory.MessageFactory(self.pool)

    def message_class(self, full_name):
        return self._factory.GetPrototype(self.pool.FindMessageTypeByName(full_name))

    def _method(self, name):
        method = self.descriptor.methods_by_name.get(name)
        if method is None:
            raise AssertionError(f"{self.descriptor.full_name} has no method {name}; "
                                 f"reflection describes {sorted(self.descriptor.methods_by_name)}")
        return (f"/{self.descriptor.full_name}/{name}",
                self.message_class(method.input_type.full_name),
                self.message_class(method.output_type.full_name))

    def call(self, name, fields=None):
        """Unary call of method `name` with a request built from `fields`
        (a dict in the proto's JSON form); returns the dynamic response."""
        path, request_class, response_class = self._method(name)
        request = json_format.ParseDict(fields or {}, request_class())
        call = self.channel.unary_unary(path, request_serializer=request_class.SerializeToString,
                                        response_deserializer=response_class.FromString)
        return call(request, timeout=RPC_TIMEOUT_S)

    def call_streaming(self, name, requests):
        """Bidirectional call of `name`: one request per dict in `requests`;
        returns the list of dynamic responses."""
        path, request_class, response_class = self._method(name)
        messages = [json_format.ParseDict(fields, request_class()) for fields in requests]
        call = self.channel.stream_stream(path, request_serializer=request_class.SerializeToString,
                                          response_deserializer=response_class.FromString)
        return list(call(iter(messages), timeout=RPC_TIMEOUT_S))


class ReflectionTest(related_testlib.ServerTestCase):

    def listed_services(self):
        reply = related_testlib.reflect(self.pb, self.channel, list_services="")
        return sorted(s.name for s in reply.list_services_response.service)

    def reflected(self, name):
        """ReflectedService for `name`, or a test failure naming the reason."""
        try:
            return ReflectedService(self.pb, self.channel, name)
        except ReflectionError as err:
            problem = str(err)
        self.fail(f"reflection lists {name} but cannot describe it: {problem}")

    def test_lists_every_service(self):
        """list_services names RelatedArticles, Health and ServerReflection, nothing else"""
        self.assertEqual(set(self.listed_services()), EXPECTED_SERVICES)

    def test_describes_every_listed_service(self):
        """every listed service has a descriptor (file_containing_symbol) with methods"""
        problems = []
        for name in self.listed_services():
            try:
                service = ReflectedService(self.pb, self.channel, name)
            except ReflectionError as err:
                problems.append(f"{name}: {err}")
                continue
            if not service.descriptor.methods:
                problems.append(f"{name}: described with no methods")
        if problems:
            self.fail("reflection lists services it cannot describe:\n  "
                      + "\n  ".join(problems))

    def test_related_articles_ping_and_stats(self):
        """RelatedArticles: Ping and GetStats through reflected descriptors"""
        service = self.reflected(RELATED)
        self.assertEqual(service.call("Ping").ByteSize(), 0, "PingResponse is empty")
        stats = service.call("GetStats")
        self.assertEqual(stats.dimension, self.config.dim)
        self.assertEqual(stats.index_kind, self.config.index)

    def test_related_articles_upsert_then_get_related(self):
        """RelatedArticles: a dynamic UpsertArticles stores three articles; GetRelated of one finds the closest other"""
        service = self.reflected(RELATED)
        dim = self.config.dim
        # b is close to a (cosine 0.8, below the near-duplicate threshold); c is orthogonal to both.
        articles = [
            {"id": "reflect/a", "embedding": [1.0] + [0.0] * (dim - 1),
             "metadata": {"title": "A", "publishedAt": "2026-11-28T10:00:00Z"}},
            {"id": "reflect/b", "embedding": [0.8, 0.6] + [0.0] * (dim - 2),
             "metadata": {"title": "B"}},
            {"id": "reflect/c", "embedding": [0.0] * (dim - 1) + [1.0],
             "metadata": {"title": "C"}},
        ]
        reply = service.call("UpsertArticles", {"articles": articles})
        self.assertEqual(reply.upserted, 3)
        related = service.call("GetRelated", {"articleId": "reflect/a", "limit": 1})
        self.assertEqual([(a.article_id, a.metadata.title) for a in related.articles],
                         [("reflect/b", "B")])

    def test_health_check(self):
        """grpc.health.v1.Health: Check("") through reflected descriptors is SERVING"""
        service = self.reflected(HEALTH)
        reply = service.call("Check", {"service": ""})
        status = reply.DESCRIPTOR.fields_by_name["status"].enum_type
        self.assertEqual(status.values_by_number[reply.status].name, "SERVING")

    def test_reflection_describes_itself(self):
        """ServerReflection: list_services through its own reflected descriptors"""
        service = self.reflected(REFLECTION)
        replies = service.call_streaming("ServerReflectionInfo", [{"listServices": ""}])
        self.assertEqual(len(replies), 1)
        names = sorted(s.name for s in replies[0].list_services_response.service)
        self.assertEqual(names, self.listed_services())

    def test_unknown_symbol_is_not_found(self):
        """file_containing_symbol of an unknown name answers NOT_FOUND"""
        with self.assertRaisesRegex(ReflectionError, "NOT_FOUND"):
            related_testlib.reflected_files(self.pb, self.channel, "no.such.Service")


if __name__ == "__main__":
    related_testlib.parse_args_then_run(__doc__.split("\n\n")[0])
