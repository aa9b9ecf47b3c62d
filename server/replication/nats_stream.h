// NatsStream: the replicated write log, a NATS JetStream stream, through the
// NATS C client (libnats 3.4). One connection per server; it reconnects on
// its own. Everything NATS-specific in the server is in this file and its
// .cc: the rest sees published payloads and the entries read back.
//
// JetStream keeps the stream on `replicas` servers with Raft: an
// acknowledged publish is on a quorum of them (nats-server 2.9 fsyncs on a
// timer, so the safety comes from the quorum, not from the disk).
#ifndef RELATED_SERVER_REPLICATION_NATS_STREAM_H_
#define RELATED_SERVER_REPLICATION_NATS_STREAM_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace related::replication {

struct NatsOptions {
  // One URL or several, comma-separated ("nats://a:4222,nats://b:4222");
  // user and password may be given in the URL.
  std::string url;
  // The stream, and the subject its writes are published on.
  std::string stream = "related-articles";
  std::string subject = "related.writes";
  // Copies JetStream keeps when this server creates the stream.
  int replicas = 3;
  // A NATS credentials file (JWT and NKey seed); empty: none.
  std::string credentials_file;
  // TLS to NATS: the CA to trust, and a client certificate if the servers
  // ask for one; all empty: per the URL (tls:// turns TLS on).
  std::string tls_ca_file;
  std::string tls_cert_file;
  std::string tls_key_file;
  absl::Duration connect_timeout = absl::Seconds(5);
  // How long one publish waits for JetStream's acknowledgement.
  absl::Duration publish_timeout = absl::Seconds(5);
};

// One entry read back from the stream.
struct LogEntry {
  uint64_t sequence = 0;
  // Entries after this one in the stream when it was delivered.
  uint64_t pending = 0;
  absl::Time stored;  // when JetStream stored it
  std::string payload;
  // Headers this server sets (empty when absent).
  std::string origin;      // the publishing server
  std::string import_id;   // a batch of an import stream
  bool import_end = false;  // the end of import `import_id`
};

struct StreamState {
  uint64_t first_sequence = 0;  // 0: nothing was ever stored
  uint64_t last_sequence = 0;
};

// Reads the stream in order from a sequence (an ordered consumer: no acks,
// no redeliveries; the client re-creates it after a gap or a failover).
class StreamReader {
 public:
  virtual ~StreamReader() = default;
  // The next entry, or nullopt if none came within `wait`.
  virtual absl::StatusOr<std::optional<LogEntry>> Next(absl::Duration wait) = 0;
};

class NatsStream {
 public:
  // Connects, and finds the stream or creates it. The stream records the
  // embedding dimension in its description; another dimension than
  // `dimension` is refused (FAILED_PRECONDITION). UNAVAILABLE with the NATS
  // error if the servers cannot be reached, refuse the credentials, or have
  // no JetStream. `connected` is told of every disconnect and reconnect.
  static absl::StatusOr<std::unique_ptr<NatsStream>> Open(
      const NatsOptions& options, int dimension,
      std::function<void(bool)> connected);
  virtual ~NatsStream() = default;

  // Publishes one entry and returns its stream sequence once JetStream has
  // acknowledged it. `message_id` makes a retried publish a duplicate that
  // JetStream does not store again (it returns the first one's sequence).
  // UNAVAILABLE if no acknowledgement came (no quorum, no connection);
  // INVALID_ARGUMENT if the payload exceeds the servers' max_payload.
  struct Entry {
    std::string payload;
    std::string message_id;
    std::string origin;
    std::string import_id;
    bool import_end = false;
  };
  virtual absl::StatusOr<uint64_t> Publish(const Entry& entry) = 0;

  virtual absl::StatusOr<StreamState> State() = 0;
  virtual absl::StatusOr<std::unique_ptr<StreamReader>> Read(
      uint64_t from_sequence) = 0;
  // The largest payload the servers accept.
  virtual int64_t max_payload() const = 0;
};

}  // namespace related::replication

#endif  // RELATED_SERVER_REPLICATION_NATS_STREAM_H_
