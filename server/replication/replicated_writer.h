// ReplicatedWriter: writes in replicated mode. A write is validated here,
// published to the stream as one entry (all-or-nothing, as a local write),
// and returns once JetStream acknowledged it *and* this server's replica
// applied it: the caller reads its own write from this server, and an
// acknowledged write is on a quorum of NATS servers. Reads never come here.
#ifndef RELATED_SERVER_REPLICATION_REPLICATED_WRITER_H_
#define RELATED_SERVER_REPLICATION_REPLICATED_WRITER_H_

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "server/core/article_writer.h"
#include "server/core/request_limits.h"
#include "server/replication/nats_stream.h"
#include "server/replication/replica.h"

namespace related::replication {

class ReplicatedWriter final : public ArticleWriter {
 public:
  // `apply_timeout`: how long a write waits for this replica to apply it
  // after JetStream acknowledged it.
  ReplicatedWriter(NatsStream& stream, Replica& replica,
                   const ArticleIndexOptions& options,
                   ReplicationObserver* observer, absl::Duration apply_timeout)
      : stream_(stream),
        replica_(replica),
        options_(options),
        limits_(options_),
        observer_(observer),
        apply_timeout_(apply_timeout) {}

  absl::Status Upsert(std::vector<Article> articles) override;
  absl::StatusOr<int> Delete(const std::vector<ArticleId>& ids) override;
  std::unique_ptr<Import> StartImport() override;

 private:
  class ReplicatedImport;

  // Checks an upsert batch as the index would, then submits it (as a batch
  // of import `import_id` if not empty).
  absl::StatusOr<Replica::Outcome> SubmitUpsert(
      const std::vector<Article>& articles, const std::string& import_id);
  // Publishes `entry` (retried under the same message ID while JetStream
  // does not acknowledge, so it is stored once) and waits for this replica
  // to apply it.
  absl::StatusOr<Replica::Outcome> Submit(NatsStream::Entry entry);
  absl::StatusOr<uint64_t> PublishOnce(const NatsStream::Entry& entry);

  NatsStream& stream_;
  Replica& replica_;
  const ArticleIndexOptions options_;
  const RequestLimits limits_;
  ReplicationObserver* const observer_;
  const absl::Duration apply_timeout_;
  std::atomic<uint64_t> next_id_{1};
};

}  // namespace related::replication

#endif  // RELATED_SERVER_REPLICATION_REPLICATED_WRITER_H_
